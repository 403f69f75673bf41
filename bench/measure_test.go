package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"
)

func TestConcurrentRounds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{5 * time.Second, concRounds},
		{time.Minute, concRounds},
		{time.Second, concRounds},
		{600 * time.Millisecond, 3},
		{200 * time.Millisecond, 1},
		{50 * time.Millisecond, 1},
	} {
		got := concurrentRounds(tc.d)
		if got != tc.want {
			t.Errorf("concurrentRounds(%v) = %d, want %d", tc.d, got, tc.want)
		}
		if got > 1 && tc.d/time.Duration(got) < minConcRound {
			t.Errorf("concurrentRounds(%v) = %d: rounds of %v, under %v", tc.d, got, tc.d/time.Duration(got), minConcRound)
		}
	}
}

// TestMeasureTakesTurns loads two real servers on loopback and checks, from
// the order in which their requests arrived, that both phases took turns:
// each server's many-client requests come in as many blocks as there are
// rounds, with the other server's blocks between them.
func TestMeasureTakesTurns(t *testing.T) {
	var (
		mu  sync.Mutex
		log []string // which server each request reached, in order
	)
	server := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			log = append(log, name)
			mu.Unlock()
			_, _ = w.Write([]byte(`{"greeting":"Hello, wisp!"}`))
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := server("a"), server("b")
	cfg := config{n: 10, clients: 3, duration: 600 * time.Millisecond, warmup: 2}
	var runs []*run
	for _, s := range []*httptest.Server{a, b} {
		runs = append(runs, &run{
			t:   &target{Name: s.URL},
			req: &request{method: http.MethodPost, url: s.URL, body: []byte(invokeBody)},
			pid: os.Getpid(),
			c:   newClient(),
		})
	}
	if err := measure(t.Context(), cfg, runs); err != nil {
		t.Fatal(err)
	}
	rounds := concurrentRounds(cfg.duration)
	for _, r := range runs {
		if r.t.Skipped != "" || r.t.Sequential.OK != cfg.n || r.t.Concurrent.OK == 0 || r.t.Concurrent.Clients != cfg.clients {
			t.Errorf("%s: skipped %q, %d sequential (want %d), %d with %d clients",
				r.t.Name, r.t.Skipped, r.t.Sequential.OK, cfg.n, r.t.Concurrent.OK, r.t.Concurrent.Clients)
		}
		if r.t.Concurrent.Elapsed < cfg.duration {
			t.Errorf("%s: many-client rounds took %v in all, want at least %v", r.t.Name, r.t.Concurrent.Elapsed, cfg.duration)
		}
	}
	// The probe, the warm-up and the 1-client phase come first: 1 +
	// warmup + n requests to each server.
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]int{}
	var loaded []string
	for _, name := range log {
		if seen[name]++; seen[name] > 1+cfg.warmup+cfg.n {
			loaded = append(loaded, name)
		}
	}
	blocks := 0
	for i, name := range loaded {
		if i == 0 || loaded[i-1] != name {
			blocks++
		}
	}
	if blocks != 2*rounds {
		t.Errorf("the many-client requests came in %d blocks, want %d (two servers, %d rounds each)", blocks, 2*rounds, rounds)
	}
}

func TestWireTimes(t *testing.T) {
	var tw wireTimes
	if _, ok := tw.server(); ok {
		t.Error("server() with nothing seen reported a time")
	}
	tw.wrote.Store(1_000)
	if _, ok := tw.server(); ok {
		t.Error("server() without a first byte reported a time")
	}
	tw.first.Store(4_500)
	if d, ok := tw.server(); !ok || d != 3500*time.Nanosecond {
		t.Errorf("server() = %v, %v; want 3.5µs", d, ok)
	}
	tw.first.Store(500) // an answer before the request: not a time
	if _, ok := tw.server(); ok {
		t.Error("server() with the first byte before the write reported a time")
	}
}
