package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wispfaas/wisp/daemon"
	"github.com/wispfaas/wisp/wasmrt"
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

// TestWasmMemoryBounds: the Wasm memory bounds' defaults are wasmrt's and
// reach the daemon's configuration, as does the compilation cache's; a bad
// size is refused with the flag's name.
func TestWasmMemoryBounds(t *testing.T) {
	o := defaultOptions()
	if err := o.check(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	cfg, err := o.config(daemon.RoleAll)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WasmCompiledBytes != wasmrt.DefaultCompiledMemory || cfg.WasmIdleBytes != wasmrt.DefaultIdleMemory {
		t.Errorf("defaults %d and %d, want wasmrt's %d and %d", cfg.WasmCompiledBytes, cfg.WasmIdleBytes, wasmrt.DefaultCompiledMemory, wasmrt.DefaultIdleMemory)
	}
	if cfg.WasmCacheBytes != 2<<30 {
		t.Errorf("the compilation cache's bound is %d by default, want 2GiB as --help says", cfg.WasmCacheBytes)
	}
	for _, tc := range []struct {
		compiled, idle string
		wantErr        string // "" for none
	}{
		{"2GiB", "64MiB", ""},
		{"1MiB", "1.5GiB", ""},
		{"lots", "512MiB", `--wasm-compiled-memory: "lots" is not a size`},
		{"512MiB", "0", `--wasm-idle-memory: "0" is not a size`},
		{"512MiB", "-1GiB", `--wasm-idle-memory: "-1GiB" is not a size`},
		{"512KiB", "512MiB", "--wasm-compiled-memory must be at least 1MiB, not 512KiB"},
	} {
		o := defaultOptions()
		o.wasmCompiled, o.wasmIdle = tc.compiled, tc.idle
		err := o.check()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s, %s: %v", tc.compiled, tc.idle, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s, %s: error %v, want one containing %q", tc.compiled, tc.idle, err, tc.wantErr)
		}
	}
}
