package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// wasmModule is one Wasm hello world the benchmark builds and measures:
// over HTTP through wispd (a row of the main table) and in-process on
// wasmrt (a row of the in-process table).
type wasmModule struct {
	Name string `json:"name"` // the row and the action's name
	What string `json:"what"`
	Form string `json:"form"` // "command" or "reactor" (docs/wasm-abi.md)
	// InProcessTarget is the in-process warm p50 the module should meet;
	// 0 means none is set for it.
	InProcessTarget time.Duration `json:"inprocess_target_ns,omitempty"`
	Bytes           int           `json:"bytes,omitempty"`
	BuildTime       time.Duration `json:"build_ns,omitempty"`
	// Skipped says why the module was not built (an SDK example not
	// written yet, a build failure).
	Skipped string `json:"skipped,omitempty"`

	path  string // the built module
	build func(ctx context.Context, src sources, out string) error
	code  []byte
}

// wasmModules lists the modules: the two plain commands of bench/modules,
// then the hello example of each SDK built in its reactor form.
func wasmModules() []*wasmModule {
	return []*wasmModule{
		{Name: "wisp-c", What: "plain C command, bench/modules/hello.c (clang -O2)", Form: "command",
			InProcessTarget: 50 * time.Microsecond, build: buildC},
		{Name: "wisp-go", What: "plain Go command, bench/modules/gohello (GOOS=wasip1)", Form: "command", build: buildGo},
		{Name: "sdk-c", What: "C SDK, sdk/c/examples/hello (reactor: -DWISP_REACTOR -mexec-model=reactor)", Form: "reactor",
			InProcessTarget: 50 * time.Microsecond, build: buildSDKC},
		{Name: "sdk-go", What: "Go SDK, sdk/go/examples/hello (reactor: -buildmode=c-shared)", Form: "reactor",
			InProcessTarget: 100 * time.Microsecond, build: buildSDKGo},
		{Name: "sdk-as", What: "AssemblyScript SDK, sdk/assemblyscript/examples/hello (npm run build)", Form: "reactor",
			InProcessTarget: 50 * time.Microsecond, build: buildSDKAS},
	}
}

// buildModules builds every module into dir. A module that cannot be built
// is marked skipped with the reason; only an interruption is an error.
func buildModules(ctx context.Context, src sources, dir string, mods []*wasmModule) error {
	for _, m := range mods {
		m.path = filepath.Join(dir, m.Name+".wasm")
		progress("building %s: %s…", m.Name, m.What)
		start := time.Now()
		err := m.build(ctx, src, m.path)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			m.code, err = os.ReadFile(m.path)
		}
		if err != nil {
			m.Skipped = err.Error()
			progress("  %s skipped: %s", m.Name, firstLine(m.Skipped))
			continue
		}
		m.BuildTime = time.Since(start)
		m.Bytes = len(m.code)
	}
	return nil
}

// errNotWritten marks an SDK example that is not in the tree (yet).
var errNotWritten = errors.New("not in the tree yet")

// needFiles checks that the files an example build needs exist.
func needFiles(dir string, names ...string) error {
	for _, n := range names {
		if !fileExists(filepath.Join(dir, n)) {
			return fmt.Errorf("%s: %w", filepath.Join(dir, n), errNotWritten)
		}
	}
	return nil
}

// clangWasm is clang for wasm32-wasi, or an error saying what to install.
func clangWasm() (string, error) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		return "", errors.New("clang not found: install Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 (scripts/deps.sh)")
	}
	return clang, nil
}

// buildSDKC compiles the C SDK's hello example in the reactor form, as
// sdk/c/wisp.h documents: clang --target=wasm32-wasi --sysroot=/usr -O2
// -I sdk/c -DWISP_REACTOR -mexec-model=reactor.
func buildSDKC(ctx context.Context, src sources, out string) error {
	sdk := filepath.Join(src.repo, "sdk", "c")
	ex := filepath.Join(sdk, "examples", "hello")
	if err := needFiles(sdk, "wisp.h", filepath.Join("examples", "hello", "hello.c")); err != nil {
		return err
	}
	clang, err := clangWasm()
	if err != nil {
		return err
	}
	cfiles, _ := filepath.Glob(filepath.Join(ex, "*.c"))
	args := append([]string{"--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-I", sdk,
		"-DWISP_REACTOR", "-mexec-model=reactor", "-o", out}, cfiles...)
	return runCmd(exec.CommandContext(ctx, clang, args...), "build the C SDK example (reactor)")
}

// buildSDKGo builds the Go SDK's hello example in the reactor form:
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared. The example is a
// module of its own that replaces the SDK with its directory.
func buildSDKGo(ctx context.Context, src sources, out string) error {
	ex := filepath.Join(src.repo, "sdk", "go", "examples", "hello")
	if err := needFiles(ex, "go.mod", "main.go"); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = ex
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOWORK=off")
	return runCmd(cmd, "build the Go SDK example (reactor)")
}

// buildSDKAS builds the AssemblyScript SDK's hello example with npm, the
// way its package.json says (npm ci, npm run build → build/hello.wasm).
// npm writes node_modules and build/ where it runs, and the SDK is other
// engineers' folder: so the SDK (sources only, without node_modules and
// build outputs) is copied into a directory beside out and built there.
// The example depends on the SDK as "file:../..", which the copy keeps.
//
// npm ci and asc take 20–40 s on two busy cores, so the module is kept in
// the cache directory under a digest of the sources and of node's version,
// and built again only when one of them changes (as Go's build cache
// does for the Go modules).
func buildSDKAS(ctx context.Context, src sources, out string) error {
	sdk := filepath.Join(src.repo, "sdk", "assemblyscript")
	rel := filepath.Join("examples", "hello")
	if err := needFiles(sdk, "package.json", filepath.Join(rel, "package.json"), filepath.Join(rel, "asconfig.json")); err != nil {
		return err
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("npm not found (scripts/deps.sh installs it)")
	}
	nodeVersion, _ := exec.CommandContext(ctx, "node", "--version").Output()
	key, err := treeDigest(sdk, "node "+strings.TrimSpace(string(nodeVersion)))
	if err != nil {
		return fmt.Errorf("read the AssemblyScript SDK: %w", err)
	}
	var cached string
	if dir, err := os.UserCacheDir(); err == nil {
		cached = filepath.Join(dir, "wisp-bench", "assemblyscript", key[:32]+".wasm")
		if b, err := os.ReadFile(cached); err == nil {
			progress("  sdk-as: sources unchanged since an earlier run: using its build, %s", cached)
			return os.WriteFile(out, b, 0o644)
		}
	}
	work := strings.TrimSuffix(out, ".wasm") + "-src"
	if err := copySources(sdk, work); err != nil {
		return fmt.Errorf("copy the AssemblyScript SDK: %w", err)
	}
	ex := filepath.Join(work, rel)
	install := []string{"install", "--no-audit", "--no-fund", "--loglevel=error"}
	if fileExists(filepath.Join(ex, "package-lock.json")) {
		install[0] = "ci" // exactly the versions the example pins
	}
	cmd := exec.CommandContext(ctx, npm, install...)
	cmd.Dir = ex
	if err := runCmd(cmd, "install the AssemblyScript example's dependencies"); err != nil {
		return err
	}
	cmd = exec.CommandContext(ctx, npm, "run", "build")
	cmd.Dir = ex
	if err := runCmd(cmd, "build the AssemblyScript example"); err != nil {
		return err
	}
	wasm, err := newestWasm(filepath.Join(ex, "build"))
	if err != nil {
		return err
	}
	b, err := os.ReadFile(wasm)
	if err != nil {
		return err
	}
	if cached != "" && os.MkdirAll(filepath.Dir(cached), 0o755) == nil {
		tmp := cached + ".tmp"
		if os.WriteFile(tmp, b, 0o644) == nil {
			_ = os.Rename(tmp, cached)
		}
	}
	return os.WriteFile(out, b, 0o644)
}

// treeDigest is a hex SHA-256 of the files copySources would copy from
// dir (their paths and contents) and of extra.
func treeDigest(dir, extra string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", extra)
	err := walkSources(dir, func(rel string, d fs.DirEntry) error {
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// walkSources calls f for every directory and regular file under dir
// (paths relative to it, in lexical order), leaving out node_modules,
// build outputs and VCS directories.
func walkSources(dir string, f func(rel string, d fs.DirEntry) error) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() && rel != "." {
			switch d.Name() {
			case "node_modules", "build", ".git":
				return filepath.SkipDir
			}
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil // symlinks and the like: npm makes its own
		}
		return f(rel, d)
	})
}

// copySources copies the tree at from into to, as walkSources walks it.
func copySources(from, to string) error {
	return walkSources(from, func(rel string, d fs.DirEntry) error {
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(filepath.Join(from, rel))
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
}

// newestWasm returns the most recently written .wasm file in dir, leaving
// out debug builds.
func newestWasm(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("the build wrote no %s: %w", dir, err)
	}
	var best string
	var bestTime time.Time
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".wasm") || strings.Contains(name, ".debug.") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if best == "" || info.ModTime().After(bestTime) {
			best, bestTime = filepath.Join(dir, name), info.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("the build wrote no .wasm file in %s", dir)
	}
	return best, nil
}
