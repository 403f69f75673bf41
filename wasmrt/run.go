package wasmrt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wispfaas/wisp/internal/jsonvalid"
)

// Defaults of Invocation's limits.
const (
	defaultTimeout     = 60 * time.Second
	defaultMemoryMB    = 256
	defaultLogLimit    = 10 << 20
	defaultResultLimit = 1 << 20
	maxMemoryMB        = 4096 // 32-bit linear memory
)

// Code names a module by digest. Load returns the module's bytes; it is called only when the module is
// not already compiled in this Runtime (by Validate or an earlier Run), at most once for concurrent
// Runs of one digest, and may be called again after a failed compilation. Its error is returned as a
// platform failure.
type Code struct {
	Digest string
	Load   func(ctx context.Context) ([]byte, error)
}

// Invocation is one activation's input and limits. Zero limits mean the defaults given below.
type Invocation struct {
	Params      []byte            // a JSON object, written to the guest's stdin; empty means {}
	Env         map[string]string // environment variables (e.g. __OW_ACTIVATION_ID, __OW_NAMESPACE, __OW_ACTION_NAME, __OW_DEADLINE)
	Timeout     time.Duration     // wall-clock limit of instantiation and _start; 0 means 60s
	MemoryMB    int               // caps linear memory at MemoryMB MiB; 0 means 256, more than 4096 means 4096
	LogLimit    int64             // bytes of stderr kept (newlines included); 0 means 10 MiB
	ResultLimit int               // max stdout bytes; 0 means 1 MiB
	// Owner names who may share a warm reactor instance with this
	// activation: one action at one version ("/ns/pkg/name@0.0.3"). Empty
	// means the instance is used once. Command-form modules ignore it.
	Owner string
}

// Outcome is what one activation produced.
type Outcome struct {
	// Result is the JSON object the action wrote to stdout (surrounding white space removed) on success;
	// {"error":"<Reason>"} on an action error; nil on a platform failure.
	Result json.RawMessage
	// Logs are the activation's stderr lines, in OpenWhisk's format:
	// "2026-11-25T18:00:00.123456Z stderr: <line>" (UTC, microseconds, taken when the line's first byte
	// was written). Past Invocation.LogLimit they are cut and a last line says so. Present on failures too.
	Logs []string
	// Err is nil on success; an *ActionError for anything that is the action's fault; any other error is
	// a platform failure (Load failed, invalid Invocation, Runtime closed, the caller's ctx done).
	Err error
	// Compiled is true when the module was not compiled when this Run arrived: this call loaded and
	// compiled it, or waited for another call compiling it. It marks a cold start.
	Compiled bool
	// InitTime is the time from the start of Run until the guest's _start is called: loading and
	// compiling (or waiting for a compilation) when Compiled, plus instantiating the module (which
	// includes running its start function, if any). It is measured on every Run; OpenWhisk's initTime
	// annotation should be set from it only when Compiled.
	InitTime time.Duration
	// NewInstance is true when this activation paid for a new instance:
	// always for a command-form module, and for a reactor when no warm
	// instance of its action was idle.
	NewInstance bool
}

// Run executes one activation in a fresh instance of the module: Params on stdin, Env as the
// environment, "action" as the only argument, wall and monotonic clocks, crypto/rand for random, no
// files and no sockets. It compiles the module first if needed (see Code). The instance is closed
// before Run returns, also on a timeout: no guest code runs after Run returns.
//
// Run never panics on guest behaviour and returns all outcomes in Outcome (see its fields). When ctx
// is done before the action finishes, the guest is stopped and Err is ctx's error, a platform failure.
// Run is safe for concurrent use, including for one digest.
func (r *Runtime) Run(ctx context.Context, code Code, inv Invocation) Outcome {
	var out Outcome
	start := time.Now()
	lim, err := limitsOf(&inv)
	if err == nil {
		err = checkEnvironment(inv.Env)
	}
	if err != nil {
		out.Err = err
		return out
	}
	if code.Load == nil {
		code.Load = func(context.Context) ([]byte, error) { return nil, errors.New("no loader given") }
	}
	mod, compiled, err := r.module(ctx, code.Digest, code.Load)
	out.Compiled = compiled
	if err != nil {
		if errors.Is(err, ErrInvalidModule) {
			out.fail(&ActionError{Reason: "invalid wasm module: " + err.Error(), Kind: KindInvalidModule, cause: err})
		} else {
			out.Err = err
		}
		out.InitTime = time.Since(start)
		return out
	}
	if uint64(mod.memMinPages)*pageSize > lim.memoryBytes {
		out.InitTime = time.Since(start)
		out.fail(&ActionError{Kind: KindMemory, Reason: fmt.Sprintf(
			"the action needs at least %s of memory, more than its memory limit of %d MB", mib(uint64(mod.memMinPages)*pageSize), lim.memoryMB)})
		return out
	}

	if mod.reactor {
		r.runWarm(ctx, mod, code, &inv, lim, start, &out)
		return out
	}
	out.NewInstance = true

	a := r.acts.Get().(*activation)
	defer r.acts.Put(a)
	a.reset(&inv, lim)
	defer a.release()

	// The activation's context: cancelled with a cause when stdout overflows (so the guest stops at
	// once), and at the time limit. wazero closes the instance when it is done.
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tctx, cancelTimeout := context.WithTimeoutCause(cctx, lim.timeout, errTimeLimit)
	defer cancelTimeout()
	a.done = tctx.Done()
	a.stdout.cancel = cancel
	ictx := withEnvironment(experimental.WithMemoryAllocator(tctx, a), inv.Env)

	inst, err := r.rt.InstantiateModule(ictx, mod.cm, a.cfg)
	out.InitTime = time.Since(start)
	if err == nil {
		if fn := inst.ExportedFunction("_start"); fn != nil {
			_, err = fn.Call(ictx)
		} else {
			err = errors.New("the module has no _start function")
		}
		_ = inst.Close(ctx) // idempotent (proc_exit closes it first); the memory is recycled by release
	}
	a.stderr.flush()
	out.Logs = a.logs.lines

	if a.stdout.over {
		out.fail(&ActionError{Kind: KindResultTooLarge, Reason: fmt.Sprintf("the action's result exceeds the limit of %d bytes", lim.resultLimit)})
		return out
	}
	if err != nil {
		if err = r.classify(ctx, tctx, err, &a.mem, lim, code.Digest); err != nil {
			out.setErr(err)
			return out
		}
	}
	res := bytes.TrimSpace(a.stdout.buf)
	if len(res) == 0 || res[0] != '{' || !jsonvalid.Valid(res) {
		out.fail(&ActionError{Kind: KindBadResult, Reason: "the action did not return a JSON object: " + excerpt(res)})
		return out
	}
	out.Result = bytes.Clone(res)
	return out
}

// classify turns the error of a call into the guest into nil (a
// proc_exit(0), which is success), an *ActionError (the action's fault), or
// a platform error. ctx is the caller's context, tctx the activation's
// (cancelled at the time limit), mem the guest's memory.
func (r *Runtime) classify(ctx, tctx context.Context, err error, mem *linearMemory, lim limits, digest string) error {
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	switch {
	case r.closed.Load(): // Close closes instances with exit code 0: check it first
		return errClosed
	case isExit && exit.ExitCode() == 0:
		return nil // proc_exit(0): success
	case ctx.Err() != nil:
		return fmt.Errorf("wasmrt: activation stopped: %w", context.Cause(ctx))
	case causeOf(tctx) == errTimeLimit:
		return &ActionError{Kind: KindTimeout, Reason: "the action exceeded its time limit of " + millis(lim.timeout), cause: err}
	case mem.refused > 0:
		return &ActionError{Kind: KindMemory, cause: err, Reason: fmt.Sprintf(
			"the action exceeded its memory limit of %d MB: it tried to grow its memory to %s (%s)",
			lim.memoryMB, mib(mem.refused), failureText(err))}
	case isExit:
		return &ActionError{Kind: KindExit, Reason: fmt.Sprintf("the action exited with code %d", exit.ExitCode()), cause: err}
	}
	reason, ok := trapReason(err)
	if !ok { // not a guest failure wazero knows of: ours
		return fmt.Errorf("wasmrt: run module %s: %w", digest, err)
	}
	return &ActionError{Kind: KindTrap, Reason: "the action trapped: " + reason, cause: err}
}

// setErr records err: an *ActionError with its result, or a platform error.
func (o *Outcome) setErr(err error) {
	var ae *ActionError
	if errors.As(err, &ae) {
		o.fail(ae)
		return
	}
	o.Err = err
}

// fail records an action error and its result.
func (o *Outcome) fail(e *ActionError) {
	o.Err = e
	o.Result = errorResult(e.Reason)
}

// limits are an Invocation's limits with defaults applied.
type limits struct {
	timeout     time.Duration
	memoryMB    int
	memoryBytes uint64
	logLimit    int64
	resultLimit int
}

func limitsOf(inv *Invocation) (limits, error) {
	l := limits{timeout: inv.Timeout, memoryMB: inv.MemoryMB, logLimit: inv.LogLimit, resultLimit: inv.ResultLimit}
	if l.timeout < 0 || l.memoryMB < 0 || l.logLimit < 0 || l.resultLimit < 0 {
		return l, fmt.Errorf("wasmrt: invalid limits: timeout %v, memory %d MB, logs %d bytes, result %d bytes",
			inv.Timeout, inv.MemoryMB, inv.LogLimit, inv.ResultLimit)
	}
	if l.timeout == 0 {
		l.timeout = defaultTimeout
	}
	if l.memoryMB == 0 {
		l.memoryMB = defaultMemoryMB
	}
	l.memoryMB = min(l.memoryMB, maxMemoryMB)
	l.memoryBytes = uint64(l.memoryMB) << 20
	if l.logLimit == 0 {
		l.logLimit = defaultLogLimit
	}
	if l.resultLimit == 0 {
		l.resultLimit = defaultResultLimit
	}
	return l, nil
}

// trapReason extracts the reason of a trap from wazero's error ("... wasm error: unreachable\nwasm stack trace: ...").
// wazero's compiler returns a stack overflow bare, without unwinding: "stack overflow".
func trapReason(err error) (string, bool) {
	line := firstLine(err.Error())
	if line == "stack overflow" {
		return line, true
	}
	const marker = "wasm error: "
	if i := strings.Index(line, marker); i >= 0 {
		return line[i+len(marker):], true
	}
	return "", false
}

// failureText says briefly how an activation that hit its memory limit failed.
func failureText(err error) string {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return fmt.Sprintf("it exited with code %d", exit.ExitCode())
	}
	if reason, ok := trapReason(err); ok {
		return "it trapped: " + reason
	}
	return "it failed"
}

// excerpt quotes the start of a bad result.
func excerpt(b []byte) string {
	if len(b) == 0 {
		return "its output was empty"
	}
	const max = 100
	if len(b) <= max {
		return strconv.Quote(string(b))
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strconv.Quote(string(b[:cut])) + fmt.Sprintf("... (%d bytes)", len(b))
}

func millis(d time.Duration) string {
	if d%time.Millisecond != 0 && d < time.Second {
		return d.String()
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
}

func mib(n uint64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatUint(n>>20, 10) + " MB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
}
