package wasmrt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The prepared-module cache: what a restarted process does not redo.
//
// wazero's directory cache keeps compiled code, keyed by a hash of the bytes
// compiled; a cache hit still costs decoding and validating the module
// (~100 ms for a Go module here). Wisp compiles a rewritten module
// (stop.go), so a restart would also fetch the original from the code store
// and rewrite it (~20–40 ms). With a CacheDir, wasmrt therefore keeps the
// rewritten module beside wazero's cache, under the original's digest, and
// compiles that on the next start without loading or rewriting. With
// Config.WarmRecent it also compiles, in the background as soon as the
// Runtime is built, the modules used within that window before, so that
// the first activation of a recently busy action after a restart finds its
// module compiled (or joins the compilation already under way).

// preparedDirName is the directory, under Config.CacheDir, of the prepared
// modules: <algorithm>-<hex>.wasm, touched at most every touchEvery while
// the module is used. Its number changes whenever what prepare makes of a
// module changes (2: tables bounded; 3: no entry check in a function that
// enters a loop first), so that a new wispd never runs what
// an older one prepared; New removes the directories of other versions.
const preparedDirName = "wisp-prepared-3"

// removeOldPrepared removes the prepared-module directories of other
// versions under cacheDir ("wisp-prepared", "wisp-prepared-<n>").
func removeOldPrepared(cacheDir string) {
	old, _ := filepath.Glob(filepath.Join(cacheDir, "wisp-prepared*"))
	for _, d := range old {
		if filepath.Base(d) != preparedDirName {
			_ = os.RemoveAll(d)
		}
	}
}

const touchEvery = 10 * time.Minute

// isDigestForm reports whether digest has the shape of those whose
// prepared modules are kept (they become file names): 1–16 of a-z and
// 0-9, a colon, 16–128 lowercase hex digits. Checked by hand: the
// equivalent regexp, compiled at package init, cost 2 ms of every start
// of the binary, a container's init included.
func isDigestForm(digest string) bool {
	algo, hex, ok := strings.Cut(digest, ":")
	return ok && len(algo) >= 1 && len(algo) <= 16 && len(hex) >= 16 && len(hex) <= 128 &&
		strings.Trim(algo, "abcdefghijklmnopqrstuvwxyz0123456789") == "" &&
		strings.Trim(hex, "0123456789abcdef") == ""
}

// preparedPath is the file of digest's prepared module, or "" when none is
// kept (no cache directory, or a digest that is no file name).
func (r *Runtime) preparedPath(digest string) string {
	if r.preparedDir == "" || !isDigestForm(digest) {
		return ""
	}
	return filepath.Join(r.preparedDir, strings.Replace(digest, ":", "-", 1)+".wasm")
}

// loadPrepared compiles the prepared module of digest, if one is kept. ok is
// false when there is none or it could not be used (it is then removed, and
// the caller compiles from the original).
func (r *Runtime) loadPrepared(ctx context.Context, digest string) (mod *compiledModule, size int, ok bool) {
	path := r.preparedPath(digest)
	if path == "" {
		return nil, 0, false
	}
	prepared, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, false
	}
	mod, err = r.compilePrepared(ctx, prepared)
	if err != nil {
		if ctx.Err() == nil && !r.closed.Load() {
			r.log.LogAttrs(ctx, slog.LevelWarn, "wasm prepared module unusable, compiling the original",
				slog.String("digest", digest), slog.String("error", err.Error()))
			_ = os.Remove(path)
		}
		return nil, 0, false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now)
	return mod, len(prepared), true
}

// savePrepared keeps prepared as digest's prepared module. Failures only
// cost the next restart some time: they are logged.
func (r *Runtime) savePrepared(ctx context.Context, digest string, prepared []byte) {
	path := r.preparedPath(digest)
	if path == "" {
		return
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, time.Now().UnixNano())
	err := os.WriteFile(tmp, prepared, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		r.log.LogAttrs(ctx, slog.LevelWarn, "wasm prepared module not kept", slog.String("digest", digest), slog.String("error", err.Error()))
	}
}

// touchPrepared marks digest's prepared module as used now, at most every
// touchEvery, so that WarmRecent sees what a long-running process used.
func (r *Runtime) touchPrepared(e *moduleEntry) {
	now := time.Now().Unix()
	last := e.touched.Load()
	if now-last < int64(touchEvery/time.Second) || !e.touched.CompareAndSwap(last, now) {
		return
	}
	if path := r.preparedPath(e.digest); path != "" {
		t := time.Unix(now, 0)
		go func() { _ = os.Chtimes(path, t, t) }()
	}
}

// warmingKey marks the context of warmRecent's compilations.
type warmingKey struct{}

// warmRecent compiles, most recently used first and one at a time, the
// prepared modules used within window, while they fit in half the
// compiled-module budget. It runs in the background from New until done or
// the Runtime closes, and gives way to the invokes that come meanwhile: it
// starts no module while one is being compiled for a caller that waits
// (docs/rationale.md, "After a restart").
func (r *Runtime) warmRecent(ctx context.Context, window time.Duration) {
	entries, err := os.ReadDir(r.preparedDir)
	if err != nil {
		return
	}
	type recent struct {
		digest string
		used   time.Time
		size   int64
	}
	var list []recent
	cutoff := time.Now().Add(-window)
	for _, de := range entries {
		name, ok := strings.CutSuffix(de.Name(), ".wasm")
		if !ok || !de.Type().IsRegular() {
			continue
		}
		digest := strings.Replace(name, "-", ":", 1)
		info, err := de.Info()
		if err != nil || !isDigestForm(digest) || info.ModTime().Before(cutoff) {
			continue
		}
		list = append(list, recent{digest, info.ModTime(), info.Size()})
	}
	slices.SortFunc(list, func(a, b recent) int { return b.used.Compare(a.used) })
	noLoad := func(context.Context) ([]byte, error) {
		return nil, errors.New("warming: only prepared modules are compiled")
	}
	ctx = context.WithValue(ctx, warmingKey{}, true)
	var total int64
	for _, m := range list {
		total += m.size * compiledCostFactor
		if total > r.budget/2 || !r.awaitNoDemand(ctx) {
			return
		}
		start := time.Now()
		_, compiled, err := r.module(ctx, m.digest, noLoad)
		if compiled {
			r.log.LogAttrs(ctx, slog.LevelDebug, "wasm module warmed after start", slog.String("digest", m.digest),
				slog.Duration("took", time.Since(start)), slog.Any("error", err))
		}
	}
}

// awaitNoDemand waits until no module is being compiled for a caller that
// waits; false when ctx ends first.
func (r *Runtime) awaitNoDemand(ctx context.Context) bool {
	for r.demand.Load() > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(2 * time.Millisecond):
		}
	}
	return ctx.Err() == nil
}

// IsCompiled reports whether digest's module is compiled and in memory:
// a Run of it starts the guest without compiling first. It takes no lock.
func (r *Runtime) IsCompiled(digest string) bool {
	_, ok := r.compiled.Load(digest)
	return ok
}

// pruneCache removes regular files under cacheDir (wazero's cache and the
// prepared modules): those neither read nor written since unusedBefore
// (unless it is the zero time), then, while the rest take more than
// maxBytes (unless it is 0), the least recently used, down to nine tenths
// of maxBytes, so that the next compiles do not each start a pass. It
// returns what it removed and the bytes left.
//
// A file's last use is its access time or its modification time, the
// later: wazero reads a cache entry on every hit (file systems mounted
// relatime update the access time once a day, enough here) and prepared
// modules are touched while used. On a noatime mount a module still in
// use may go first; it is compiled again on its next use. Removing the
// files of a module compiled in memory costs nothing until a restart.
func pruneCache(cacheDir string, unusedBefore time.Time, maxBytes int64) (files int, bytes, left int64) {
	type cached struct {
		path string
		size int64
		used time.Time
	}
	var kept []cached
	_ = filepath.WalkDir(cacheDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		f := cached{path, fi.Size(), lastUse(fi)}
		if f.used.Before(unusedBefore) && os.Remove(path) == nil {
			files++
			bytes += f.size
			return nil
		}
		kept = append(kept, f)
		left += f.size
		return nil
	})
	if maxBytes <= 0 || left <= maxBytes {
		return files, bytes, left
	}
	slices.SortFunc(kept, func(a, b cached) int { return a.used.Compare(b.used) })
	writing := time.Now().Add(-time.Hour)
	for _, f := range kept {
		if left <= maxBytes/10*9 {
			break
		}
		// A temporary file is being written (wazero's cache and
		// savePrepared write one, then rename it): taking it away would
		// fail the rename, and wazero fails the compilation with it.
		if strings.HasSuffix(f.path, ".tmp") && f.used.After(writing) {
			continue
		}
		if os.Remove(f.path) == nil {
			files++
			bytes += f.size
			left -= f.size
		}
	}
	return files, bytes, left
}

// cacheGrew counts n more bytes in the cache directory and, past
// Config.CacheBytes, starts a pass of pruneCache in the background, unless
// one is running.
func (r *Runtime) cacheGrew(n int64) {
	if r.cacheMax <= 0 || r.cacheUsed.Add(n) <= r.cacheMax || !r.pruning.CompareAndSwap(false, true) {
		return
	}
	// Under mu, so that Close, which sets closed before it takes mu to
	// wait, either sees this pass or stops it from starting.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return
	}
	r.pruneDone.Add(1)
	go func() {
		defer r.pruneDone.Done()
		defer r.pruning.Store(false)
		files, bytes, left := pruneCache(r.cacheDir, time.Time{}, r.cacheMax)
		r.cacheUsed.Store(left)
		if files > 0 {
			r.log.Info("removed the least recently used compiled Wasm modules from the cache directory", "files", files, "bytes", bytes, "left", left, "bound", r.cacheMax)
		}
	}()
}
