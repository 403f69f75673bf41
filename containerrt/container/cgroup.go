package container

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

// cgroupFiles locates the files Wisp reads from a container's cgroups,
// under cgroup v1 (one directory per controller) or v2 (one directory).
type cgroupFiles struct {
	v2      bool
	memory  string // directory of the memory controller
	freezer string // directory of the freezer (v1) or the unified one (v2)
	pids    string // directory of the pids controller

	// The freezer's files, open for the container's life (nil where the
	// open failed: the file is then opened for each use). A resume reads
	// the state and writes it; kept open, that is two system calls
	// instead of six, on the path of the activation, where each cost
	// 20–70 µs after an idle moment on this kind of VM.
	state  *os.File // freezer.state (v1), read and written; cgroup.freeze (v2), written
	events *os.File // cgroup.events (v2), read
}

// newCgroupFiles locates a container's cgroup files and opens the
// freezer's; close closes them.
func newCgroupFiles(paths map[string]string) cgroupFiles {
	var c cgroupFiles
	if cgroups.IsCgroup2UnifiedMode() {
		p := paths[""]
		c = cgroupFiles{v2: true, memory: p, freezer: p, pids: p}
	} else {
		c = cgroupFiles{memory: paths["memory"], freezer: paths["freezer"], pids: paths["pids"]}
	}
	c.openFreezer()
	return c
}

// openFreezer opens the freezer's files; those that do not open stay nil.
func (c *cgroupFiles) openFreezer() {
	if c.v2 {
		c.state, _ = os.OpenFile(filepath.Join(c.freezer, "cgroup.freeze"), os.O_WRONLY, 0)
		c.events, _ = os.Open(filepath.Join(c.freezer, "cgroup.events"))
		return
	}
	c.state, _ = os.OpenFile(filepath.Join(c.freezer, "freezer.state"), os.O_RDWR, 0)
}

// close closes the freezer's files.
func (c cgroupFiles) close() {
	for _, f := range []*os.File{c.state, c.events} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// readFreezer reads one of the freezer's files whole: from f, kept open,
// or else by name.
func (c cgroupFiles) readFreezer(f *os.File, name string) ([]byte, error) {
	if f == nil {
		return os.ReadFile(filepath.Join(c.freezer, name))
	}
	buf := make([]byte, 512) // either file is a few lines
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

// writeFreezer writes the freezer's state: v to freezer.state (v1) or
// cgroup.freeze (v2).
func (c cgroupFiles) writeFreezer(v string) error {
	name := "freezer.state"
	if c.v2 {
		name = "cgroup.freeze"
	}
	var err error
	if c.state != nil {
		_, err = c.state.WriteAt([]byte(v), 0)
	} else {
		err = os.WriteFile(filepath.Join(c.freezer, name), []byte(v), 0)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// oomKills is how many processes the memory cgroup's OOM killer has
// killed: "oom_kill" of memory.events (v2) or memory.oom_control (v1,
// kernel ≥ 4.13). Older v1 kernels lack the counter; failcnt > 0 (the limit
// was hit) stands in for it there.
func (c cgroupFiles) oomKills() (int64, error) {
	file := "memory.oom_control"
	if c.v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(c.memory, file))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", file, err)
	}
	if n, ok := keyedValue(b, "oom_kill"); ok {
		return n, nil
	}
	if c.v2 {
		return 0, fmt.Errorf("read %s: no oom_kill counter", file)
	}
	fc, err := readInt(filepath.Join(c.memory, "memory.failcnt"))
	if err != nil {
		return 0, err
	}
	return min(fc, 1), nil
}

// memoryUsage is the memory charged to the cgroup, in bytes.
func (c cgroupFiles) memoryUsage() (int64, error) {
	if c.v2 {
		return readInt(filepath.Join(c.memory, "memory.current"))
	}
	return readInt(filepath.Join(c.memory, "memory.usage_in_bytes"))
}

// pidsCurrent is the number of tasks in the cgroup.
func (c cgroupFiles) pidsCurrent() (int64, error) {
	return readInt(filepath.Join(c.pids, "pids.current"))
}

// frozen reads the kernel's freezer state: freezer.state "FROZEN" (v1) or
// "frozen 1" in cgroup.events (v2).
func (c cgroupFiles) frozen() (bool, error) {
	if c.v2 {
		b, err := c.readFreezer(c.events, "cgroup.events")
		if err != nil {
			return false, fmt.Errorf("read cgroup.events: %w", err)
		}
		n, _ := keyedValue(b, "frozen")
		return n == 1, nil
	}
	b, err := c.readFreezer(c.state, "freezer.state")
	if err != nil {
		return false, fmt.Errorf("read freezer.state: %w", err)
	}
	return strings.TrimSpace(string(b)) == "FROZEN", nil
}

// keyedValue finds "key N" in a flat-keyed cgroup file.
func keyedValue(b []byte, key string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", filepath.Base(path), err)
	}
	return n, nil
}

// removeCgroupTree kills whatever still runs under the cgroup path (in
// every hierarchy) and removes it with its children. It is how leftovers
// that never got a state file, and the per-daemon parent, are cleaned.
func removeCgroupTree(ctx context.Context, path string) error {
	m, err := manager.New(&cgroups.Cgroup{Path: path, Resources: &cgroups.Resources{}})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", path, err)
	}
	if !m.Exists() {
		// v1: Exists looks at one hierarchy; the others may still hold
		// an empty directory, which Destroy removes.
		return m.Destroy()
	}
	// Thaw first: under v1 a frozen task does not die until thawed
	// (thawing a v1 parent thaws its descendants; v2 kills frozen tasks).
	_ = m.Freeze(cgroups.Thawed)
	for {
		pids, err := m.GetAllPids()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("list tasks of cgroup %s: %w", path, err)
		}
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			_ = unix.Kill(p, unix.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kill tasks of cgroup %s: %w", path, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := m.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", path, err)
	}
	return nil
}

// freeze freezes the cgroup and waits until the kernel reports every task
// frozen. libcontainer's own freeze (cgroup v1) thaws and sleeps 10 ms
// whenever 50 quick polls have not seen the cgroup frozen, and its v2 wait
// sleeps 10 ms between reads: on a busy host, where the tasks wait for a
// CPU to reach the refrigerator, a pause then cost 40–60 ms. Here the state
// is written once (again from time to time under v1, where tasks forked
// meanwhile may need it) and polled with a short, growing delay, never
// thawing in between. If ctx ends first, the cgroup is thawed.
func (c cgroupFiles) freeze(ctx context.Context) error {
	on, off := "FROZEN", "THAWED"
	if c.v2 {
		on, off = "1", "0"
	}
	write := c.writeFreezer
	if err := write(on); err != nil {
		return err
	}
	// Each read is a few µs; reading often costs less than seeing the
	// freeze late.
	delay := 10 * time.Microsecond
	for i := 1; ; i++ {
		frozen, err := c.frozen()
		if err != nil {
			_ = write(off)
			return err
		}
		if frozen {
			return nil
		}
		if !c.v2 && i%64 == 0 {
			if err := write(on); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			_ = write(off)
			return fmt.Errorf("wait for the cgroup to freeze: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 200*time.Microsecond)
	}
}

// freezerSentinel names the empty cgroup that keepFreezerActive keeps
// frozen beside a Manager's containers. No container can take the name:
// an id has no '_' (validID).
const freezerSentinel = "keep_freezer_active"

// keepFreezerActive makes an empty cgroup beside the containers in the v1
// freezer hierarchy and freezes it, for as long as the parent cgroup
// lives (Close and CleanupLeftovers remove it with the parent).
//
// Why: since Linux 6.1 the v1 freezer switches a static key on when the
// first cgroup of the machine starts freezing and off when the last one
// thaws. Switching it patches kernel code and waits for every CPU; on this
// kind of VM, with the other vCPU idle, that made the write that thaws the
// only paused container take 2 ms instead of a few µs, on the path of the
// activation that resumes it. A frozen cgroup that never thaws keeps the
// key on. Under v2, which has no such key, and on any failure (it only
// saves time), nothing is done.
func (m *Manager) keepFreezerActive(c cgroupFiles) {
	if c.v2 || c.freezer == "" {
		return
	}
	dir := filepath.Join(filepath.Dir(c.freezer), freezerSentinel)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		m.log.Debug("freezer sentinel not made", "dir", dir, "err", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("FROZEN"), 0); err != nil {
		m.log.Debug("freezer sentinel not frozen", "dir", dir, "err", err)
		return
	}
	m.log.Debug("freezer sentinel frozen", "dir", dir)
}

// thaw resumes a frozen cgroup: a single write, the kernel thaws at once.
func (c cgroupFiles) thaw() error {
	if c.v2 {
		return c.writeFreezer("0")
	}
	return c.writeFreezer("THAWED")
}
