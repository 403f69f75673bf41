package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testRootfs is a tiny root filesystem: Debian's static busybox with its
// applets, and testdata/loop.sh as the action loop.
var testRootfs string

func TestMain(m *testing.M) {
	MaybeInit()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wisp-container-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testRootfs = filepath.Join(dir, "rootfs")
	if err := buildRootfs(testRootfs); err != nil {
		fmt.Fprintln(os.Stderr, "build the test rootfs (is busybox-static installed? see scripts/deps.sh):", err)
		return 1
	}
	return m.Run()
}

func buildRootfs(root string) error {
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "action", "wisp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	if err := copyFile("/bin/busybox", filepath.Join(root, "bin/busybox"), 0o755); err != nil {
		return err
	}
	for _, a := range []string{"sh", "cat", "echo", "head", "tr", "sleep", "touch", "id", "awk", "grep",
		"tail", "hostname", "unshare", "printf", "dd", "ls", "true", "ip", "nc", "sed"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			return err
		}
	}
	return copyFile("testdata/loop.sh", filepath.Join(root, "wisp/loop.sh"), 0o755)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newTestManager makes a Manager on a fresh state directory and cgroup
// parent, closed at the end of the test.
func newTestManager(t *testing.T) *Manager {
	t.Helper()
	m, err := NewManager(t.Context(), ManagerConfig{
		StateDir:     filepath.Join(t.TempDir(), "state"),
		CgroupParent: "wisp-test-" + randomHex(4),
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m
}

// actionDir is a world-readable /action with one file in it.
func actionDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "code.txt"), []byte("the code"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func testSpec(t *testing.T, id string) Spec {
	return Spec{
		ID:        id,
		Rootfs:    testRootfs,
		Args:      []string{"/bin/sh", "/wisp/loop.sh"},
		Env:       []string{"PATH=/bin"},
		Cwd:       "/action",
		ActionDir: actionDir(t),
		MemoryMB:  64,
	}
}

// startInit starts a container from spec and initialises it.
func startInit(t *testing.T, m *Manager, spec Spec) *Container {
	t.Helper()
	c, err := m.Start(t.Context(), spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = c.Destroy(context.Background()) })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := c.Init(ctx, InitMessage{Main: "main"}, 0); err != nil {
		t.Fatalf("init: %v", err)
	}
	return c
}

// run runs one activation with {"do": what} and a generous time limit.
func run(t *testing.T, c *Container, what string, logLimit int) (map[string]any, []string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, logs, err := c.Run(ctx, RunMessage{Value: json.RawMessage(`{"do":"` + what + `"}`), ActivationID: "a1"}, logLimit)
	if err != nil {
		return nil, logs, err
	}
	var out map[string]any
	if err := json.Unmarshal(res, &out); err != nil {
		t.Fatalf("result %s: %v", res, err)
	}
	return out, logs, nil
}
