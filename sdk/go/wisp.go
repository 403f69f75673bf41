package wisp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"time"
	"unsafe"
)

// handler is a registered handler with its types erased: it decodes the
// parameters and encodes the result, appended to dst when it can be (the
// reactor form passes the buffer of the previous result, which the host
// has read by then, so that each result does not take fresh memory). A
// non-nil error is a developer error (the result could not be made);
// application errors are results.
type handler func(ctx context.Context, params, dst []byte) ([]byte, error)

// registered is the handler given to Handle, nil before.
var registered handler

// Handle registers h as the action's handler. Call it once, from an init
// function (or a package-level variable's initialiser): in the reactor form
// main is never called, so a handler registered there is never seen.
//
// For each activation the parameters, a JSON object, are decoded into a new
// P with encoding/json (fields the type does not declare are ignored);
// P may be a struct, a map such as map[string]any, json.RawMessage, or a
// pointer to one. Parameters that do not decode are an application error,
// and h is not called. h's ctx carries the activation (see FromContext) and
// its deadline. A non-nil error from h becomes the result
// {"error": err.Error()}; otherwise the R is encoded as the result, which
// must be a JSON object (see the package documentation).
//
// Options change how the handler is served: see WithActivationEnv.
//
// Handle panics if h is nil or if a handler is already registered. It is
// not safe for concurrent use (init functions run one at a time). The SDK
// calls h for one activation at a time; h may start goroutines of its own.
func Handle[P, R any](h func(ctx context.Context, params P) (R, error), opts ...Option) {
	if h == nil {
		panic("wisp: Handle(nil)")
	}
	if registered != nil {
		panic("wisp: Handle called twice: an action has one handler")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	registered = typed(h)
	activationEnv = o.activationEnv
	primeCodec[P, R]()
}

// An Option changes how Handle serves the handler.
type Option func(*options)

// options are what the Options given to Handle chose.
type options struct {
	activationEnv bool
}

// WithActivationEnv has the reactor form set __OW_ACTIVATION_ID and
// __OW_DEADLINE to each activation's values before the handler runs, as
// OpenWhisk's runtimes do, for code that reads them with os.Getenv. Without
// it they are unset in the reactor form, where one instance serves many
// activations, and the handler reads its activation from ctx (FromContext,
// ctx.Deadline). The other __OW_* variables, the same for every activation
// of an instance, are set in every form, and the command and native forms
// set all of them either way.
//
// It costs ~25 µs per activation (of a ~250 µs invoke, measured on wispd)
// when the guest's caches have gone cold between two requests, as they do
// with one request at a time: a variable is set through a map of Go's
// syscall package, whose code then runs from memory (measured:
// docs/rationale.md, "The Go SDK's reactor form sets no per-activation
// environment variables unless asked").
func WithActivationEnv() Option {
	return func(o *options) { o.activationEnv = true }
}

// activationEnv is WithActivationEnv's choice, for the reactor form.
var activationEnv bool

// primeCodec has encoding/json build its decoder for P and its encoder for
// R now, at registration (in a reactor: during _initialize, which Wisp
// runs when it prewarms the action), rather than in the first activation:
// in a Wasm guest that reflection cost about a millisecond the first time.
// Decoding "{}" and encoding a zero R run none of the handler's code (a
// type's own UnmarshalJSON or MarshalJSON, if it has one, sees exactly
// that).
func primeCodec[P, R any]() {
	var p P
	_ = json.Unmarshal([]byte("{}"), &p)
	var r R
	_, _ = json.Marshal(r)
}

// typed erases the types of h. A flat struct P or R goes through a
// flatCodec, anything else, and any JSON that codec leaves, through
// encoding/json.
func typed[P, R any](h func(context.Context, P) (R, error)) handler {
	dec := newFlatCodec(reflect.TypeFor[P]())
	if dec != nil && !dec.canDecode {
		dec = nil
	}
	enc := newFlatCodec(reflect.TypeFor[R]())
	if enc != nil && !enc.canEncode {
		enc = nil
	}
	return func(ctx context.Context, params, dst []byte) ([]byte, error) {
		var p P // on the stack: json.Unmarshal, which would move it to the heap, gets a P of its own
		if len(bytes.TrimSpace(params)) == 0 {
			params = []byte("{}")
		}
		if dec == nil || !dec.decode(params, unsafe.Pointer(&p)) {
			decoded := new(P) // zero: decode may have set some of p's fields
			if err := json.Unmarshal(params, decoded); err != nil {
				return errorResult(fmt.Sprintf("the parameters do not fit %s: %v", typeName[P](), err)), nil
			}
			p = *decoded
		}
		r, err := h(ctx, p)
		if err != nil {
			return errorResult(err.Error()), nil
		}
		if enc != nil {
			if b, ok := enc.encode(dst, unsafe.Pointer(&r)); ok {
				return b, nil
			}
		}
		return encodeResult(r)
	}
}

// typeName names T as the user wrote it ("main.In", "map[string]interface {}").
func typeName[T any]() string {
	return reflect.TypeFor[T]().String()
}

// encodeResult encodes a handler's result, which must be a JSON object;
// null (a nil pointer or map) is the empty object.
func encodeResult(r any) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("the handler's result (%T) cannot be encoded as JSON: %w", r, err)
	}
	switch {
	case bytes.Equal(b, []byte("null")):
		return []byte("{}"), nil
	case len(b) == 0 || b[0] != '{':
		return nil, fmt.Errorf("the handler's result (%T) is %s, not a JSON object: an action's result must be an object (a struct or a map)", r, excerpt(b))
	}
	return b, nil
}

// errorResult is the result {"error": msg}.
func errorResult(msg string) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return b
}

// excerpt is the start of b, quoted, for error messages.
func excerpt(b []byte) string {
	const max = 60
	if len(b) > max {
		return fmt.Sprintf("%q... (%d bytes)", b[:max], len(b))
	}
	return string(b)
}

// errNoHandler is the developer error of a module that never called Handle.
var errNoHandler = errors.New("no handler is registered: call wisp.Handle from an init function (in the reactor form main is never called)")

// call runs the registered handler for one activation; the result may be
// appended to dst (see handler).
func call(a Activation, params, dst []byte) ([]byte, error) {
	if registered == nil {
		return nil, errNoHandler
	}
	ctx := a.context()
	defer ctx.cancel()
	return registered(ctx, params, dst)
}

// Main runs one activation in the command form: it reads the parameters
// from stdin, calls the handler registered with Handle with the activation
// described by the __OW_* environment variables, writes the result to
// stdout, and returns. While the handler runs, os.Stdout is stderr, so
// that what the handler prints is logged and cannot corrupt the result.
//
// A developer error (no handler, a result that cannot be encoded or is not
// a JSON object, stdin or stdout failing) is written to stderr and ends the
// process with exit status 1; a panic of the handler is not recovered
// (exit status 2). Call Main from main, once. In the reactor form main,
// hence Main, is never called.
//
// Built for Linux (GOOS=linux, CGO_ENABLED=0) and started by Wisp's native
// runtime, Main instead serves activations until stdin ends, over the
// container protocol (see native_linux.go); it never returns then.
func Main() {
	if serveActionLoop() {
		return
	}
	if code := runCommand(os.Stdin, os.Getenv); code != 0 {
		os.Exit(code)
	}
}

// runCommand is Main without the exit: it returns the exit status. It
// writes the result to os.Stdout as it was when called.
func runCommand(stdin io.Reader, getenv func(string) string) int {
	stdout, stderr := os.Stdout, os.Stderr
	params, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "wisp: read the parameters from stdin: %v\n", err)
		return 1
	}
	os.Stdout = stderr
	result, err := func() ([]byte, error) {
		defer func() { os.Stdout = stdout }()
		return call(activationFromEnv(getenv), params, nil)
	}()
	if err != nil {
		fmt.Fprintf(stderr, "wisp: %v\n", err)
		return 1
	}
	if _, err := stdout.Write(append(result, '\n')); err != nil {
		fmt.Fprintf(stderr, "wisp: write the result to stdout: %v\n", err)
		return 1
	}
	return 0
}

// invokeReactor runs one activation in the reactor form: actx is the
// activation context object of docs/wasm-abi.md. It sets the __OW_*
// environment variables to the activation's values (and unsets those it
// does not give), so that code reading them sees this activation. The
// result may be appended to dst (see handler).
func invokeReactor(params, actx, dst []byte) ([]byte, error) {
	a, ok := last.sameShape(actx)
	plain := last.plain
	if !ok {
		a, plain = contextObject(actx, &last.activation, last.envSet && last.plain)
		last.keepShape(actx, plain)
	}
	if ok && !activationEnv {
		// Only the id and the deadline changed, and neither is in the
		// environment: it holds what setEnv set before.
		last.activation = a
	} else {
		setEnv(&a, &last, activationEnv)
	}
	last.plain = plain
	return call(a, params, dst)
}

// reactorState is what the reactor form keeps from one activation to the
// next of its instance.
type reactorState struct {
	activation Activation // the last one
	envSet     bool       // setEnv has set the __OW_* variables from activation
	// plain says that activation's values are all printable ASCII without
	// backslashes (contextObject).
	plain bool
	// ctx is the last context object read in full, with the last id and
	// deadline written over it; id and deadline are where their values
	// are in it, or both zero when it cannot be reused (sameShape).
	ctx          []byte
	id, deadline span
}

// span is the bytes [start, end) of a context object.
type span struct{ start, end int }

// sameShape reads the context object b when it differs from the last one
// (s.ctx) only in the activation id's and the deadline's values, as it
// does between two activations of an instance, with three comparisons
// instead of a pass over every member: in a Go Wasm guest that pass,
// with its string comparisons, was a fifth of the SDK's share of a warm
// call. It reports false for anything else, which contextObject reads.
func (s *reactorState) sameShape(b []byte) (Activation, bool) {
	id, dl := s.id, s.deadline
	if !s.envSet || !s.plain || id.end == 0 || len(b) != len(s.ctx) ||
		!equal(b[:id.start], s.ctx[:id.start]) ||
		!equal(b[id.end:dl.start], s.ctx[id.end:dl.start]) ||
		!equal(b[dl.end:], s.ctx[dl.end:]) {
		return Activation{}, false
	}
	newID := b[id.start:id.end]
	ms, ok := parseMillis(b[dl.start:dl.end])
	// The id must read as the same member would: no quote to end it
	// early, nothing that is not plain.
	if !ok || !plainUnquoted(newID) {
		return Activation{}, false
	}
	a := s.activation
	if a.ID != string(newID) {
		a.ID = string(newID)
	}
	a.Deadline = time.UnixMilli(ms)
	copy(s.ctx[id.start:id.end], newID)
	copy(s.ctx[dl.start:dl.end], b[dl.start:dl.end])
	return a, true
}

// keepShape keeps b, a context object just read in full, for sameShape:
// when it is in the form wasmrt writes (plain, the id's member before the
// deadline's, both strings), b is copied, and where the two values are.
func (s *reactorState) keepShape(b []byte, plain bool) {
	s.id, s.deadline = span{}, span{}
	if !plain {
		return
	}
	id, okID := memberValue(b, `"activationId":"`)
	dl, okDL := memberValue(b, `"deadline":"`)
	if !okID || !okDL || id.end > dl.start {
		return
	}
	s.ctx = append(s.ctx[:0], b...)
	s.id, s.deadline = id, dl
}

// memberValue finds the string value that follows the only occurrence of
// prefix (a key, a colon and the opening quote) in b. The context object
// is plain (no escapes): a quote ends a string.
func memberValue(b []byte, prefix string) (span, bool) {
	i := bytes.Index(b, []byte(prefix))
	if i < 0 || bytes.Index(b[i+len(prefix):], []byte(prefix)) >= 0 {
		return span{}, false
	}
	start := i + len(prefix)
	n := bytes.IndexByte(b[start:], '"')
	if n < 0 {
		return span{}, false
	}
	return span{start, start + n}, true
}

var last reactorState

// setEnv sets the __OW_* environment variables to a's values (unsetting
// those a lacks), changing only those that differ from what the last call
// set: an instance serves one action, so mostly the id and the deadline
// change. Unless perActivation, the id's and the deadline's variables are
// left unset (see WithActivationEnv). It then makes a the last activation.
func setEnv(a *Activation, last *reactorState, perActivation bool) {
	env, was := envValues(*a, perActivation), envValues(last.activation, perActivation)
	for i, f := range activationFields {
		if v := *env.fieldAt(i); !last.envSet || v != *was.fieldAt(i) {
			setOrUnset(f.env, v)
		}
	}
	if !last.envSet || !env.Deadline.Equal(was.Deadline) {
		dl := ""
		if !env.Deadline.IsZero() {
			dl = strconv.FormatInt(env.Deadline.UnixMilli(), 10)
		}
		setOrUnset(deadlineEnv, dl)
	}
	last.activation, last.envSet = *a, true
}

// envValues is what the __OW_* variables hold for a: its values, but
// without the id and the deadline unless perActivation.
func envValues(a Activation, perActivation bool) Activation {
	if !perActivation {
		a.ID, a.Deadline = "", time.Time{}
	}
	return a
}

// setOrUnset sets the variable key to value, or unsets it when value is "".
func setOrUnset(key, value string) {
	if value == "" {
		_ = os.Unsetenv(key)
	} else {
		_ = os.Setenv(key, value)
	}
}
