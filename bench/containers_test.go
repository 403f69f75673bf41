package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
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
	cr, err := measureContainers(ctx, src, t.TempDir(), 3)
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
	if len(cr.Starts) != 4 {
		t.Fatalf("%d start rows, want 4 (native and python:3, from a stem cell and with nothing warm)", len(cr.Starts))
	}
	for _, s := range cr.Starts {
		if s.Errors > 0 || s.Latency.P50 == 0 || s.InitTime.P50 == 0 {
			t.Errorf("%s from %s: %d errors (%s), p50 %v, initTime p50 %v", s.Kind, s.From, s.Errors, s.FirstError, s.Latency.P50, s.InitTime.P50)
		}
	}
	if len(cr.Memory) != 2 {
		t.Errorf("paused memory measured for %d kinds, want 2", len(cr.Memory))
	}
	for _, m := range cr.Memory {
		if m.MeanBytes <= 0 || m.Containers != 5 {
			t.Errorf("paused memory of %s: %+v", m.Kind, m)
		}
	}
	if !strings.Contains(out.String(), "Verdicts, containers") {
		t.Errorf("no verdict table printed")
	}
}
