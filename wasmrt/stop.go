package wasmrt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/wispfaas/wisp/wasmrt/internal/rewrite"
)

// How a runaway guest is stopped.
//
// wazero's WithCloseOnContextDone compiles, at every loop header, a call
// that leaves the guest's code for Go and comes back: tens of nanoseconds per
// loop iteration, which made a warm SDK activation ten times slower (the C
// SDK's hello: ~11 µs without it, ~110 µs with it). Instead, every module is
// rewritten before it is compiled (internal/rewrite): a fuel counter is
// counted down at the entry of every function and the header of every loop,
// and when it runs out the guest calls the host's yield (wisp:host.yield),
// which stops the guest if its activation's context is done (time limit,
// result overflow, the caller gone) or the Runtime is closed, and otherwise
// gives it fuel again. The guest returns to Go every `fuel` loop iterations
// or calls, not at every one: that also bounds how long it can hold up Go's
// garbage collector and scheduler, which cannot preempt compiled Wasm. A
// guest that recurses without looping, which wazero's checks missed, is
// stopped as well.

// The host function the rewritten modules import.
const (
	yieldModule = "wisp:host"
	yieldName   = "yield"
)

// fuel is how many function entries and loop iterations a guest runs
// between two calls of yield: a call costs ~0.1 µs, so 10,000 makes its cost
// vanish, while 10,000 iterations of a tight loop take ~10–50 µs, the
// longest a guest can make a stop (or a garbage collection) wait, apart
// from a single long host call or bulk memory instruction.
const fuel = 10_000

// coalesceGap is the largest gap, in bytes, between two data segments that
// are merged into one, the gap filled with zeros. A Go module has ~37,000
// segments, nearly all 8–64 bytes apart, each costing wazero work on every
// instantiation; merged with gaps up to 64 bytes they become a handful, and
// instantiating the Go hello command took ~30% less CPU (4.9 → 3.3 ms; 256
// and 4096 bytes did no better and copy more zeros).
const coalesceGap = 64

// maxTableEntries bounds the entries of a module's tables, at start and
// grown: 8 MB of references per instance. Table elements live outside
// linear memory, which limits.memory bounds; unbounded, a module declaring
// a table of 2^27 entries took 1 GB per instance, and table.grow could ask
// for 32 GB. Go, C, Rust and AssemblyScript modules use thousands.
const maxTableEntries = 1 << 20

// prepare rewrites a module for compilation: fuel checks and coalesced data
// segments. A module the rewriter does not understand is compiled as it is,
// to learn from wazero what is wrong with it: if wazero accepts it (it uses
// an instruction the rewriter does not know), it is refused, since Wisp could
// not stop it at its time limit.
func (r *Runtime) prepare(ctx context.Context, wasm []byte) ([]byte, error) {
	out, st, err := rewrite.Module(wasm, rewrite.Options{
		YieldModule: yieldModule, YieldName: yieldName, Fuel: fuel,
		Coalesce: true, CoalesceGap: coalesceGap, MaxTableEntries: maxTableEntries,
	})
	if err == nil {
		r.log.LogAttrs(ctx, slog.LevelDebug, "wasm module rewritten", slog.Int("functions", st.Functions), slog.Int("loops", st.Loops), slog.Int("loop_first", st.LoopFirst),
			slog.Int("segments_before", st.SegmentsBefore), slog.Int("segments_after", st.SegmentsAfter),
			slog.String("coalesce_skipped", st.CoalesceSkipped))
		return out, nil
	}
	if errors.Is(err, rewrite.ErrTooLarge) {
		return nil, invalidModule("module's tables are too large: " + strings.TrimPrefix(err.Error(), rewrite.ErrTooLarge.Error()+": "))
	}
	if !errors.Is(err, rewrite.ErrUnsupported) {
		return nil, invalidModule(err.Error())
	}
	cm, cerr := r.rt.CompileModule(ctx, wasm)
	if cerr != nil {
		if ctx.Err() != nil || r.closed.Load() {
			return nil, cerr
		}
		return nil, invalidModule("not a valid WebAssembly module: " + firstLine(cerr.Error()))
	}
	_ = cm.Close(ctx)
	return nil, invalidModule(fmt.Sprintf("Wisp cannot run this module under a time limit: %v", err))
}

// instantiateYield instantiates the host module of yield in r's runtime.
func (r *Runtime) instantiateYield(ctx context.Context) error {
	_, err := r.rt.NewHostModuleBuilder(yieldModule).NewFunctionBuilder().
		WithGoFunction(api.GoFunc(r.yield), nil, []api.ValueType{api.ValueTypeI32}).
		Export(yieldName).
		Instantiate(ctx)
	return err
}

// yield is called by a guest whose fuel ran out, with the context of the
// call into the guest: it stops the guest (a panic, which wazero returns as
// the call's error, classified by its cause) or gives it fuel again.
func (r *Runtime) yield(ctx context.Context, stack []uint64) {
	if r.closed.Load() {
		panic(errClosed)
	}
	if ctx.Err() != nil {
		panic(causeOf(ctx))
	}
	cohortCallOf(ctx).checkLong(false)
	stack[0] = fuel
}
