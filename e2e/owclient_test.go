package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenWhiskClient runs owclient/run.js, which drives wispd through the
// unmodified OpenWhisk JavaScript client (npm "openwhisk", pinned in
// owclient/package.json and package-lock.json).
func TestOpenWhiskClient(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run scripts/deps.sh (go tool task test does)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm is not installed: run scripts/deps.sh (go tool task test does)")
	}
	dir, err := filepath.Abs("owclient")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// npm ci installs exactly the locked versions; it needs the registry
	// or npm's cache. It is skipped when node_modules is already what the
	// lock file says (npm writes node_modules/.package-lock.json).
	if !installed(dir) {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}

	a := shared(t).namespace(t)
	cmd := exec.CommandContext(ctx, node, "run.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "APIHOST="+a.url, "AUTH="+a.auth, "WASM="+wasmPath("hello"), "ACTION=owhello")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node run.js: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

// installed reports whether dir/node_modules holds what package-lock.json
// locks.
func installed(dir string) bool {
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	hidden, err := os.ReadFile(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false
	}
	// The hidden lock lists the same packages with the same versions and
	// integrity hashes; comparing the "packages" lines is enough here.
	return packagesOf(lock) == packagesOf(hidden)
}

func packagesOf(lock []byte) string {
	var b strings.Builder
	for _, line := range strings.Split(string(lock), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, `"integrity"`) {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
