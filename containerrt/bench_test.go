package containerrt

import (
	"context"
	"testing"
)

// Benchmarks of the pool's hot paths on a real container of the test
// runtime (go test -tags seccomp -bench . ./containerrt). The side-by-side
// numbers with their floors are in bench/ (go run ./bench).

// BenchmarkWarmRun is one activation in an idle, unpaused container of
// its action: claim, liveness check, one protocol round trip, release.
func BenchmarkWarmRun(b *testing.B) {
	r := benchRuntime(b, Config{PauseGrace: -1})
	req := request("bench-warm", 32, `{"mode":"count"}`)
	ctx := context.Background()
	if res := r.Run(ctx, req); res.Err != nil {
		b.Fatal(res.Err)
	}
	b.ResetTimer()
	for b.Loop() {
		if res := r.Run(ctx, req); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkPauseResume is what the pool does to pause an idle container
// and to wake it for its next activation: State + Pause, State + Resume.
func BenchmarkPauseResume(b *testing.B) {
	r := benchRuntime(b, Config{PauseGrace: -1})
	req := request("bench-pause", 32, `{"mode":"count"}`)
	ctx := context.Background()
	if res := r.Run(ctx, req); res.Err != nil {
		b.Fatal(res.Err)
	}
	c := r.testMembers(req.Owner)[0].c
	for b.Loop() {
		if _, err := c.State(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.Pause(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := c.State(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.Resume(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func benchRuntime(b *testing.B, cfg Config) *Runtime {
	b.Helper()
	cfg.StateDir = b.TempDir()
	if cfg.RuntimesDir == "" {
		cfg.RuntimesDir = fixtures.runtimes
	}
	r, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// BenchmarkWarmRunPython is BenchmarkWarmRun on the real python:3 runtime
// with OpenWhisk's hello world.
func BenchmarkWarmRunPython(b *testing.B) {
	r := benchRuntime(b, Config{PauseGrace: -1, RuntimesDir: pythonRuntimes(b)})
	req := pyRequest("bench-py", helloPython, `{"name":"wisp"}`)
	ctx := context.Background()
	if res := r.Run(ctx, req); res.Err != nil {
		b.Fatal(res.Err)
	}
	for b.Loop() {
		if res := r.Run(ctx, req); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}
