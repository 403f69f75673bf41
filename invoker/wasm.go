package invoker

import (
	"context"
	"errors"
	"time"

	"github.com/wispfaas/wisp/wasmrt"
)

// WasmRuntime runs kind "wasm" actions on a wasmrt.Runtime.
type WasmRuntime struct{ RT *wasmrt.Runtime }

// Run implements Runtime.
func (w WasmRuntime) Run(ctx context.Context, req RunRequest) RunResult {
	out := w.RT.Run(ctx, wasmrt.Code{Digest: req.Digest, Load: req.Load}, wasmrt.Invocation{
		Params:   req.Params,
		Env:      req.Env,
		Timeout:  time.Duration(req.Limits.Timeout) * time.Millisecond,
		MemoryMB: req.Limits.Memory,
		LogLimit: int64(req.Limits.Logs) << 20,
		Owner:    req.Owner,
	})
	var actionErr *wasmrt.ActionError
	res := RunResult{Result: out.Result, Logs: out.Logs, Err: out.Err, ActionFailed: errors.As(out.Err, &actionErr)}
	if out.NewInstance {
		res.InitTime = out.InitTime // the activation paid for a new instance
	}
	if req.Limits.Logs == 0 {
		res.Logs = nil // limits.logs 0 means the action keeps no logs
	}
	return res
}

// Prewarm implements Prewarmer: compile, and start one reactor instance.
func (w WasmRuntime) Prewarm(ctx context.Context, req RunRequest) error {
	return w.RT.Prewarm(ctx, wasmrt.Code{Digest: req.Digest, Load: req.Load}, req.Owner, req.Limits.Memory)
}

// Prompt implements PromptRuntime: an activation of a compiled module
// starts at once and ends within its time limit (wasmrt stops the guest
// then); one of a module not yet compiled compiles first, for as long as
// that takes.
func (w WasmRuntime) Prompt(req RunRequest) bool { return w.RT.IsCompiled(req.Digest) }
