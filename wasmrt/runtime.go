package wasmrt

import (
	"container/list"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Config configures a Runtime. It is read once by New; later changes to the value have no effect.
type Config struct {
	// CacheDir is a directory for wazero's on-disk compilation cache, so that a restarted process
	// compiles a module it has seen before in a fraction of the time. It is created if missing.
	// "" means compiled code lives in memory only.
	CacheDir string
	// MaxIdleInstances bounds the idle reactor instances kept per action;
	// 0 means 8.
	MaxIdleInstances int
	// IdleExpiry is how long an idle reactor instance is kept; 0 means 60s.
	IdleExpiry time.Duration
	// IdleMemory bounds the linear memory of the idle reactor instances
	// kept, all actions together; past it the least recently used are
	// closed. 0 means DefaultIdleMemory.
	IdleMemory int64
	// CompiledMemory bounds the (estimated) memory of the compiled modules kept; the least recently
	// used are dropped past it, and their idle instances closed. 0 means DefaultCompiledMemory.
	CompiledMemory int64
	// WarmRecent, with a CacheDir, makes New start compiling in the background the modules used
	// within this long before (most recent first, within half of CompiledMemory), so that after a
	// restart the first activation of a recently busy action does not wait for its compilation
	// (prepared.go). 0 means no warming.
	WarmRecent time.Duration
	// PruneUnused, with a CacheDir, makes New remove the files of the compilation cache and the
	// prepared modules that nothing has read for this long, so that the cache does not grow with
	// every module ever compiled (a Go module's compiled code is ~15 MB). 0 keeps everything.
	PruneUnused time.Duration
	// CacheBytes, with a CacheDir, bounds the bytes of its files: past it the least recently used
	// are removed, at New and in the background as compilations add files (pruneCache). 0 means no
	// bound.
	CacheBytes int64
	// Logger receives debug records (compilations). nil means slog.New(slog.DiscardHandler).
	Logger *slog.Logger
}

// Runtime runs Wasm actions. It holds one wazero runtime with WASI preview 1 instantiated once, and
// the modules compiled so far, keyed by digest. Build it with New and release it with Close.
//
// All methods are safe for concurrent use by many goroutines. Each Run executes in a fresh module
// instance, closed before Run returns; nothing of one activation is visible to another.
//
// Compiled modules stay in memory, least recently used first out, within Config.CompiledMemory; an
// evicted module is compiled again (from the directory cache, when there is one) on its next use.
type Runtime struct {
	log       *slog.Logger
	cache     wazero.CompilationCache // nil without CacheDir
	rt        wazero.Runtime
	wasiFuncs map[string]api.FunctionDefinition // what the host provides, by name
	base      wazero.ModuleConfig               // what every instance shares
	acts      sync.Pool                         // of *activation, each with its ModuleConfig
	pools     *pools                            // idle reactor instances
	closed    atomic.Bool
	// preparedDir keeps rewritten modules for restarts (prepared.go); "" without a CacheDir.
	preparedDir string
	// cacheDir is Config.CacheDir; cacheMax its bound (Config.CacheBytes), cacheUsed an estimate
	// of its bytes, corrected by each pass of pruneCache; pruning is true while a pass runs, and
	// pruneDone lets Close wait for it.
	cacheDir  string
	cacheMax  int64
	cacheUsed atomic.Int64
	pruning   atomic.Bool
	pruneDone sync.WaitGroup
	stopWarm  context.CancelFunc // ends warmRecent; nil if it was not started
	warmDone  chan struct{}      // closed when warmRecent returns
	// demand counts the modules being compiled for a caller that waits
	// (not for warmRecent, which lets them go first).
	demand atomic.Int32

	// compiled holds the digests of the modules in lru, for IsCompiled to
	// read without taking mu.
	compiled sync.Map

	mu      sync.Mutex
	modules map[string]*moduleEntry
	lru     list.List // of *moduleEntry that compiled, most recently used at the front
	used    int64     // estimated bytes of the compiled modules in lru
	budget  int64
}

// moduleEntry is a module compiled, or being compiled, under one digest. done is closed when mod or err is set.
type moduleEntry struct {
	done   chan struct{}
	mod    *compiledModule
	err    error
	digest string
	cost   int64         // estimated bytes of compiled code
	elem   *list.Element // in Runtime.lru once compiled
	// touched is when the prepared module's file was last marked used (Unix seconds).
	touched atomic.Int64
}

// Defaults of Config's memory bounds. 512 MiB of compiled modules is ~34
// Go guests of 3.7 MB or hundreds of C ones; 512 MiB of idle instances
// about as many Go guests (4–12 MiB of linear memory each).
const (
	DefaultCompiledMemory = 512 << 20
	DefaultIdleMemory     = 512 << 20
)

// compiledCostFactor estimates the memory of a compiled module from the size of its binary:
// wazero's amd64 code and metadata measured 2–4 times the Wasm bytes; 4 errs on the safe side.
const compiledCostFactor = 4

// New builds a Runtime: a wazero runtime (the compiler where supported, the interpreter elsewhere)
// that stops a guest when its context is done (stop.go), with WASI preview 1 instantiated.
// It fails only if CacheDir cannot be used or WASI cannot be instantiated; the error says which.
// The Runtime must be closed with Close.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	r := &Runtime{log: cfg.Logger, modules: map[string]*moduleEntry{}, budget: cfg.CompiledMemory}
	if r.budget <= 0 {
		r.budget = DefaultCompiledMemory
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	// A runaway guest is stopped at its deadline by the fuel checks the module is compiled with
	// (see stop.go), not by wazero's WithCloseOnContextDone, which leaves the guest's code for Go on
	// every loop iteration (ten times the cost of a warm SDK activation).
	rc := wazero.NewRuntimeConfig().
		WithDebugInfoEnabled(false) // traps are reported by their first line only; DWARF costs compile time
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmrt: compilation cache in %s: %w", cfg.CacheDir, err)
		}
		r.cache = cache
		rc = rc.WithCompilationCache(cache)
		dir := filepath.Join(cfg.CacheDir, preparedDirName)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("wasmrt: prepared-module cache in %s: %w", dir, err)
		}
		r.preparedDir = dir
		removeOldPrepared(cfg.CacheDir)
		var unusedBefore time.Time
		if cfg.PruneUnused > 0 {
			unusedBefore = time.Now().Add(-cfg.PruneUnused)
		}
		n, size, left := pruneCache(cfg.CacheDir, unusedBefore, cfg.CacheBytes)
		if n > 0 {
			r.log.Info("removed compiled Wasm modules unused for a while or past the cache directory's bound",
				"files", n, "bytes", size, "left", left, "unused_for", cfg.PruneUnused, "bound", cfg.CacheBytes)
		}
		r.cacheDir, r.cacheMax = cfg.CacheDir, cfg.CacheBytes
		r.cacheUsed.Store(left)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateWASI(ctx, r.rt); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("wasmrt: instantiate %s: %w", wasiModule, err)
	}
	if err := r.instantiateYield(ctx); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("wasmrt: instantiate %s: %w", yieldModule, err)
	}
	r.wasiFuncs = r.rt.Module(wasiModule).ExportedFunctionDefinitions()
	r.base = wazero.NewModuleConfig().
		WithName("").         // many instances of one module at once
		WithStartFunctions(). // Run calls _start itself, to measure instantiation apart from it
		WithArgs("action").   // argv[0] only
		WithSysWalltime().    // real clocks: actions log and measure time
		WithSysNanotime().
		WithRandSource(rand.Reader)
	r.acts.New = func() any { return newActivation(r.base) }
	if cfg.MaxIdleInstances <= 0 {
		cfg.MaxIdleInstances = 8
	}
	if cfg.IdleExpiry <= 0 {
		cfg.IdleExpiry = 60 * time.Second
	}
	if cfg.IdleMemory <= 0 {
		cfg.IdleMemory = DefaultIdleMemory
	}
	r.pools = newPools(cfg.MaxIdleInstances, cfg.IdleMemory, cfg.IdleExpiry)
	if r.preparedDir != "" && cfg.WarmRecent > 0 {
		wctx, cancel := context.WithCancel(context.Background())
		r.stopWarm, r.warmDone = cancel, make(chan struct{})
		go func() {
			defer close(r.warmDone)
			r.warmRecent(wctx, cfg.WarmRecent)
		}()
	}
	return r, nil
}

// Stats is a moment's view of a Runtime's memory, for GET /metrics.
type Stats struct {
	// CompiledModules are the modules kept compiled; CompiledBytes their
	// estimated memory, against CompiledBudget (Config.CompiledMemory).
	CompiledModules               int
	CompiledBytes, CompiledBudget int64
	// IdleInstances are the reactor instances kept warm, all actions
	// together; IdleBytes their linear memories, against IdleBudget
	// (Config.IdleMemory).
	IdleInstances         int
	IdleBytes, IdleBudget int64
}

// Stats returns the Runtime's compiled modules and idle instances now.
func (r *Runtime) Stats() Stats {
	r.mu.Lock()
	s := Stats{CompiledModules: r.lru.Len(), CompiledBytes: r.used, CompiledBudget: r.budget}
	r.mu.Unlock()
	p := r.pools
	p.mu.Lock()
	s.IdleInstances, s.IdleBytes, s.IdleBudget = p.lru.len, p.idleBytes, p.maxBytes
	p.mu.Unlock()
	return s
}

// Warmed returns a channel closed once the background compilation of the
// recently used modules (Config.WarmRecent) has ended; closed already when
// there is none.
func (r *Runtime) Warmed() <-chan struct{} {
	if r.warmDone == nil {
		return closedChan
	}
	return r.warmDone
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Close stops every activation still running (they return platform errors), releases every compiled
// module and the wazero runtime, and closes the compilation cache. Validate and Run fail after Close.
// Close is safe to call more than once and concurrently with other methods; only the first call acts.
func (r *Runtime) Close(ctx context.Context) error {
	if r.closed.Swap(true) {
		return nil
	}
	var errs []error
	r.mu.Lock() // cacheGrew starts no pass once closed is set and mu taken
	r.mu.Unlock()
	r.pruneDone.Wait()
	if r.stopWarm != nil {
		r.stopWarm()
		<-r.warmDone // it may be compiling: let it finish before the runtime goes
	}
	if r.pools != nil {
		r.pools.closeAll()
	}
	if r.rt != nil {
		errs = append(errs, r.rt.Close(ctx)) // closes instances and compiled modules
	}
	if r.cache != nil {
		errs = append(errs, r.cache.Close(ctx))
	}
	r.mu.Lock()
	clear(r.modules)
	r.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wasmrt: close: %w", err)
	}
	return nil
}

// Validate compiles wasm and checks that it is a runnable Wisp command module: a valid WebAssembly
// core module, exporting a function "_start" that takes and returns nothing, importing only functions
// of wasi_snapshot_preview1 with the signatures the host provides.
//
// A bad module yields an error for which errors.Is(err, ErrInvalidModule) holds and whose message
// says what is wrong in words a user can act on. Other errors (context done, Runtime closed) are not
// the module's fault.
//
// On success the compiled module is kept under digest (the caller's content address of wasm, e.g.
// "sha256:<hex>", trusted as such), so a later Run of that digest does not compile. Validating a
// digest already compiled returns nil at once; concurrent calls for one digest compile once.
// A module whose minimum memory exceeds an action's memory limit is valid: Run reports it per action.
func (r *Runtime) Validate(ctx context.Context, digest string, wasm []byte) error {
	_, _, err := r.module(ctx, digest, func(context.Context) ([]byte, error) { return wasm, nil })
	return err
}

// module returns the module compiled under digest, compiling it with the bytes of load if needed.
// Concurrent callers for one digest share one compilation. compiled is true when the module was not
// ready when the call arrived (this call compiled it, or waited for a compilation in flight).
// Compilation failures are not cached: the next call tries again.
func (r *Runtime) module(ctx context.Context, digest string, load func(context.Context) ([]byte, error)) (mod *compiledModule, compiled bool, err error) {
	for {
		if r.closed.Load() {
			return nil, compiled, errClosed
		}
		r.mu.Lock()
		e, ok := r.modules[digest]
		if !ok {
			e = &moduleEntry{done: make(chan struct{})}
			r.modules[digest] = e
			r.mu.Unlock()
			r.fill(ctx, digest, e, load)
			return e.mod, true, e.err
		}
		r.mu.Unlock()
		select {
		case <-e.done:
		default:
			compiled = true
			select {
			case <-e.done:
			case <-ctx.Done():
				return nil, compiled, ctx.Err()
			}
		}
		if e.err == nil {
			r.mu.Lock()
			if e.elem != nil {
				r.lru.MoveToFront(e.elem)
			}
			r.mu.Unlock()
			if r.preparedDir != "" {
				r.touchPrepared(e)
			}
			return e.mod, compiled, nil
		}
		// The compilation we waited for failed. If it failed because its caller went away, and
		// we are still here, try again ourselves; any other failure is ours too.
		if !isContextErr(e.err) || ctx.Err() != nil {
			return nil, compiled, e.err
		}
	}
}

// fill loads and compiles the module of e, publishes the outcome and, on failure, forgets e.
func (r *Runtime) fill(ctx context.Context, digest string, e *moduleEntry, load func(context.Context) ([]byte, error)) {
	defer close(e.done)
	if ctx.Value(warmingKey{}) == nil {
		r.demand.Add(1)
		defer r.demand.Add(-1)
	}
	start := time.Now()
	var size int
	if mod, n, ok := r.loadPrepared(ctx, digest); ok {
		e.mod, size = mod, n
	} else if wasm, err := load(ctx); err != nil {
		e.err = fmt.Errorf("wasmrt: load module %s: %w", digest, err)
	} else if mod, prepared, err := r.compile(ctx, wasm); err != nil {
		if errors.Is(err, ErrInvalidModule) {
			e.err = err
		} else {
			e.err = fmt.Errorf("wasmrt: compile module %s: %w", digest, err)
		}
	} else {
		e.mod, size = mod, len(wasm)
		r.savePrepared(ctx, digest, prepared)
		// What the compile added to the cache directory: the prepared module and wazero's
		// compiled code, estimated as the LRU does.
		r.cacheGrew(int64(len(prepared) + len(wasm)*compiledCostFactor))
	}
	if e.err != nil {
		r.mu.Lock()
		if r.modules[digest] == e {
			delete(r.modules, digest)
		}
		r.mu.Unlock()
		return
	}
	if r.closed.Load() { // Close may have missed it
		_ = e.mod.cm.Close(ctx)
		e.mod, e.err = nil, errClosed
		return
	}
	e.digest, e.cost = digest, int64(size)*compiledCostFactor
	e.touched.Store(time.Now().Unix())
	var evicted []*moduleEntry
	r.mu.Lock()
	e.elem = r.lru.PushFront(e)
	r.compiled.Store(digest, struct{}{})
	r.used += e.cost
	for r.used > r.budget && r.lru.Len() > 1 {
		old := r.lru.Remove(r.lru.Back()).(*moduleEntry)
		old.elem = nil
		r.used -= old.cost
		if r.modules[old.digest] == old {
			delete(r.modules, old.digest)
			r.compiled.Delete(old.digest)
		}
		evicted = append(evicted, old)
	}
	r.mu.Unlock()
	for _, old := range evicted {
		r.pools.retireModule(old.mod)
		// Safe while instances of it run: they keep working (wazero).
		_ = old.mod.cm.Close(context.Background())
		r.log.LogAttrs(ctx, slog.LevelDebug, "wasm module evicted", slog.String("digest", old.digest), slog.Int64("estimated_bytes", old.cost))
	}
	r.log.LogAttrs(ctx, slog.LevelDebug, "wasm module compiled",
		slog.String("digest", digest), slog.Int("bytes", size), slog.Duration("took", time.Since(start)))
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
