package wasmrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunEcho(t *testing.T) {
	r, code := shared(t)
	params := `{"mode":"echo","name":"wisp","n":[1,2,3]}`
	out := r.Run(context.Background(), code, Invocation{
		Params: []byte(params),
		Env:    map[string]string{"__OW_ACTIVATION_ID": "0123456789abcdef0123456789abcdef", "__OW_NAMESPACE": "guest"},
	})
	if out.Err != nil {
		t.Fatalf("Err = %v, logs %q", out.Err, out.Logs)
	}
	var got struct {
		Params     json.RawMessage `json:"params"`
		Activation string          `json:"activation"`
		Args       []string        `json:"args"`
		Env        int             `json:"env"`
	}
	if err := json.Unmarshal(out.Result, &got); err != nil {
		t.Fatalf("result %s: %v", out.Result, err)
	}
	if string(got.Params) != params {
		t.Errorf("params = %s, want %s", got.Params, params)
	}
	if got.Activation != "0123456789abcdef0123456789abcdef" || got.Env != 2 {
		t.Errorf("activation %q, %d variables; want the id and 2", got.Activation, got.Env)
	}
	if len(got.Args) != 1 {
		t.Errorf("args = %q, want the program name only", got.Args)
	}
	if out.Compiled {
		t.Error("Compiled = true for a module compiled by Validate")
	}
	if out.InitTime <= 0 {
		t.Errorf("InitTime = %v", out.InitTime)
	}
}

// The environment reaches the guest through environ_get (host functions
// reading the call's context), in key order, and only its own.
func TestRunEnvironment(t *testing.T) {
	r, code := shared(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("%032x", i)
			env := map[string]string{"__OW_ACTIVATION_ID": id, "__OW_NAMESPACE": "ns", "Z": "last", "A": "first=1"}
			out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"mode":"environ"}`), Env: env})
			if out.Err != nil {
				t.Errorf("Err = %v, logs %q", out.Err, out.Logs)
				return
			}
			var got struct {
				Environ []string `json:"environ"`
			}
			if err := json.Unmarshal(out.Result, &got); err != nil {
				t.Errorf("result %s: %v", out.Result, err)
				return
			}
			want := []string{"A=first=1", "Z=last", "__OW_ACTIVATION_ID=" + id, "__OW_NAMESPACE=ns"}
			if fmt.Sprint(got.Environ) != fmt.Sprint(want) {
				t.Errorf("environ = %q, want %q", got.Environ, want)
			}
		})
	}
	wg.Wait()
	if out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"mode":"environ"}`)}); out.Err != nil || !strings.Contains(string(out.Result), `"environ":null`) && !strings.Contains(string(out.Result), `"environ":[]`) {
		t.Errorf("no environment: %s, %v", out.Result, out.Err)
	}
	for _, bad := range []map[string]string{{"": "x"}, {"A=B": "x"}, {"A": "x\x00"}} {
		if out := r.Run(context.Background(), code, Invocation{Env: bad}); out.Err == nil || errors.As(out.Err, new(*ActionError)) {
			t.Errorf("environment %q: Err = %v, want a platform error", bad, out.Err)
		}
	}
}

func TestRunRawEcho(t *testing.T) {
	r := newRuntime(t, Config{})
	code := codeOf(rawEcho())
	for _, params := range []string{`{"a":1}`, `{"long":"` + strings.Repeat("y", 30000) + `"}`, ""} {
		out := r.Run(context.Background(), code, Invocation{Params: []byte(params)})
		if out.Err != nil {
			t.Fatal(out.Err)
		}
		want := params
		if want == "" {
			want = "{}"
		}
		if string(out.Result) != want {
			t.Errorf("Result = %.50s, want %.50s", out.Result, want)
		}
	}
}

var logLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) stderr: (.*)$`)

func TestRunLogs(t *testing.T) {
	r, code := shared(t)
	before := time.Now().Truncate(time.Microsecond)
	out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"mode":"log","n":3}`)})
	after := time.Now()
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	want := []string{"line 0", "line 1", "line 2", "no newline at the end"}
	if len(out.Logs) != len(want) {
		t.Fatalf("Logs = %q, want %d lines", out.Logs, len(want))
	}
	for i, l := range out.Logs {
		m := logLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q is not in OpenWhisk's format", l)
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || ts.Before(before) || ts.After(after) {
			t.Errorf("timestamp %s not within the run (%v..%v), err %v", m[1], before, after, err)
		}
		if m[2] != want[i] {
			t.Errorf("line %d = %q, want %q", i, m[2], want[i])
		}
	}
}

func TestRunLogLimit(t *testing.T) {
	r, code := shared(t)
	const limit = 100
	out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"mode":"log","n":1000}`), LogLimit: limit})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	if string(out.Result) != `{"logged":true}` {
		t.Errorf("Result = %s", out.Result)
	}
	kept := 0
	for _, l := range out.Logs[:len(out.Logs)-1] {
		kept += len(logLine.FindStringSubmatch(l)[2]) + 1
	}
	// "line 0\n" ... "line 9\n" are 70 bytes, then lines of 8 bytes: 3 more fit in 100.
	if len(out.Logs) != 14 || kept > limit {
		t.Errorf("%d lines (%d bytes) kept: %q", len(out.Logs), kept, out.Logs)
	}
	last := logLine.FindStringSubmatch(out.Logs[len(out.Logs)-1])
	if last == nil || last[2] != "Logs were truncated because the total bytes size exceeds the limit of 100 bytes." {
		t.Errorf("last line = %q", out.Logs[len(out.Logs)-1])
	}
}

func TestRunProcExitZero(t *testing.T) {
	r, code := shared(t)
	out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"mode":"exit0"}`)})
	if out.Err != nil || string(out.Result) != `{"exit0":true}` {
		t.Fatalf("Result %s, Err %v", out.Result, out.Err)
	}
}

func TestRunClockAndRandom(t *testing.T) {
	r, code := shared(t)
	start := time.Now()
	out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"mode":"clock"}`)})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	var got struct {
		UnixNano int64  `json:"unixNano"`
		SleptNs  int64  `json:"sleptNs"`
		Rand     string `json:"rand"`
	}
	if err := json.Unmarshal(out.Result, &got); err != nil {
		t.Fatal(err)
	}
	if d := time.Unix(0, got.UnixNano).Sub(start); d < 0 || d > 10*time.Second {
		t.Errorf("guest's wall clock is %v away from the host's", d)
	}
	if got.SleptNs < int64(20*time.Millisecond) {
		t.Errorf("slept %v, want at least 20ms", time.Duration(got.SleptNs))
	}
	if got.Rand == strings.Repeat("0", 32) {
		t.Error("random bytes are zero")
	}
}

// TestRunActionErrors runs actions that fail by their own fault.
func TestRunActionErrors(t *testing.T) {
	r, goCode := shared(t)
	raw := func(wasm []byte) Code { return codeOf(wasm) }
	tests := []struct {
		name   string
		code   Code
		params string
		inv    Invocation
		kind   ErrorKind
		reason string // a regular expression the reason must match
	}{
		{name: "exit code", code: goCode, params: `{"mode":"exit","n":3}`, kind: KindExit, reason: `^the action exited with code 3$`},
		{name: "go panic", code: goCode, params: `{"mode":"panic"}`, kind: KindExit, reason: `^the action exited with code 2$`},
		{name: "unreachable", code: raw(command([]byte{opUnreachable}, "").encode()), kind: KindTrap, reason: `^the action trapped: unreachable$`},
		{name: "out of bounds", code: raw(command(cat(i32c(0x7ffffff0), []byte{opI32Load, 2, 0, opDrop}), "").encode()), kind: KindTrap, reason: `^the action trapped: out of bounds memory access$`},
		{name: "start function traps", code: raw(rawStartTrap()), kind: KindTrap, reason: `^the action trapped: unreachable$`},
		{name: "unbounded recursion", code: raw(rawRecurse()), kind: KindTrap, reason: `^the action trapped: stack overflow$`},
		{name: "go recursion", code: goCode, params: `{"mode":"recurse"}`, inv: Invocation{MemoryMB: 16}, kind: KindMemory, reason: `^the action exceeded its memory limit of 16 MB: it tried to grow its memory to [0-9.]+ MB \(it exited with code 2\)$`},
		{name: "not JSON", code: goCode, params: `{"mode":"notjson"}`, kind: KindBadResult, reason: `^the action did not return a JSON object: "hello, world"$`},
		{name: "empty output", code: goCode, params: `{"mode":"empty"}`, kind: KindBadResult, reason: `^the action did not return a JSON object: its output was empty$`},
		{name: "array", code: goCode, params: `{"mode":"array"}`, kind: KindBadResult, reason: `^the action did not return a JSON object: "\[1, 2\]"$`},
		{name: "result too large", code: goCode, params: `{"mode":"big","n":20}`, kind: KindResultTooLarge, reason: `^the action's result exceeds the limit of 1048576 bytes$`},
		{name: "result limit", code: goCode, params: `{"mode":"big","n":1}`, inv: Invocation{ResultLimit: 1000}, kind: KindResultTooLarge, reason: `^the action's result exceeds the limit of 1000 bytes$`},
		{name: "go memory", code: goCode, params: `{"mode":"alloc"}`, inv: Invocation{MemoryMB: 16}, kind: KindMemory, reason: `^the action exceeded its memory limit of 16 MB: it tried to grow its memory to [0-9.]+ MB \(it exited with code 2\)$`},
		{name: "memory.grow past limit", code: raw(rawGrow(32)), inv: Invocation{MemoryMB: 1}, kind: KindMemory, reason: `^the action exceeded its memory limit of 1 MB: it tried to grow its memory to 2.1 MB \(it trapped: unreachable\)$`},
		{name: "minimum memory past limit", code: raw(rawConstMem(`{}`, 40)), inv: Invocation{MemoryMB: 2}, kind: KindMemory, reason: `^the action needs at least 2.5 MB of memory, more than its memory limit of 2 MB$`},
		{name: "go timeout sleeping", code: goCode, params: `{"mode":"sleep","ms":10000}`, inv: Invocation{Timeout: 100 * time.Millisecond}, kind: KindTimeout, reason: `^the action exceeded its time limit of 100 ms$`},
		{name: "go timeout spinning", code: goCode, params: `{"mode":"spin"}`, inv: Invocation{Timeout: 100 * time.Millisecond}, kind: KindTimeout, reason: `^the action exceeded its time limit of 100 ms$`},
		{name: "raw timeout", code: raw(command([]byte{opLoop, opBlockVoid, opBr, 0, opEnd}, "").encode()), inv: Invocation{Timeout: 100 * time.Millisecond}, kind: KindTimeout, reason: `^the action exceeded its time limit of 100 ms$`},
		{name: "invalid module", code: raw([]byte("#!/bin/sh\necho hi\n")), kind: KindInvalidModule, reason: `^invalid wasm module: not a WebAssembly module: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := tt.inv
			inv.Params = []byte(tt.params)
			start := time.Now()
			out := r.Run(context.Background(), tt.code, inv)
			took := time.Since(start)
			var ae *ActionError
			if !errors.As(out.Err, &ae) {
				t.Fatalf("Err = %v (%T), want an *ActionError; result %s", out.Err, out.Err, out.Result)
			}
			t.Logf("%s after %v: %s", ae.Kind, took.Round(time.Millisecond), ae.Reason)
			if ae.Kind != tt.kind {
				t.Errorf("Kind = %v, want %v (%s)", ae.Kind, tt.kind, ae.Reason)
			}
			if !regexp.MustCompile(tt.reason).MatchString(ae.Reason) {
				t.Errorf("Reason = %q, want %s", ae.Reason, tt.reason)
			}
			var res map[string]string
			if err := json.Unmarshal(out.Result, &res); err != nil || len(res) != 1 || res["error"] != ae.Reason {
				t.Errorf("Result = %s, want {\"error\": Reason}", out.Result)
			}
			if tt.kind == KindTimeout && took > time.Second {
				t.Errorf("a 100 ms timeout took %v", took)
			}
			if tt.kind == KindInvalidModule && !errors.Is(out.Err, ErrInvalidModule) {
				t.Error("errors.Is(Err, ErrInvalidModule) = false")
			}
		})
	}
}

// TestRunTimeoutIsolated stops a runaway loop at its time limit while another module keeps running.
func TestRunTimeoutIsolated(t *testing.T) {
	r, goCode := shared(t)
	defer noGoroutineLeak(t)()
	loop := codeOf(command([]byte{opLoop, opBlockVoid, opBr, 0, opEnd}, "").encode())
	var wg sync.WaitGroup
	var loopOut Outcome
	var loopTook time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		loopOut = r.Run(context.Background(), loop, Invocation{Timeout: 100 * time.Millisecond})
		loopTook = time.Since(start)
	}()
	for i := 0; i < 5; i++ {
		out := r.Run(context.Background(), goCode, Invocation{Params: []byte(fmt.Sprintf(`{"i":%d}`, i))})
		if out.Err != nil {
			t.Errorf("echo beside the loop: %v", out.Err)
		}
	}
	wg.Wait()
	var ae *ActionError
	if !errors.As(loopOut.Err, &ae) || ae.Kind != KindTimeout {
		t.Fatalf("loop: Err = %v", loopOut.Err)
	}
	if loopTook > time.Second {
		t.Errorf("loop stopped after %v", loopTook)
	}
	t.Logf("loop stopped after %v (limit 100ms)", loopTook)
}

// TestRunResultTooLargeMemory checks that a guest writing 100 MB is stopped without the host keeping it.
func TestRunResultTooLargeMemory(t *testing.T) {
	r, code := shared(t)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"mode":"big","n":1600}`)}) // 1600 × 64 KiB = 100 MiB
	runtime.ReadMemStats(&after)
	var ae *ActionError
	if !errors.As(out.Err, &ae) || ae.Kind != KindResultTooLarge {
		t.Fatalf("Err = %v", out.Err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48<<20 {
		t.Errorf("the host allocated %d MiB for a guest writing 100 MiB", alloc>>20)
	} else {
		t.Logf("the host allocated %.1f MiB", float64(alloc)/(1<<20))
	}
}

func TestRunMemoryLimitAllowsEnough(t *testing.T) {
	r := newRuntime(t, Config{})
	for _, tt := range []struct {
		wasm     []byte
		memoryMB int
	}{
		{rawGrow(32), 3},              // 1 + 32 pages = 2.06 MB
		{rawConstMem(`{}`, 40), 3},    // 2.5 MB
		{rawConstMem(`{}`, 1024), 64}, // exactly the limit
		{rawConstMem(`{}`, 16), 0},    // the default limit
	} {
		out := r.Run(context.Background(), codeOf(tt.wasm), Invocation{MemoryMB: tt.memoryMB})
		if out.Err != nil {
			t.Errorf("MemoryMB %d: %v", tt.memoryMB, out.Err)
		}
	}
}

// TestRunConcurrent runs one module from many goroutines.
func TestRunConcurrent(t *testing.T) {
	r, code := shared(t)
	defer noGoroutineLeak(t)()
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			params := fmt.Sprintf(`{"mode":"echo","i":%d}`, i)
			out := r.Run(context.Background(), code, Invocation{Params: []byte(params),
				Env: map[string]string{"__OW_ACTIVATION_ID": fmt.Sprint(i)}})
			if out.Err != nil {
				errs <- out.Err
				return
			}
			var got struct {
				Params     json.RawMessage `json:"params"`
				Activation string          `json:"activation"`
			}
			if err := json.Unmarshal(out.Result, &got); err != nil || string(got.Params) != params || got.Activation != fmt.Sprint(i) {
				errs <- fmt.Errorf("run %d: result %s", i, out.Result)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRunCompilesOnce checks that concurrent first Runs of a digest load and compile it once, and later ones not at all.
func TestRunCompilesOnce(t *testing.T) {
	r := newRuntime(t, Config{})
	wasm := rawEcho()
	var loads atomic.Int32
	code := Code{Digest: digestOf(wasm), Load: func(context.Context) ([]byte, error) {
		loads.Add(1)
		time.Sleep(50 * time.Millisecond) // let the others arrive while it loads
		return wasm, nil
	}}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"x":1}`)})
			if out.Err != nil || string(out.Result) != `{"x":1}` {
				t.Errorf("Result %s, Err %v", out.Result, out.Err)
			}
			if !out.Compiled {
				t.Error("a Run that arrived before the module was compiled has Compiled = false")
			}
		}()
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("Load called %d times, want 1", n)
	}
	out := r.Run(context.Background(), code, Invocation{Params: []byte(`{"x":2}`)})
	if out.Err != nil || out.Compiled {
		t.Errorf("second Run: Compiled %v, Err %v", out.Compiled, out.Err)
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("Load called %d times, want 1", n)
	}
}

func TestRunPlatformErrors(t *testing.T) {
	r := newRuntime(t, Config{})
	boom := errors.New("blob store unreachable")
	out := r.Run(context.Background(), Code{Digest: "sha256:00", Load: func(context.Context) ([]byte, error) { return nil, boom }}, Invocation{})
	var ae *ActionError
	if !errors.Is(out.Err, boom) || errors.As(out.Err, &ae) || out.Result != nil {
		t.Errorf("Load failure: Err %v, Result %s; want a platform error wrapping it", out.Err, out.Result)
	}
	// A failed load is not cached.
	if out := r.Run(context.Background(), codeOf(rawConst(`{}`)), Invocation{}); out.Err != nil {
		t.Error(out.Err)
	}
	if out := r.Run(context.Background(), codeOf(rawConst(`{}`)), Invocation{Timeout: -1}); out.Err == nil || errors.As(out.Err, &ae) {
		t.Errorf("negative timeout: Err %v", out.Err)
	}

	// The caller's context ending is not the action's fault.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	out = r.Run(ctx, codeOf(command([]byte{opLoop, opBlockVoid, opBr, 0, opEnd}, "").encode()), Invocation{})
	if !errors.Is(out.Err, context.DeadlineExceeded) || errors.As(out.Err, &ae) {
		t.Errorf("caller's deadline: Err %v", out.Err)
	}

	closed := newRuntime(t, Config{})
	if err := closed.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out := closed.Run(context.Background(), codeOf(rawConst(`{}`)), Invocation{}); out.Err == nil || errors.As(out.Err, &ae) {
		t.Errorf("Run after Close: Err %v", out.Err)
	}
}

// TestRunMemoryIsFresh checks that no instance sees the memory of an earlier one (memory is recycled).
func TestRunMemoryIsFresh(t *testing.T) {
	r := newRuntime(t, Config{})
	code := codeOf(rawDirty())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if out := r.Run(context.Background(), code, Invocation{}); out.Err != nil {
					t.Error(out.Err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestCloseStopsRunning checks that Close stops activations in flight, which then report a platform failure.
func TestCloseStopsRunning(t *testing.T) {
	r, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	loop := codeOf(command([]byte{opLoop, opBlockVoid, opBr, 0, opEnd}, "").encode())
	if err := r.Validate(context.Background(), loop.Digest, mustLoad(t, loop)); err != nil {
		t.Fatal(err)
	}
	done := make(chan Outcome)
	go func() { done <- r.Run(context.Background(), loop, Invocation{Timeout: time.Minute}) }()
	time.Sleep(50 * time.Millisecond)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-done:
		var ae *ActionError
		if out.Err == nil || errors.As(out.Err, &ae) {
			t.Errorf("Err = %v, want a platform failure", out.Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5s after Close")
	}
	if err := r.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func mustLoad(t *testing.T, c Code) []byte {
	t.Helper()
	b, err := c.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
