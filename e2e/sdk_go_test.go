package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wispfaas/wisp/wasmrt"
)

// The Go SDK (sdk/go, a module of its own) is tested here, in the main
// module, because only here can its actions run in the real Wisp: its
// example (sdk/go/examples/hello) and a probe action written below are
// built for wasip1 in both forms of docs/wasm-abi.md and run on wispd.

// sdkProbeSource is an action that shows what the example does not: which
// instance served an activation (a random id drawn when the instance
// starts), how the SDK handles a panic and a result that is not an object,
// a handler that sleeps, and the deadline and __OW_* environment in the
// reactor form (with wisp.WithActivationEnv, which keeps __OW_ACTIVATION_ID
// current there).
const sdkProbeSource = `package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	wisp "github.com/wispfaas/wisp/sdk/go"
)

type in struct {
	Mode string ` + "`json:\"mode\"`" + `
	Ms   int    ` + "`json:\"ms\"`" + `
}

// instance names this instance; calls counts the activations it served.
var (
	instance = fmt.Sprintf("%016x", rand.Uint64())
	calls    int
)

func probe(ctx context.Context, p in) (any, error) {
	calls++
	switch p.Mode {
	case "panic":
		panic("probe: deliberate panic in instance " + instance)
	case "string":
		return "not an object", nil
	case "sleep":
		time.Sleep(time.Duration(p.Ms) * time.Millisecond)
	}
	act, _ := wisp.FromContext(ctx)
	dl, _ := ctx.Deadline()
	return map[string]any{
		"instance":     instance,
		"calls":        calls,
		"activationId": act.ID,
		"version":      act.ActionVersion,
		"env":          os.Getenv("__OW_ACTIVATION_ID"),
		"deadline":     dl.UnixMilli(),
		"ctxDeadline":  act.Deadline.UnixMilli(),
	}, nil
}

func init() { wisp.Handle(probe, wisp.WithActivationEnv()) }

func main() { wisp.Main() }
`

// sdkGoModules are the SDK's actions, built once per test binary.
var sdkGoModules struct {
	once                       sync.Once
	hello, helloReactor, probe []byte
	err                        error
}

// sdkGoBuild builds the example in both forms and the probe as a reactor.
func sdkGoBuild(t testing.TB) (hello, helloReactor, probe []byte) {
	t.Helper()
	m := &sdkGoModules
	m.once.Do(func() {
		m.err = func() error {
			root, err := moduleRoot()
			if err != nil {
				return err
			}
			sdk := filepath.Join(root, "sdk", "go")
			dir, err := os.MkdirTemp(binDir, "sdkgo-")
			if err != nil {
				return err
			}
			probeDir := filepath.Join(dir, "probe")
			gomod := fmt.Sprintf("module wisp.e2e/probe\n\ngo 1.26\n\nrequire github.com/wispfaas/wisp/sdk/go v0.0.0\n\nreplace github.com/wispfaas/wisp/sdk/go => %s\n", sdk)
			if err := os.MkdirAll(probeDir, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(probeDir, "go.mod"), []byte(gomod), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(probeDir, "main.go"), []byte(sdkProbeSource), 0o644); err != nil {
				return err
			}
			example := filepath.Join(sdk, "examples", "hello")
			for _, b := range []struct {
				dir, out string
				reactor  bool
				into     *[]byte
			}{
				{example, "sdk-hello.wasm", false, &m.hello},
				{example, "sdk-hello-reactor.wasm", true, &m.helloReactor},
				{probeDir, "sdk-probe-reactor.wasm", true, &m.probe},
			} {
				out := filepath.Join(dir, b.out)
				args := []string{"build", "-trimpath"}
				if b.reactor {
					args = append(args, "-buildmode=c-shared")
				}
				cmd := exec.Command("go", append(args, "-o", out, ".")...)
				cmd.Dir = b.dir
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "CGO_ENABLED=0")
				if msg, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("build %s in %s: %v\n%s", b.out, b.dir, err, msg)
				}
				if *b.into, err = os.ReadFile(out); err != nil {
					return err
				}
			}
			return nil
		}()
	})
	if m.err != nil {
		t.Fatal(m.err)
	}
	return m.hello, m.helloReactor, m.probe
}

// createWasm creates action name from the module wasm.
func (a *api) createWasm(t testing.TB, name string, wasm []byte, extra map[string]any) {
	t.Helper()
	body := map[string]any{"exec": map[string]any{"kind": "wasm", "binary": true, "code": base64.StdEncoding.EncodeToString(wasm)}}
	for k, v := range extra {
		body[k] = v
	}
	a.do(t, "PUT", actionsPath+"/"+name, body).want(t, http.StatusOK)
}

// hasLog reports whether some line of logs is from stream and contains text.
func hasLog(logs []string, stream, text string) bool {
	for _, l := range logs {
		if _, rest, ok := strings.Cut(l, "Z "+stream+": "); ok && strings.Contains(rest, text) {
			return true
		}
	}
	return false
}

// A note on initTime and prewarming: creating an action asks its home
// invoker to start one reactor instance before the first invoke, but the
// first invoke may come first and start an instance of its own. So the
// tests do not expect initTime on the first activation of a reactor; they
// check what holds either way: an activation with initTime ran on an
// instance it started, and one on an instance that served before has none.

func TestSDKGo(t *testing.T) {
	t.Parallel()
	hello, helloReactor, probe := sdkGoBuild(t)
	a := shared(t).namespace(t)

	forms := []struct {
		name string
		wasm []byte
		// printed is the stream of the handler's fmt.Println: stdout is
		// the result in the command form, so the SDK sends it to stderr.
		printed string
	}{
		{"command", hello, "stderr"},
		{"reactor", helloReactor, "stdout"},
	}
	for _, f := range forms {
		a.createWasm(t, "hello-"+f.name, f.wasm, nil)
	}

	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			action := "hello-" + f.name

			r := a.invoke(t, action, "blocking=true", map[string]any{"name": "Ada"}).want(t, http.StatusOK)
			rec := r.activation(t)
			res := rec.Response.Result
			if !rec.Response.Success || res["greeting"] != "Hello, Ada!" {
				t.Fatalf("greeting: %s", rec.Raw)
			}
			if res["activationId"] != rec.ActivationID || res["action"] != "/"+a.ns+"/"+action {
				t.Errorf("the handler saw activation %v of %v; the record is %s of /%s/%s", res["activationId"], res["action"], rec.ActivationID, a.ns, action)
			}
			if !hasLog(rec.Logs, "stderr", "hello: greeting Ada in activation "+rec.ActivationID+" call 1") {
				t.Errorf("logs %q: want wisp.Log's line on stderr", rec.Logs)
			}

			// A returned error: an application error.
			r = a.invoke(t, action, "blocking=true", map[string]any{}).want(t, http.StatusBadGateway)
			rec = r.activation(t)
			if rec.StatusCode != 1 || rec.Response.Status != "application error" || rec.Response.Result["error"] != "hello: a name is required" {
				t.Errorf("handler error: %s", rec.Raw)
			}
			if !hasLog(rec.Logs, f.printed, "hello: no name in activation "+rec.ActivationID) {
				t.Errorf("logs %q: want fmt.Println's line on %s", rec.Logs, f.printed)
			}
			// Parameters that do not fit In: an application error too.
			r = a.invoke(t, action, "blocking=true&result=true", map[string]any{"name": 42}).want(t, http.StatusBadGateway)
			msg, _ := r.object(t)["error"].(string)
			if want := "the parameters do not fit main.In: json: cannot unmarshal number"; !strings.HasPrefix(msg, want) {
				t.Errorf("typed-parameter mismatch answered %s, want an error starting %q", r.Body, want)
			}
			// A reactor instance writes each activation's input and result
			// into the buffers of the one before (reactor_wasip1.go): after
			// the errors above, a long name, a short one, a longer one.
			for _, name := range []string{strings.Repeat("Grace", 700), "Al", strings.Repeat("Ada", 10)} {
				r = a.invoke(t, action, "blocking=true&result=true", map[string]any{"name": name}).want(t, http.StatusOK)
				if got := r.object(t)["greeting"]; got != "Hello, "+name+"!" {
					t.Errorf("a name of %d bytes: greeted %.40q…", len(name), got)
				}
			}
		})
	}

	// The example's package variable counts the activations of its
	// instance: it carries over between activations of one action in the
	// reactor form, never to another action with the same module, and the
	// command form starts afresh every time.
	t.Run("state", func(t *testing.T) {
		t.Parallel()
		a.createWasm(t, "counter", helloReactor, nil)
		a.createWasm(t, "counter-twin", helloReactor, nil)
		a.createWasm(t, "fresh", hello, nil)
		call := func(action string) (calls float64, init bool) {
			t.Helper()
			rec := a.invoke(t, action, "blocking=true", map[string]any{"name": "Bo"}).want(t, http.StatusOK).activation(t)
			var initMs int64
			calls, _ = rec.Response.Result["calls"].(float64)
			init = rec.annotation(t, "initTime", &initMs)
			if calls < 1 || init && calls != 1 {
				t.Errorf("%s: calls %v, initTime present %v: an activation with initTime is its instance's first\n%s", action, calls, init, rec.Raw)
			}
			return calls, init
		}
		reused := false
		for range 5 {
			calls, init := call("counter")
			if calls >= 2 {
				if init {
					t.Errorf("counter: an instance's activation %v has initTime", calls)
				}
				reused = true
				break
			}
		}
		if !reused {
			t.Errorf("counter: five activations in a row never reused an instance")
		}
		// The twin's first activation did not get counter's instance,
		// which has served two activations at least.
		if calls, _ := call("counter-twin"); calls != 1 {
			t.Errorf("counter-twin's first activation is call %v of its instance, want 1", calls)
		}
		for i := range 2 {
			if calls, init := call("fresh"); calls != 1 || !init {
				t.Errorf("command form, activation %d: calls %v, initTime %v; want 1, true", i+1, calls, init)
			}
		}
	})

	t.Run("probe", func(t *testing.T) {
		t.Parallel()
		limits := map[string]any{"limits": map[string]any{"timeout": 20000}}
		a.createWasm(t, "probe", probe, limits)
		a.createWasm(t, "probe-twin", probe, limits)

		// owner and calls of every instance seen, by instance id.
		type seen struct {
			action string
			calls  float64
		}
		instances := map[string]*seen{}
		// call invokes action and checks that the instance it ran on
		// counts on from where it was, and serves only that action.
		call := func(action string, params map[string]any) (rec *activation, instance string) {
			t.Helper()
			rec = a.invoke(t, action, "blocking=true", params).want(t, http.StatusOK).activation(t)
			res := rec.Response.Result
			instance, _ = res["instance"].(string)
			calls, _ := res["calls"].(float64)
			var initMs int64
			init := rec.annotation(t, "initTime", &initMs)
			switch s := instances[instance]; {
			case s == nil && calls != 1:
				t.Errorf("%s: a new instance %s at call %v", action, instance, calls)
			case s == nil:
				instances[instance] = &seen{action, calls}
			case s.action != action:
				t.Errorf("%s ran on instance %s of %s", action, instance, s.action)
			case calls != s.calls+1 || init:
				t.Errorf("%s: instance %s at call %v (initTime %v) after call %v", action, instance, calls, init, s.calls)
			default:
				s.calls = calls
			}
			if init && calls != 1 {
				t.Errorf("%s: initTime on call %v of an instance", action, calls)
			}
			return rec, instance
		}

		// The context and (the probe asks for them) the __OW_* variables
		// are each activation's own, also in an instance that serves many.
		var last string
		for i, action := range []string{"probe", "probe", "probe-twin", "probe", "probe-twin", "probe-twin"} {
			before := time.Now()
			rec, instance := call(action, map[string]any{"mode": "sleep", "ms": 20})
			res := rec.Response.Result
			if res["activationId"] != rec.ActivationID || res["env"] != rec.ActivationID || res["version"] != rec.Version {
				t.Errorf("activation %d: %v; record %s", i+1, res, rec.Raw)
			}
			dl, _ := res["deadline"].(float64)
			if res["ctxDeadline"] != dl || int64(dl) < before.UnixMilli()+15000 || int64(dl) > time.Now().UnixMilli()+20000 {
				t.Errorf("activation %d: deadline %v (the activation's %v), want about 20 s after %d", i+1, res["deadline"], res["ctxDeadline"], before.UnixMilli())
			}
			if action == "probe" {
				last = instance
			}
		}
		for inst, s := range instances {
			if s.calls < 2 {
				t.Logf("instance %s of %s served %v activation(s)", inst, s.action, s.calls)
			}
		}
		if len(instances) > 4 {
			t.Errorf("six activations of two actions used %d instances", len(instances))
		}

		// A panic is a developer error, logged with its stack; the
		// instance is discarded.
		rec := a.invoke(t, "probe", "blocking=true", map[string]any{"mode": "panic"}).want(t, http.StatusBadGateway).activation(t)
		if msg, _ := rec.Response.Result["error"].(string); rec.StatusCode != 2 || msg == "" {
			t.Errorf("panic: %s", rec.Raw)
		}
		var crashed string
		for _, l := range rec.Logs {
			if _, after, ok := strings.Cut(l, "stderr: panic: probe: deliberate panic in instance "); ok {
				crashed = after
			}
		}
		if crashed == "" || !hasLog(rec.Logs, "stderr", "goroutine ") {
			t.Errorf("panic logs %q", rec.Logs)
		}
		if crashed != last {
			t.Logf("the panic ran on instance %s, the last activation on %s (a late prewarm?)", crashed, last)
		}
		if _, instance := call("probe", map[string]any{}); instance == crashed {
			t.Errorf("instance %s served an activation after it panicked", instance)
		}

		// A result that is not an object: a developer error, explained in the logs.
		rec = a.invoke(t, "probe", "blocking=true", map[string]any{"mode": "string"}).want(t, http.StatusBadGateway).activation(t)
		msg, _ := rec.Response.Result["error"].(string)
		if rec.StatusCode != 2 || !strings.Contains(msg, "exited with code 1") ||
			!hasLog(rec.Logs, "stderr", `wisp: the handler's result (string) is "not an object", not a JSON object`) {
			t.Errorf("string result: %s", rec.Raw)
		}
	})
}

// BenchmarkSDKGoRun measures a warm wasmrt.Runtime.Run of the SDK's hello
// example: in the reactor form, a call into a pooled instance; in the
// command form, a new instance with the Go runtime's start-up each time.
//
//	go test ./e2e/ -run '^$' -bench SDKGo
func BenchmarkSDKGoRun(b *testing.B) {
	hello, helloReactor, _ := sdkGoBuild(b)
	for _, bc := range []struct {
		name string
		wasm []byte
	}{{"reactor", helloReactor}, {"command", hello}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			rt, err := wasmrt.New(ctx, wasmrt.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close(ctx)
			sum := sha256.Sum256(bc.wasm)
			code := wasmrt.Code{Digest: "sha256:" + hex.EncodeToString(sum[:]), Load: func(context.Context) ([]byte, error) { return bc.wasm, nil }}
			inv := wasmrt.Invocation{
				Params: []byte(`{"name":"wisp"}`),
				Env: map[string]string{
					"__OW_ACTIVATION_ID":  "0123456789abcdef0123456789abcdef",
					"__OW_NAMESPACE":      "guest",
					"__OW_ACTION_NAME":    "/guest/hello",
					"__OW_ACTION_VERSION": "0.0.1",
					"__OW_DEADLINE":       fmt.Sprint(time.Now().Add(time.Hour).UnixMilli()),
					"__OW_API_HOST":       "http://127.0.0.1:3233",
				},
				Owner: "/guest/hello@0.0.1",
			}
			run := func() {
				out := rt.Run(ctx, code, inv)
				if out.Err != nil {
					b.Fatalf("%v; logs %q", out.Err, out.Logs)
				}
				var res struct{ Greeting string }
				if err := json.Unmarshal(out.Result, &res); err != nil || res.Greeting != "Hello, wisp!" {
					b.Fatalf("result %s", out.Result)
				}
			}
			run() // compile, and for the reactor a warm instance
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				run()
			}
		})
	}
}
