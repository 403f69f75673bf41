package containerrt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wispfaas/wisp/containerrt/container"
	"github.com/wispfaas/wisp/core"
)

// Defaults of Config.
const (
	DefaultMemoryBudgetMB = 2048
	DefaultPauseGrace     = time.Second
	DefaultIdleTimeout    = 10 * time.Minute
	DefaultPidsLimit      = 128
)

// kindBlackbox is the kind whose code is a user's image.
const kindBlackbox = "blackbox"

// ImageSource prepares blackbox images. The invoker's wiring gives one
// (package image satisfies it); without one, blackbox actions cannot run.
type ImageSource interface {
	// Image returns the directory holding the image of the action whose
	// code has this digest, imported from what open reads (an OCI image
	// layout or a `docker save` tarball) on first use: rootfs/ and
	// runtime.json as docs/container-protocol.md describes. Errors that
	// are the image's own fault wrap ErrInvalidImage. It is called for
	// every activation that needs a new container, so it should answer
	// from its cache after the first import. Safe for concurrent use.
	Image(ctx context.Context, digest string, open CodeReader) (dir string, err error)
}

// Config configures a Runtime. New reads it once.
type Config struct {
	// StateDir holds the containers' state and action directories
	// (<data>/containers). Required. Whatever a crashed process left
	// there is removed by New.
	StateDir string
	// RuntimesDir holds the built runtimes, runtimes/<name>/{rootfs,
	// runtime.json,stamp}; a runtime appears in Kinds once its stamp is
	// written. "" means none (blackbox only).
	RuntimesDir string
	// MemoryBudgetMB bounds the memory limits of all containers together,
	// stem cells included. 0 means DefaultMemoryBudgetMB.
	MemoryBudgetMB int
	// Stems is how many stem cells to keep started per kind: "python:3"
	// for containers of 256 MB (the default memory limit), or
	// "python:3@512" for another memory size.
	Stems map[string]int
	// StemsAfter, when not nil, holds back the first stem cells, and the
	// copies of root filesystems to memory (RootfsInMemory), until it is
	// closed. At a daemon's start, starting them (tens of milliseconds of
	// CPU each) competed with compiling the Wasm modules used before the
	// restart and with the first invokes, which someone waits for; a copy
	// of nodejs20 is a few hundred milliseconds of CPU. Activations are
	// served meanwhile, by cold starts from the disk.
	StemsAfter <-chan struct{}
	// PauseGrace is how long a container stays idle before it is paused.
	// 0 means DefaultPauseGrace; negative, never paused.
	PauseGrace time.Duration
	// IdleTimeout is how long a paused container is kept before it is
	// removed (or an idle one, when pausing is off). 0 means
	// DefaultIdleTimeout; negative, never removed for idleness.
	IdleTimeout time.Duration
	// PidsLimit bounds the processes and threads of one container. 0
	// means DefaultPidsLimit.
	PidsLimit int
	// CgroupParent names the cgroup under which containers are created
	// (in each v1 hierarchy, or under the v2 root). "" means one derived
	// from StateDir, so that two Runtimes with different StateDirs never
	// touch each other's containers.
	CgroupParent string
	// Images prepares blackbox images; nil means blackbox is not offered.
	Images ImageSource
	// InitHelper is the path of a wispd-init program (cmd/wispd-init) that
	// each container's init runs in place of this binary; "" means this
	// binary. See container.ManagerConfig.InitHelper.
	InitHelper string
	// RootfsInMemory copies the root filesystem of each runtime whose
	// runtime.json says "inMemory" to a tmpfs with 2 MB pages under
	// StateDir, and starts its containers from there once the copy is
	// made (memrootfs.go): nodejs:20's cold start is 10–20 ms shorter.
	// It costs the copy's size in memory (105 MB for nodejs20). Where
	// the kernel or the mount refuses, containers start from the disk.
	RootfsInMemory bool
	// Logger receives the pool's records; nil discards them.
	Logger *slog.Logger
}

// stemSpec is one entry of Config.Stems, parsed.
type stemSpec struct {
	key   stemKey
	count int
}

// Runtime runs container actions (python:3, nodejs:20, native, blackbox)
// in a pool of libcontainer containers: prewarmed stem cells per kind and
// memory size, specialised for one action by init, reused warm by that
// action, paused when idle, removed after IdleTimeout or when the memory
// budget needs room. See the package documentation for the rules.
//
// Build it with New; Close removes every container. All methods are safe
// for concurrent use. It implements the invoker's Runtime and Prewarmer.
type Runtime struct {
	cfg        Config
	log        *slog.Logger
	mgr        *container.Manager
	actionRoot string // <StateDir>/actions: one directory per container
	// unpacked keeps zip actions unpacked, under <StateDir>/unpacked, for
	// action directories to link to (unpacked.go).
	unpacked *unpackedTrees
	stems    []stemSpec

	imgMu  sync.Mutex
	images map[string]*runtimeImage // built runtimes by kind
	// mem holds in-memory copies of root filesystems; nil when
	// Config.RootfsInMemory is off or unavailable. Lock order: imgMu,
	// then mem's own.
	mem      *memRootfs
	scanned  time.Time
	blackbox map[string]*runtimeImage // imported images by image directory

	mu sync.Mutex // guards p and every member's fields marked so
	p  poolState

	runs       sync.WaitGroup // Run and Prewarm calls in flight
	stopCh     chan struct{}  // closed by Close
	refillCh   chan struct{}
	refillDone chan struct{}
}

// New builds a Runtime: it validates cfg, removes the containers and
// directories a crashed predecessor left in StateDir, reads the built
// runtimes, and starts the stem cells in the background (Stats shows
// them arrive). The caller must call Close. The process must have called
// container.MaybeInit at the start of main (libcontainer re-executes it
// as each container's init).
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("containerrt: StateDir is required")
	}
	if cfg.MemoryBudgetMB == 0 {
		cfg.MemoryBudgetMB = DefaultMemoryBudgetMB
	}
	if cfg.MemoryBudgetMB < core.MinMemoryMB {
		return nil, fmt.Errorf("containerrt: MemoryBudgetMB %d is less than the smallest container (%d MB)", cfg.MemoryBudgetMB, core.MinMemoryMB)
	}
	if cfg.PauseGrace == 0 {
		cfg.PauseGrace = DefaultPauseGrace
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.PidsLimit == 0 {
		cfg.PidsLimit = DefaultPidsLimit
	}
	if cfg.PidsLimit < 8 {
		return nil, fmt.Errorf("containerrt: PidsLimit %d is too small for any runtime (at least 8)", cfg.PidsLimit)
	}
	stems, err := parseStems(cfg.Stems)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("containerrt: state directory: %w", err)
	}
	r := &Runtime{
		cfg:        cfg,
		log:        log,
		actionRoot: filepath.Join(stateDir, "actions"),
		unpacked:   newUnpackedTrees(filepath.Join(stateDir, "unpacked")),
		stems:      stems,
		blackbox:   map[string]*runtimeImage{},
		p: poolState{
			members:  map[*member]struct{}{},
			idle:     map[string][]*member{},
			stems:    map[stemKey][]*member{},
			starting: map[stemKey]int{},
			backoff:  map[stemKey]time.Time{},
		},
		stopCh:     make(chan struct{}),
		refillCh:   make(chan struct{}, 1),
		refillDone: make(chan struct{}),
	}
	r.mgr, err = container.NewManager(ctx, container.ManagerConfig{
		StateDir:     filepath.Join(stateDir, "state"),
		CgroupParent: cfg.CgroupParent,
		InitHelper:   cfg.InitHelper,
		Logger:       log,
	})
	if err != nil {
		return nil, fmt.Errorf("containerrt: %w", err)
	}
	if n, err := r.mgr.CleanupLeftovers(ctx); err != nil {
		_ = r.mgr.Close(ctx)
		return nil, fmt.Errorf("containerrt: clean up leftover containers: %w", err)
	} else if n > 0 {
		log.Info("removed containers left by an earlier run", "count", n)
	}
	// Action directories of containers that no longer exist, and the
	// unpacked zips they linked to.
	for _, dir := range []string{r.actionRoot, r.unpacked.root} {
		if err := os.RemoveAll(dir); err != nil {
			_ = r.mgr.Close(ctx)
			return nil, fmt.Errorf("containerrt: remove leftover action directories: %w", err)
		}
		if err := os.MkdirAll(dir, 0o711); err != nil {
			_ = r.mgr.Close(ctx)
			return nil, fmt.Errorf("containerrt: create %s: %w", dir, err)
		}
	}
	if cfg.RootfsInMemory {
		r.mem = openMemRootfs(filepath.Join(stateDir, memRootfsDir), log, r.useMemoryCopies, cfg.StemsAfter)
	}
	r.rescan(true)
	for _, s := range stems {
		if r.builtImage(s.key.kind) == nil {
			log.Warn("stem cells configured for a kind whose runtime is not built", "kind", s.key.kind, "runtimes", cfg.RuntimesDir)
		}
	}
	go r.refiller()
	r.kickRefill()
	return r, nil
}

// parseStems reads Config.Stems: "kind" or "kind@memoryMB" → count.
func parseStems(m map[string]int) ([]stemSpec, error) {
	var out []stemSpec
	for name, n := range m {
		if n < 0 {
			return nil, fmt.Errorf("containerrt: Stems[%q] = %d: a count cannot be negative", name, n)
		}
		kind, mem := name, core.DefaultMemoryMB
		if k, ms, ok := strings.Cut(name, "@"); ok {
			v, err := strconv.Atoi(ms)
			if err != nil || v < core.MinMemoryMB || v > core.MaxMemoryMB {
				return nil, fmt.Errorf("containerrt: Stems[%q]: the memory after @ must be %d to %d MB", name, core.MinMemoryMB, core.MaxMemoryMB)
			}
			kind, mem = k, v
		}
		if kind == "" || kind == kindBlackbox {
			return nil, fmt.Errorf("containerrt: Stems[%q]: stem cells need a runtime kind (blackbox images have none)", name)
		}
		if n > 0 {
			out = append(out, stemSpec{key: stemKey{kind: kind, memMB: mem}, count: n})
		}
	}
	slices.SortFunc(out, func(a, b stemSpec) int {
		if c := strings.Compare(a.key.kind, b.key.kind); c != 0 {
			return c
		}
		return a.key.memMB - b.key.memMB
	})
	return out, nil
}

// rescanInterval limits how often a missing kind makes the runtimes
// directory be read again (a runtime built while wispd runs appears).
const rescanInterval = 2 * time.Second

// rescan reads the built runtimes again, at most every rescanInterval
// unless force.
func (r *Runtime) rescan(force bool) {
	r.imgMu.Lock()
	defer r.imgMu.Unlock()
	if !force && time.Since(r.scanned) < rescanInterval {
		return
	}
	r.scanned = time.Now()
	images, problems := loadRuntimes(r.cfg.RuntimesDir)
	for _, p := range problems {
		r.log.Warn("runtime not usable", "err", p)
	}
	if before := sortedKinds(r.images); !slices.Equal(before, sortedKinds(images)) {
		r.log.Info("container runtimes", "kinds", sortedKinds(images), "dir", r.cfg.RuntimesDir)
	}
	r.images = images
	r.useMemoryCopiesLocked()
}

// useMemoryCopies makes the built runtimes whose copy in memory is ready
// start from it; the copies called for are started.
func (r *Runtime) useMemoryCopies() {
	r.imgMu.Lock()
	defer r.imgMu.Unlock()
	r.useMemoryCopiesLocked()
}

// useMemoryCopiesLocked is useMemoryCopies with imgMu held. An image is
// replaced, not changed: jobs hold on to the one they started with.
func (r *Runtime) useMemoryCopiesLocked() {
	if r.mem == nil {
		return
	}
	for kind, img := range r.images {
		if !img.InMemory {
			continue
		}
		if p := r.mem.rootfs(img); p != "" && p != img.Rootfs {
			cp := *img
			cp.Rootfs = p
			r.images[kind] = &cp
		}
	}
}

// builtImage is the built runtime of kind, or nil.
func (r *Runtime) builtImage(kind string) *runtimeImage {
	r.imgMu.Lock()
	defer r.imgMu.Unlock()
	return r.images[kind]
}

// Kinds lists the kinds this Runtime can run now, sorted: those whose
// runtime is built in RuntimesDir, and blackbox when Config.Images is
// set. It reads RuntimesDir again (at most every two seconds), so a
// runtime built while the process runs appears.
func (r *Runtime) Kinds() []string {
	r.rescan(false)
	r.imgMu.Lock()
	kinds := sortedKinds(r.images)
	r.imgMu.Unlock()
	if r.cfg.Images != nil {
		kinds = append(kinds, kindBlackbox)
		slices.Sort(kinds)
	}
	return kinds
}

// Stats is a snapshot of the pool.
type Stats struct {
	// Containers by status (starting, stem, initialising, ready,
	// running, paused); stem cells being started count as starting.
	ByStatus map[string]int
	// Stems counts the ready stem cells by "kind@memoryMB".
	Stems map[string]int
	// UsedMB is the memory of all containers and reservations; BudgetMB
	// the budget.
	UsedMB, BudgetMB int
	// Waiting is how many activations wait in the queue now.
	Waiting int
	// Event counts since New: activations served by a new container
	// (ColdStarts), a stem cell (StemStarts), a warm one (WarmStarts);
	// Resumes and Pauses; containers evicted for memory, expired after
	// IdleTimeout, found dead (Crashed: timed out, killed, exited); and
	// activations that had to queue.
	ColdStarts, StemStarts, WarmStarts, Resumes, Pauses, Evictions, Expired, Crashed, Queued uint64
	// InMemory lists, sorted, the kinds whose new containers start from
	// a root filesystem copied to memory (Config.RootfsInMemory).
	InMemory []string
}

// Stats returns a snapshot of the pool's containers and counters.
func (r *Runtime) Stats() Stats {
	var inMemory []string
	if r.mem != nil {
		r.imgMu.Lock()
		for _, kind := range sortedKinds(r.images) {
			if img := r.images[kind]; img.InMemory && strings.HasPrefix(img.Rootfs, r.mem.dir+"/") {
				inMemory = append(inMemory, kind)
			}
		}
		r.imgMu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{InMemory: inMemory, ByStatus: map[string]int{}, Stems: map[string]int{}, UsedMB: r.p.used, BudgetMB: r.cfg.MemoryBudgetMB, Waiting: len(r.p.queue)}
	for m := range r.p.members {
		s.ByStatus[m.status.String()]++
	}
	for _, n := range r.p.starting {
		s.ByStatus[StatusStarting.String()] += n
	}
	for key, list := range r.p.stems {
		s.Stems[key.kind+"@"+strconv.Itoa(key.memMB)] = len(list)
	}
	c := r.p.stats
	s.ColdStarts, s.StemStarts, s.WarmStarts, s.Resumes, s.Pauses = c.ColdStarts, c.StemStarts, c.WarmStarts, c.Resumes, c.Pauses
	s.Evictions, s.Expired, s.Crashed, s.Queued = c.Evictions, c.Expired, c.Crashed, c.Queued
	return s
}

// Close removes every container (running activations end with an
// error), fails the activations still queued, and releases the cgroups
// and state. It waits for the activations in flight until ctx ends.
// Calling it again does nothing.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.p.closed {
		r.mu.Unlock()
		return nil
	}
	r.p.closed = true
	for _, w := range r.p.queue {
		w.ch <- grant{err: errClosed}
	}
	r.p.queue = nil
	all := make([]*member, 0, len(r.p.members))
	for m := range r.p.members {
		all = append(all, m)
	}
	for _, m := range all {
		r.discardLocked(m)
	}
	r.mu.Unlock()
	close(r.stopCh)
	<-r.refillDone
	r.destroyAll(all)
	done := make(chan struct{})
	go func() { r.runs.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("containerrt: activations still running at close: %w", ctx.Err()))
	}
	if err := r.mgr.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("containerrt: close the container manager: %w", err))
	}
	for _, dir := range []string{r.actionRoot, r.unpacked.root} {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("containerrt: remove action directories: %w", err))
		}
	}
	if r.mem != nil {
		if err := r.mem.close(); err != nil {
			errs = append(errs, fmt.Errorf("containerrt: remove the root filesystems in memory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// enter registers a Run or Prewarm call; it reports false after Close.
func (r *Runtime) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p.closed {
		return false
	}
	r.runs.Add(1)
	return true
}

// ContainerUsage describes one pooled container, for operators and the
// benchmark.
type ContainerUsage struct {
	ID       string
	Kind     string
	Status   Status
	Owner    string // "" for a stem cell
	MemoryMB int    // its memory limit
	// MemoryBytes is what its memory cgroup is charged now (processes,
	// page cache, /tmp); -1 when it could not be read.
	MemoryBytes int64
}

// Usage lists the pool's containers with the memory each uses now. The
// list is a snapshot: containers may change status meanwhile.
func (r *Runtime) Usage() []ContainerUsage {
	r.mu.Lock()
	ms := make([]*member, 0, len(r.p.members))
	out := make([]ContainerUsage, 0, len(r.p.members))
	for m := range r.p.members {
		ms = append(ms, m)
		out = append(out, ContainerUsage{ID: m.id, Kind: m.key.kind, Status: m.status, Owner: m.owner, MemoryMB: m.key.memMB})
	}
	r.mu.Unlock()
	for i, m := range ms {
		n, err := m.c.MemoryUsage()
		if err != nil {
			n = -1
		}
		out[i].MemoryBytes = n
	}
	slices.SortFunc(out, func(a, b ContainerUsage) int { return strings.Compare(a.ID, b.ID) })
	return out
}
