package runtimes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// entryKind is what an entry of a root filesystem is.
type entryKind int

const (
	hostFile  entryKind = iota // a copy of a file of the host
	dataFile                   // a file with contents given by the builder
	dirEntry                   // a directory
	linkEntry                  // a symbolic link
)

// entry is one path of a root filesystem to be.
type entry struct {
	kind   entryKind
	src    string      // hostFile: the host path to copy
	data   []byte      // dataFile
	target string      // linkEntry
	mode   fs.FileMode // hostFile, dataFile, dirEntry: permission bits
	// For hashing a hostFile without reading it: dpkg replaces a file
	// (new size or mtime) when it upgrades it.
	size  int64
	mtime int64
}

// tree is a root filesystem to be, keyed by absolute path inside it.
type tree struct {
	entries map[string]*entry
	// extra are more inputs of the hash: versions of tools a post step
	// uses, the builder's own version.
	extra []string
}

func newTree() *tree { return &tree{entries: map[string]*entry{}} }

// dir adds a directory.
func (t *tree) dir(p string, mode fs.FileMode) {
	t.entries[p] = &entry{kind: dirEntry, mode: mode}
}

// data adds a file with the given contents.
func (t *tree) data(p string, mode fs.FileMode, b []byte) {
	t.entries[p] = &entry{kind: dataFile, data: b, mode: mode}
}

// link adds a symbolic link.
func (t *tree) link(p, target string) {
	t.entries[p] = &entry{kind: linkEntry, target: target}
}

// host adds the host's file p at the same path, following the host's
// symbolic links: a directory symlink on the way (/lib → usr/lib) is
// resolved, so the entry is at the file's real place, and a symlinked file
// is added as the link plus what it points to. Directories are not
// descended into. It returns the real path of the file finally reached.
func (t *tree) host(p string) (string, error) {
	for range 40 { // as the kernel's limit on symlinks in a lookup
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		p = filepath.Join(dir, filepath.Base(p))
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return "", err
			}
			t.link(p, target)
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(p), target)
			}
			p = target
			continue
		case fi.IsDir():
			t.dir(p, fi.Mode().Perm())
		case fi.Mode().IsRegular():
			st, _ := fi.Sys().(*syscall.Stat_t)
			var mtime int64
			if st != nil {
				mtime = st.Mtim.Nano()
			}
			// Set-id bits never make it into a runtime: nothing in a
			// container may gain privileges.
			t.entries[p] = &entry{kind: hostFile, src: p, mode: fi.Mode().Perm(), size: fi.Size(), mtime: mtime}
		default:
			return "", fmt.Errorf("%s is neither a file, a directory nor a symlink", p)
		}
		return p, nil
	}
	return "", fmt.Errorf("resolve %s: too many levels of symbolic links", p)
}

// hash is the content hash of the tree: every path with what it is, and the
// extra inputs. Host files count by size and modification time.
func (t *tree) hash() string {
	h := sha256.New()
	paths := t.paths()
	for _, p := range paths {
		e := t.entries[p]
		switch e.kind {
		case hostFile:
			fmt.Fprintf(h, "F %s %o %d %d\n", p, e.mode, e.size, e.mtime)
		case dataFile:
			sum := sha256.Sum256(e.data)
			fmt.Fprintf(h, "D %s %o %x\n", p, e.mode, sum)
		case dirEntry:
			fmt.Fprintf(h, "d %s %o\n", p, e.mode)
		case linkEntry:
			fmt.Fprintf(h, "L %s %s\n", p, e.target)
		}
	}
	for _, x := range t.extra {
		fmt.Fprintf(h, "X %s\n", x)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// paths are the tree's paths, sorted, so that parents come first.
func (t *tree) paths() []string {
	ps := make([]string, 0, len(t.entries))
	for p := range t.entries {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// hostBytes is the total size of the files to copy from the host.
func (t *tree) hostBytes() (n int64) {
	for _, e := range t.entries {
		if e.kind == hostFile {
			n += e.size
		}
	}
	return n
}

// write creates the tree under root, which must exist and be empty.
// Missing parent directories are made 0755. Files keep the host's
// modification times (compiled Python checks them).
func (t *tree) write(ctx context.Context, root string) error {
	for _, p := range t.paths() {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := t.entries[p]
		dst := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		switch e.kind {
		case dirEntry:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			// Chmod, past the umask; a sticky /tmp needs ModeSticky.
			mode := e.mode
			if p == "/tmp" {
				mode |= fs.ModeSticky
			}
			if err := os.Chmod(dst, mode); err != nil {
				return err
			}
		case linkEntry:
			if err := os.Symlink(e.target, dst); err != nil {
				return err
			}
		case dataFile:
			if err := os.WriteFile(dst, e.data, e.mode); err != nil {
				return err
			}
			if err := os.Chmod(dst, e.mode); err != nil {
				return err
			}
		case hostFile:
			if err := copyFile(e.src, dst, e.mode); err != nil {
				return fmt.Errorf("copy %s: %w", e.src, err)
			}
		}
	}
	return nil
}

// copyFile copies src to a new file dst with mode and src's times.
func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(dst, mode); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

// underAny reports whether p is one of dirs or inside one of them.
func underAny(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}
