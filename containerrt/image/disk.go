package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// disk applies layers to a root filesystem directory. Every operation goes
// through an os.Root, which refuses to follow a symlink out of the
// directory (absolute targets included): a layer cannot write outside
// rootfs/, whatever links earlier layers made.
type disk struct {
	root  *os.Root
	chown bool            // keep the layers' owners (only root may)
	layer map[string]bool // names made by the current layer
}

func newDisk(rootfs string) (*disk, error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, fmt.Errorf("import image: %w", err)
	}
	return &disk{root: root, chown: os.Geteuid() == 0}, nil
}

func (d *disk) close() error { return d.root.Close() }

func (d *disk) beginLayer(int) { d.layer = map[string]bool{} }

// prepare makes name's parent directories and removes what is at name,
// unless it is a directory and keepDir is set (a directory entry over a
// directory keeps its contents, as in Docker). It reports whether a
// directory was kept.
func (d *disk) prepare(name string, keepDir bool) (bool, error) {
	if err := d.mkdirParents(path.Dir(name)); err != nil {
		return false, err
	}
	fi, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if keepDir && fi.IsDir() {
		return true, nil
	}
	return false, d.root.RemoveAll(name)
}

// mkdirParents makes dir and its missing parents 0755, as Docker does for
// directories a layer does not list (os.Root's MkdirAll would leave the
// umask's mode, perhaps unreadable to the container's user). Following
// symlinks inside the root, as the kernel will in the container.
func (d *disk) mkdirParents(dir string) error {
	if dir == "." {
		return nil
	}
	if fi, err := d.root.Stat(dir); err == nil && fi.IsDir() {
		return nil // the common case: layers list directories first
	}
	if err := d.mkdirParents(path.Dir(dir)); err != nil {
		return err
	}
	err := d.root.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		// A file, or a symlink Stat could not follow: not a directory.
		fi, err := d.root.Stat(dir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: %w", dir, syscall.ENOTDIR)
		}
		return nil
	}
	if err != nil {
		return err
	}
	return d.root.Chmod(dir, 0o755)
}

func (d *disk) dir(name string, mode fs.FileMode, h *tar.Header) error {
	kept, err := d.prepare(name, true)
	if err != nil {
		return err
	}
	if !kept {
		if err := d.root.Mkdir(name, 0o700); err != nil {
			return err
		}
	}
	d.layer[name] = true
	if d.chown {
		if err := d.root.Lchown(name, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	// Chmod after Mkdir: Mkdir's mode is cut by the umask.
	return d.root.Chmod(name, mode)
}

func (d *disk) file(name string, mode fs.FileMode, h *tar.Header, r io.Reader) error {
	if _, err := d.prepare(name, false); err != nil {
		return err
	}
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	d.layer[name] = true
	n, err := io.Copy(f, r)
	if err == nil && n != h.Size {
		err = fmt.Errorf("%d bytes of %d: %w", n, h.Size, io.ErrUnexpectedEOF)
	}
	if err == nil && d.chown {
		err = f.Chown(h.Uid, h.Gid)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return tarErr(err)
	}
	// Keeping modification times keeps Python's bytecode caches valid on a
	// read-only root.
	return d.root.Chtimes(name, h.ModTime, h.ModTime)
}

func (d *disk) symlink(name string, h *tar.Header) error {
	if _, err := d.prepare(name, false); err != nil {
		return err
	}
	if err := d.root.Symlink(h.Linkname, name); err != nil {
		return err
	}
	d.layer[name] = true
	if d.chown {
		return d.root.Lchown(name, h.Uid, h.Gid)
	}
	return nil
}

func (d *disk) hardlink(name, target string, h *tar.Header) error {
	fi, err := d.root.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hard link to %q, which no layer made", h.Linkname)
	}
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("hard link to %q, a directory", h.Linkname)
	}
	if _, err := d.prepare(name, false); err != nil {
		return err
	}
	if err := d.root.Link(target, name); err != nil {
		return err
	}
	d.layer[name] = true
	return nil
}

func (d *disk) whiteout(name string) error {
	if d.layer[name] {
		return nil // whiteouts hide lower layers only
	}
	if _, err := d.root.Lstat(name); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	return d.root.RemoveAll(name)
}

func (d *disk) opaque(dir string) error {
	fi, err := d.root.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return nil
	}
	return d.removeLower(dir)
}

// removeLower removes what is under dir but was not made by this layer.
func (d *disk) removeLower(dir string) error {
	f, err := d.root.Open(dir)
	if err != nil {
		return err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		if !d.layer[p] {
			if err := d.root.RemoveAll(p); err != nil {
				return err
			}
		} else if e.IsDir() {
			if err := d.removeLower(p); err != nil {
				return err
			}
		}
	}
	return nil
}
