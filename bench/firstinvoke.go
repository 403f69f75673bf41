package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/wispfaas/wisp/internal/wasmtest"
)

// First invokes: what a user waits for the first time an action runs,
// (1) right after creating it (wispd compiles and prewarms on create, so
// the first invoke should cost about a warm one), and (2) after wispd
// restarts, when nothing is compiled in memory and no instance is warm
// (compiled code comes from wazero's file cache in the data directory).

const (
	firstAfterCreateTarget  = 5 * time.Millisecond
	firstAfterRestartTarget = 200 * time.Millisecond
)

// firstInvoke is the first invoke of one action.
type firstInvoke struct {
	Action string `json:"action"`
	// Create is how long creating the action took, the compile time
	// wispd reported for it (ms, "" when it did not compile) — only for a
	// freshly created action.
	Create        time.Duration `json:"create_ns,omitempty"`
	ServerCompile string        `json:"server_compile_ms,omitempty"`
	First         time.Duration `json:"first_ns"`
	Second        time.Duration `json:"second_ns"` // the invoke right after: warm
	// InWispd is the first invoke's activation as wispd's metrics saw
	// it; nil when they could not tell.
	InWispd *inWispd      `json:"in_wispd,omitempty"`
	Target  time.Duration `json:"target_ns"`
	Err     string        `json:"error,omitempty"`
}

// firstInvokes is the whole first-invoke measurement.
type firstInvokes struct {
	// AfterCreate is the freshly created action's first invoke.
	AfterCreate *firstInvoke `json:"after_create,omitempty"`
	// Restart: how long SIGTERM took to stop wispd and how long the new
	// process took to answer /ping; then each action's first invoke.
	RestartStop   time.Duration  `json:"restart_stop_ns,omitempty"`
	RestartReady  time.Duration  `json:"restart_ready_ns,omitempty"`
	RestartErr    string         `json:"restart_error,omitempty"`
	AfterRestart  []*firstInvoke `json:"after_restart,omitempty"`
	Skipped       string         `json:"skipped,omitempty"`
	FreshFromCode string         `json:"fresh_from,omitempty"`
}

// freshCopy is m's code made distinct by a random custom section.
func freshCopy(m *wasmModule) []byte {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	return wasmtest.WithCustomSection(m.code, "wisp-bench-nonce", []byte(hex.EncodeToString(nonce)))
}

// timeInvoke sends one blocking invoke of action on c and returns how long
// the answer took.
func timeInvoke(ctx context.Context, w *wispd, c *http.Client, action string) (time.Duration, error) {
	req := w.invokeRequest(action)
	t0 := time.Now()
	_, err := req.do(ctx, c)
	return time.Since(t0), err
}

// inWispd is one activation as wispd's metrics saw it: what the sums of
// its Wasm histograms grew by across the invoke. What the client waited
// beyond Wait and Run went to HTTP, the gateway and the scheduling of the
// two processes; a slow first invoke whose Run is short was slow outside
// the sandbox.
type inWispd struct {
	Wait time.Duration `json:"wait_ns"` // handed over (or queued) to start
	Run  time.Duration `json:"run_ns"`  // start to end, Init included
	Init time.Duration `json:"init_ns"` // a new instance, when one was made
}

// timeFirstInvoke is timeInvoke, and what wispd's metrics, read on mc (a
// connection of its own, so that c carries nothing but the invoke) before
// and after, say of the activation. The benchmark's own process collects
// its garbage first: the phase before (records decoded by the hundred
// thousand) leaves plenty, and its collector must not run on the machine's
// two cores during the one request timed.
func timeFirstInvoke(ctx context.Context, w *wispd, c, mc *http.Client, action string) (time.Duration, *inWispd, error) {
	before, errBefore := w.wasmHistograms(mc)
	runtime.GC()
	took, err := timeInvoke(ctx, w, c, action)
	if err != nil || errBefore != nil {
		return took, nil, err
	}
	after, err := w.wasmHistograms(mc)
	if err != nil {
		return took, nil, nil
	}
	return took, activationBetween(before, after), nil
}

// activationBetween is the one activation observed between two reads of
// wispd's histograms, or nil when there was not exactly one (another
// client's, or the counts reset by a restart).
func activationBetween(before, after activationHistograms) *inWispd {
	wait, errW := after.Wait.Sub(before.Wait)
	run, errR := after.Duration.Sub(before.Duration)
	init, errI := after.Init.Sub(before.Init)
	if errW != nil || errR != nil || errI != nil || wait.Count() != 1 || run.Count() != 1 || init.Count() > 1 {
		return nil
	}
	return &inWispd{Wait: wait.Sum, Run: run.Sum, Init: init.Sum}
}

// measureFirstAfterCreate creates action name from a fresh copy of m's
// code and times its first and second invoke, on one keep-alive
// connection (the create's), so that no TCP connect is counted.
func measureFirstAfterCreate(ctx context.Context, w *wispd, m *wasmModule, name string) *firstInvoke {
	fi := &firstInvoke{Action: name, Target: firstAfterCreateTarget}
	c, mc := newClient(), newClient()
	defer c.CloseIdleConnections()
	defer mc.CloseIdleConnections()
	progress("first invoke after create: creating %s (a fresh copy of %s)…", name, m.Name)
	t0 := time.Now()
	compile, err := w.createWasmAction(ctx, c, name, freshCopy(m))
	fi.Create, fi.ServerCompile = time.Since(t0), compile
	if err != nil {
		fi.Err = err.Error()
		return fi
	}
	if fi.First, fi.InWispd, err = timeFirstInvoke(ctx, w, c, mc, name); err != nil {
		fi.Err = "first invoke: " + err.Error()
		return fi
	}
	if fi.Second, err = timeInvoke(ctx, w, c, name); err != nil {
		fi.Err = "second invoke: " + err.Error()
	}
	return fi
}

// measureAfterRestart restarts wispd and times the first (and second)
// invoke of each action, one action after the other, on one connection
// opened (and not counted) before the first.
func measureAfterRestart(ctx context.Context, w *wispd, actions []string, res *firstInvokes) {
	progress("restarting wispd (SIGTERM, then the same data directory and port)…")
	var err error
	res.RestartStop, res.RestartReady, err = w.restart(ctx)
	if err != nil {
		res.RestartErr = err.Error()
		return
	}
	progress("  stopped in %s, answering /ping %s after start; first invoke of each action…", fmtDur(res.RestartStop), fmtDur(res.RestartReady))
	c, mc := newClient(), newClient()
	defer c.CloseIdleConnections()
	defer mc.CloseIdleConnections()
	ping := &request{method: http.MethodGet, url: w.base + "/ping"}
	if _, err := ping.do(ctx, c); err != nil { // opens the connection the invokes reuse
		res.RestartErr = err.Error()
		return
	}
	for _, a := range actions {
		fi := &firstInvoke{Action: a, Target: firstAfterRestartTarget}
		res.AfterRestart = append(res.AfterRestart, fi)
		if fi.First, fi.InWispd, err = timeFirstInvoke(ctx, w, c, mc, a); err != nil {
			fi.Err = fmt.Sprintf("first invoke: %v", err)
			continue
		}
		if fi.Second, err = timeInvoke(ctx, w, c, a); err != nil {
			fi.Err = fmt.Sprintf("second invoke: %v", err)
		}
	}
}
