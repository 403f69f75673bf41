package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWorkerdConfigNamesTheSocketAndTheWorker(t *testing.T) {
	cfg := workerdConfig("127.0.0.1:4567")
	for _, want := range []string{
		`using Workerd = import "/workerd/workerd.capnp";`,
		`const config :Workerd.Config = (`,
		`address = "127.0.0.1:4567", http = (), service = "hello"`,
		`worker = .helloWorker`,
		`esModule = embed "worker.js"`,
		`compatibilityDate = "` + workerdCompatibilityDate + `"`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Count(cfg, "(") != strings.Count(cfg, ")") || strings.Count(cfg, "[") != strings.Count(cfg, "]") {
		t.Errorf("unbalanced config:\n%s", cfg)
	}
}

func TestWorkerdJSAnswersLikeTheActions(t *testing.T) {
	for _, want := range []string{"export default", "request.json()", "Response.json({ greeting: `Hello, ${name}!` })", `"pong"`} {
		if !strings.Contains(workerdJS, want) {
			t.Errorf("worker.js lacks %q:\n%s", want, workerdJS)
		}
	}
}

func TestWorkerdPlatformPackage(t *testing.T) {
	tests := []struct{ goos, goarch, want string }{
		{"linux", "amd64", "@cloudflare/workerd-linux-64"},
		{"linux", "arm64", "@cloudflare/workerd-linux-arm64"},
		{"darwin", "arm64", "@cloudflare/workerd-darwin-arm64"},
		{"darwin", "amd64", "@cloudflare/workerd-darwin-64"},
		{"windows", "amd64", "@cloudflare/workerd-windows-64"},
		{"linux", "riscv64", ""},
		{"freebsd", "amd64", ""},
	}
	for _, tt := range tests {
		got, err := workerdPlatformPackage(tt.goos, tt.goarch)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("workerdPlatformPackage(%s, %s) = %q, %v; want %q", tt.goos, tt.goarch, got, err, tt.want)
		}
	}
}

func TestWorkerdBinaryInPrefersThePlatformPackage(t *testing.T) {
	dir := t.TempDir()
	if got := workerdBinaryIn(dir, "linux", "amd64"); got != "" {
		t.Fatalf("empty prefix: got %q", got)
	}
	write := func(rel string, mode os.FileMode) string {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	launcher := write("node_modules/workerd/bin/workerd", 0o755)
	if got := workerdBinaryIn(dir, "linux", "amd64"); got != launcher {
		t.Errorf("only the launcher: got %q, want %q", got, launcher)
	}
	write("node_modules/@cloudflare/workerd-linux-64/bin/workerd", 0o644) // not executable
	if got := workerdBinaryIn(dir, "linux", "amd64"); got != launcher {
		t.Errorf("a non-executable platform binary was taken: %q", got)
	}
	native := write("node_modules/@cloudflare/workerd-linux-64/bin/workerd", 0o755)
	if err := os.Chmod(native, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := workerdBinaryIn(dir, "linux", "amd64"); got != native {
		t.Errorf("got %q, want the platform package's %q", got, native)
	}
}

// TestWorkerdCacheDirFollowsXDG: on Linux (Wisp's only platform) the
// cache directory is $XDG_CACHE_HOME's.
func TestWorkerdCacheDirFollowsXDG(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/somewhere/cache")
	got, err := workerdCacheDir("1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("/somewhere/cache", "wisp-bench", "workerd", "1.2.3"); got != want {
		t.Errorf("workerdCacheDir = %q, want %q", got, want)
	}
}
