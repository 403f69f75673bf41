package container

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// BenchmarkStartDestroy measures a cold container: create + start, the
// init round trip (the busybox loop's start-up included), then destroy,
// reported separately.
func BenchmarkStartDestroy(b *testing.B) {
	m := newBenchManager(b)
	spec := benchSpec(b)
	var start, init, destroy time.Duration
	for i := 0; b.Loop(); i++ {
		spec.ID = "b-" + strconv.Itoa(i)
		t0 := time.Now()
		c, err := m.Start(b.Context(), spec)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := c.Init(b.Context(), InitMessage{Main: "main"}, 0); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := c.Destroy(b.Context()); err != nil {
			b.Fatal(err)
		}
		start += t1.Sub(t0)
		init += t2.Sub(t1)
		destroy += time.Since(t2)
	}
	b.ReportMetric(float64(start.Microseconds())/float64(b.N), "start-µs/op")
	b.ReportMetric(float64(init.Microseconds())/float64(b.N), "init-µs/op")
	b.ReportMetric(float64(destroy.Microseconds())/float64(b.N), "destroy-µs/op")
}

// BenchmarkPauseResume measures freezing and thawing a container.
func BenchmarkPauseResume(b *testing.B) {
	m := newBenchManager(b)
	spec := benchSpec(b)
	spec.ID = "pause"
	c, err := m.Start(b.Context(), spec)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Init(b.Context(), InitMessage{Main: "main"}, 0); err != nil {
		b.Fatal(err)
	}
	var pause, resume time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := c.Pause(b.Context()); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := c.Resume(b.Context()); err != nil {
			b.Fatal(err)
		}
		pause += t1.Sub(t0)
		resume += time.Since(t1)
	}
	b.ReportMetric(float64(pause.Microseconds())/float64(b.N), "pause-µs/op")
	b.ReportMetric(float64(resume.Microseconds())/float64(b.N), "resume-µs/op")
}

// BenchmarkRun measures one activation round trip through the busybox
// shell loop (the shell's own cost dominates).
func BenchmarkRun(b *testing.B) {
	m := newBenchManager(b)
	spec := benchSpec(b)
	spec.ID = "run"
	c, err := m.Start(b.Context(), spec)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Init(b.Context(), InitMessage{Main: "main"}, 0); err != nil {
		b.Fatal(err)
	}
	msg := RunMessage{Value: json.RawMessage(`{"do":"echo"}`)}
	for b.Loop() {
		if _, _, err := c.Run(b.Context(), msg, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchManager(b *testing.B) *Manager {
	m, err := NewManager(b.Context(), ManagerConfig{StateDir: b.TempDir() + "/state", CgroupParent: "wisp-bench-" + randomHex(4)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

func benchSpec(b *testing.B) Spec {
	return Spec{Rootfs: testRootfs, Args: []string{"/bin/sh", "/wisp/loop.sh"}, Env: []string{"PATH=/bin"}, Cwd: "/", MemoryMB: 64}
}

// BenchmarkState measures reading a running container's state from the
// kernel.
func BenchmarkState(b *testing.B) {
	m := newBenchManager(b)
	spec := benchSpec(b)
	spec.ID = "state"
	c, err := m.Start(b.Context(), spec)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if st, err := c.State(b.Context()); err != nil || st != Running {
			b.Fatal(st, err)
		}
	}
}
