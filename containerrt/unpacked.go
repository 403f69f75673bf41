package containerrt

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/wispfaas/wisp/containerrt/actioncode"
)

// unpackedBudget bounds the bytes of the unpacked zips kept for reuse.
const unpackedBudget = 1 << 30

// unpackedTrees keeps each zip action's code unpacked once, under
// <StateDir>/unpacked, for the life of the Runtime. A container's action
// directory gets hard links to a tree's files (actioncode.LinkTree)
// instead of an unpacking of its own: for a zip of 3,000 files (9.6 MB),
// unpacking cost 330–610 ms of every new container's start here, linking a
// few tens of milliseconds. A container's links keep their files whatever
// becomes of the tree, so a tree can be evicted (least recently used
// first, past unpackedBudget) as soon as no container is being linked
// from it. Safe for concurrent use.
type unpackedTrees struct {
	root   string
	budget int64 // unpackedBudget; tests set less

	mu    sync.Mutex
	trees map[string]*unpackedTree
	lru   list.List // of *unpackedTree, ready ones, most recently used first
	size  int64
	seq   int
}

// unpackedTree is one zip unpacked, or being unpacked (done open).
type unpackedTree struct {
	key   string
	dir   string
	done  chan struct{}
	err   error
	size  int64
	users int // linking from it now: not evicted meanwhile
	elem  *list.Element
}

func newUnpackedTrees(root string) *unpackedTrees {
	return &unpackedTrees{root: root, budget: unpackedBudget, trees: map[string]*unpackedTree{}}
}

// CodeReader opens an action's code to read it in place: size bytes of r,
// until done is called.
type CodeReader func(ctx context.Context) (r io.ReaderAt, size int64, done func(), err error)

// CodeBytes is a CodeReader of the bytes load fetches.
func CodeBytes(load func(context.Context) ([]byte, error)) CodeReader {
	return func(ctx context.Context) (io.ReaderAt, int64, func(), error) {
		b, err := load(ctx)
		if err != nil {
			return nil, 0, nil, err
		}
		return bytes.NewReader(b), int64(len(b)), func() {}, nil
	}
}

// CodeFile is a CodeReader of a file that open hands out (the invoker's
// cached copy of the blob, kept until release): the code is never whole in
// memory.
func CodeFile(open func(context.Context) (string, func(), error)) CodeReader {
	return func(ctx context.Context) (io.ReaderAt, int64, func(), error) {
		path, release, err := open(ctx)
		if err != nil {
			return nil, 0, nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			release()
			return nil, 0, nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			release()
			return nil, 0, nil, err
		}
		return f, fi.Size(), func() { f.Close(); release() }, nil
	}
}

// link gives dir the code of the zip named digest, for kind (whose entry
// point the unpacking checks), unpacking it from load unless a tree of it
// is kept. Errors are the unpacking's (what is wrong with the zip) or
// load's, marked as such (errLoad).
func (u *unpackedTrees) link(ctx context.Context, digest, kind string, load CodeReader, dir string) error {
	t, err := u.acquire(ctx, digest, kind, load)
	if err != nil {
		return err
	}
	defer u.release(t)
	if _, err := actioncode.LinkTree(t.dir, dir); err != nil {
		return errPlace{fmt.Errorf("place the action's code: %w", err)}
	}
	return nil
}

// errLoad marks a failure to fetch the code, not a fault of the code.
type errLoad struct{ err error }

func (e errLoad) Error() string { return e.err.Error() }
func (e errLoad) Unwrap() error { return e.err }

// errPlace marks a failure to link the unpacked code into a container's
// directory: the host's (a full disk), not the code's.
type errPlace struct{ err error }

func (e errPlace) Error() string { return e.err.Error() }
func (e errPlace) Unwrap() error { return e.err }

// acquire returns the ready tree of digest for kind, unpacking it if
// needed (one unpacking for concurrent callers), with a use counted.
func (u *unpackedTrees) acquire(ctx context.Context, digest, kind string, load CodeReader) (*unpackedTree, error) {
	sum := sha256.Sum256([]byte(digest + "\x00" + kind))
	key := hex.EncodeToString(sum[:16])
	for {
		u.mu.Lock()
		t := u.trees[key]
		if t == nil {
			u.seq++
			// A directory of its own, sequence-numbered: an evicted tree
			// of the same key may still be being removed.
			t = &unpackedTree{key: key, dir: filepath.Join(u.root, fmt.Sprintf("%s-%d", key, u.seq)), done: make(chan struct{}), users: 1}
			u.trees[key] = t
			tmp := filepath.Join(u.root, fmt.Sprintf("tmp-%s-%d", key, u.seq))
			u.mu.Unlock()
			u.fill(ctx, t, tmp, kind, load)
			if t.err != nil {
				u.release(t)
				return nil, t.err
			}
			return t, nil
		}
		t.users++
		u.mu.Unlock()
		select {
		case <-t.done:
		case <-ctx.Done():
			u.release(t)
			return nil, ctx.Err()
		}
		if t.err == nil {
			return t, nil
		}
		u.release(t)
		// That unpacking failed (and was forgotten): try again, ours may
		// have what it lacked (its caller's code, its context).
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// fill unpacks the zip into tmp, then renames it into place.
func (u *unpackedTrees) fill(ctx context.Context, t *unpackedTree, tmp, kind string, load CodeReader) {
	defer close(t.done)
	r, size, done, err := load(ctx)
	if err == nil {
		err = actioncode.PlaceZipAt(tmp, kind, r, size)
		done()
		if err == nil {
			t.size = treeSize(tmp)
			err = os.Rename(tmp, t.dir)
		}
	} else {
		err = errLoad{err}
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		t.err = err
		u.mu.Lock()
		if u.trees[t.key] == t {
			delete(u.trees, t.key)
		}
		u.mu.Unlock()
		return
	}
	u.mu.Lock()
	t.elem = u.lru.PushFront(t)
	u.size += t.size
	u.mu.Unlock()
}

// release ends a use of t and evicts what no longer fits. The evicted
// trees are removed after the lock is let go (a large one takes a while):
// they are out of the map by then, so nobody links from them.
func (u *unpackedTrees) release(t *unpackedTree) {
	var evicted []string
	u.mu.Lock()
	t.users--
	if t.elem != nil {
		u.lru.MoveToFront(t.elem)
	}
	for el := u.lru.Back(); el != nil && u.size > u.budget; {
		prev := el.Prev()
		if v := el.Value.(*unpackedTree); v.users == 0 {
			u.lru.Remove(el)
			delete(u.trees, v.key)
			u.size -= v.size
			evicted = append(evicted, v.dir)
		}
		el = prev
	}
	u.mu.Unlock()
	for _, dir := range evicted {
		_ = os.RemoveAll(dir)
	}
}

// treeSize is the bytes of the regular files under dir.
func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
