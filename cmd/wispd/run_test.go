package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestSetGCPercent checks wispd's default for Go's collector, and that
// GOGC in the environment wins over it.
func TestSetGCPercent(t *testing.T) {
	restore := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(restore) })

	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	if got := setGCPercent(); got != "200" {
		t.Errorf("without GOGC: %q, want 200", got)
	}
	if prev := debug.SetGCPercent(100); prev != defaultGCPercent {
		t.Errorf("without GOGC the collector runs at %d, want %d", prev, defaultGCPercent)
	}

	t.Setenv("GOGC", "50")
	if got := setGCPercent(); got != "50" {
		t.Errorf("with GOGC=50: %q, want 50", got)
	}
	if prev := debug.SetGCPercent(100); prev != 100 {
		t.Errorf("with GOGC set, wispd changed the collector's setting to %d", prev)
	}
}
