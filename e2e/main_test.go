package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The built artefacts, set by TestMain.
var (
	binDir   string // holds wispd, wisp and <action>.wasm
	wispdBin string
	wispBin  string
	// wispBuildErr is why the wisp CLI did not build, if it did not: only
	// the CLI tests fail then.
	wispBuildErr error
)

// wasmActions are the test actions under testdata/, built as WASI commands.
var wasmActions = []string{"hello", "loop", "exit3", "trap", "notjson", "alloc", "sleep"}

// reactorAction is built with -buildmode=c-shared: a module without _start.
const reactorAction = "reactor"

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "wisp-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	binDir = dir
	start := time.Now()
	if err := buildAll(dir); err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "e2e: built wispd, wisp and %d Wasm actions in %s\n", len(wasmActions)+1, time.Since(start).Round(time.Millisecond))
	// The container tests run in the runtimes wispd finds by default:
	// build those missing or out of date (quick when they are current).
	start = time.Now()
	build := exec.Command(wispdBin, "runtimes", "build")
	for _, kv := range os.Environ() { // as launch: the default directory
		if !strings.HasPrefix(kv, "WISP_") {
			build.Env = append(build.Env, kv)
		}
	}
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("wispd runtimes build: %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "e2e: container runtimes ready in %s\n", time.Since(start).Round(time.Millisecond))
	code := m.Run()
	stopShared(code != 0)
	return code, nil
}

// moduleRoot is the directory of the main module (the parent of e2e/).
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return filepath.Dir(wd), nil
}

// buildAll builds the binaries and the Wasm actions into dir, a few at a
// time (the machine has few cores and other work to do).
func buildAll(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	wispdBin = filepath.Join(dir, "wispd")
	wispBin = filepath.Join(dir, "wisp")
	type job struct {
		name string
		cmd  *exec.Cmd
	}
	gobuild := func(wd string, env []string, args ...string) *exec.Cmd {
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Dir = wd
		cmd.Env = append(os.Environ(), env...)
		return cmd
	}
	wasmEnv := []string{"GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "CGO_ENABLED=0"}
	jobs := []job{
		// The seccomp tag gives containers their seccomp filter (see
		// containerrt/container); without it wispd runs wasm only.
		{"wispd", gobuild(root, nil, "-tags", "seccomp", "-o", wispdBin, "./cmd/wispd")},
		// Beside wispd, as "go tool task build" installs it: wispd's
		// containers run it as their init.
		{"wispd-init", gobuild(root, nil, "-tags", "seccomp", "-o", filepath.Join(dir, "wispd-init"), "./cmd/wispd-init")},
		{"wisp", gobuild(root, nil, "-o", wispBin, "./cmd/wisp")},
	}
	for _, name := range wasmActions {
		jobs = append(jobs, job{name, gobuild(filepath.Join(root, "e2e", "testdata", name), wasmEnv,
			"-trimpath", "-o", filepath.Join(dir, name+".wasm"), ".")})
	}
	jobs = append(jobs, job{reactorAction, gobuild(filepath.Join(root, "e2e", "testdata", reactorAction), wasmEnv,
		"-trimpath", "-buildmode=c-shared", "-o", filepath.Join(dir, reactorAction+".wasm"), ".")})

	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := map[string]string{}
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var out bytes.Buffer
			j.cmd.Stdout, j.cmd.Stderr = &out, &out
			if err := j.cmd.Run(); err != nil {
				mu.Lock()
				failed[j.name] = fmt.Sprintf("%v\n%s", err, out.String())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if msg, ok := failed["wisp"]; ok {
		// The CLI may be under construction: only its tests fail.
		wispBuildErr = fmt.Errorf("go build ./cmd/wisp: %s", msg)
		delete(failed, "wisp")
	}
	if len(failed) > 0 {
		var names []string
		for n := range failed {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "build %s: %s\n", n, failed[n])
		}
		return fmt.Errorf("%s", b.String())
	}
	return nil
}

// wasmPath is the path of a built test action.
func wasmPath(name string) string { return filepath.Join(binDir, name+".wasm") }
