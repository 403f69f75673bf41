package wasmrt

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/wispfaas/wisp/internal/wasmtest"
)

// reactorSource is a Go guest of the reactor form (docs/wasm-abi.md),
// built with -buildmode=c-shared. Its behaviour is chosen by params.mode.
const reactorSource = `package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
	"unsafe"
)

var (
	inbox  = map[uintptr][]byte{}
	result []byte
	calls  int
	hoard  [][]byte
)

//go:wasmexport wisp_alloc
func wispAlloc(n int32) int32 {
	b := make([]byte, n)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	inbox[p] = b
	return int32(p)
}

func take(p, n int32) []byte {
	b := inbox[uintptr(p)]
	delete(inbox, uintptr(p))
	return b[:n]
}

func ret(b []byte) int64 {
	result = b
	return int64(uintptr(unsafe.Pointer(unsafe.SliceData(result))))<<32 | int64(len(result))
}

//go:wasmexport wisp_invoke
func wispInvoke(p, n, c, cn int32) int64 {
	var in struct {
		Mode string ` + "`json:\"mode\"`" + `
		MB   int    ` + "`json:\"mb\"`" + `
		MS   int    ` + "`json:\"ms\"`" + `
	}
	params, actx := take(p, n), take(c, cn)
	_ = json.Unmarshal(params, &in)
	calls++
	fmt.Fprintf(os.Stderr, "call %d\n", calls)
	fmt.Printf("mode %q\n", in.Mode)
	switch in.Mode {
	case "trap":
		var m map[string]int
		m["x"] = 1 // nil map write: the Go runtime aborts, the instance traps
	case "spin":
		for {
			calls++
		}
	case "oob":
		return int64(0x7fff0000)<<32 | 64
	case "notjson":
		return ret([]byte("not json"))
	case "hoard":
		hoard = append(hoard, make([]byte, in.MB<<20))
	case "scribble":
		b := make([]byte, in.MB<<20)
		for i := range b {
			b[i] = 0xff
		}
		hoard = append(hoard, b)
	case "check":
		for i, x := range make([]byte, in.MB<<20) {
			if x != 0 {
				panic(fmt.Sprintf("byte %d of a new allocation is %#x", i, x))
			}
		}
	case "sleep":
		time.Sleep(50 * time.Millisecond)
	case "sleeplong":
		time.Sleep(time.Minute)
	case "sleepms":
		time.Sleep(time.Duration(in.MS) * time.Millisecond)
	}
	out, _ := json.Marshal(map[string]any{"calls": calls, "ctx": json.RawMessage(actx)})
	return ret(out)
}

func main() {}
`

var (
	reactorOnce sync.Once
	reactorWasm []byte
	reactorErr  error
)

func reactorGuest(tb testing.TB) Code {
	tb.Helper()
	reactorOnce.Do(func() { reactorWasm, reactorErr = buildGo(reactorSource, "-buildmode=c-shared") })
	if reactorErr != nil {
		tb.Fatal(reactorErr)
	}
	return codeOf(reactorWasm)
}

type reactorReply struct {
	Calls int               `json:"calls"`
	Ctx   map[string]string `json:"ctx"`
}

func runReactor(t *testing.T, r *Runtime, code Code, owner, params string) (Outcome, reactorReply) {
	t.Helper()
	out := r.Run(context.Background(), code, Invocation{Params: []byte(params), Owner: owner, Timeout: 5 * time.Second, MemoryMB: 64,
		Env: map[string]string{"__OW_ACTIVATION_ID": "a1", "__OW_ACTION_NAME": "/guest/x", "OTHER": "ignored"}})
	var reply reactorReply
	if out.Err == nil {
		if err := json.Unmarshal(out.Result, &reply); err != nil {
			t.Fatalf("result %s: %v", out.Result, err)
		}
	}
	return out, reply
}

func TestReactorReuseAndIsolation(t *testing.T) {
	r := newRuntime(t, Config{})
	code := reactorGuest(t)
	out, reply := runReactor(t, r, code, "/guest/a@0.0.1", `{}`)
	if out.Err != nil || !out.NewInstance || reply.Calls != 1 {
		t.Fatalf("first call: %+v %+v", out, reply)
	}
	if reply.Ctx["activationId"] != "a1" || reply.Ctx["actionName"] != "/guest/x" || len(reply.Ctx) != 2 {
		t.Fatalf("activation context = %v", reply.Ctx)
	}
	if len(out.Logs) != 2 || !strings.HasSuffix(out.Logs[0], "stderr: call 1") || !strings.HasSuffix(out.Logs[1], `stdout: mode ""`) {
		t.Fatalf("logs = %q", out.Logs)
	}
	out, reply = runReactor(t, r, code, "/guest/a@0.0.1", `{}`)
	if out.Err != nil || out.NewInstance || reply.Calls != 2 || out.InitTime != 0 {
		t.Fatalf("warm call: %+v %+v", out, reply)
	}
	if len(out.Logs) != 2 || !strings.HasSuffix(out.Logs[0], "stderr: call 2") {
		t.Fatalf("warm call logs = %q (earlier logs must not carry over)", out.Logs)
	}
	// Another action with the same code gets its own instance.
	out, reply = runReactor(t, r, code, "/other/a@0.0.1", `{}`)
	if out.Err != nil || !out.NewInstance || reply.Calls != 1 {
		t.Fatalf("other owner: %+v %+v", out, reply)
	}
	// No owner: an instance used once.
	for i := 0; i < 2; i++ {
		out, reply = runReactor(t, r, code, "", `{}`)
		if out.Err != nil || !out.NewInstance || reply.Calls != 1 {
			t.Fatalf("no owner, call %d: %+v %+v", i, out, reply)
		}
	}
}

// TestReactorMemoryRecycled: the memory of a closed instance starts the
// next new one, zeroed. The Go runtime in the guest takes new pages of its
// memory as zero; the "check" mode verifies a fresh 8 MiB allocation.
func TestReactorMemoryRecycled(t *testing.T) {
	r := newRuntime(t, Config{})
	code := reactorGuest(t)
	spare := func() (n int, first *byte) {
		r.pools.spares.mu.Lock()
		defer r.pools.spares.mu.Unlock()
		if len(r.pools.spares.bufs) > 0 {
			first = unsafe.SliceData(r.pools.spares.bufs[0])
		}
		return len(r.pools.spares.bufs), first
	}
	// No owner: the instance serves one activation, which fills 8 MiB
	// with 0xff, and is closed; its memory is kept.
	if out, _ := runReactor(t, r, code, "", `{"mode":"scribble","mb":8}`); out.Err != nil {
		t.Fatalf("scribble: %+v", out)
	}
	n, kept := spare()
	if n != 1 {
		t.Fatalf("after a closed instance: %d spare memories, want 1", n)
	}
	out, _ := runReactor(t, r, code, "", `{"mode":"check","mb":8}`)
	if out.Err != nil || !out.NewInstance {
		t.Fatalf("a new instance in the recycled memory: %+v", out)
	}
	if n, again := spare(); n != 1 || again != kept {
		t.Fatalf("the new instance did not run in the kept memory (%d spare, same=%v)", n, again == kept)
	}
	// A pooled instance keeps its memory; a closed runtime keeps none.
	if out, _ := runReactor(t, r, code, "/guest/pooled@1", `{}`); out.Err != nil || !out.NewInstance {
		t.Fatalf("pooled: %+v", out)
	}
	if n, _ := spare(); n != 0 {
		t.Fatalf("%d spare memories while the only one serves a pooled instance", n)
	}
}

func TestReactorDiscardsBrokenInstances(t *testing.T) {
	r := newRuntime(t, Config{})
	code := reactorGuest(t)
	tests := []struct {
		mode string
		kind ErrorKind
		text string
	}{
		{"trap", KindTrap, "trapped"},
		{"spin", KindTimeout, "time limit"},
		{"oob", KindBadResult, "outside its memory"},
		{"notjson", KindBadResult, "did not return a JSON object"},
		{"hoard\", \"mb\": 80, \"x\": \"", KindMemory, "memory limit of 64 MB"},
	}
	for i, tt := range tests {
		owner := "/guest/case" + strconv.Itoa(i) + "@1"
		if out, _ := runReactor(t, r, code, owner, `{}`); out.Err != nil {
			t.Fatalf("%s: warm-up: %v", tt.mode, out.Err)
		}
		params := `{"mode":"` + tt.mode + `"}`
		if tt.mode == "spin" {
			out := r.Run(context.Background(), code, Invocation{Params: []byte(params), Owner: owner, Timeout: 200 * time.Millisecond, MemoryMB: 64})
			checkActionError(t, tt.mode, out, tt.kind, tt.text)
		} else {
			out, _ := runReactor(t, r, code, owner, params)
			checkActionError(t, tt.mode, out, tt.kind, tt.text)
		}
		// The broken instance is gone: the next call starts afresh.
		out, reply := runReactor(t, r, code, owner, `{}`)
		if out.Err != nil || !out.NewInstance || reply.Calls != 1 {
			t.Fatalf("%s: call after the failure: %+v %+v", tt.mode, out, reply)
		}
	}
}

// TestReactorStops checks that a warm instance's activation ends at its
// time limit and when its caller goes away, both while the guest computes
// (its fuel runs out and yield stops it) and while it sleeps (nanosleep),
// with a record that says which.
func TestReactorStops(t *testing.T) {
	r := newRuntime(t, Config{})
	code := reactorGuest(t)
	cases := []struct {
		mode     string
		cancel   bool // the caller goes away after 200 ms; else the time limit is 200 ms
		wantKind ErrorKind
		wantText string
	}{
		{mode: "spin", wantKind: KindTimeout, wantText: "time limit of 200 ms"},
		{mode: "sleeplong", wantKind: KindTimeout, wantText: "time limit of 200 ms"},
		{mode: "spin", cancel: true},
		{mode: "sleeplong", cancel: true},
	}
	for i, tc := range cases {
		owner := "/guest/stop" + strconv.Itoa(i) + "@1"
		if out, _ := runReactor(t, r, code, owner, `{}`); out.Err != nil || !out.NewInstance {
			t.Fatalf("%s: warm-up: %v (new instance %v)", tc.mode, out.Err, out.NewInstance)
		}
		ctx, cancel := context.WithCancel(context.Background())
		inv := Invocation{Params: []byte(`{"mode":"` + tc.mode + `"}`), Owner: owner, Timeout: 200 * time.Millisecond, MemoryMB: 64}
		if tc.cancel {
			inv.Timeout = time.Minute
			time.AfterFunc(200*time.Millisecond, cancel)
		}
		start := time.Now()
		out := r.Run(ctx, code, inv)
		took := time.Since(start)
		cancel()
		if out.NewInstance {
			t.Errorf("%s: the activation did not take the warm instance", tc.mode)
		}
		if took > 10*time.Second {
			t.Errorf("%s (cancel %v): stopped after %v", tc.mode, tc.cancel, took)
		}
		if tc.cancel {
			var ae *ActionError
			if out.Err == nil || errors.As(out.Err, &ae) || !errors.Is(out.Err, context.Canceled) {
				t.Errorf("%s: Err = %v, want the caller's cancellation (a platform error)", tc.mode, out.Err)
			}
			continue
		}
		checkActionError(t, tc.mode, out, tc.wantKind, tc.wantText)
	}
}

func checkActionError(t *testing.T, what string, out Outcome, kind ErrorKind, text string) {
	t.Helper()
	var ae *ActionError
	if !errors.As(out.Err, &ae) || ae.Kind != kind || !strings.Contains(ae.Reason, text) {
		t.Fatalf("%s: err = %v (kind %v), want kind %v mentioning %q", what, out.Err, kindOf(out.Err), kind, text)
	}
	if !strings.Contains(string(out.Result), text) {
		t.Fatalf("%s: result %s", what, out.Result)
	}
}

func kindOf(err error) ErrorKind {
	var ae *ActionError
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return 0
}

func TestReactorHighWaterMark(t *testing.T) {
	r := newRuntime(t, Config{})
	code := reactorGuest(t)
	owner := "/guest/hw@1"
	// 46 MB kept by the guest: past 3/4 of the 64 MB limit, the instance
	// succeeds once and is then replaced.
	out, _ := runReactor(t, r, code, owner, `{"mode":"hoard","mb":46}`)
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	out, reply := runReactor(t, r, code, owner, `{}`)
	if out.Err != nil || !out.NewInstance || reply.Calls != 1 {
		t.Fatalf("after the high-water mark: %+v %+v", out, reply)
	}
}

func TestReactorIdleExpiryAndClose(t *testing.T) {
	r := newRuntime(t, Config{IdleExpiry: 100 * time.Millisecond, MaxIdleInstances: 2})
	code := reactorGuest(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ { // four at once: four instances, two kept
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"mode":"sleep"}`), Owner: "/guest/idle@1"})
			if out.Err != nil {
				t.Error(out.Err)
			}
		}()
	}
	wg.Wait()
	if n := r.pools.idleCount(); n > 2 {
		t.Fatalf("%d idle instances kept, want at most 2", n)
	}
	checkFor(t, 5*time.Second, func() error {
		if n := r.pools.idleCount(); n != 0 {
			return errors.New("idle instances not expired")
		}
		return nil
	})
	if out, _ := runReactor(t, r, code, "/guest/idle@1", `{}`); out.Err != nil || !out.NewInstance {
		t.Fatalf("after expiry: %+v", out)
	}
}

// TestReactorIdleMemoryBound: the idle instances of all actions together
// stay within Config.IdleMemory; the least recently used go first, and the
// others stay warm.
func TestReactorIdleMemoryBound(t *testing.T) {
	code := reactorGuest(t)
	// One instance's cost, measured: the bound is set to hold two.
	probe := newRuntime(t, Config{})
	if out, _ := runReactor(t, probe, code, "/guest/probe@1", `{}`); out.Err != nil {
		t.Fatal(out.Err)
	}
	one := probe.Stats().IdleBytes
	if one <= 0 {
		t.Fatalf("an idle instance counts %d bytes", one)
	}
	bound := 2*one + one/2
	r := newRuntime(t, Config{IdleMemory: bound})
	owners := []string{"/guest/a@1", "/guest/b@1", "/guest/c@1", "/guest/d@1"}
	for i, owner := range owners {
		if out, _ := runReactor(t, r, code, owner, `{}`); out.Err != nil || !out.NewInstance {
			t.Fatalf("%s: %+v", owner, out)
		}
		if got := r.Stats().IdleBytes; got > bound {
			t.Fatalf("after %d actions: %d idle bytes, past the bound of %d", i+1, got, bound)
		}
		if n, want := r.pools.idleCount(), min(i+1, 2); n != want {
			t.Fatalf("after %d actions: %d idle instances, want %d", i+1, n, want)
		}
	}
	// The two most recently used are warm, the two before were closed.
	for _, owner := range owners[2:] {
		if out, reply := runReactor(t, r, code, owner, `{}`); out.Err != nil || out.NewInstance || reply.Calls != 2 {
			t.Errorf("%s, among the two most recent: %+v %+v", owner, out, reply)
		}
	}
	if out, reply := runReactor(t, r, code, owners[0], `{}`); out.Err != nil || !out.NewInstance || reply.Calls != 1 {
		t.Errorf("%s, the least recently used: %+v %+v", owners[0], out, reply)
	}
	// An instance larger than the whole bound is not kept at all.
	tiny := newRuntime(t, Config{IdleMemory: one / 2})
	if out, _ := runReactor(t, tiny, code, "/guest/big@1", `{}`); out.Err != nil {
		t.Fatal(out.Err)
	}
	if n := tiny.pools.idleCount(); n != 0 {
		t.Errorf("%d idle instances kept past a bound smaller than one", n)
	}
}

// TestReactorEvictedModuleClosesIdle: a module dropped from the compiled
// modules' LRU takes its idle instances with it (they would keep its code
// in memory past the LRU's bound), and one of its instances still running
// is closed when it ends instead of kept.
func TestReactorEvictedModuleClosesIdle(t *testing.T) {
	first := reactorGuest(t)
	second := codeOf(wasmtest.WithCustomSection(reactorWasm, "twin", []byte("2")))
	// Room for one module: compiling the second evicts the first. The
	// second differs from the first by a custom section only, which the
	// compilation cache does not see: it compiles in tens of milliseconds,
	// well within the sleeping activation below.
	r := newRuntime(t, Config{CacheDir: t.TempDir(), CompiledMemory: int64(len(reactorWasm)) * compiledCostFactor})
	// Two actions of the first module: one idle when it is evicted, one
	// running a sleeping activation.
	for _, owner := range []string{"/guest/idle@1", "/guest/busy@1"} {
		if out, _ := runReactor(t, r, first, owner, `{}`); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	running := make(chan Outcome)
	go func() {
		running <- r.Run(context.Background(), first, Invocation{Params: []byte(`{"mode":"sleepms","ms":3000}`), Owner: "/guest/busy@1", Timeout: 30 * time.Second, MemoryMB: 64})
	}()
	checkFor(t, 5*time.Second, func() error {
		if r.pools.idleCount() != 1 {
			return errors.New("the sleeping activation has not taken its idle instance")
		}
		return nil
	})
	if out, _ := runReactor(t, r, second, "/guest/second@1", `{}`); out.Err != nil {
		t.Fatal(out.Err)
	}
	// The eviction must come while the first module's activation runs.
	select {
	case out := <-running:
		t.Fatalf("the sleeping activation ended before the eviction: %+v", out)
	default:
	}
	if r.IsCompiled(first.Digest) {
		t.Fatal("the first module is still compiled: the test's LRU bound is too large")
	}
	if out := <-running; out.Err != nil {
		t.Fatal(out.Err)
	}
	if n := r.pools.idleCount(); n != 1 {
		t.Errorf("%d idle instances, want 1 (the second module's): the evicted module's were kept", n)
	}
	for _, owner := range []string{"/guest/idle@1", "/guest/busy@1"} {
		if out, reply := runReactor(t, r, first, owner, `{}`); out.Err != nil || !out.NewInstance || reply.Calls != 1 {
			t.Errorf("%s, of the evicted module: %+v %+v", owner, out, reply)
		}
	}
}

func TestReactorValidation(t *testing.T) {
	r := newRuntime(t, Config{})
	code := reactorGuest(t)
	if err := r.Validate(context.Background(), code.Digest, reactorWasm); err != nil {
		t.Fatalf("a Go reactor is refused: %v", err)
	}
}

func BenchmarkReactorWarm(b *testing.B) {
	r, err := New(context.Background(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(context.Background())
	code := reactorGuest(b)
	inv := Invocation{Params: []byte(`{"name":"bench"}`), Owner: "/guest/bench@1"}
	if out := r.Run(context.Background(), code, inv); out.Err != nil {
		b.Fatal(out.Err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out := r.Run(context.Background(), code, inv); out.Err != nil {
			b.Fatal(out.Err)
		}
	}
}

func TestCompiledModulesEvictedPastTheBudget(t *testing.T) {
	code := reactorGuest(t)
	other := goGuest(t)
	// Room for one of the two modules only.
	r := newRuntime(t, Config{CompiledMemory: int64(max(len(reactorWasm), len(other))) * compiledCostFactor})
	if err := r.Validate(context.Background(), code.Digest, reactorWasm); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(context.Background(), digestOf(other), other); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	_, kept := r.modules[code.Digest]
	n := r.lru.Len()
	r.mu.Unlock()
	if kept || n != 1 {
		t.Fatalf("after a second module past the budget: first kept=%v, %d modules", kept, n)
	}
	if r.IsCompiled(code.Digest) || !r.IsCompiled(digestOf(other)) {
		t.Fatalf("IsCompiled after the eviction: evicted %v, kept %v", r.IsCompiled(code.Digest), r.IsCompiled(digestOf(other)))
	}
	// The evicted module compiles again on its next use.
	out, _ := runReactor(t, r, code, "/guest/evicted@1", `{}`)
	if out.Err != nil || !out.Compiled {
		t.Fatalf("run after eviction: %+v", out)
	}
	if !r.IsCompiled(code.Digest) || r.IsCompiled(digestOf(other)) {
		t.Fatalf("IsCompiled after the second eviction: recompiled %v, evicted %v", r.IsCompiled(code.Digest), r.IsCompiled(digestOf(other)))
	}
	// It is asked on every invoke, on the invoke's own path: no allocation.
	digest := code.Digest
	if allocs := testing.AllocsPerRun(100, func() { _ = r.IsCompiled(digest) }); allocs != 0 {
		t.Errorf("IsCompiled allocates %.0f times per call", allocs)
	}
}

func TestPrewarm(t *testing.T) {
	r := newRuntime(t, Config{})
	code := reactorGuest(t)
	if err := r.Prewarm(context.Background(), code, "/guest/pre@1", 64); err != nil {
		t.Fatal(err)
	}
	out, reply := runReactor(t, r, code, "/guest/pre@1", `{}`)
	if out.Err != nil || out.NewInstance || reply.Calls != 1 {
		t.Fatalf("first activation after prewarm: %+v %+v", out, reply)
	}
	// A command is only compiled.
	guest := goGuest(t)
	if err := r.Prewarm(context.Background(), codeOf(guest), "/guest/cmd@1", 64); err != nil {
		t.Fatal(err)
	}
	if out := r.Run(context.Background(), codeOf(guest), Invocation{}); out.Err != nil || out.Compiled {
		t.Fatalf("command after prewarm: %+v", out)
	}
}

// activationContext writes what json.Marshal writes for the map of context
// names to values.
func TestActivationContextMatchesMarshal(t *testing.T) {
	reference := func(env map[string]string) string {
		ctx := map[string]string{}
		for k, v := range env {
			if name, ok := strings.CutPrefix(k, "__OW_"); ok {
				ctx[camelName(name)] = v
			}
		}
		b, _ := json.Marshal(ctx)
		return string(b)
	}
	for _, env := range []map[string]string{
		nil,
		{},
		{"PATH": "/bin"},
		{"__OW_ACTIVATION_ID": "0123456789abcdef0123456789abcdef", "__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/a b",
			"__OW_ACTION_VERSION": "0.0.1", "__OW_DEADLINE": "1795651200000", "__OW_API_HOST": "http://127.0.0.1:3233", "OTHER": "x"},
		{"__OW_X": `quote " back \ <tag> & ünï` + "\x01\u2028", "__OW_LONG_NAME_WITH_PARTS": "v", "__OW_": "empty"},
		// What the invoker sets (written without a pass over the map), all
		// or some of it, then with one more.
		{"__OW_ACTIVATION_ID": "0123456789abcdef0123456789abcdef", "__OW_NAMESPACE": "guest", "__OW_ACTION_NAME": "/guest/<a>",
			"__OW_ACTION_VERSION": "0.0.1", "__OW_DEADLINE": "1795651200000", "__OW_API_HOST": "http://127.0.0.1:3233"},
		{"__OW_NAMESPACE": "guest", "__OW_ACTIVATION_ID": "0123"},
		{"__OW_NAMESPACE": "guest", "__OW_ACTIVATION_ID": "0123", "__OW_API_KEY": "k"},
	} {
		if got, want := string(activationContext(env)), reference(env); got != want {
			t.Errorf("activationContext(%v) = %s, want %s", env, got, want)
		}
	}
}

func BenchmarkActivationContext(b *testing.B) {
	env := map[string]string{
		"__OW_ACTIVATION_ID":  "0123456789abcdef0123456789abcdef",
		"__OW_NAMESPACE":      "guest",
		"__OW_ACTION_NAME":    "/guest/echo",
		"__OW_ACTION_VERSION": "0.0.1",
		"__OW_API_HOST":       "http://127.0.0.1:3233",
		"__OW_DEADLINE":       "1795651200000",
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = activationContext(env)
	}
}
