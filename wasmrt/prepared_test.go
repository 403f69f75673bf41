package wasmrt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispfaas/wisp/internal/wasmtest"
)

// echoCommand is a raw command that writes {"ok":true}.
func echoCommand() []byte { return command(writeData, `{"ok":true}`).encode() }

// countingCode is code whose loads are counted; with fail set, loading
// fails.
func countingCode(wasm []byte, loads *atomic.Int32, fail bool) Code {
	return Code{Digest: digestOf(wasm), Load: func(context.Context) ([]byte, error) {
		loads.Add(1)
		if fail {
			return nil, errors.New("the code store must not be asked")
		}
		return wasm, nil
	}}
}

// TestPreparedModulesSurviveARestart: a restarted Runtime with the same
// cache directory compiles the module it prepared before without loading
// it again, and a damaged prepared file falls back to the original.
func TestPreparedModulesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	wasm := echoCommand()
	var loads atomic.Int32
	ctx := context.Background()

	r1 := newRuntime(t, Config{CacheDir: dir})
	if out := r1.Run(ctx, countingCode(wasm, &loads, false), Invocation{}); out.Err != nil || string(out.Result) != `{"ok":true}` {
		t.Fatalf("first runtime: %s, %v", out.Result, out.Err)
	}
	path := r1.preparedPath(digestOf(wasm))
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no prepared module kept: %v", err)
	}
	_ = r1.Close(ctx)

	r2 := newRuntime(t, Config{CacheDir: dir})
	out := r2.Run(ctx, countingCode(wasm, &loads, true), Invocation{})
	if out.Err != nil || string(out.Result) != `{"ok":true}` || !out.Compiled {
		t.Fatalf("restarted runtime: %s, %v (compiled %v)", out.Result, out.Err, out.Compiled)
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("the module was loaded %d times, want once (before the restart)", n)
	}
	_ = r2.Close(ctx)

	for name, damage := range map[string][]byte{"garbage": []byte("not wasm at all"), "truncated": wasm[:len(wasm)/2]} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, damage, 0o600); err != nil {
				t.Fatal(err)
			}
			r := newRuntime(t, Config{CacheDir: dir})
			loads.Store(0)
			out := r.Run(ctx, countingCode(wasm, &loads, false), Invocation{})
			if out.Err != nil || string(out.Result) != `{"ok":true}` || loads.Load() != 1 {
				t.Fatalf("with a damaged prepared module: %s, %v, %d loads", out.Result, out.Err, loads.Load())
			}
			if b, err := os.ReadFile(path); err != nil || len(b) < 8 || string(b[:4]) != "\x00asm" {
				t.Errorf("the damaged file was not replaced: %q, %v", b, err)
			}
		})
	}
}

// TestWarmRecent: a Runtime built with WarmRecent compiles the modules
// used recently before it, in the background, and leaves older ones.
func TestWarmRecent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	recent, old := echoCommand(), command(writeData, `{"old":true}`).encode()
	r1 := newRuntime(t, Config{CacheDir: dir})
	select {
	case <-r1.Warmed():
	default:
		t.Error("Warmed is not closed on a Runtime that warms nothing")
	}
	for _, wasm := range [][]byte{recent, old} {
		if err := r1.Validate(ctx, digestOf(wasm), wasm); err != nil {
			t.Fatal(err)
		}
	}
	_ = r1.Close(ctx)
	long := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(r1.preparedPath(digestOf(old)), long, long); err != nil {
		t.Fatal(err)
	}

	r2 := newRuntime(t, Config{CacheDir: dir, WarmRecent: 24 * time.Hour})
	checkFor(t, 30*time.Second, func() error {
		if !r2.IsCompiled(digestOf(recent)) {
			return errors.New("the recent module is not compiled yet")
		}
		return nil
	})
	var loads atomic.Int32
	out := r2.Run(ctx, countingCode(recent, &loads, true), Invocation{})
	if out.Err != nil || out.Compiled {
		t.Fatalf("first activation after the warming: %v, compiled %v (want it found compiled)", out.Err, out.Compiled)
	}
	<-r2.Warmed()
	if r2.IsCompiled(digestOf(old)) {
		t.Error("a module unused for 48 hours was warmed with a window of 24")
	}
}

// TestWarmRecentGivesWay: the warming starts no module while one is being
// compiled for a caller that waits for it.
func TestWarmRecentGivesWay(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	wasm := echoCommand()
	r1 := newRuntime(t, Config{CacheDir: dir})
	if err := r1.Validate(ctx, digestOf(wasm), wasm); err != nil {
		t.Fatal(err)
	}
	_ = r1.Close(ctx)

	r2 := newRuntime(t, Config{CacheDir: dir})
	r2.demand.Add(1) // as fill does for an invoke's module
	done := make(chan struct{})
	go func() { r2.warmRecent(ctx, time.Hour); close(done) }()
	time.Sleep(200 * time.Millisecond)
	if r2.IsCompiled(digestOf(wasm)) {
		t.Fatal("the warming compiled a module while an invoke's module was being compiled")
	}
	r2.demand.Add(-1)
	<-done
	if !r2.IsCompiled(digestOf(wasm)) {
		t.Fatal("the warming did not compile the module once nothing else was compiling")
	}
}

func TestWarmRecentStopsOnClose(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r1 := newRuntime(t, Config{CacheDir: dir})
	wasm := echoCommand()
	if err := r1.Validate(ctx, digestOf(wasm), wasm); err != nil {
		t.Fatal(err)
	}
	_ = r1.Close(ctx)
	// Closed at once: Close waits for the warming, which must not outlive it.
	r2, err := New(ctx, Config{CacheDir: dir, WarmRecent: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r2.warmDone:
	default:
		t.Fatal("the warming goroutine outlived Close")
	}
	if err := r2.Validate(ctx, digestOf(wasm), wasm); err == nil {
		t.Error("Validate after Close succeeded")
	}
}

// TestOldPreparedModulesRemoved checks that New removes the prepared
// modules of other versions of the rewriter, which must never be run.
func TestOldPreparedModulesRemoved(t *testing.T) {
	dir := t.TempDir()
	for _, old := range []string{"wisp-prepared", "wisp-prepared-1", "wisp-prepared-2"} {
		if err := os.MkdirAll(filepath.Join(dir, old), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, old, "sha256-00.wasm"), []byte("\x00asm"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	newRuntime(t, Config{CacheDir: dir})
	entries, _ := filepath.Glob(filepath.Join(dir, "wisp-prepared*"))
	if len(entries) != 1 || filepath.Base(entries[0]) != preparedDirName {
		t.Fatalf("prepared-module directories after New: %v, want only %s", entries, preparedDirName)
	}
}

// TestPruneUnused checks that New removes cache files unused for longer
// than PruneUnused, in wazero's cache and among the prepared modules, and
// keeps the others, which still serve.
func TestPruneUnused(t *testing.T) {
	dir := t.TempDir()
	wasm := echoCommand()
	r := newRuntime(t, Config{CacheDir: dir})
	if err := r.Validate(context.Background(), digestOf(wasm), wasm); err != nil {
		t.Fatal(err)
	}
	r.Close(context.Background())
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 2 {
		t.Fatalf("cache files after a compile: %v, want wazero's and the prepared module", files)
	}
	// A file nobody has read or written for 40 days, and the real ones,
	// used now.
	old := filepath.Join(dir, preparedDirName, "sha256-"+strings.Repeat("0", 64)+".wasm")
	if err := os.WriteFile(old, []byte("\x00asm"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-40 * 24 * time.Hour)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	newRuntime(t, Config{CacheDir: dir, PruneUnused: 30 * 24 * time.Hour})
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file unused for 40 days is still there: %v", err)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a file in use was removed: %v", err)
		}
	}
}

func TestIsDigestForm(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		digest string
		want   bool
	}{
		{"sha256:" + hex64, true},
		{"a:0123456789abcdef", true},                          // shortest
		{strings.Repeat("a", 16) + ":" + hex64 + hex64, true}, // longest
		{strings.Repeat("a", 17) + ":" + hex64, false},
		{"sha256:" + hex64 + hex64 + "0", false},
		{"sha256:0123456789abcde", false},
		{":" + hex64, false},
		{"sha256" + hex64, false},
		{"SHA256:" + hex64, false},
		{"sha256:" + strings.ToUpper(hex64), false},
		{"sha256:../" + hex64, false},
		{"sha256:" + hex64 + ":0", false},
		{"sha-256:" + hex64, false},
		{"sha256:" + hex64[:63] + "é", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isDigestForm(tt.digest); got != tt.want {
			t.Errorf("isDigestForm(%q) = %v, want %v", tt.digest, got, tt.want)
		}
	}
}

// cacheFiles returns the regular files under dir and their total size.
func cacheFiles(t *testing.T, dir string) (files []string, total int64) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				files = append(files, p)
				total += fi.Size()
			}
		}
		return nil
	})
	return files, total
}

// TestPruneCacheBySize: past the bound, the least recently used files go
// first, down to nine tenths of it; within it, nothing goes.
func TestPruneCacheBySize(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	var paths []string
	// A temporary file being written (wazero's cache writes one, then
	// renames it), last written half an hour ago, so that the passes reach
	// it before the most recent file: it is never taken. Empty, so that it
	// changes no sum below.
	writing := filepath.Join(dir, "entry.123.tmp")
	if err := os.WriteFile(writing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	halfHour := time.Now().Add(-30 * time.Minute)
	if err := os.Chtimes(writing, halfHour, halfHour); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // file i last used i hours ago: file 4 is the oldest
		p := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		used := now.Add(-time.Duration(i) * time.Hour)
		if err := os.Chtimes(p, used, used); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for _, tc := range []struct {
		name     string
		maxBytes int64
		kept     int // the first kept files of paths, the most recently used
	}{
		{"no bound", 0, 5},
		{"within the bound", 5 << 20, 5},
		{"one past it", 4<<20 + 1<<19, 4},     // 5 MiB > 4.5 MiB: down to 4.05 MiB, so 4 files
		{"at the bound", 4 << 20, 4},          // 4 MiB: nothing goes
		{"down to nine tenths", 4<<20 - 1, 3}, // 4 MiB past the bound: down to 3.6 MiB, so 3 files
		{"smaller than one file", 1 << 19, 0}, // everything goes
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, _, left := pruneCache(dir, time.Time{}, tc.maxBytes)
			for i, p := range paths {
				_, err := os.Stat(p)
				if kept := err == nil; kept != (i < tc.kept) {
					t.Errorf("file %d (used %dh ago) kept: %v, want %v", i, i, kept, i < tc.kept)
				}
			}
			if _, err := os.Stat(writing); err != nil {
				t.Errorf("the file being written was taken: %v", err)
			}
			if want := int64(tc.kept) << 20; left != want {
				t.Errorf("%d bytes left, want %d (%d files removed)", left, want, files)
			}
		})
		paths = paths[:tc.kept] // what the next case starts from
	}
}

// TestCacheBoundWhileRunning: compilations that take the cache directory
// past Config.CacheBytes start a pass that brings it back under the bound,
// least recently used first; a restart then finds the most recent module's
// prepared form.
func TestCacheBoundWhileRunning(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var sizes []int64
	var codes []Code
	for i := range 12 { // distinct modules, each a few KB prepared and compiled
		wasm := wasmtest.WithCustomSection(echoCommand(), "n", []byte(strconv.Itoa(i)))
		codes = append(codes, codeOf(wasm))
	}
	// One module's files, measured, set the bound: room for about four.
	probeDir := t.TempDir()
	probe := newRuntime(t, Config{CacheDir: probeDir})
	if out := probe.Run(ctx, codes[0], Invocation{}); out.Err != nil {
		t.Fatal(out.Err)
	}
	probe.Close(ctx)
	_, one := cacheFiles(t, probeDir)
	bound := 4 * one
	r := newRuntime(t, Config{CacheDir: dir, CacheBytes: bound})
	for _, code := range codes {
		if out := r.Run(ctx, code, Invocation{}); out.Err != nil {
			t.Fatal(out.Err)
		}
		checkFor(t, 5*time.Second, func() error {
			if r.pruning.Load() {
				return errors.New("a pass is running")
			}
			return nil
		})
		_, total := cacheFiles(t, dir)
		sizes = append(sizes, total)
	}
	// A pass starts once the estimate (which counts wazero's code as four
	// times the module) is past the bound: the directory may hold a little
	// more than the bound in between, never much more.
	for i, total := range sizes {
		if total > bound+2*one {
			t.Errorf("after %d compiles: %d bytes in the cache directory, bound %d", i+1, total, bound)
		}
	}
	if _, err := os.Stat(r.preparedPath(codes[len(codes)-1].Digest)); err != nil {
		t.Errorf("the most recent module's prepared form was removed: %v", err)
	}
	if _, err := os.Stat(r.preparedPath(codes[0].Digest)); err == nil {
		t.Error("the first module's prepared form is still there, past the bound")
	}
}
