package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// sources are where the benchmark finds what it builds.
type sources struct {
	repo  string // the module root, where ./cmd/wispd is
	bench string // this directory, with modules/
}

// findSources locates bench/ and the repository: from this file's path as
// compiled (go run ./bench), else from the working directory (the
// repository root or bench/ itself).
func findSources() (sources, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		candidates = append(candidates, filepath.Join(wd, "bench"), wd)
	}
	for _, dir := range candidates {
		if fileExists(filepath.Join(dir, "modules", "hello.c")) && fileExists(filepath.Join(dir, "..", "go.mod")) {
			return sources{repo: filepath.Dir(dir), bench: dir}, nil
		}
	}
	return sources{}, errors.New("cannot find bench/modules/hello.c: run the benchmark from the repository root (go run ./bench)")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// buildWispd builds ./cmd/wispd into out, and ./cmd/wispd-init beside it
// (wispd runs it as its containers' init), as "go tool task build" does.
func buildWispd(ctx context.Context, src sources, out string) error {
	// -tags seccomp: containers get their seccomp filter (package container).
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "seccomp", "-o", out, "./cmd/wispd")
	cmd.Dir = src.repo
	if err := runCmd(cmd, "build wispd"); err != nil {
		return err
	}
	cmd = exec.CommandContext(ctx, "go", "build", "-tags", "seccomp", "-o", filepath.Join(filepath.Dir(out), "wispd-init"), "./cmd/wispd-init")
	cmd.Dir = src.repo
	return runCmd(cmd, "build wispd-init")
}

// buildC compiles modules/hello.c into a WASI command module.
func buildC(ctx context.Context, src sources, out string) error {
	clang, err := clangWasm()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2",
		"-o", out, filepath.Join(src.bench, "modules", "hello.c"))
	return runCmd(cmd, "build the C module (needs scripts/deps.sh)")
}

// buildGo builds modules/gohello, a module of its own, for GOOS=wasip1.
func buildGo(ctx context.Context, src sources, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join(src.bench, "modules", "gohello")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOWORK=off")
	return runCmd(cmd, "build the Go module")
}

// runCmd runs cmd and returns its output with the error when it fails.
func runCmd(cmd *exec.Cmd, what string) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %s: %w\n%s", what, strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
