package invoker

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/metrics"
	"github.com/wispfaas/wisp/queue"
	"github.com/wispfaas/wisp/store"
	"github.com/wispfaas/wisp/wasmrt"
)

var (
	echoOnce sync.Once
	echoWasm []byte
	echoErr  error
)

// echoModule builds testdata/echo for wasip1 once per test binary.
func echoModule(t *testing.T) []byte {
	t.Helper()
	echoOnce.Do(func() {
		out := filepath.Join(os.TempDir(), "wisp-invoker-echo.wasm")
		cmd := exec.Command("go", "build", "-o", out, ".")
		cmd.Dir = "testdata/echo"
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			echoErr = err
			t.Logf("%s", b)
			return
		}
		echoWasm, echoErr = os.ReadFile(out)
	})
	if echoErr != nil {
		t.Fatalf("build echo module: %v", echoErr)
	}
	return echoWasm
}

// rig is an invoker on real parts: embedded JetStream, KV store, local
// blobs and wazero.
type rig struct {
	broker  *queue.Broker
	store   *store.Store
	blobs   *blobs.Local
	reg     *queue.Registry
	rt      *wasmrt.Runtime
	inv     *Invoker
	gw      *queue.Results // a gateway's end: blocking invokes wait here
	metrics *metrics.Registry
	results chan queue.Outcome
	digest  string
}

func newRig(t *testing.T, capacity int) *rig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	r := &rig{results: make(chan queue.Outcome, 100), metrics: metrics.NewRegistry("wasm")}
	var err error
	if r.broker, err = queue.Open(ctx, queue.Config{StoreDir: filepath.Join(dir, "js")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.broker.Close() })
	if r.store, err = store.Open(ctx, r.broker.JetStream(), store.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.store.Close)
	if r.reg, err = r.broker.OpenRegistry(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.reg.Close)
	if r.blobs, err = blobs.NewLocal(filepath.Join(dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	if r.rt, err = wasmrt.New(ctx, wasmrt.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.rt.Close(context.Background()) })
	info, err := blobs.PutBytes(ctx, r.blobs, echoModule(t))
	if err != nil {
		t.Fatal(err)
	}
	r.digest = info.Digest
	if r.gw, err = r.broker.OpenResults("gw", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.gw.Close() })
	r.inv, err = New(Config{ID: "test", Capacity: capacity}, Deps{
		Queue: r.broker, Records: r.store, Heartbeats: r.reg, Code: BlobCode{Store: r.blobs},
		Runtimes: map[string]Runtime{"wasm": WasmRuntime{RT: r.rt}}, Metrics: r.metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.inv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Before the runtime and the store close (cleanups run last first):
	// an activation still running must finish, or be interrupted, first.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.inv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r
}

// invocation is a blocking activation of the echo action at digest.
func invocation(digest, params string) *core.Invocation {
	id := core.NewActivationID(time.Now())
	a := core.Action{Namespace: "guest", Name: "echo", Version: "0.0.1", Exec: core.Exec{Kind: "wasm", Digest: digest}, Limits: core.DefaultLimits()}
	a.Limits.Timeout = 10_000
	return &core.Invocation{ActivationID: id, Namespace: "guest", Subject: "guest", Action: a.Invoked(),
		Params: json.RawMessage(params), ReplyTo: queue.ReplySubject("gw", id), Queued: time.Now().UnixNano()}
}

// offer hands a blocking activation to the invoker in process, as a
// gateway of the same process does, whose caller waits for wait; ok is
// false when it was refused.
func (r *rig) offer(t *testing.T, digest, params string, wait time.Duration) (id string, ok bool) {
	t.Helper()
	inv := invocation(digest, params)
	inv.ReplyTo = ""
	taken, _ := r.inv.Offer(inv, wait, func(res queue.Result) {
		// A copy: the record's buffer goes back to the invoker.
		out := queue.Outcome{Result: queue.Result{Record: bytes.Clone(res.Record), StatusCode: res.StatusCode, Value: bytes.Clone(res.Value)}}
		res.Release()
		r.results <- out
	})
	return inv.ActivationID, taken
}

// invoke publishes a blocking activation to the invoker's queue.
func (r *rig) invoke(t *testing.T, digest, params string) string {
	t.Helper()
	inv := invocation(digest, params)
	id := inv.ActivationID
	done := r.gw.Wait(id)
	go func() { r.results <- <-done }()
	if err := r.broker.PublishInvocationAsync("test", inv); err != nil {
		t.Fatal(err)
	}
	return id
}

func (r *rig) result(t *testing.T) *core.Activation {
	t.Helper()
	select {
	case out := <-r.results:
		if out.Err != nil {
			t.Fatal(out.Err)
		}
		res := out.Result
		var a core.Activation
		if err := json.Unmarshal(res.Record, &a); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != a.Response.StatusCode || string(res.Value) != string(a.Response.Result) {
			t.Fatalf("result message says status %d, result %s; its record %+v", res.StatusCode, res.Value, a.Response)
		}
		return &a
	// Compiling the echo module takes about a second, but 35-42 s was
	// seen under the race detector with other packages' tests running.
	case <-time.After(2 * time.Minute):
		t.Fatal("no result within 2 minutes")
		return nil
	}
}

func annotation(a *core.Activation, key string) string {
	v, _ := a.Annotations.Get(key)
	return string(v)
}

// TestRecords runs activations of every outcome both ways an invoker
// takes them: from its queue, and handed over in process (Offer).
func TestRecords(t *testing.T) {
	r := newRig(t, 4)
	for _, way := range []string{"queue", "in process"} {
		t.Run(way, func(t *testing.T) {
			start := r.invoke
			if way == "in process" {
				start = func(t *testing.T, digest, params string) string {
					id, ok := r.offer(t, digest, params, time.Minute)
					if !ok {
						t.Fatal("Offer refused with all slots free")
					}
					return id
				}
			}
			testRecords(t, r, start)
		})
	}
	// The metrics counted every activation of both ways, each outcome
	// twice; all but the two that could not run paid for an instance.
	var text bytes.Buffer
	if _, err := r.metrics.WriteTo(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`wisp_activations_total{kind="wasm",status="success"} 2`,
		`wisp_activations_total{kind="wasm",status="application_error"} 2`,
		`wisp_activations_total{kind="wasm",status="developer_error"} 2`,
		`wisp_activations_total{kind="wasm",status="internal_error"} 2`,
		`wisp_activation_wait_seconds_count{kind="wasm"} 8`,
		`wisp_activation_duration_seconds_count{kind="wasm"} 8`,
		`wisp_activation_init_seconds_count{kind="wasm"} 6`,
		"wisp_invoker_capacity 4",
		"wisp_invoker_activations_running 0",
	} {
		if !strings.Contains(text.String(), want+"\n") {
			t.Errorf("the metrics lack %q:\n%s", want, text.String())
		}
	}
}

func testRecords(t *testing.T, r *rig, start func(t *testing.T, digest, params string) string) {
	tests := []struct {
		name, params string
		digest       string
		status       int
		result       string
	}{
		{"success", `{"x":1}`, "", core.StatusSuccess, `{"x":1}`},
		{"application error", `{"error":"nope"}`, "", core.StatusApplicationError, `{"error":"nope"}`},
		{"developer error", `{"exit":3}`, "", core.StatusDeveloperError, `exited with code 3`},
		{"missing code", `{}`, blobs.Digest([]byte("gone")), core.StatusInternalError, `could not be run`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			digest := tt.digest
			if digest == "" {
				digest = r.digest
			}
			id := start(t, digest, tt.params)
			a := r.result(t)
			if a.ActivationID != id || a.Response.StatusCode != tt.status || a.StatusCode != tt.status || a.Response.Success != (tt.status == 0) {
				t.Fatalf("record = %+v", a)
			}
			if !strings.Contains(string(a.Response.Result), strings.Trim(tt.result, "{}")) {
				t.Fatalf("result = %s, want %s", a.Response.Result, tt.result)
			}
			if annotation(a, "path") != `"guest/echo"` || annotation(a, "kind") != `"wasm"` || annotation(a, "waitTime") == "" || annotation(a, "limits") == "" {
				t.Fatalf("annotations = %+v", a.Annotations)
			}
			// A command-form module pays for a new instance every time.
			if _, init := a.Annotations.Get("initTime"); init != (tt.status != core.StatusInternalError) {
				t.Errorf("initTime present = %v on activation %d", init, i)
			}
			if tt.status <= core.StatusDeveloperError && (len(a.Logs) == 0 || !strings.HasSuffix(a.Logs[0], "stderr: echoing")) {
				t.Errorf("logs = %q", a.Logs)
			}
			stored, err := r.store.GetActivation(context.Background(), "guest", id)
			if err != nil || stored.Response.StatusCode != tt.status {
				t.Fatalf("stored record = %+v, %v", stored, err)
			}
		})
	}
}

func TestShutdownInterruptsAfterGrace(t *testing.T) {
	r := newRig(t, 2)
	r.invoke(t, r.digest, `{}`) // compile the module before the clock matters
	r.result(t)
	fast := r.invoke(t, r.digest, `{"sleep_ms":200}`)
	slow := r.invoke(t, r.digest, `{"sleep_ms":60000}`)
	// Wait until both run (the first result is not needed for that).
	deadline := time.Now().Add(20 * time.Second)
	for r.inv.busy.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("activations did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.inv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]*core.Activation{}
	for i := 0; i < 2; i++ {
		a := r.result(t)
		got[a.ActivationID] = a
	}
	if a := got[fast]; a == nil || a.Response.StatusCode != core.StatusSuccess {
		t.Fatalf("fast activation = %+v", a)
	}
	if a := got[slow]; a == nil || a.Response.StatusCode != core.StatusInternalError || !strings.Contains(string(a.Response.Result), "interrupted") {
		t.Fatalf("slow activation = %+v", a)
	}
	if _, err := r.store.GetActivation(context.Background(), "guest", slow); err != nil {
		t.Fatalf("interrupted activation not stored: %v", err)
	}
}

// TestOfferRefuses: a hand-over is refused, with nothing run, when no slot
// is free (the activation then waits in the queue) and once the invoker
// stops; it counts in the invoker's shutdown like a queued activation.
func TestOfferRefuses(t *testing.T) {
	r := newRig(t, 1)
	// A wait shorter than the action's time limit: a worker runs it.
	slow, ok := r.offer(t, r.digest, `{"sleep_ms":300}`, time.Second)
	if !ok {
		t.Fatal("Offer refused with a free slot")
	}
	if id, ok := r.offer(t, r.digest, `{}`, time.Minute); ok {
		t.Fatalf("Offer took %s with its only slot busy", id)
	}
	queued := r.invoke(t, r.digest, `{}`) // waits for the slot
	// The handed-over activation compiles the module first: about a
	// second, but more than 20 s under the race detector with other
	// packages' tests running (CI's race step, once), and the shutdown
	// must let it finish.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.inv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if id, ok := r.offer(t, r.digest, `{}`, time.Minute); ok {
		t.Fatalf("Offer took %s after shutdown", id)
	}
	a := r.result(t)
	if a.ActivationID != slow || a.Response.StatusCode != core.StatusSuccess {
		t.Fatalf("the activation handed over = %+v", a)
	}
	if _, err := r.store.GetActivation(context.Background(), "guest", slow); err != nil {
		t.Fatalf("its record: %v", err)
	}
	// The queued one either ran before the shutdown or stays queued for
	// the next start: it is never lost, and never answered as failed.
	select {
	case out := <-r.results:
		if out.Err != nil || out.Result.StatusCode != core.StatusSuccess {
			t.Fatalf("queued activation %s: %+v", queued, out)
		}
	case <-time.After(time.Second):
	}
}

// TestOfferRunsPromptActivationsInPlace: an activation of a compiled Wasm
// module whose time limit is within the caller's wait runs on the
// caller's goroutine (its slot is free again when Offer returns); one
// whose limit is longer than the wait, or whose module must compile
// first, goes to a worker.
func TestOfferRunsPromptActivationsInPlace(t *testing.T) {
	r := newRig(t, 2)
	tests := []struct {
		name    string
		wait    time.Duration
		inPlace bool
	}{
		{"module not compiled yet", time.Minute, false},
		{"compiled, limit within the wait", time.Minute, true},
		{"compiled, limit longer than the wait", 5 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := r.offer(t, r.digest, `{"sleep_ms":100}`, tt.wait)
			if !ok {
				t.Fatal("Offer refused with free slots")
			}
			if busy := r.inv.busy.Load(); (busy == 0) != tt.inPlace {
				t.Errorf("%d activations running when Offer returned; want it run in place: %v", busy, tt.inPlace)
			}
			if a := r.result(t); a.ActivationID != id || a.Response.StatusCode != core.StatusSuccess {
				t.Fatalf("record = %+v", a)
			}
		})
	}
}
