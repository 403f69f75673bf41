package containerrt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Root filesystems in memory.
//
// Node.js's executable is 99 MB. Started from the disk's page cache it is
// mapped in 4 KB pages, and on this kind of virtual machine its page
// faults and TLB misses cost a cold start tens of milliseconds: `node
// /dev/null` took 76 ms from ext4 and 54 ms from a tmpfs whose file pages
// are 2 MB (docs/rationale.md, "Runtimes in memory"). A runtime that says
// so in its runtime.json ("inMemory") therefore gets a copy of its root
// filesystem on a tmpfs mounted with huge=within_size, which containers
// start from once it is made. Until then, and wherever the copy cannot
// be made (no transparent huge pages for shared memory, no right to
// mount), containers start from the disk as before.

// memRootfsDir is the tmpfs's mount point under the state directory.
const memRootfsDir = "rootfs-mem"

// memRootfsMaxMB bounds the tmpfs: the copies are of runtimes built by
// Wisp (nodejs20 is 105 MB), never of users' images.
const memRootfsMaxMB = 1024

// memRootfs is the tmpfs and the copies on it, each made once per built
// runtime (its stamp), in the background.
type memRootfs struct {
	dir string
	log *slog.Logger
	// onReady is called, with no lock held, when a copy is ready.
	onReady func()
	// after, when not nil, holds the copies back until it is closed
	// (Config.StemsAfter: a daemon's first invokes come first).
	after <-chan struct{}

	mu     sync.Mutex
	copies map[string]*memCopy // by copy name
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// memCopy is one runtime's copy: being made, or failed, while rootfs is
// "", ready once it is set. done is closed when the copy has ended,
// whichever way.
type memCopy struct {
	rootfs string
	done   chan struct{}
}

// openMemRootfs mounts the tmpfs at dir, after unmounting what a crashed
// predecessor left there. It returns nil, having logged why, when the
// kernel would not give the tmpfs huge pages or the mount fails:
// containers then start from the disk.
func openMemRootfs(dir string, log *slog.Logger, onReady func(), after <-chan struct{}) *memRootfs {
	if ok, why := hugeShmem(); !ok {
		log.Info("runtime root filesystems stay on disk", "reason", why)
		return nil
	}
	if err := unmountAll(dir); err != nil {
		log.Warn("runtime root filesystems stay on disk", "reason", err)
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		log.Warn("runtime root filesystems stay on disk", "reason", fmt.Errorf("remove %s: %w", dir, err))
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Warn("runtime root filesystems stay on disk", "reason", err)
		return nil
	}
	opts := fmt.Sprintf("mode=0755,huge=within_size,size=%dm", memRootfsMaxMB)
	if err := unix.Mount("wisp-rootfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		_ = os.Remove(dir)
		log.Warn("runtime root filesystems stay on disk", "reason", fmt.Errorf("mount a tmpfs on %s: %w", dir, err))
		return nil
	}
	return &memRootfs{dir: dir, log: log, onReady: onReady, after: after, copies: map[string]*memCopy{}, stop: make(chan struct{})}
}

// shmemEnabledFile is where the kernel says whether shared memory (tmpfs)
// may use transparent huge pages.
const shmemEnabledFile = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

// hugeShmem reports whether a tmpfs mounted with huge= gets huge pages:
// the kernel has transparent huge pages and shmem_enabled is not "deny"
// (its other settings are defaults that the mount option overrides).
func hugeShmem() (bool, string) {
	b, err := os.ReadFile(shmemEnabledFile)
	if err != nil {
		return false, "the kernel has no transparent huge pages for shared memory (" + err.Error() + ")"
	}
	if strings.Contains(string(b), "[deny]") {
		return false, shmemEnabledFile + " is deny: a tmpfs would get no huge pages"
	}
	return true, ""
}

// unmountAll unmounts every mount stacked on dir.
func unmountAll(dir string) error {
	for range 16 {
		err := unix.Unmount(dir, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil // not (or no longer) a mount point
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return fmt.Errorf("unmount %s: still a mount point after 16 unmounts", dir)
}

// copyName names img's copy: its runtime directory and its stamp's first
// line (the hash of the build's inputs), so that a rebuilt runtime gets a
// copy of its own.
func copyName(img *runtimeImage) string {
	sum := sha256.Sum256([]byte(img.Stamp))
	return filepath.Base(img.Dir) + "-" + hex.EncodeToString(sum[:6])
}

// rootfs returns the path of img's copy when it is ready, else "" after
// starting the copy if it is not under way (a failed copy is not tried
// again before a restart).
func (m *memRootfs) rootfs(img *runtimeImage) string {
	name := copyName(img)
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.copies[name]; ok {
		return c.rootfs
	}
	if m.closed {
		return ""
	}
	c := &memCopy{done: make(chan struct{})}
	m.copies[name] = c
	m.wg.Add(1)
	go m.copy(name, c, img)
	return ""
}

// copy makes c, img's copy, then calls onReady.
func (m *memRootfs) copy(name string, c *memCopy, img *runtimeImage) {
	defer m.wg.Done()
	defer close(c.done)
	if m.after != nil {
		select {
		case <-m.after:
		case <-m.stop:
			return
		}
	}
	start := time.Now()
	final := filepath.Join(m.dir, name)
	tmp := final + ".tmp" // the tmpfs is new, and a failed copy removes it
	size, err := m.copyTree(img.Rootfs, tmp)
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		if !errors.Is(err, errMemClosed) {
			m.log.Warn("a runtime's root filesystem stays on disk: copying it to memory failed", "kind", img.Kind, "err", err)
		}
		return
	}
	m.mu.Lock()
	c.rootfs = final
	m.mu.Unlock()
	m.log.Info("runtime root filesystem copied to memory (2 MB pages)", "kind", img.Kind, "mb", size>>20, "took", time.Since(start).Round(time.Millisecond), "dir", final)
	m.onReady()
}

var errMemClosed = errors.New("the container runtime is closing")

// copyTree copies the tree at src to dst (which must not exist): files
// with their contents, modes, owners and times, symbolic links, and hard
// links within the tree as hard links. Anything else (a device, a pipe,
// a socket) fails the copy: a runtime's root filesystem has none. It
// returns the bytes of file content copied.
func (m *memRootfs) copyTree(src, dst string) (int64, error) {
	type dirTimes struct {
		path string
		st   *unix.Stat_t
	}
	var (
		size  int64
		dirs  []dirTimes // set once their contents are written
		links = map[[2]uint64]string{}
		buf   = make([]byte, 1<<20)
	)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		select {
		case <-m.stop:
			return errMemClosed
		default:
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirTimes{to, &st})
			return nil
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		case unix.S_IFREG:
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := links[key]; ok {
				return os.Link(first, to)
			}
			if st.Nlink > 1 {
				links[key] = to
			}
			if err := copyFile(p, to, st.Size, buf); err != nil {
				return err
			}
			size += st.Size
			if err := unix.Chmod(to, st.Mode&0o7777); err != nil {
				return fmt.Errorf("chmod %s: %w", to, err)
			}
		default:
			return fmt.Errorf("%s is not a file, directory or symbolic link (mode %#o)", p, st.Mode)
		}
		return setOwnerTimes(to, &st)
	})
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", src, err)
	}
	// Directories last, deepest first: their modes may forbid writing
	// into them, and writing into them changed their times.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := unix.Chmod(d.path, d.st.Mode&0o7777); err != nil {
			return 0, fmt.Errorf("copy %s: chmod %s: %w", src, d.path, err)
		}
		if err := setOwnerTimes(d.path, d.st); err != nil {
			return 0, fmt.Errorf("copy %s: %w", src, err)
		}
	}
	return size, nil
}

// copyFile copies the regular file src, of size bytes, to the new file
// dst. dst is first truncated to its full size: with huge=within_size the
// tmpfs gives a file 2 MB pages only where they fit within its size, so
// a file grown by appending would get none.
func copyFile(src, dst string, size int64, buf []byte) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := out.Truncate(size); err != nil {
		out.Close()
		return fmt.Errorf("size %s: %w", dst, err)
	}
	// The wrappers hide ReaderFrom and WriterTo: a plain loop over buf
	// rather than copy_file_range, the same on every file system.
	n, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, buf)
	if err == nil && n != size {
		err = fmt.Errorf("%s changed while it was copied (%d bytes, then %d)", src, size, n)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// setOwnerTimes gives path (not following a link) st's owner and
// modification time; times matter to Python, whose compiled files are
// checked against their sources' times.
func setOwnerTimes(path string, st *unix.Stat_t) error {
	if err := unix.Lchown(path, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set the times of %s: %w", path, err)
	}
	return nil
}

// close stops the copies under way, waits for them, and unmounts the
// tmpfs. Containers started from a copy must be gone: their root would
// vanish with it.
func (m *memRootfs) close() error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.stop)
	}
	m.mu.Unlock()
	m.wg.Wait()
	if err := unmountAll(m.dir); err != nil {
		return err
	}
	if err := os.Remove(m.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", m.dir, err)
	}
	return nil
}
