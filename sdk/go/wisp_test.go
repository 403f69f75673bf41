package wisp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

type in struct {
	Name  string `json:"name"`
	Times int    `json:"times"`
}

type out struct {
	Greeting string `json:"greeting"`
}

func greet(_ context.Context, p in) (out, error) {
	if p.Name == "" {
		return out{}, errors.New("no name")
	}
	return out{Greeting: strings.Repeat("hi "+p.Name+" ", max(p.Times, 1))}, nil
}

func TestTyped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		h      handler
		params string
		want   string // the result; "" when an error is wanted
		err    string // in the developer error
	}{
		{"success", typed(greet), `{"name":"Ada","extra":[1]}`, `{"greeting":"hi Ada "}`, ""},
		{"handler error", typed(greet), `{}`, `{"error":"no name"}`, ""},
		{"empty params", typed(greet), ` `, `{"error":"no name"}`, ""},
		{"params do not fit", typed(greet), `{"name":42}`,
			`{"error":"the parameters do not fit wisp.in: json: cannot unmarshal number into Go struct field in.name of type string"}`, ""},
		{"params not an object", typed(greet), `[1]`,
			`{"error":"the parameters do not fit wisp.in: json: cannot unmarshal array into Go value of type wisp.in"}`, ""},
		{"pointer params", typed(func(_ context.Context, p *in) (*out, error) { return &out{p.Name}, nil }), `{"name":"x"}`, `{"greeting":"x"}`, ""},
		{"map params", typed(func(_ context.Context, p map[string]any) (map[string]any, error) { return p, nil }), `{"a":{"b":1}}`, `{"a":{"b":1}}`, ""},
		{"raw params", typed(func(_ context.Context, p json.RawMessage) (json.RawMessage, error) { return p, nil }), `{"a": 1}`, `{"a":1}`, ""},
		{"nil result is {}", typed(func(context.Context, in) (*out, error) { return nil, nil }), `{}`, `{}`, ""},
		{"nil map result is {}", typed(func(context.Context, in) (map[string]int, error) { return nil, nil }), `{}`, `{}`, ""},
		{"struct{} result", typed(func(context.Context, in) (struct{}, error) { return struct{}{}, nil }), `{}`, `{}`, ""},
		{"error wins over a result", typed(func(context.Context, in) (out, error) { return out{"x"}, errors.New("bad") }), `{}`, `{"error":"bad"}`, ""},
		{"error message escaped", typed(func(context.Context, in) (out, error) { return out{}, errors.New(`say "no"` + "\n") }), `{}`, `{"error":"say \"no\"\n"}`, ""},
		{"string result", typed(func(context.Context, in) (string, error) { return "hi", nil }), `{}`, "", `the handler's result (string) is "hi", not a JSON object`},
		{"slice result", typed(func(context.Context, in) ([]int, error) { return []int{1}, nil }), `{}`, "", `is [1], not a JSON object`},
		{"unencodable result", typed(func(context.Context, in) (any, error) { return map[string]any{"c": make(chan int)}, nil }), `{}`, "",
			"the handler's result (map[string]interface {}) cannot be encoded as JSON: json: unsupported type: chan int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.h(context.Background(), []byte(tc.params), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %s, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	long := `"` + strings.Repeat("x", 100) + `"`
	if got := excerpt([]byte(long)); !strings.HasSuffix(got, "... (102 bytes)") || len(got) > 100 {
		t.Errorf("excerpt of 102 bytes: %s", got)
	}
}

// register sets the registered handler for one test.
func register(t *testing.T, h handler) {
	t.Helper()
	saved := registered
	registered = h
	t.Cleanup(func() { registered = saved })
}

func TestHandle(t *testing.T) {
	register(t, nil)
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	withActivationEnv(t, false)
	mustPanic("Handle(nil)", func() { Handle[in, out](nil) })
	Handle(greet, WithActivationEnv())
	if registered == nil {
		t.Fatal("Handle did not register")
	}
	if !activationEnv {
		t.Error("Handle(greet, WithActivationEnv()) did not choose the per-activation variables")
	}
	mustPanic("a second Handle", func() { Handle(greet) })
	registered = nil
	Handle(greet)
	if activationEnv {
		t.Error("Handle(greet) chose the per-activation variables")
	}
}

// activationFromJSON is contextObject when nothing is known of prev.
func activationFromJSON(b []byte, prev *Activation) Activation {
	a, _ := contextObject(b, prev, false)
	return a
}

func TestActivationFromJSON(t *testing.T) {
	dl := time.UnixMilli(1795651200123)
	want := Activation{ID: "0123", Namespace: "ns", ActionName: "/ns/pkg/a", ActionVersion: "0.0.2", Deadline: dl, APIHost: "http://h:1"}
	for _, tc := range []struct {
		name, ctx string
		want      Activation
	}{
		{"strings", `{"activationId":"0123","namespace":"ns","actionName":"/ns/pkg/a","actionVersion":"0.0.2","deadline":"1795651200123","apiHost":"http://h:1","other":"x"}`, want},
		{"deadline a number", `{"activationId":"0123","namespace":"ns","actionName":"/ns/pkg/a","actionVersion":"0.0.2","deadline":1795651200123,"apiHost":"http://h:1"}`, want},
		{"partial", `{"activationId":"0123","deadline":"soon","namespace":null,"actionName":{}}`, Activation{ID: "0123"}},
		{"empty", `{}`, Activation{}},
		{"not JSON", `{`, Activation{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := activationFromJSON([]byte(tc.ctx), &Activation{}); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// After another activation, whose strings are reused where equal.
			prev := Activation{ID: "9999", Namespace: "ns", ActionName: "/ns/other", APIHost: "http://h:1", Deadline: dl}
			if got := activationFromJSON([]byte(tc.ctx), &prev); got != tc.want {
				t.Errorf("after %+v: got %+v, want %+v", prev, got, tc.want)
			}
		})
	}
}

// TestActivationFromJSONReuses checks that the values an activation shares
// with the previous one are not allocated again, and that the others are
// copies, not views of the context object's bytes (which the host may
// overwrite).
func TestActivationFromJSONReuses(t *testing.T) {
	ctx := []byte(`{"activationId":"0123","namespace":"ns","actionName":"/ns/a","actionVersion":"0.0.1","deadline":"1795651200123","apiHost":"http://h:1"}`)
	prev := activationFromJSON(ctx, &Activation{})
	next := []byte(strings.Replace(string(ctx), "0123", "4567", 1))
	got := activationFromJSON(next, &prev)
	if unsafe.StringData(got.Namespace) != unsafe.StringData(prev.Namespace) || unsafe.StringData(got.APIHost) != unsafe.StringData(prev.APIHost) {
		t.Error("unchanged values were allocated again")
	}
	clear(next)
	if got.ID != "4567" {
		t.Errorf("the new id %q changed with the context's bytes", got.ID)
	}
	if n := testing.AllocsPerRun(100, func() { _ = activationFromJSON(ctx, &prev) }); n > 1 {
		t.Errorf("%v allocations to read an unchanged context, want at most 1 (the scan's closure)", n)
	}
}

func TestActivationEnv(t *testing.T) {
	env := map[string]string{
		"__OW_ACTIVATION_ID": "0123", "__OW_NAMESPACE": "ns", "__OW_ACTION_NAME": "/ns/a",
		"__OW_ACTION_VERSION": "0.0.1", "__OW_DEADLINE": "1795651200123", "__OW_API_HOST": "http://h:1",
	}
	a := activationFromEnv(func(k string) string { return env[k] })
	want := Activation{ID: "0123", Namespace: "ns", ActionName: "/ns/a", ActionVersion: "0.0.1", Deadline: time.UnixMilli(1795651200123), APIHost: "http://h:1"}
	if a != want {
		t.Fatalf("got %+v, want %+v", a, want)
	}
	if got := activationFromEnv(func(string) string { return "" }); got != (Activation{}) {
		t.Errorf("no environment: %+v", got)
	}
	// setEnv writes what activationFromEnv reads, and unsets what the
	// zero Activation lacks.
	for k := range env {
		t.Setenv(k, "stale") // restored after the test
	}
	var st reactorState
	setEnv(&a, &st, true)
	if back := activationFromEnv(os.Getenv); back != a {
		t.Errorf("after setEnv: %+v, want %+v", back, a)
	}
	setEnv(&Activation{}, &st, true)
	for k := range env {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("the zero Activation left %s=%q", k, v)
		}
	}
	// Without the per-activation variables: the id and the deadline are
	// unset, stale or not, and stay so; the others are set.
	for k := range env {
		t.Setenv(k, "stale")
	}
	st = reactorState{}
	next := a
	next.ID, next.Deadline = "4567", a.Deadline.Add(time.Second)
	for _, act := range []Activation{a, next} {
		setEnv(&act, &st, false)
		want := act
		want.ID, want.Deadline = "", time.Time{}
		if back := activationFromEnv(os.Getenv); back != want {
			t.Errorf("after setEnv of %s without the per-activation variables: %+v, want %+v", act.ID, back, want)
		}
		for _, k := range []string{"__OW_ACTIVATION_ID", "__OW_DEADLINE"} {
			if v, ok := os.LookupEnv(k); ok {
				t.Errorf("after setEnv of %s without the per-activation variables: %s=%q", act.ID, k, v)
			}
		}
		if st.activation != act {
			t.Errorf("the last activation: %+v, want %+v", st.activation, act)
		}
	}
}

// seen is what a handler saw of its context.
type seen struct {
	act         Activation
	ok          bool
	deadline    time.Time
	hasDeadline bool
}

func seeing(got *seen) handler {
	return typed(func(ctx context.Context, _ map[string]any) (map[string]any, error) {
		got.act, got.ok = FromContext(ctx)
		got.deadline, got.hasDeadline = ctx.Deadline()
		return nil, nil
	})
}

func TestContext(t *testing.T) {
	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext(context.Background()) reports an activation")
	}
	var got seen
	register(t, seeing(&got))
	dl := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	a := Activation{ID: "0123", Deadline: dl}
	if _, err := call(a, []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	if !got.ok || got.act != a || !got.hasDeadline || !got.deadline.Equal(dl) {
		t.Errorf("the handler saw %+v", got)
	}
	if _, err := call(Activation{ID: "4567"}, []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	if got.act.ID != "4567" || got.hasDeadline {
		t.Errorf("without a deadline the handler saw %+v", got)
	}
}

// TestContextEnds checks the handler's context against what
// context.WithDeadline gives: Done closed and Err set at the deadline
// (whether or not Done was called before), on cancel, and for a context
// derived from it; no deadline, no end but cancel.
func TestContextEnds(t *testing.T) {
	// within waits up to d for ch to be closed; d == 0: it must be now.
	within := func(t *testing.T, ch <-chan struct{}, d time.Duration) {
		t.Helper()
		if d == 0 {
			select {
			case <-ch:
			default:
				t.Fatal("Done is not closed")
			}
			return
		}
		select {
		case <-ch:
		case <-time.After(d):
			t.Fatal("Done was not closed")
		}
	}
	t.Run("deadline, waited on", func(t *testing.T) {
		ctx := Activation{Deadline: time.Now().Add(30 * time.Millisecond)}.context()
		cancel := ctx.cancel
		defer cancel()
		if ctx.Err() != nil {
			t.Fatalf("Err before the deadline: %v", ctx.Err())
		}
		within(t, ctx.Done(), 5*time.Second)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err after the deadline: %v", ctx.Err())
		}
	})
	t.Run("deadline passed before Done", func(t *testing.T) {
		ctx := Activation{Deadline: time.Now().Add(-time.Millisecond)}.context()
		cancel := ctx.cancel
		defer cancel()
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err past the deadline: %v", ctx.Err())
		}
		within(t, ctx.Done(), 0)
	})
	t.Run("canceled", func(t *testing.T) {
		ctx := Activation{Deadline: time.Now().Add(time.Hour)}.context()
		cancel := ctx.cancel
		done := ctx.Done()
		cancel()
		within(t, done, time.Second)
		cancel() // twice is harmless
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("Err after cancel: %v", ctx.Err())
		}
		within(t, ctx.Done(), 0)
	})
	t.Run("derived", func(t *testing.T) {
		ctx := Activation{ID: "x", Deadline: time.Now().Add(30 * time.Millisecond)}.context()
		cancel := ctx.cancel
		defer cancel()
		child, stop := context.WithCancel(ctx)
		defer stop()
		if a, ok := FromContext(child); !ok || a.ID != "x" {
			t.Fatalf("FromContext(child) = %+v, %v", a, ok)
		}
		within(t, child.Done(), 5*time.Second)
		if !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Fatalf("the child's Err: %v", child.Err())
		}
	})
	t.Run("no deadline", func(t *testing.T) {
		ctx := Activation{}.context()
		cancel := ctx.cancel
		if _, ok := ctx.Deadline(); ok {
			t.Fatal("a deadline without one")
		}
		select {
		case <-ctx.Done():
			t.Fatal("Done closed before cancel")
		case <-time.After(20 * time.Millisecond):
		}
		cancel()
		within(t, ctx.Done(), time.Second)
	})
}

func TestNoHandler(t *testing.T) {
	register(t, nil)
	if _, err := call(Activation{}, []byte(`{}`), nil); !errors.Is(err, errNoHandler) {
		t.Errorf("call without a handler: %v", err)
	}
}

func TestInvokeReactor(t *testing.T) {
	for _, perActivation := range []bool{false, true} {
		t.Run(fmt.Sprintf("WithActivationEnv %v", perActivation), func(t *testing.T) {
			// Registered for restoring; the values are set below.
			t.Setenv("__OW_ACTIVATION_ID", "stale")
			t.Setenv("__OW_API_HOST", "http://stale")
			t.Setenv("__OW_NAMESPACE", "")
			t.Setenv("__OW_ACTION_NAME", "")
			t.Setenv("__OW_ACTION_VERSION", "")
			t.Setenv("__OW_DEADLINE", "stale")
			last = reactorState{}
			t.Cleanup(func() { last = reactorState{} })
			withActivationEnv(t, perActivation)
			var env map[string]string
			register(t, typed(func(ctx context.Context, p in) (map[string]string, error) {
				env = map[string]string{}
				for _, k := range []string{"__OW_ACTIVATION_ID", "__OW_NAMESPACE", "__OW_DEADLINE", "__OW_API_HOST"} {
					if v, ok := os.LookupEnv(k); ok {
						env[k] = v
					}
				}
				a, _ := FromContext(ctx)
				return map[string]string{"id": a.ID, "name": p.Name}, nil
			}))
			res, err := invokeReactor([]byte(`{"name":"x"}`), []byte(`{"activationId":"0123","namespace":"ns","deadline":"1795651200123"}`), nil)
			if err != nil || string(res) != `{"id":"0123","name":"x"}` {
				t.Fatalf("got %s, %v", res, err)
			}
			want := map[string]string{"__OW_NAMESPACE": "ns"}
			if perActivation {
				want["__OW_ACTIVATION_ID"], want["__OW_DEADLINE"] = "0123", "1795651200123"
			}
			if fmt.Sprint(env) != fmt.Sprint(want) {
				t.Errorf("the handler's environment: %v, want %v (nothing stale)", env, want)
			}
			// The next activation of the instance: a new id, no deadline.
			if _, err := invokeReactor([]byte(`{}`), []byte(`{"activationId":"4567","namespace":"ns"}`), nil); err != nil {
				t.Fatal(err)
			}
			want = map[string]string{"__OW_NAMESPACE": "ns"}
			if perActivation {
				want["__OW_ACTIVATION_ID"] = "4567"
			}
			if fmt.Sprint(env) != fmt.Sprint(want) {
				t.Errorf("the next activation's environment: %v, want %v", env, want)
			}
		})
	}
}

// withActivationEnv sets what WithActivationEnv chooses for the test.
func withActivationEnv(t *testing.T, on bool) {
	saved := activationEnv
	activationEnv = on
	t.Cleanup(func() { activationEnv = saved })
}

// TestInvokeReactorTrustsOnlyPlain checks that a value is taken unchecked
// for being equal to the previous activation's only when that one's values
// were plain: a decoded "x\\" is not the raw bytes x\ before a quote that
// the backslash escapes.
func TestInvokeReactorTrustsOnlyPlain(t *testing.T) {
	for _, k := range []string{"__OW_ACTIVATION_ID", "__OW_NAMESPACE", "__OW_API_HOST", "__OW_ACTION_NAME", "__OW_ACTION_VERSION", "__OW_DEADLINE"} {
		t.Setenv(k, "")
	}
	last = reactorState{}
	t.Cleanup(func() { last = reactorState{} })
	register(t, typed(func(ctx context.Context, p in) (map[string]string, error) {
		a, _ := FromContext(ctx)
		return map[string]string{"id": a.ID, "ns": a.Namespace}, nil
	}))
	for _, step := range []struct{ ctx, want string }{
		{`{"activationId":"x\\"}`, `{"id":"x\\","ns":""}`},
		// Not JSON: the string would end at the second quote.
		{`{"activationId":"x\","namespace":"n"}`, `{"id":"","ns":""}`},
		{`{"activationId":"y","namespace":"n"}`, `{"id":"y","ns":"n"}`},
		{`{"activationId":"y","namespace":"n"}`, `{"id":"y","ns":"n"}`},
		{`{"activationId":"y\u0041","namespace":"n"}`, `{"id":"yA","ns":"n"}`},
	} {
		res, err := invokeReactor([]byte(`{}`), []byte(step.ctx), nil)
		if err != nil || string(res) != step.want {
			t.Errorf("context %s: got %s, %v; want %s", step.ctx, res, err, step.want)
		}
	}
}

// FuzzHostContext checks hostContext, which reads the context object as
// Wisp writes it, against encoding/json: where it accepts, both agree,
// whether or not it may take the previous activation's values unchecked.
func FuzzHostContext(f *testing.F) {
	for _, s := range []string{
		`{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"0123","apiHost":"http://h:1","deadline":"1795651200123","namespace":"ns"}`,
		`{"activationId":"0123","activationId":"4567","deadline":"1","deadline":"x"}`,
		`{"activationId":"a\"b"}`, `{"x":"\u0041"}`, `{}`, `{"a":"b",}`, `{"a":"b"`, `{"a" :"b"}`, `{"a":1}`, `{"x":"\xff"}`,
	} {
		f.Add([]byte(s))
	}
	prev := Activation{ID: "0123", Namespace: "ns", ActionName: "/ns/a", APIHost: "http://h:1"}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, prevPlain := range []bool{false, true} {
			got, ok := hostContext(b, &prev, prevPlain)
			if !ok {
				continue
			}
			if !json.Valid(b) {
				t.Fatalf("hostContext accepted %q, which is not JSON", b)
			}
			if want := decodeActivation(b); got != want {
				t.Fatalf("%q (prev plain: %v): read %+v, decoded %+v", b, prevPlain, got, want)
			}
		}
	})
}

// BenchmarkContextObject reads the context object of a warm call: the
// previous activation differs in its id and deadline. The numbers that
// matter are a Wasm guest's: GOOS=wasip1 GOARCH=wasm go test -c, then run
// the test binary with -test.bench under a Wasm runtime (wazero's CLI).
func BenchmarkContextObject(b *testing.B) {
	ctx := []byte(`{"actionName":"/guest/hello","actionVersion":"0.0.1","activationId":"0123456789abcdef0123456789abcdef","apiHost":"http://127.0.0.1:3233","deadline":"1795651200000","namespace":"guest"}`)
	prev, plain := contextObject(bytes.Replace(ctx, []byte("01234567"), []byte("76543210"), 1), &Activation{}, false)
	prev.Deadline = prev.Deadline.Add(time.Second)
	for b.Loop() {
		if _, ok := contextObject(ctx, &prev, plain); !ok {
			b.Fatal("not read as plain")
		}
	}
}

// BenchmarkInvokeReactor is one warm call of a reactor: the context, the
// environment, the typed handler and its result (see BenchmarkContextObject
// for running it in a Wasm guest).
func BenchmarkInvokeReactor(b *testing.B) {
	last = reactorState{}
	b.Cleanup(func() { last = reactorState{} })
	calls := 0
	type result struct {
		Greeting string `json:"greeting"`
		ID       string `json:"activationId"`
		Calls    int    `json:"calls"`
	}
	registered = typed(func(ctx context.Context, p in) (result, error) {
		calls++
		a, _ := FromContext(ctx)
		return result{Greeting: "Hello, " + p.Name + "!", ID: a.ID, Calls: calls}, nil
	})
	b.Cleanup(func() { registered = nil })
	ids := [2][]byte{
		[]byte(`{"actionName":"/guest/hello","actionVersion":"0.0.1","activationId":"0123456789abcdef0123456789abcdef","apiHost":"http://127.0.0.1:3233","deadline":"1795651200000","namespace":"guest"}`),
		[]byte(`{"actionName":"/guest/hello","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba9876543210","apiHost":"http://127.0.0.1:3233","deadline":"1795651200001","namespace":"guest"}`),
	}
	params := []byte(`{"name":"wisp"}`)
	i := 0
	var dst []byte // the previous result's buffer, as wisp_invoke passes it
	for b.Loop() {
		i++
		res, err := invokeReactor(params, ids[i%2], dst)
		if err != nil {
			b.Fatal(err)
		}
		dst = res[:0]
	}
}

// captured runs runCommand with stdin, os.Stdout and os.Stderr in files,
// and returns its exit status, stdout and stderr.
func captured(t *testing.T, stdin string, env map[string]string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	open := func(name, content string) *os.File {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	in, stdout, stderr := open("stdin", stdin), open("stdout", ""), open("stderr", "")
	savedOut, savedErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = stdout, stderr
	code := runCommand(in, func(k string) string { return env[k] })
	restored := os.Stdout == stdout && os.Stderr == stderr
	os.Stdout, os.Stderr = savedOut, savedErr
	if !restored {
		t.Error("runCommand did not restore os.Stdout")
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return code, read("stdout"), read("stderr")
}

func TestRunCommand(t *testing.T) {
	register(t, typed(func(ctx context.Context, p in) (out, error) {
		a, _ := FromContext(ctx)
		fmt.Println("printed by the handler")
		Log("logged", "by", a.ID)
		if p.Name == "fail" {
			return out{}, errors.New("failed")
		}
		return out{Greeting: "hi " + p.Name}, nil
	}))
	env := map[string]string{"__OW_ACTIVATION_ID": "0123"}

	code, stdout, stderr := captured(t, `{"name":"Ada"}`, env)
	if code != 0 || stdout != `{"greeting":"hi Ada"}`+"\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	if stderr != "printed by the handler\nlogged by 0123\n" {
		t.Errorf("stderr %q", stderr)
	}

	code, stdout, _ = captured(t, `{"name":"fail"}`, env)
	if code != 0 || stdout != `{"error":"failed"}`+"\n" {
		t.Errorf("application error: exit %d, stdout %q", code, stdout)
	}

	code, stdout, _ = captured(t, ``, env)
	if code != 0 || stdout != `{"greeting":"hi "}`+"\n" {
		t.Errorf("empty stdin: exit %d, stdout %q", code, stdout)
	}

	register(t, typed(func(context.Context, in) (int, error) { return 1, nil }))
	code, stdout, stderr = captured(t, `{}`, env)
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "wisp: the handler's result (int) is 1, not a JSON object") {
		t.Errorf("developer error: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	register(t, nil)
	code, stdout, stderr = captured(t, `{}`, env)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "no handler is registered") {
		t.Errorf("no handler: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestRunCommandPanic(t *testing.T) {
	register(t, typed(func(context.Context, in) (out, error) { panic("boom") }))
	savedOut := os.Stdout
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want the handler's panic", r)
		}
		if os.Stdout != savedOut {
			t.Error("os.Stdout not restored after a panic")
			os.Stdout = savedOut
		}
	}()
	runCommand(strings.NewReader(`{}`), func(string) string { return "" })
}

type writer struct{ strings.Builder }

func TestLog(t *testing.T) {
	var w writer
	logOutput = &w
	defer func() { logOutput = nil }()
	Log("a", 1, "b")
	Logf("n=%d", 2)
	Logf("ends with a newline\n")
	Log()
	if got, want := w.String(), "a 1 b\nn=2\nends with a newline\n\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzActivationFromJSON checks the fast scan of the context object
// against encoding/json: where the scan accepts, both agree.
func FuzzActivationFromJSON(f *testing.F) {
	for _, s := range []string{
		`{"activationId":"0123","namespace":"ns","actionName":"/ns/a","actionVersion":"0.0.1","deadline":"1795651200123","apiHost":"http://h:1"}`,
		` { "deadline" : 1795651200123 , "activationId" : null } `,
		`{"deadline":-1.5e3,"apiHost":true,"namespace":"é"}`,
		`{"activationId":"a\"b"}`, `{}`, `{"a":{}}`, `[]`, `{"x":"\xff"}`, `{"deadline":"12"}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Activation
		if !scanFlatObject(b, func(k, v []byte) { fast.setFrom(k, v, &Activation{ID: "0123", Namespace: "ns"}) }) {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("the scan accepted %q, which is not JSON", b)
		}
		if slow := decodeActivation(b); fast != slow {
			t.Fatalf("%q: scanned %+v, decoded %+v", b, fast, slow)
		}
	})
}

// shout has a String method, which fmt calls and plainLine must leave to it.
type shout string

func (s shout) String() string { return strings.ToUpper(string(s)) }

// TestPlainLine checks Log's fast path against fmt.Sprintln, and that it
// leaves to fmt every operand fmt formats in a way of its own.
func TestPlainLine(t *testing.T) {
	for _, args := range [][]any{
		nil,
		{"a"},
		{"hello: activation", "0123", "call", 3},
		{"", "", ""},
		{"a\nb", true, false},
		{-1, int64(-9223372036854775808), int32(7), uint(1), uint64(18446744073709551615), uint32(4294967295)},
		{"é 世界", 0},
	} {
		got, ok := plainLine(nil, args)
		if want := fmt.Sprintln(args...); !ok || string(got) != want {
			t.Errorf("plainLine(%#v) = %q, %v; fmt.Sprintln %q", args, got, ok, want)
		}
	}
	for _, args := range [][]any{
		{shout("x")}, {errors.New("e")}, {1.5}, {nil}, {[]byte("b")}, {struct{}{}}, {int8(1)}, {"a", 2.0},
	} {
		if got, ok := plainLine(nil, args); ok {
			t.Errorf("plainLine(%#v) = %q: fmt formats that itself", args, got)
		}
	}
}

func FuzzPlainLine(f *testing.F) {
	f.Add("hello: activation", int64(-3), uint64(7), true)
	f.Add("", int64(0), uint64(0), false)
	f.Fuzz(func(t *testing.T, s string, i int64, u uint64, b bool) {
		args := []any{s, int(i), i, int32(i), uint(u), u, uint32(u), b, s}
		got, ok := plainLine(nil, args)
		if want := fmt.Sprintln(args...); !ok || string(got) != want {
			t.Errorf("plainLine(%#v) = %q, %v; fmt.Sprintln %q", args, got, ok, want)
		}
	})
}

// FuzzPlainASCII holds plainASCII's and plainUnquoted's eight bytes at a
// time to the byte loops they stand for.
func FuzzPlainASCII(f *testing.F) {
	for _, s := range []string{"", "abc", "0123456789abcdef", "http://127.0.0.1:3233/x", "a\\b", "\x7f", "~~~~~~~~\x1f", " !\"#$%&'()*+,-./", "\x80abcdefgh", "abcdefg\xff", "abcdefgh\"", "\"abcdefgh"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, unquoted := true, true
		for _, c := range b {
			if c < ' ' || c == '\\' || c > '~' {
				plain, unquoted = false, false
			}
			if c == '"' {
				unquoted = false
			}
		}
		if got := plainASCII(b); got != plain {
			t.Fatalf("plainASCII(%q) = %v, want %v", b, got, plain)
		}
		if got := plainUnquoted(b); got != unquoted {
			t.Fatalf("plainUnquoted(%q) = %v, want %v", b, got, unquoted)
		}
	})
}

// TestPlainASCII tries every byte at every place of a word and after it.
func TestPlainASCII(t *testing.T) {
	for c := range 256 {
		want := c >= ' ' && c != '\\' && c <= '~'
		for at := range 10 {
			b := []byte("aaaaaaaaaa")
			b[at] = byte(c)
			if got := plainASCII(b); got != want {
				t.Errorf("plainASCII(%q) = %v, want %v", b, got, want)
			}
			if got := plainUnquoted(b); got != (want && c != '"') {
				t.Errorf("plainUnquoted(%q) = %v, want %v", b, got, want && c != '"')
			}
		}
	}
}

// TestEqual compares equal with bytes.Equal on slices that differ in one
// byte, at every place of a few lengths, and on slices of other lengths.
func TestEqual(t *testing.T) {
	for n := range 20 {
		a := bytes.Repeat([]byte("x"), n)
		if !equal(a, bytes.Clone(a)) {
			t.Errorf("equal(%q, itself) = false", a)
		}
		for at := range n {
			b := bytes.Clone(a)
			b[at] = 'y'
			if equal(a, b) {
				t.Errorf("equal(%q, %q) = true", a, b)
			}
		}
		if equal(a, append(bytes.Clone(a), 'x')) {
			t.Errorf("equal of %d and %d bytes = true", n, n+1)
		}
	}
}

// TestSameShape checks that a context object differing from the last one
// only in the id's and the deadline's values is read by sameShape, and
// that anything else is left to contextObject, through invokeReactor: the
// activation the handler sees is the one the object describes either way.
func TestSameShape(t *testing.T) {
	for _, perActivation := range []bool{false, true} {
		t.Run(fmt.Sprintf("WithActivationEnv %v", perActivation), func(t *testing.T) { testSameShape(t, perActivation) })
	}
}

func testSameShape(t *testing.T, perActivation bool) {
	for _, k := range []string{"__OW_ACTIVATION_ID", "__OW_NAMESPACE", "__OW_API_HOST", "__OW_ACTION_NAME", "__OW_ACTION_VERSION", "__OW_DEADLINE"} {
		t.Setenv(k, "")
	}
	last = reactorState{}
	t.Cleanup(func() { last = reactorState{} })
	withActivationEnv(t, perActivation)
	var seen Activation
	register(t, typed(func(ctx context.Context, p in) (map[string]string, error) {
		seen, _ = FromContext(ctx)
		return map[string]string{}, nil
	}))
	const (
		first = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"0123456789abcdef0123456789abcdef","apiHost":"http://h:1","deadline":"1795651200000","namespace":"ns"}`
		// Each below differs from the one before it.
		next     = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba9876543210","apiHost":"http://h:1","deadline":"1795651200001","namespace":"ns"}`
		sameID   = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba9876543210","apiHost":"http://h:1","deadline":"1795651200002","namespace":"ns"}`
		otherNS  = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba9876543211","apiHost":"http://h:1","deadline":"1795651200002","namespace":"nt"}`
		quoteID  = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba98765432"1","apiHost":"http://h:1","deadline":"1795651200002","namespace":"nt"}`
		escID    = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba98765\u0041","apiHost":"http://h:1","deadline":"1795651200002","namespace":"nt"}`
		wordDL   = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba9876543212","apiHost":"http://h:1","deadline":"179565120000x","namespace":"nt"}`
		back     = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba9876543213","apiHost":"http://h:1","deadline":"1795651200003","namespace":"nt"}`
		longerID = `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"fedcba9876543210fedcba98765432145","apiHost":"http://h:1","deadline":"1795651200003","namespace":"nt"}`
	)
	for _, step := range []struct {
		name, ctx string
		fast      bool // read by sameShape
	}{
		{"the first, read in full", first, false},
		{"a new id and deadline", next, true},
		{"a new deadline", sameID, true},
		{"another namespace, same length", otherNS, false},
		{"a quote in the id", quoteID, false},
		{"an escape in the id", escID, false},
		{"a deadline that is not a number", wordDL, false},
		{"a number again: the one before was kept", back, true},
		{"and again", first[:0] + back[:len(back)-len(`3","namespace":"nt"}`)] + `4","namespace":"nt"}`, true},
		{"a longer id", longerID, false},
	} {
		before := last
		want, _ := contextObject([]byte(step.ctx), &Activation{}, false)
		_, fast := before.sameShape([]byte(step.ctx))
		if _, err := invokeReactor([]byte(`{}`), []byte(step.ctx), nil); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if fast != step.fast {
			t.Errorf("%s: read by sameShape: %v, want %v", step.name, fast, step.fast)
		}
		if seen != want {
			t.Errorf("%s: the handler saw %+v, want %+v", step.name, seen, want)
		}
		wantEnv := map[string]string{"__OW_NAMESPACE": want.Namespace, "__OW_ACTION_NAME": want.ActionName}
		if perActivation {
			wantEnv["__OW_ACTIVATION_ID"] = want.ID
		}
		for k, v := range wantEnv {
			if v == "" {
				delete(wantEnv, k) // an empty value is unset
			}
		}
		for _, k := range []string{"__OW_ACTIVATION_ID", "__OW_NAMESPACE", "__OW_ACTION_NAME"} {
			got, set := os.LookupEnv(k)
			if w, ok := wantEnv[k]; got != w || set != ok {
				t.Errorf("%s: %s=%q (set: %v), want %q (set: %v)", step.name, k, got, set, w, ok)
			}
		}
	}
}

// FuzzSameShape checks that where sameShape reads a context object, it
// reads what contextObject reads, whatever the object before it.
func FuzzSameShape(f *testing.F) {
	base := `{"actionName":"/ns/a","actionVersion":"0.0.1","activationId":"0123456789abcdef0123456789abcdef","apiHost":"http://h:1","deadline":"1795651200000","namespace":"ns"}`
	f.Add([]byte(base), []byte(strings.Replace(base, "0123", "3210", 1)))
	f.Add([]byte(base), []byte(strings.Replace(base, `"ns"`, `"nt"`, 1)))
	f.Add([]byte(base), []byte(strings.Replace(base, `0123456789abcdef0123456789abcdef`, `0123456789abcdef0123456789abcd"f`, 1)))
	f.Add([]byte(`{"activationId":"a","deadline":"1"}`), []byte(`{"activationId":"b","deadline":"2"}`))
	f.Fuzz(func(t *testing.T, prev, b []byte) {
		var s reactorState
		a, plain := contextObject(prev, &Activation{}, false)
		s.activation, s.envSet, s.plain = a, true, plain
		s.keepShape(prev, plain)
		got, ok := s.sameShape(b)
		if !ok {
			return
		}
		if want, _ := contextObject(b, &Activation{}, false); got != want {
			t.Fatalf("after %q, %q: sameShape read %+v, contextObject %+v", prev, b, got, want)
		}
	})
}
