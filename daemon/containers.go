package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wispfaas/wisp/containerrt"
	"github.com/wispfaas/wisp/containerrt/actioncode"
	"github.com/wispfaas/wisp/containerrt/image"
	"github.com/wispfaas/wisp/containerrt/imagestore"
	"github.com/wispfaas/wisp/gateway"
	"github.com/wispfaas/wisp/invoker"
	"github.com/wispfaas/wisp/metrics"
	"github.com/wispfaas/wisp/runtimes"
)

// ContainerConfig configures an invoker's container actions (python:3,
// nodejs:20, native, blackbox). The zero value runs them with defaults
// when wispd runs as root and the runtimes are built.
type ContainerConfig struct {
	// Disabled turns container actions off: the invoker runs wasm only.
	Disabled bool
	// RuntimesDir holds the built runtimes; "" means runtimes.DefaultDir
	// ($WISP_RUNTIMES, else ~/.cache/wisp/runtimes).
	RuntimesDir string
	// MemoryBudgetMB bounds the memory limits of all containers together;
	// 0 means containerrt.DefaultMemoryBudgetMB.
	MemoryBudgetMB int
	// Stems is how many prewarmed stem cells to keep per kind (see
	// containerrt.Config.Stems); nil means DefaultStems.
	Stems map[string]int
	// PauseGrace and IdleTimeout: see containerrt.Config; 0 means their
	// defaults.
	PauseGrace, IdleTimeout time.Duration
	// InitHelper is the wispd-init program containers' inits run; "" means
	// wispd itself (see containerrt.Config.InitHelper).
	InitHelper string
	// RootfsOnDisk starts every container from its runtime's root
	// filesystem on disk; by default the runtimes that ask for it
	// (nodejs20) start from a copy in memory (containerrt.Config.
	// RootfsInMemory).
	RootfsOnDisk bool
}

// DefaultStems are the stem cells kept when ContainerConfig.Stems is nil:
// one per interpreted kind, so that a first activation of a new action
// skips the container's start. Each costs its memory size of the budget.
var DefaultStems = map[string]int{"python:3": 1, "nodejs:20": 1}

// stemsAfterMax bounds how long, at start, stem cells wait for the Wasm
// runtime's compilation of recently used modules.
const stemsAfterMax = 5 * time.Second

// stemsAfter returns a channel closed once the Wasm runtime has compiled
// the modules used before the restart, or after stemsAfterMax: at start
// the stem cells wait for it (containerrt.Config.StemsAfter). After a
// restart with four recently used modules, the first invoke of a plain Go
// command took 360–520 ms with the two default stem cells starting
// meanwhile, 208–265 ms with them waiting (docs/rationale.md, "After a
// restart").
func (d *Daemon) stemsAfter() <-chan struct{} {
	gate := make(chan struct{})
	if d.wasm == nil {
		close(gate)
		return gate
	}
	go func() {
		t := time.NewTimer(stemsAfterMax)
		defer t.Stop()
		select {
		case <-d.wasm.Warmed():
		case <-t.C:
		}
		close(gate)
	}()
	return gate
}

// startContainers starts the container runtime and adds it to runtimes
// for each kind it can run. Containers need root and built runtimes;
// without them the invoker still runs wasm, and says why in the log (the
// gateway refuses the other kinds with a message pointing there).
func (d *Daemon) startContainers(ctx context.Context, runtimesByKind map[string]invoker.Runtime) error {
	cc := d.cfg.Containers
	if cc.Disabled {
		d.log.Info("container actions are disabled; this invoker runs wasm only")
		return nil
	}
	if os.Geteuid() != 0 {
		d.log.Warn("container actions are unavailable: wispd must run as root to create containers; this invoker runs wasm only")
		return nil
	}
	dir := cc.RuntimesDir
	if dir == "" {
		var err error
		if dir, err = runtimes.DefaultDir(); err != nil {
			return fmt.Errorf("find the runtimes directory: %w", err)
		}
	}
	stems := cc.Stems
	if stems == nil {
		stems = DefaultStems
	}
	images, err := imagestore.Open(filepath.Join(d.cfg.Data, "images"), d.log)
	if err != nil {
		return err
	}
	rt, err := containerrt.New(ctx, containerrt.Config{
		StateDir:       filepath.Join(d.cfg.Data, "containers"),
		RuntimesDir:    dir,
		MemoryBudgetMB: cc.MemoryBudgetMB,
		Stems:          stems,
		PauseGrace:     cc.PauseGrace,
		IdleTimeout:    cc.IdleTimeout,
		InitHelper:     cc.InitHelper,
		RootfsInMemory: !cc.RootfsOnDisk,
		Images:         images,
		Logger:         d.log,
		StemsAfter:     d.stemsAfter(),
	})
	if err != nil {
		// Wasm actions need none of this: serve them, and say loudly why
		// the container kinds are missing.
		d.log.Error("container actions are unavailable; this invoker runs wasm only", "err", err)
		return nil
	}
	d.containers = rt
	kinds := rt.Kinds()
	for _, k := range kinds {
		runtimesByKind[k] = rt
	}
	missing := []string{}
	for _, name := range runtimes.Names() {
		if _, err := runtimes.Open(dir, name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		d.log.Warn("some container runtimes are not built; actions of their kinds cannot run here until `wispd runtimes build` and a restart", "missing", missing, "runtimes", dir)
	}
	d.log.Info("container actions ready", "kinds", kinds, "runtimes", dir, "memory_budget_mb", rt.Stats().BudgetMB)
	return nil
}

// containerValidators check container actions' code at create time, so a
// corrupt zip, a zip without its entry point, a file that is no static
// executable, or an image that is unsafe or unreadable is refused with
// the reason rather than failing at its first activation.
func containerValidators() map[string]gateway.CodeValidator {
	out := map[string]gateway.CodeValidator{}
	for _, kind := range []string{actioncode.KindPython, actioncode.KindNodeJS, actioncode.KindNative} {
		out[kind] = gateway.CodeValidatorFunc(func(_ context.Context, _ string, code io.ReaderAt, size int64, binary bool) error {
			return actioncode.CheckAt(kind, code, size, binary)
		})
	}
	out[actioncode.KindBlackbox] = gateway.CodeValidatorFunc(func(ctx context.Context, _ string, code io.ReaderAt, size int64, _ bool) error {
		_, err := image.Inspect(ctx, code, size)
		return err
	})
	return out
}

// containerMetrics reads the container pool for GET /metrics: containers
// by status, memory used against the budget, activations waiting, and
// the pool's events since start.
func containerMetrics(rt *containerrt.Runtime) func() []metrics.Family {
	return func() []metrics.Family {
		s := rt.Stats()
		// Every status a live container has, at 0 too, so that a graph of
		// each has a series from the start.
		var byStatus []metrics.Sample
		for st := containerrt.StatusStarting; st < containerrt.StatusRemoved; st++ {
			byStatus = append(byStatus, metrics.Sample{Labels: [][2]string{{"status", st.String()}}, Value: float64(s.ByStatus[st.String()])})
		}
		events := []struct {
			name string
			n    uint64
		}{
			{"cold_start", s.ColdStarts}, {"stem_start", s.StemStarts}, {"warm_start", s.WarmStarts},
			{"resume", s.Resumes}, {"pause", s.Pauses}, {"eviction", s.Evictions},
			{"expired", s.Expired}, {"crashed", s.Crashed}, {"queued", s.Queued},
		}
		counted := make([]metrics.Sample, 0, len(events))
		for _, e := range events {
			counted = append(counted, metrics.Sample{Labels: [][2]string{{"event", e.name}}, Value: float64(e.n)})
		}
		one := func(v int) []metrics.Sample { return []metrics.Sample{{Value: float64(v)}} }
		return []metrics.Family{
			{Name: "wisp_containers", Help: "The pool's containers by status (stem: prewarmed, not yet given an action's code).", Type: "gauge", Samples: byStatus},
			{Name: "wisp_container_memory_used_bytes", Help: "Memory given to containers and reserved for those starting.", Type: "gauge", Samples: one(s.UsedMB << 20)},
			{Name: "wisp_container_memory_budget_bytes", Help: "Memory all containers together may be given (--container-memory).", Type: "gauge", Samples: one(s.BudgetMB << 20)},
			{Name: "wisp_container_activations_waiting", Help: "Activations waiting in the pool's queue for memory or a container.", Type: "gauge", Samples: one(s.Waiting)},
			{Name: "wisp_container_events_total", Help: "The pool's events since start: activations served by a new container (cold_start), a stem cell or a warm one; resumes, pauses; containers evicted for memory, expired idle, found crashed; activations that had to queue.", Type: "counter", Samples: counted},
		}
	}
}
