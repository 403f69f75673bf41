package wasmrt

import (
	"encoding/json"
	"errors"
)

// ErrInvalidModule is matched (with errors.Is) by every error that says a module cannot run as a Wisp
// action: not WebAssembly, not valid, not a WASI command, or importing something Wisp does not provide.
// Validate returns such errors directly; Run returns them wrapped in an *ActionError of kind
// KindInvalidModule. The message of the matching error, not of ErrInvalidModule, is the one to show users.
var ErrInvalidModule = errors.New("invalid wasm module")

// errClosed is returned (as a platform error) by Validate and Run after Close.
var errClosed = errors.New("wasmrt: runtime is closed")

// Causes of the cancellation of an activation's context; read back with causeOf.
var (
	errTimeLimit   = errors.New("wasmrt: time limit reached")
	errResultLimit = errors.New("wasmrt: result limit reached")
)

// invalidModuleError carries a user-facing reason why a module cannot run. It matches ErrInvalidModule.
type invalidModuleError struct{ msg string }

func (e *invalidModuleError) Error() string { return e.msg }
func (e *invalidModuleError) Unwrap() error { return ErrInvalidModule }

func invalidModule(msg string) error { return &invalidModuleError{msg: msg} }

// ErrorKind classifies an ActionError, e.g. so that a caller can annotate a timed-out activation
// (OpenWhisk's "timeout" annotation) or count failures by cause. Its zero value is not a valid kind.
type ErrorKind uint8

// The kinds of ActionError.
const (
	KindTrap           ErrorKind = iota + 1 // the guest trapped (unreachable, out of bounds access, stack overflow, ...), also in a start function
	KindExit                                // the guest exited with a non-zero code
	KindTimeout                             // the activation reached Invocation.Timeout
	KindMemory                              // the guest needed more linear memory than Invocation.MemoryMB allows
	KindBadResult                           // stdout was empty or not one JSON object
	KindResultTooLarge                      // stdout exceeded Invocation.ResultLimit
	KindInvalidModule                       // the code loaded by Code.Load is not a runnable Wisp module
)

// String returns a short lower-case name of the kind, suitable for metrics labels.
func (k ErrorKind) String() string {
	switch k {
	case KindTrap:
		return "trap"
	case KindExit:
		return "exit"
	case KindTimeout:
		return "timeout"
	case KindMemory:
		return "memory"
	case KindBadResult:
		return "bad result"
	case KindResultTooLarge:
		return "result too large"
	case KindInvalidModule:
		return "invalid module"
	}
	return "unknown"
}

// ActionError is a failure caused by the action itself: a trap, a non-zero exit, output that is not a
// JSON object, or an exceeded limit (time, memory, result size). It is what OpenWhisk calls an
// "action developer error": Reason is user-facing and is also the "error" field of Outcome.Result.
// ActionError values are immutable once returned and safe to share between goroutines.
// Unwrap returns the underlying cause when there is one (e.g. ErrInvalidModule, or wazero's
// *sys.ExitError), for logging; it is never needed to classify the error, which Kind does.
type ActionError struct {
	Reason string    // what happened, in words for the action's developer
	Kind   ErrorKind // what kind of failure it was
	cause  error
}

// Error returns Reason.
func (e *ActionError) Error() string { return e.Reason }

// Unwrap returns the cause of the failure, or nil.
func (e *ActionError) Unwrap() error { return e.cause }

// errorResult renders {"error": reason}.
func errorResult(reason string) json.RawMessage {
	b, err := json.Marshal(struct {
		Error string `json:"error"`
	}{reason})
	if err != nil { // cannot happen for a string; keep a valid object anyway
		return json.RawMessage(`{"error":"the action failed"}`)
	}
	return b
}
