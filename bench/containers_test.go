package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wispfaas/wisp/containerrt"
)

// TestContainerRows runs the container measurements a few times each on
// real containers and checks that every row was measured without error
// (no timing is judged here: the numbers go to the benchmark's table).
// It needs root, runc, busybox-static and -tags seccomp.
func TestContainerRows(t *testing.T) {
	src, err := findSources()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n := 3
	if v, err := strconv.Atoi(os.Getenv("WISP_BENCH_CONTAINER_N")); err == nil && v > 0 {
		n = v // more samples, for numbers worth reading
	}
	cr, err := measureContainers(ctx, src, t.TempDir(), "", n)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printContainers(&out, cr)
	t.Logf("\n%s", out.String())
	if cr.Skipped != "" {
		t.Fatalf("containers skipped: %s", cr.Skipped)
	}
	if cr.CLIError != "" || cr.CLIPause.P50 == 0 || cr.PoolPause.P50 == 0 || cr.Ratio == 0 {
		t.Errorf("pause/resume rows incomplete: CLI error %q, %+v", cr.CLIError, cr)
	}
	if len(cr.Starts) != 6 {
		t.Fatalf("%d start rows, want 6 (native, python:3 and nodejs:20, from a stem cell and with nothing warm)", len(cr.Starts))
	}
	for _, s := range cr.Starts {
		if s.Errors > 0 || s.Latency.P50 == 0 || s.InitTime.P50 == 0 {
			t.Errorf("%s from %s: %d errors (%s), p50 %v, initTime p50 %v", s.Kind, s.From, s.Errors, s.FirstError, s.Latency.P50, s.InitTime.P50)
		}
	}
	if len(cr.Loops) != 3 {
		t.Errorf("action loop alone measured for %d kinds, want 3 (native, python:3, nodejs:20)", len(cr.Loops))
	}
	for _, la := range cr.Loops {
		if la.Err != "" || la.Latency.P50 == 0 {
			t.Errorf("%s action loop alone: %q, p50 %v", la.Kind, la.Err, la.Latency.P50)
		}
	}
	if !strings.Contains(out.String(), "cold start, p50") {
		t.Errorf("the table of cold starts and their floors is missing:\n%s", out.String())
	}
	if len(cr.Memory) != 3 {
		t.Errorf("paused memory measured for %d kinds, want 3", len(cr.Memory))
	}
	for _, m := range cr.Memory {
		if m.MeanBytes <= 0 || m.Containers != 5 {
			t.Errorf("paused memory of %s: %+v", m.Kind, m)
		}
	}
	if len(cr.Warm) != 3 {
		t.Errorf("warm rows for %d kinds, want 3", len(cr.Warm))
	}
	for _, w := range cr.Warm {
		if w.Errors > 0 || w.Unpaused.P50 == 0 || w.Resumed.P50 == 0 {
			t.Errorf("warm %s: %+v", w.Kind, w)
		}
	}
	if !strings.Contains(out.String(), "Verdicts, containers") {
		t.Errorf("no verdict table printed")
	}
}

// TestContainerHTTP measures the Python hello world over HTTP through a
// wispd built with -tags seccomp, as measureContainerHTTP does in the
// benchmark, and checks that every invoke answered (no timing is judged).
func TestContainerHTTP(t *testing.T) {
	src, err := findSources()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	// Outside the data directory's tree, as runBench does: libcontainer
	// seals it in place.
	bin := filepath.Join(tmp, "bin", "wispd")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "seccomp", "-o", bin, "./cmd/wispd")
	cmd.Dir = src.repo
	if err := runCmd(cmd, "build wispd"); err != nil {
		t.Fatal(err)
	}
	w, err := startWispd(ctx, bin, tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer w.stop()
	// The plain C module is the control: invoked after the same idle.
	wasm := filepath.Join(tmp, "hello.wasm")
	if err := buildC(ctx, src, wasm); err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.createWasmAction(ctx, nil, "wisp-c", code); err != nil {
		t.Fatal(err)
	}
	fl, err := startFloor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.stop()
	floor := &request{method: http.MethodPost, url: fl.base + floorPath, body: []byte(invokeBody)}
	h := measureContainerHTTP(ctx, w, containerrt.DefaultPauseGrace, 300, 8, "wisp-c", floor)
	if h.Skipped != "" || h.Errors > 0 || h.Unpaused.P50 == 0 || h.Resumed.P50 == 0 || h.ControlIdle.P50 == 0 || h.FloorIdle.P50 == 0 {
		t.Fatalf("python hello over HTTP: %+v\nwispd log:\n%s", h, tail(w.logPath, 20))
	}
	// The server's share of each invoke is within its round trip.
	for _, p := range []struct {
		name       string
		wire, trip summary
	}{{"resumed", h.ResumedWire, h.Resumed}, {"control", h.ControlWire, h.ControlIdle}, {"floor", h.FloorWire, h.FloorIdle}} {
		if p.wire.P50 <= 0 || p.wire.P50 > p.trip.P50 || p.wire.Max > p.trip.Max {
			t.Errorf("%s: request written to first byte %+v, round trip %+v", p.name, p.wire, p.trip)
		}
	}
	var out bytes.Buffer
	printContainers(&out, &containerResults{HTTP: h})
	t.Logf("\n%s", out.String())
}
