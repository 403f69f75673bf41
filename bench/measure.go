package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

// run is a target being measured.
type run struct {
	t   *target
	req *request
	pid int // the server process
	c   *http.Client
	// around, when set, runs each of the target's loaded rounds (the
	// many-client phase): it calls load once, and may look at the server
	// before and after (bench/waittime.go reads wispd's metrics).
	around func(load func())
}

// seqRounds is how many rounds the 1-client phase is cut into. The rounds
// go round the targets in turn (floor, workerd, wisp-c, …, floor, …), so that
// a change in the machine's background load during the run (it is shared)
// weighs on every target alike rather than on whichever ran at the time.
const seqRounds = 5

// measure warms every target up, then loads them with 1 client, then
// with cfg.clients clients, each phase in rounds that take turns. It
// fails only when interrupted; a target that does not answer is marked
// skipped.
func measure(ctx context.Context, cfg config, runs []*run) error {
	live, err := measureOneClient(ctx, cfg, runs)
	if err != nil {
		return err
	}

	rounds := concurrentRounds(cfg.duration)
	d := cfg.duration / time.Duration(rounds)
	prev := 0 // the server measured last
	for round := range rounds {
		progress("measuring with %d clients, round %d of %d: %s to each target…", cfg.clients, round+1, rounds, d.Round(time.Millisecond))
		for _, r := range live {
			settle(ctx, prev)
			load := func() {
				r.t.Concurrent.add(withCPU(r.pid, func() phase { return runLoad(ctx, r.req, cfg.clients, 0, d) }))
			}
			if r.around != nil {
				r.around(load)
			} else {
				load()
			}
			prev = r.pid
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	for _, r := range live {
		r.t.Concurrent.finish()
		reportErrors(r.t.Name, fmt.Sprintf("%d clients", cfg.clients), &r.t.Concurrent)
	}
	return nil
}

// measureOneClient checks each target's answer, warms it up and loads it
// with one client, in rounds that take turns; it returns the targets that
// answered.
func measureOneClient(ctx context.Context, cfg config, runs []*run) ([]*run, error) {
	// The one-client phases (warm-up included) run the benchmark's process
	// on cfg.oneClientProcs processors (1 by default): one closed loop needs
	// one, and with a second idle one Go's scheduler spins a thread after
	// every answer, on the CPU the server would use (docs/rationale.md,
	// "One processor for the benchmark's one-client load").
	defer setProcs(cfg.oneClientProcs)()
	var live []*run
	for _, r := range runs {
		if body, err := probe(ctx, r.c, r.req); err != nil {
			r.t.Skipped = err.Error()
			fmt.Fprintf(os.Stderr, "bench: %s does not answer: %v\n", r.t.Name, err)
			continue
		} else if !strings.Contains(body, "Hello") {
			fmt.Fprintf(os.Stderr, "warning: %s answered %q, not a greeting\n", r.t.Name, body)
		}
		progress("warming up %s (%d requests)…", r.t.Name, cfg.warmup)
		r.t.Warmup = runLoad(ctx, r.req, 1, cfg.warmup, time.Minute)
		r.t.Warmup.finish()
		reportErrors(r.t.Name, "warm-up", &r.t.Warmup)
		live = append(live, r)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	rounds := min(seqRounds, cfg.n)
	for round := range rounds {
		n := cfg.n / rounds
		if round == rounds-1 {
			n = cfg.n - n*(rounds-1)
		}
		progress("measuring with 1 client, round %d of %d: %d requests to each target…", round+1, rounds, n)
		for _, r := range live {
			r.t.Sequential.add(withCPU(r.pid, func() phase {
				return runLoad(ctx, r.req, 1, n, 2*cfg.duration/time.Duration(rounds))
			}))
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	for _, r := range live {
		r.t.Sequential.finish()
		reportErrors(r.t.Name, "1 client", &r.t.Sequential)
		if done := r.t.Sequential.OK + r.t.Sequential.Errors; done < cfg.n {
			progress("  (%s: %d of %d requests with 1 client; each round stops at 2 × -duration / %d)", r.t.Name, done, cfg.n, rounds)
		}
	}
	return live, nil
}

// setProcs sets the benchmark process's GOMAXPROCS to n and returns what
// sets it back; n < 1 changes nothing.
func setProcs(n int) (restore func()) {
	if n < 1 {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(prev) }
}

// concRounds is how many rounds the many-client phase is cut into. As in
// the 1-client phase, the rounds take turns (floor, workerd, wisp-c, …,
// floor, …): the throughput ratios (sdk-c against workerd, say) then
// compare loads spread over the same minute, not two 5-second windows
// half a minute apart, which moved the ratio from 1.2 to 1.9 between runs
// of the same code.
const concRounds = 5

// minConcRound is the shortest many-client round: shorter ones would be
// mostly the ramp up and the tail of the closed loops.
const minConcRound = 200 * time.Millisecond

// concurrentRounds is how many rounds a many-client phase of d is cut into.
func concurrentRounds(d time.Duration) int {
	return int(max(1, min(concRounds, d/minConcRound)))
}

// settle waits, at most a second, until the server measured last (pid;
// 0 for none) has stopped working: less than a tenth of a CPU over 100 ms.
// What a server does after its round (wispd finishing its activation
// records, a collector) must not be charged to the next row's round.
func settle(ctx context.Context, pid int) {
	if pid == 0 {
		return
	}
	const window = 100 * time.Millisecond
	before, err := processCPU(pid)
	for i := 0; err == nil && i < 10; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(window):
		}
		var now time.Duration
		if now, err = processCPU(pid); err == nil {
			if now-before < window/10 {
				return
			}
			before = now
		}
	}
}

// probe sends the request once and returns the answer's body.
func probe(ctx context.Context, c *http.Client, req *request) (string, error) {
	r, err := http.NewRequestWithContext(ctx, req.method, req.url, strings.NewReader(string(req.body)))
	if err != nil {
		return "", err
	}
	r.Header = req.header.Clone()
	resp, err := c.Do(r)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(string(body)), nil
}

// withCPU runs f and records the CPU time process pid (the server) and
// this process (the load generator) used meanwhile.
func withCPU(pid int, f func() phase) phase {
	self := os.Getpid()
	before, err1 := processCPU(pid)
	selfBefore, err3 := processCPU(self)
	p := f()
	after, err2 := processCPU(pid)
	selfAfter, err4 := processCPU(self)
	if err1 == nil && err2 == nil {
		p.ServerCPU = after - before
	}
	if err3 == nil && err4 == nil {
		p.ClientCPU = selfAfter - selfBefore
	}
	return p
}

func reportErrors(name, what string, p *phase) {
	if p.Errors > 0 {
		progress("  %s, %s: %d errors; the first: %s", name, what, p.Errors, p.FirstError)
	}
}

// checkRecords fetches a random sample of the activation ids the
// many-client phase returned (where a lost record would most likely be)
// and counts those whose record the store has, and among them those that
// started a new sandbox instance (they carry an initTime annotation).
func checkRecords(ctx context.Context, cfg config, w *wispd, t *target) {
	t.Invoked = len(t.ids())
	ids := t.Concurrent.ids
	n := min(cfg.sample, len(ids))
	if n == 0 {
		return
	}
	progress("checking %d of %d %s activation records of its %d-client phase…", n, len(ids), t.Name, cfg.clients)
	c := newClient()
	defer c.CloseIdleConnections()
	var firstErr error
	for _, i := range rand.Perm(len(ids))[:n] {
		rec, err := w.activation(ctx, c, ids[i])
		if err != nil && firstErr == nil {
			firstErr = err
		}
		t.Sampled++
		if rec != nil {
			t.Recorded++
			if _, ok := rec.annotationInt("initTime"); ok {
				t.NewInstances++
			}
		}
	}
	if firstErr != nil {
		progress("  %s: fetching records failed: %v", t.Name, firstErr)
	}
}
