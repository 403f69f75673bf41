package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/wispfaas/wisp/internal/wasmtest"
	"github.com/wispfaas/wisp/metrics"
	"github.com/wispfaas/wisp/wasmrt"
)

func TestFreshCopyIsValidAndNew(t *testing.T) {
	ctx := context.Background()
	rt, err := wasmrt.New(ctx, wasmrt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	m := &wasmModule{Name: "minimal", code: wasmtest.MinimalCommand}
	a, b := freshCopy(m), freshCopy(m)
	digest := func(x []byte) string { s := sha256.Sum256(x); return "sha256:" + hex.EncodeToString(s[:]) }
	if digest(a) == digest(b) || digest(a) == digest(wasmtest.MinimalCommand) {
		t.Fatal("fresh copies share a digest")
	}
	for _, code := range [][]byte{wasmtest.MinimalCommand, a} {
		if err := rt.Validate(ctx, digest(code), code); err != nil {
			t.Errorf("Validate: %v", err)
		}
		out := rt.Run(ctx, wasmrt.Code{Digest: digest(code)}, wasmrt.Invocation{})
		// It writes no result, which is an action error, not a broken module.
		if _, isAction := out.Err.(*wasmrt.ActionError); !isAction {
			t.Errorf("Run: %v, want an action error (no result)", out.Err)
		}
	}
}

func TestActivationBetween(t *testing.T) {
	// snap is the three histograms after observing, in order, activations
	// of the given waits, runs and inits (0: found an instance ready).
	type act struct{ wait, run, init time.Duration }
	snap := func(acts ...act) activationHistograms {
		w, i, d := metrics.NewHistogram(metrics.DefaultBuckets), metrics.NewHistogram(metrics.DefaultBuckets), metrics.NewHistogram(metrics.DefaultBuckets)
		for _, a := range acts {
			w.Observe(a.wait)
			d.Observe(a.run)
			if a.init > 0 {
				i.Observe(a.init)
			}
		}
		return activationHistograms{Wait: w.Snapshot(), Init: i.Snapshot(), Duration: d.Snapshot()}
	}
	earlier := []act{{3 * time.Microsecond, 200 * time.Microsecond, 0}, {time.Millisecond, 7 * time.Millisecond, 6 * time.Millisecond}}
	first := act{12 * time.Microsecond, 410 * time.Microsecond, 0}
	cold := act{20 * time.Microsecond, 9 * time.Millisecond, 8 * time.Millisecond}
	for _, tc := range []struct {
		name          string
		before, after activationHistograms
		want          *inWispd
	}{
		{"one activation", snap(earlier...), snap(append(earlier, first)...), &inWispd{Wait: first.wait, Run: first.run}},
		{"one that made an instance", snap(earlier...), snap(append(earlier, cold)...), &inWispd{Wait: cold.wait, Run: cold.run, Init: cold.init}},
		{"none", snap(earlier...), snap(earlier...), nil},
		{"two", snap(earlier...), snap(append(earlier, first, cold)...), nil},
		{"counts reset by a restart", snap(earlier...), snap(first), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := activationBetween(tc.before, tc.after)
			if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
				t.Errorf("activationBetween = %+v, want %+v", got, tc.want)
			}
		})
	}
}
