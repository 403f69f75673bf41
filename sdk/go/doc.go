// Package wisp writes Wisp actions in Go: a typed handler, built for
// GOOS=wasip1 GOARCH=wasm, in either form of Wisp's Wasm ABI
// (docs/wasm-abi.md in the Wisp repository).
//
//	type In struct{ Name string `json:"name"` }
//	type Out struct{ Greeting string `json:"greeting"` }
//
//	func hello(ctx context.Context, in In) (Out, error) {
//		return Out{Greeting: "Hello, " + in.Name + "!"}, nil
//	}
//
//	func init() { wisp.Handle(hello) }
//	func main() { wisp.Main() }
//
// The same source builds both ways:
//
//	GOOS=wasip1 GOARCH=wasm go build -o hello.wasm .                      # command form
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .  # reactor form
//
// # The command form
//
// A WASI command: a fresh instance per activation. Main reads the
// parameters (a JSON object) from stdin, calls the handler, writes the
// result to stdout and returns. The activation's context comes from the
// __OW_* environment variables. Since stdout is the result, Main points
// os.Stdout at stderr while the handler runs: what the handler prints
// becomes a log line and cannot corrupt the result. (Only writes through
// the os.Stdout variable are redirected; a writer that captured os.Stdout
// before Main ran still writes to the real stdout.)
//
// The command form also runs natively, which is how an action is tried out
// locally: echo '{"name":"you"}' | go run .
//
// # The reactor form
//
// Built with -buildmode=c-shared, the module exports wisp_alloc and
// wisp_invoke and no _start. Wisp instantiates it once, runs its package
// initialisers (so Handle must be called from an init function or a
// package-level variable's initialiser: main is never called), and then
// serves many activations of one action with the same instance, one at a
// time. Package variables, caches and connections opened by one activation
// are seen by the next activation of the same action; two actions never
// share an instance, even with the same module. Goroutines left running
// when the handler returns are paused until the next activation. Every
// line written to stdout or stderr is a log line of the activation. The
// handler reads its activation from ctx (FromContext, ctx.Deadline). The
// SDK sets the __OW_* environment variables that stay the same for every
// activation of the instance (__OW_NAMESPACE, __OW_ACTION_NAME,
// __OW_ACTION_VERSION, __OW_API_HOST); __OW_ACTIVATION_ID and __OW_DEADLINE
// are unset, unless the handler is registered with WithActivationEnv, which
// sets them before each call, as OpenWhisk's runtimes do, for code written
// for the command form (or for OpenWhisk) that reads them. Setting them
// costs ~25 µs per activation when the guest runs cold.
//
// # Results and errors
//
// The handler's result is encoded with encoding/json and must be a JSON
// object (a struct, a map, or a pointer to one); a nil pointer or map is
// the empty object {}. A returned error becomes the result
// {"error": err.Error()}: an application error, as in OpenWhisk. So do
// parameters that do not decode into the handler's parameter type:
// {"error": "the parameters do not fit main.In: json: ..."}.
//
// A panic is a crash, OpenWhisk's "action developer error": the SDK does
// not recover it. The Go runtime prints it and the stack to stderr (the
// activation's logs) and ends the instance: with exit status 2 in the
// command form, with a Wasm trap ("unreachable") in the reactor form (that
// is how Go 1.26 ends a crash inside an exported function). Wisp records a
// developer error and discards the instance; the next activation gets a
// fresh one. A result that cannot be encoded, or that is not a JSON object,
// is a developer error of the same kind: the SDK logs why and exits with
// status 1.
//
// # Logs
//
// Log and Logf write a line to stderr; the standard log package, fmt.Fprint
// to os.Stderr and (see above) to os.Stdout work as well. Wisp stamps each
// line with its time.
package wisp
