package containerrt

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// pyZip is a python:3 zip of n extra files of size bytes each.
func pyZip(t *testing.T, n, size int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := map[string][]byte{"__main__.py": []byte("def main(args):\n    return {}\n")}
	for i := range n {
		files[fmt.Sprintf("lib/pkg%d/mod%d.py", i%7, i)] = bytes.Repeat([]byte{byte('a' + i%26)}, size)
	}
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnpackedTrees(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	u := newUnpackedTrees(filepath.Join(root, "unpacked"))
	if err := os.MkdirAll(u.root, 0o711); err != nil {
		t.Fatal(err)
	}
	code := pyZip(t, 50, 1000)
	var loads atomic.Int32
	load := CodeBytes(func(context.Context) ([]byte, error) { loads.Add(1); return code, nil })

	t.Run("one unpacking for many containers at once", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = u.link(ctx, "sha256:aa", "python:3", load, filepath.Join(root, fmt.Sprintf("c%d", i)))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("container %d: %v", i, err)
			}
			b, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("c%d", i), "lib", "pkg3", "mod3.py"))
			if err != nil || len(b) != 1000 {
				t.Fatalf("container %d's file: %d bytes, %v", i, len(b), err)
			}
		}
		if n := loads.Load(); n != 1 {
			t.Errorf("the zip was loaded %d times, want once", n)
		}
		// The containers' files are the tree's: hard links, no copies.
		a, _ := os.Stat(filepath.Join(root, "c0", "__main__.py"))
		b, _ := os.Stat(filepath.Join(root, "c7", "__main__.py"))
		if !os.SameFile(a, b) {
			t.Error("two containers' files are copies, not links to one tree")
		}
	})
	t.Run("a container's files outlive the tree", func(t *testing.T) {
		u.mu.Lock()
		u.budget = 0 // everything not in use is evicted on the next release
		u.mu.Unlock()
		if err := u.link(ctx, "sha256:bb", "python:3", load, filepath.Join(root, "d0")); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(u.root); len(entries) != 0 {
			t.Errorf("trees left past a budget of 0: %v", entries)
		}
		if b, err := os.ReadFile(filepath.Join(root, "d0", "__main__.py")); err != nil || !bytes.HasPrefix(b, []byte("def main")) {
			t.Fatalf("a container's file after its tree was evicted: %q, %v", b, err)
		}
		u.mu.Lock()
		u.budget = unpackedBudget
		u.mu.Unlock()
	})
	t.Run("a bad zip is refused each time, and nothing is kept", func(t *testing.T) {
		bad := pyZip(t, 1, 10)
		bad = bytes.Replace(bad, []byte("__main__.py"), []byte("___ain__.py"), -1)
		for range 2 {
			err := u.link(ctx, "sha256:cc", "python:3", CodeBytes(func(context.Context) ([]byte, error) { return bad, nil }), filepath.Join(root, "e0"))
			if err == nil || errors.As(err, new(errLoad)) {
				t.Fatalf("link of a zip without __main__.py: %v", err)
			}
		}
		entries, _ := os.ReadDir(u.root)
		for _, e := range entries {
			t.Errorf("left in %s: %s", u.root, e.Name())
		}
	})
	t.Run("a failed fetch says so", func(t *testing.T) {
		err := u.link(ctx, "sha256:dd", "python:3", CodeBytes(func(context.Context) ([]byte, error) { return nil, errors.New("store down") }), filepath.Join(root, "f0"))
		if !errors.As(err, new(errLoad)) {
			t.Fatalf("link with a failing load: %v", err)
		}
	})
}

// TestUnpackedFromFile unpacks a zip read in place from a file, as from the
// invoker's code cache, and releases the file once done.
func TestUnpackedFromFile(t *testing.T) {
	root := t.TempDir()
	u := newUnpackedTrees(filepath.Join(root, "unpacked"))
	if err := os.MkdirAll(u.root, 0o711); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "blob")
	if err := os.WriteFile(path, pyZip(t, 20, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	var released atomic.Int32
	open := CodeFile(func(context.Context) (string, func(), error) { return path, func() { released.Add(1) }, nil })
	if err := u.link(context.Background(), "sha256:ff", "python:3", open, filepath.Join(root, "c")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "c", "__main__.py")); err != nil || !bytes.HasPrefix(b, []byte("def main")) {
		t.Fatalf("__main__.py: %q, %v", b, err)
	}
	if n := released.Load(); n != 1 {
		t.Errorf("the cached file was released %d times, want once", n)
	}
}
