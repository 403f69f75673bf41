package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// tree replays layers in memory for Inspect, with the path resolution of
// the disk applier (os.Root): symlinks are followed while they stay inside
// the root; an absolute one, or one climbing above the root, is an escape.
// So Inspect refuses what Import would, without writing anything.
type tree struct {
	root  *vnode
	layer int
}

type vtype int

const (
	vDir vtype = iota
	vFile
	vLink
)

type vnode struct {
	typ    vtype
	target string // a symlink's
	layer  int    // the layer that made it
	kids   map[string]*vnode
}

const maxLinkHops = 40

var errEscapes = errors.New("path escapes from parent")

func newTree() *tree {
	return &tree{root: &vnode{typ: vDir, kids: map[string]*vnode{}, layer: -1}}
}

func (t *tree) beginLayer(i int) { t.layer = i }

// walk follows p from the directory at the end of stack and returns the
// stack of directories it ends in. Missing directories are made when
// create is set (MkdirAll), otherwise fs.ErrNotExist is returned.
func (t *tree) walk(stack []*vnode, p string, create bool, hops *int) ([]*vnode, error) {
	stack = stack[:len(stack):len(stack)]
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return nil, errEscapes
			}
			stack = stack[: len(stack)-1 : len(stack)-1]
			continue
		}
		cur := stack[len(stack)-1]
		child := cur.kids[c]
		if child == nil {
			if !create {
				return nil, fs.ErrNotExist
			}
			child = &vnode{typ: vDir, kids: map[string]*vnode{}, layer: t.layer}
			cur.kids[c] = child
		}
		switch child.typ {
		case vLink:
			if *hops++; *hops > maxLinkHops {
				return nil, syscall.ELOOP
			}
			if strings.HasPrefix(child.target, "/") {
				return nil, errEscapes
			}
			s, err := t.walk(stack, child.target, create, hops)
			if err != nil {
				return nil, err
			}
			stack = s[:len(s):len(s)]
		case vFile:
			return nil, syscall.ENOTDIR
		default:
			stack = append(stack, child)
		}
	}
	return stack, nil
}

// parent resolves name's directory (made if missing when create is set).
func (t *tree) parent(name string, create bool) (*vnode, string, error) {
	hops := 0
	s, err := t.walk([]*vnode{t.root}, path.Dir(name), create, &hops)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	return s[len(s)-1], path.Base(name), nil
}

func (t *tree) put(name string, n *vnode) error {
	dir, base, err := t.parent(name, true)
	if err != nil {
		return err
	}
	n.layer = t.layer
	if n.typ == vDir {
		if old := dir.kids[base]; old != nil && old.typ == vDir {
			old.layer = t.layer
			return nil
		}
		n.kids = map[string]*vnode{}
	}
	dir.kids[base] = n
	return nil
}

func (t *tree) dir(name string, _ fs.FileMode, _ *tar.Header) error {
	return t.put(name, &vnode{typ: vDir})
}

func (t *tree) file(name string, _ fs.FileMode, h *tar.Header, r io.Reader) error {
	if err := t.put(name, &vnode{typ: vFile}); err != nil {
		return err
	}
	// Reading the bytes checks the layer is not truncated and feeds its
	// digests.
	n, err := io.Copy(io.Discard, r)
	if err == nil && n != h.Size {
		err = io.ErrUnexpectedEOF
	}
	return tarErr(err)
}

func (t *tree) symlink(name string, h *tar.Header) error {
	return t.put(name, &vnode{typ: vLink, target: h.Linkname})
}

func (t *tree) hardlink(name, target string, h *tar.Header) error {
	dir, base, err := t.parent(target, false)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hard link to %q, which no layer made", h.Linkname)
	}
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
	}
	n := dir.kids[base]
	switch {
	case n == nil:
		return fmt.Errorf("hard link to %q, which no layer made", h.Linkname)
	case n.typ == vDir:
		return fmt.Errorf("hard link to %q, a directory", h.Linkname)
	}
	return t.put(name, &vnode{typ: n.typ, target: n.target})
}

func (t *tree) whiteout(name string) error {
	dir, base, err := t.parent(name, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if n := dir.kids[base]; n != nil && n.layer != t.layer {
		delete(dir.kids, base)
	}
	return nil
}

func (t *tree) opaque(dir string) error {
	hops := 0
	s, err := t.walk([]*vnode{t.root}, dir, false, &hops)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	t.removeLower(s[len(s)-1])
	return nil
}

func (t *tree) removeLower(n *vnode) {
	for k, c := range n.kids {
		if c.layer != t.layer {
			delete(n.kids, k)
		} else if c.typ == vDir {
			t.removeLower(c)
		}
	}
}
