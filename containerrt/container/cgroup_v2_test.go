package container

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"github.com/wispfaas/wisp/internal/syncbuf"
)

// TestFreezerV2 runs the cgroup v2 freezer code (cgroup.freeze written,
// cgroup.events polled) against the kernel's own cgroup v2. A host in v1
// mode, like the one the tests were written on, can still mount the v2
// hierarchy elsewhere: its freezer is part of the core, not a controller,
// so it works there while the controllers stay with v1. A process that
// writes without pause stops writing while frozen and goes on once thawed.
func TestFreezerV2(t *testing.T) {
	dir := t.TempDir()
	if cgroups.IsCgroup2UnifiedMode() {
		dir = "/sys/fs/cgroup"
	} else if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		t.Fatalf("mount a cgroup v2 hierarchy at %s (as root): %v", dir, err)
	} else {
		t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	}
	cg := filepath.Join(dir, "wisp-freezer-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(cg) })

	// A writer that never sleeps, counted through a pipe.
	cmd := exec.Command("/bin/sh", "-c", "while :; do echo x; done")
	var out syncbuf.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(cg, "cgroup.freeze"), []byte("0"), 0)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0); err != nil {
		t.Fatalf("move the writer into %s: %v", cg, err)
	}

	// Twice: with the freezer's files opened for each use, and kept open
	// as a container's are.
	for _, keptOpen := range []bool{false, true} {
		t.Run(map[bool]string{false: "by name", true: "kept open"}[keptOpen], func(t *testing.T) {
			c := cgroupFiles{v2: true, memory: cg, freezer: cg, pids: cg}
			if keptOpen {
				c.openFreezer()
				defer c.close()
				if c.state == nil || c.events == nil {
					t.Fatal("the freezer's files were not opened")
				}
			}
			freezeAndThaw(t, c, &out)
		})
	}
}

// freezeAndThaw freezes c, checks that the writer stops writing to out,
// thaws c and checks that it goes on.
func freezeAndThaw(t *testing.T, c cgroupFiles, out *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if frozen, err := c.frozen(); err != nil || frozen {
		t.Fatalf("frozen before freezing: %v, %v", frozen, err)
	}
	if err := c.freeze(ctx); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	if frozen, err := c.frozen(); err != nil || !frozen {
		t.Fatalf("frozen after freeze: %v, %v", frozen, err)
	}
	time.Sleep(50 * time.Millisecond) // what was in flight is read
	before := out.Len()
	time.Sleep(200 * time.Millisecond)
	if after := out.Len(); after != before {
		t.Fatalf("the frozen writer wrote %d bytes", after-before)
	}
	if err := c.thaw(); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	if frozen, err := c.frozen(); err != nil || frozen {
		t.Fatalf("frozen after thaw: %v, %v", frozen, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.Len() == before {
		if time.Now().After(deadline) {
			t.Fatal("the thawed writer wrote nothing in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
