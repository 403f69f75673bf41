package daemon

import (
	"github.com/wispfaas/wisp/metrics"
	"github.com/wispfaas/wisp/wasmrt"
)

// wasmMetrics reads the Wasm runtime's memory for GET /metrics: the
// compiled modules and the idle instances kept, each against its bound.
func wasmMetrics(rt *wasmrt.Runtime) func() []metrics.Family {
	return func() []metrics.Family {
		s := rt.Stats()
		one := func(v int64) []metrics.Sample { return []metrics.Sample{{Value: float64(v)}} }
		return []metrics.Family{
			{Name: "wisp_wasm_compiled_modules", Help: "Wasm modules kept compiled in memory.", Type: "gauge", Samples: one(int64(s.CompiledModules))},
			{Name: "wisp_wasm_compiled_memory_bytes", Help: "Estimated memory of the compiled Wasm modules kept (four times each module's size).", Type: "gauge", Samples: one(s.CompiledBytes)},
			{Name: "wisp_wasm_compiled_memory_budget_bytes", Help: "Bound of the compiled Wasm modules' estimated memory (--wasm-compiled-memory); the least recently used go past it.", Type: "gauge", Samples: one(s.CompiledBudget)},
			{Name: "wisp_wasm_idle_instances", Help: "Warm Wasm reactor instances waiting for their action's next activation, all actions together.", Type: "gauge", Samples: one(int64(s.IdleInstances))},
			{Name: "wisp_wasm_idle_memory_bytes", Help: "Linear memory of the idle Wasm instances.", Type: "gauge", Samples: one(s.IdleBytes)},
			{Name: "wisp_wasm_idle_memory_budget_bytes", Help: "Bound of the idle Wasm instances' memory (--wasm-idle-memory); the least recently used are closed past it.", Type: "gauge", Samples: one(s.IdleBudget)},
		}
	}
}
