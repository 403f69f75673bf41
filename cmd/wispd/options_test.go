package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolveInitHelper(t *testing.T) {
	withHelper := t.TempDir()
	exe := filepath.Join(withHelper, "wispd")
	helper := filepath.Join(withHelper, initHelperName)
	if err := os.WriteFile(helper, []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	without := filepath.Join(t.TempDir(), "wispd")
	dirHelper := t.TempDir()
	if err := os.Mkdir(filepath.Join(dirHelper, initHelperName), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, flag, exe, want string
	}{
		{"beside", "", exe, helper},
		{"none beside", "", without, ""},
		{"a directory of that name", "", filepath.Join(dirHelper, "wispd"), ""},
		{"unknown executable", "", "", ""},
		{"none", "none", exe, ""},
		{"given", "/opt/wisp/wispd-init", exe, "/opt/wisp/wispd-init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolveInitHelper(tc.flag, tc.exe); got != tc.want {
				t.Fatalf("resolveInitHelper(%q, %q) = %q, want %q", tc.flag, tc.exe, got, tc.want)
			}
		})
	}
}
