package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"golang.org/x/sys/unix"

	// Device rules for the devices cgroup: without it libcontainer refuses
	// to run ("cgroup manager is not configured to set device rules").
	_ "github.com/opencontainers/cgroups/devices"
	// The C half of "init": joins or creates the namespaces before the Go
	// runtime starts in the re-executed binary.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// MaybeInit is the container-side half of the binary. libcontainer starts a
// container by re-executing the current binary as "<binary> init"; in that
// process MaybeInit becomes the container's init (it sets up the
// namespaces, mounts, cgroups and security settings, then executes the
// action loop) and never returns. Elsewhere it returns at once.
//
// Call it first thing in main() of every binary that starts containers
// (cmd/wispd) and in TestMain of every test package that does.
func MaybeInit() {
	// The environment check keeps a user's "wispd init" a normal (unknown)
	// command instead of a failed container init.
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		if err := hideInitHelper(); err != nil {
			fmt.Fprintln(os.Stderr, "wisp container init:", err)
			os.Exit(1)
		}
		libcontainer.Init() // does not return
	}
}

// ManagerConfig configures a Manager. StateDir is required.
type ManagerConfig struct {
	// StateDir is libcontainer's state root (one directory per container),
	// absolute, e.g. <data>/containers/state. One Manager per StateDir.
	StateDir string
	// CgroupParent names the cgroup under which every container's cgroup
	// is made, in each hierarchy. Default: "wisp-" and 8 hex digits of a
	// hash of StateDir, so that two daemons on one host do not collide.
	CgroupParent string
	// Logger receives lifecycle events at debug level and cleanup at info;
	// nil discards them.
	Logger *slog.Logger
	// InitHelper is the path of a program built from cmd/wispd-init (this
	// package's init alone). When set, each container's init runs it in
	// place of the binary that started the container, from a sealed copy
	// made once here: a daemon's Go runtime and package initialisers cost
	// tens of milliseconds of every cold start. Empty: the init is this
	// binary, re-executed.
	InitHelper string
}

// Manager starts and tracks the containers of one daemon. It is safe for
// concurrent use. Close destroys what it started; CleanupLeftovers removes
// what an earlier process left behind.
type Manager struct {
	stateDir string
	parent   string
	host     hostCgroups
	log      *slog.Logger

	mu         sync.Mutex
	containers map[string]*Container
	closed     bool

	// keepFrozen is the v1 freezer's sentinel (see keepFreezerActive),
	// made at the first pause.
	keepFrozen sync.Once

	// initHelper is the sealed copy of ManagerConfig.InitHelper, or nil.
	initHelper *os.File

	net        hostNet // egress for containers granted network
	resolvOnce sync.Once
	resolvPath string
	resolvErr  error
}

// validCgroupName reports whether name is 1 to 128 of A-Z, a-z, 0-9,
// '_', '.' and '-'.
func validCgroupName(name string) bool {
	return len(name) >= 1 && len(name) <= 128 &&
		strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == ""
}

// NewManager validates cfg and prepares StateDir. It fails when not run as
// root, when the binary was built without seccomp support (see the package
// documentation: build with -tags seccomp), or when StateDir is not usable.
func NewManager(ctx context.Context, cfg ManagerConfig) (*Manager, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !seccomp.Enabled {
		return nil, errors.New(`container manager: this binary was built without seccomp support; build it with "-tags seccomp" (cgo and Debian's libseccomp-dev are needed)`)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("container manager: containers need root (libcontainer creates namespaces and cgroups)")
	}
	if cfg.StateDir == "" || !filepath.IsAbs(cfg.StateDir) {
		return nil, fmt.Errorf("container manager: state directory %q must be an absolute path", cfg.StateDir)
	}
	dir := filepath.Clean(cfg.StateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("container manager: create state directory: %w", err)
	}
	parent := cfg.CgroupParent
	if parent == "" {
		sum := sha256.Sum256([]byte(dir))
		parent = "wisp-" + hex.EncodeToString(sum[:4])
	}
	if !validCgroupName(parent) || parent == "." || parent == ".." {
		return nil, fmt.Errorf("container manager: cgroup parent %q: use letters, digits, '_', '.', '-'", parent)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var helper *os.File
	if cfg.InitHelper != "" {
		var err error
		if helper, err = sealInitHelper(cfg.InitHelper); err != nil {
			return nil, fmt.Errorf("container manager: %w", err)
		}
		log.Info("containers' init is the init helper", "path", cfg.InitHelper)
	} else if exe, err := os.Executable(); err == nil && sealingCopies(exe, dir) {
		log.Warn("every container start will copy this program (libcontainer cannot seal it in place while its directory holds the container state directory); put the binary outside the data directory's tree",
			"binary", exe, "state_dir", dir)
	}
	return &Manager{
		stateDir:   dir,
		parent:     parent,
		host:       findHostCgroups(),
		log:        log,
		containers: make(map[string]*Container),
		initHelper: helper,
	}, nil
}

// CgroupParent is the name of the parent cgroup of this Manager's containers.
func (m *Manager) CgroupParent() string { return m.parent }

// CleanupLeftovers destroys every container found in StateDir that this
// Manager did not start (what a crashed daemon left: it kills them,
// destroys them and removes their state), then removes whatever else is
// left under the parent cgroup, and the parent itself when empty. It
// returns how many containers it destroyed. Call it once at start, before
// Start.
func (m *Manager) CleanupLeftovers(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(m.stateDir)
	if err != nil {
		return 0, fmt.Errorf("cleanup: read state directory: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		id := e.Name()
		m.mu.Lock()
		_, ours := m.containers[id]
		m.mu.Unlock()
		if ours {
			continue
		}
		if err := m.destroyLeftover(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	// Anything still under the parent cgroup (a start interrupted before
	// its state was saved) goes too, unless it is ours.
	m.mu.Lock()
	busy := len(m.containers) > 0
	m.mu.Unlock()
	if !busy {
		if err := removeCgroupTree(ctx, "/"+m.parent); err != nil {
			errs = append(errs, fmt.Errorf("cleanup: %w", err))
		}
	}
	if n > 0 {
		m.log.Info("removed leftover containers", "count", n, "state_dir", m.stateDir)
	}
	return n, errors.Join(errs...)
}

// destroyLeftover kills and destroys one container of an earlier process.
func (m *Manager) destroyLeftover(ctx context.Context, id string) error {
	dir := filepath.Join(m.stateDir, id)
	lc, err := libcontainer.Load(m.stateDir, id)
	if err != nil {
		// No usable state (a start interrupted early): its cgroup, if
		// any, is swept with the parent; the directory goes now.
		m.log.Info("removing container state without a container", "id", id, "err", err)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("cleanup %s: %w", id, err)
		}
		return nil
	}
	if err := lc.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		m.log.Debug("kill leftover", "id", id, "err", err)
	}
	// Its init is not our child: wait for the kernel (or its reaper) to
	// finish it, by polling the state libcontainer reads from /proc.
	if err := waitStopped(ctx, lc); err != nil {
		return fmt.Errorf("cleanup %s: %w", id, err)
	}
	if err := lc.Destroy(); err != nil {
		return fmt.Errorf("cleanup %s: destroy: %w", id, err)
	}
	return nil
}

// Close destroys every container this Manager started and removes the
// parent cgroup when it is empty. Start fails with ErrClosed afterwards.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	cs := make([]*Container, 0, len(m.containers))
	for _, c := range m.containers {
		cs = append(cs, c)
	}
	m.mu.Unlock()
	var errs []error
	for _, c := range cs {
		if err := c.Destroy(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := removeCgroupTree(ctx, "/"+m.parent); err != nil {
			errs = append(errs, fmt.Errorf("close: %w", err))
		}
	}
	if m.initHelper != nil {
		_ = m.initHelper.Close()
	}
	return errors.Join(errs...)
}

// forget drops a destroyed container from the Manager.
func (m *Manager) forget(c *Container) {
	m.mu.Lock()
	if m.containers[c.id] == c {
		delete(m.containers, c.id)
	}
	m.mu.Unlock()
}

// sealingCopies reports whether libcontainer will copy the binary exe
// into memory for each container start. It runs a sealed view of the
// running binary as each container's init: an overlay whose two lower
// layers are exe's directory and the container's state directory (in
// stateDir), which the kernel refuses (ELOOP) when the first holds the
// second. libcontainer then copies the binary into a sealed memfd
// instead, at every start: wispd is 38 MB, and copying it into memory took
// ~24 ms here, where making the overlay took under 0.1 ms.
func sealingCopies(exe, stateDir string) bool {
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	if real, err := filepath.EvalSymlinks(stateDir); err == nil {
		stateDir = real
	}
	return holds(filepath.Dir(exe), stateDir)
}

// holds reports whether the directory parent is dir or holds it; both are
// clean absolute paths.
func holds(parent, dir string) bool {
	return dir == parent || parent == "/" || strings.HasPrefix(dir, parent+"/")
}
