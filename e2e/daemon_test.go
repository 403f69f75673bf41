package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runWispd runs wispd with args to completion and returns its exit code
// and stderr.
func runWispd(t testing.TB, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wispdBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	}
	t.Fatalf("wispd %q: %v", args, err)
	return 0, ""
}

// TestWispdRefuses: wispd refuses bad settings with exit code 2 and a
// message, before starting anything.
func TestWispdRefuses(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"capacity 0", []string{"--invoker-capacity", "0"}, "invoker-capacity"},
		{"retention 1s", []string{"--activation-retention", "1s"}, "activation-retention"},
		{"record store of 10KiB", []string{"--activation-store-size", "10KiB"}, "activation-store-size"},
		{"record store of lots", []string{"--activation-store-size", "lots"}, "activation-store-size"},
		{"compiled Wasm of 64KiB", []string{"--wasm-compiled-memory", "64KiB"}, "wasm-compiled-memory"},
		{"idle Wasm of lots", []string{"--wasm-idle-memory", "lots"}, "wasm-idle-memory"},
		{"Wasm cache of 0", []string{"--wasm-cache-size", "0"}, "wasm-cache-size"},
		{"unknown log level", []string{"--log-level", "loud"}, "log-level"},
		{"unknown flag", []string{"--no-such-flag"}, "no-such-flag"},
		{"malformed guest key", []string{"--guest-auth", "not-a-key"}, "guest-auth"},
		{"stray argument", []string{"stray-argument"}, "stray-argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runWispd(t, append(tc.args, "--data", data, "--listen", "127.0.0.1:0")...)
			if code != 2 || !strings.Contains(stderr, tc.says) {
				t.Errorf("wispd %q: exit code %d, stderr %q; want exit code 2 (a usage error) and a mention of %q", tc.args, code, stderr, tc.says)
			}
			if strings.Contains(stderr, "started") {
				t.Errorf("wispd %q started parts before refusing its settings: %q", tc.args, stderr)
			}
		})
	}
}

// TestWispdPortInUse: a taken port is a clear error, not a hang.
func TestWispdPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, stderr := runWispd(t, "--data", filepath.Join(t.TempDir(), "data"), "--listen", ln.Addr().String())
	if code == 0 || !strings.Contains(stderr, ln.Addr().String()) {
		t.Errorf("wispd on a taken port: exit code %d, stderr %q", code, stderr)
	}
}
