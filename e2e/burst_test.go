package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestBurstOfSlowActivations sends 1,000 blocking invokes of a slow action
// at once to a wispd whose invoker runs 32 at a time. The burst waits in
// the queue (and waitTime shows it); every invoke gets its own, correct
// record; the gateway keeps answering other requests meanwhile; and wispd's
// memory stays within a budget.
func TestBurstOfSlowActivations(t *testing.T) {
	t.Parallel()
	const (
		burst    = 1000
		sleepMs  = 100
		capacity = 32
		// What wispd may hold at its peak: 32 Go instances of a few MiB,
		// 1,000 waiting requests, the store. Generous: this is no benchmark.
		rssBudget = 1 << 30
	)
	d := startWispd(t, "--invoker-capacity", strconv.Itoa(capacity))
	g := d.guest(t)
	g.createAction(t, "sleep", "sleep", nil)
	g.createAction(t, "hello", "hello", nil)

	type outcome struct {
		id     string
		status int
		body   string
		err    error
	}
	results := make([]outcome, burst)
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := g.send("POST", actionsPath+"/sleep?blocking=true", map[string]any{"ms": sleepMs, "i": i})
			if err != nil {
				results[i].err = err
				return
			}
			results[i] = outcome{id: r.Header.Get("x-openwhisk-activation-id"), status: r.Status, body: string(r.Body)}
		}()
	}
	// While the burst waits in the queue, the gateway answers other calls.
	var peakRSS int64
	for i := 0; i < 5; i++ {
		g.get(t, "/ping").want(t, http.StatusOK)
		g.get(t, actionsPath).want(t, http.StatusOK)
		g.get(t, actionsPath+"/hello?code=false").want(t, http.StatusOK)
		peakRSS = max(peakRSS, rss(t, d.cmd.Process.Pid))
	}
	wg.Wait()
	peakRSS = max(peakRSS, rss(t, d.cmd.Process.Pid))
	if peakRSS > rssBudget {
		t.Errorf("wispd's resident memory reached %d MiB, over the %d MiB budget", peakRSS>>20, rssBudget>>20)
	}
	t.Logf("peak resident memory of wispd seen: %d MiB", peakRSS>>20)

	seen := map[string]bool{}
	waited := 0
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("invoke %d: %v", i, r.err)
		}
		if r.status != http.StatusOK {
			t.Fatalf("invoke %d: HTTP %d %s", i, r.status, r.body)
		}
		if seen[r.id] {
			t.Fatalf("activation id %s answered twice", r.id)
		}
		seen[r.id] = true
		var rec activation
		if err := json.Unmarshal([]byte(r.body), &rec); err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
		if rec.ActivationID != r.id || !rec.Response.Success || rec.Response.Result["slept"] != float64(sleepMs) {
			t.Fatalf("invoke %d: record %s", i, r.body)
		}
		var wait int64
		rec.annotation(t, "waitTime", &wait)
		if wait > sleepMs {
			waited++
		}
	}
	// 1,000 activations of 100 ms, 32 at a time, cannot all start at once.
	if waited < burst/2 {
		t.Errorf("only %d of %d activations show a waitTime over %d ms: the queueing is not visible", waited, burst, sleepMs)
	}
	// And each has its record in the store.
	for _, id := range []string{results[0].id, results[burst/2].id, results[burst-1].id} {
		if rec := g.record(t, id); rec.ActivationID != id {
			t.Fatalf("stored record %s for %s", rec.ActivationID, id)
		}
	}
}

// rss returns the resident memory of process pid, in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/pid/status")
	return 0
}
