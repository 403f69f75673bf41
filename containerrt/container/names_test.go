package container

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		name       string
		id, cgroup bool // valid as a container id, as a cgroup parent
	}{
		{"wisp-0a1b2c3d4e5f", true, true},
		{"a", true, true},
		{strings.Repeat("a", 64), true, true},
		{strings.Repeat("a", 65), false, true},
		{strings.Repeat("a", 128), false, true},
		{strings.Repeat("a", 129), false, false},
		{"-a", false, true},
		{"Wisp", false, true},
		{"wisp_test.1", false, true},
		{"", false, false},
		{"a/b", false, false},
		{"a b", false, false},
		{"wisp-é", false, false},
		{"a\x00", false, false},
		{freezerSentinel, false, true}, // beside the containers, never one of them
	}
	for _, tt := range tests {
		if got := validID(tt.name); got != tt.id {
			t.Errorf("validID(%q) = %v, want %v", tt.name, got, tt.id)
		}
		if got := validCgroupName(tt.name); got != tt.cgroup {
			t.Errorf("validCgroupName(%q) = %v, want %v", tt.name, got, tt.cgroup)
		}
	}
}

func TestHolds(t *testing.T) {
	tests := []struct {
		parent, dir string
		want        bool
	}{
		{"/opt/wisp", "/opt/wisp/data/containers", true},
		{"/opt/wisp", "/opt/wisp", true},
		{"/", "/var/lib/wisp/containers", true},
		{"/opt/wisp/data/containers", "/opt/wisp", false},
		{"/work/bin", "/work/wisp-data/containers", false},
		{"/usr/local/bin", "/var/lib/wisp/containers", false},
		{"/opt/wisp", "/opt/wisp-data/containers", false}, // a prefix, not a parent
	}
	for _, tt := range tests {
		if got := holds(tt.parent, tt.dir); got != tt.want {
			t.Errorf("holds(%q, %q) = %v, want %v", tt.parent, tt.dir, got, tt.want)
		}
	}
}
