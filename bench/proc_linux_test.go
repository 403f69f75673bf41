package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFreshPageCost checks that the fresh-memory row measures something
// (its value is the machine's, never judged here).
func TestFreshPageCost(t *testing.T) {
	if d := freshPageCost(); d <= 0 {
		t.Fatalf("freshPageCost() = %v, want a positive duration", d)
	}
}

// TestIdleCPUs reads the idle policy from sysfs trees of the shapes seen on
// machines: a KVM guest with haltpoll, polling or not, one without, none.
func TestIdleCPUs(t *testing.T) {
	const (
		driver   = "devices/system/cpu/cpuidle/current_driver"
		governor = "devices/system/cpu/cpuidle/current_governor_ro"
		rwGov    = "devices/system/cpu/cpuidle/current_governor"
		poll     = "module/haltpoll/parameters/guest_halt_poll_ns"
	)
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"haltpoll off", map[string]string{driver: "haltpoll\n", governor: "haltpoll\n", poll: "0\n"},
			"cpuidle driver haltpoll, governor haltpoll, no halt polling (guest_halt_poll_ns 0: an idle virtual CPU halts at once)"},
		{"haltpoll 200us", map[string]string{driver: "haltpoll\n", rwGov: "haltpoll\n", poll: "200000\n"},
			"cpuidle driver haltpoll, governor haltpoll, halt polling up to 200µs (guest_halt_poll_ns)"},
		{"bare metal", map[string]string{driver: "intel_idle\n", governor: "menu\n"}, "cpuidle driver intel_idle, governor menu"},
		{"unreadable poll", map[string]string{driver: "haltpoll\n", poll: "x\n"}, "cpuidle driver haltpoll"},
		{"no sysfs", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for path, content := range tt.files {
				full := filepath.Join(root, path)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := idleCPUs(root); got != tt.want {
				t.Errorf("idleCPUs() = %q, want %q", got, tt.want)
			}
		})
	}
}
