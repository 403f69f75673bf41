package container

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	helperOnce sync.Once
	helperPath string
	helperErr  error
)

// helperAnnounce is what the test build of wispd-init writes to stderr
// before the init, so that a container's log shows which init it ran.
const helperAnnounce = "wispd-init-test-build"

// buildHelper builds cmd/wispd-init once per test binary, announcing
// itself (see cmd/wispd-init's announce).
func buildHelper(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wisp-init-helper-")
		if err != nil {
			helperErr = err
			return
		}
		helperPath = filepath.Join(dir, "wispd-init")
		cmd := exec.Command("go", "build", "-tags", "seccomp", "-ldflags", "-X main.announce="+helperAnnounce, "-o", helperPath, "./cmd/wispd-init")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			helperErr = err
			helperPath = string(out)
		}
	})
	if helperErr != nil {
		t.Fatalf("build cmd/wispd-init: %v\n%s", helperErr, helperPath)
	}
	return helperPath
}

func TestInitHelper(t *testing.T) {
	helper := buildHelper(t)
	m, err := NewManager(t.Context(), ManagerConfig{
		StateDir:     filepath.Join(t.TempDir(), "state"),
		CgroupParent: "wisp-test-" + randomHex(4),
		InitHelper:   helper,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	// Twice: the sealed copy serves every start. With network,
	// libcontainer starts the init first and executes the action loop
	// later (Start, then Exec): the helper serves that path too.
	netSpec := testSpec(t, "helped-net")
	netSpec.Network = true
	for _, spec := range []Spec{testSpec(t, "helped-1"), testSpec(t, "helped-2"), netSpec} {
		id := spec.ID
		c, err := m.Start(t.Context(), spec)
		if err != nil {
			t.Fatal(err)
		}
		logs, err := c.Init(t.Context(), InitMessage{Main: "main"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := texts(t, logs); !slices.Contains(got, "stderr: "+helperAnnounce) {
			t.Fatalf("%s: init logs %q: the helper did not run as the container's init", id, got)
		}
		res, _, err := run(t, c, "memfds", 0)
		if err != nil {
			t.Fatal(err)
		}
		if res["memfds"] != "0" {
			t.Fatalf("%s: the action loop holds %v memfd descriptors; the helper's must not reach it", id, res["memfds"])
		}
		res, _, err = run(t, c, "whoami", 0)
		if err != nil {
			t.Fatal(err)
		}
		// The same settings as without the helper: it is the same init.
		if res["uid"] != "65534" || res["capeff"] != "0000000000000000" || res["nnp"] != "1" || res["seccomp"] != "2" {
			t.Fatalf("%s: settings %v", id, res)
		}
		if wantIfaces := map[bool]string{false: "0", true: "1"}[spec.Network]; res["ifaces"] != wantIfaces {
			t.Fatalf("%s: interfaces besides lo: %v, want %s", id, res["ifaces"], wantIfaces)
		}
		if err := c.Destroy(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Without a helper the binary itself is the init, and says nothing.
	c := startInit(t, newTestManager(t), testSpec(t, "unhelped"))
	res, _, err := run(t, c, "memfds", 0)
	if err != nil || res["memfds"] != "0" {
		t.Fatalf("without a helper: %v, %v", res, err)
	}
}

func TestInitHelperRefused(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nothing"), "no such file"},
		{"directory", dir, "not an executable file"},
		{"script", script, "not a Go program"},
		{"not Go", "/bin/busybox", "not a Go program"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewManager(t.Context(), ManagerConfig{StateDir: filepath.Join(t.TempDir(), "state"), InitHelper: tc.path})
			if err == nil || !strings.Contains(err.Error(), "init helper") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewManager: err %v, want one about the init helper saying %q", err, tc.want)
			}
			if err := CheckInitHelper(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckInitHelper: err %v, want one saying %q", err, tc.want)
			}
		})
	}
	if err := CheckInitHelper(buildHelper(t)); err != nil {
		t.Fatalf("CheckInitHelper of cmd/wispd-init: %v", err)
	}
}

func TestModuleVersion(t *testing.T) {
	info := &debug.BuildInfo{Deps: []*debug.Module{
		{Path: "example.com/a", Version: "v1.0.0"},
		{Path: runcModule, Version: "v1.5.2"},
		{Path: "example.com/b", Version: "v0.1.0", Replace: &debug.Module{Path: "../b", Version: ""}},
	}}
	for _, tc := range []struct {
		path string
		info *debug.BuildInfo
		want string
	}{
		{runcModule, info, "v1.5.2"},
		{"example.com/b", info, "../b@"},
		{"example.com/c", info, ""},
		{runcModule, nil, ""},
	} {
		if got := moduleVersion(tc.path, tc.info); got != tc.want {
			t.Errorf("moduleVersion(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
