package blobs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// countingStore is a real store that counts the Gets it serves and can
// hold them until released, so that fetches overlap for certain.
type countingStore struct {
	Store
	gets atomic.Int64
	gate chan struct{} // nil: no waiting
}

func (c *countingStore) Get(ctx context.Context, digest string) (io.ReadCloser, error) {
	c.gets.Add(1)
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.Store.Get(ctx, digest)
}

// cacheStores are the stores a cache is tested on: the local directory
// (on the same file system: hard links) and MinIO.
func cacheStores(t *testing.T) map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"local": func(t *testing.T) Store {
			s, err := NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) Store { return openTestS3(t, sharedMinIO(t), "wisp-cache") },
	}
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	for name, newStore := range cacheStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("concurrent fetches download once", func(t *testing.T) {
				store := &countingStore{Store: newStore(t), gate: make(chan struct{})}
				data := randomBytes(t, 1<<20)
				info, err := PutBytes(ctx, store, data)
				if err != nil {
					t.Fatal(err)
				}
				c, err := NewCache(store, t.TempDir(), 64<<20, nil)
				if err != nil {
					t.Fatal(err)
				}
				const n = 16
				var wg sync.WaitGroup
				errs := make(chan error, n)
				started := make(chan struct{}, n)
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						started <- struct{}{}
						got, err := c.ReadFile(ctx, info.Digest)
						if err == nil && !bytes.Equal(got, data) {
							err = errors.New("wrong bytes")
						}
						errs <- err
					}()
				}
				for range n {
					<-started
				}
				close(store.gate) // the first Get may now answer
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				if g := store.gets.Load(); g != 1 {
					t.Fatalf("%d fetches of one digest made %d downloads", n, g)
				}
				if _, err := c.ReadFile(ctx, info.Digest); err != nil || store.gets.Load() != 1 {
					t.Fatalf("a cached fetch: %v, %d downloads", err, store.gets.Load())
				}
			})
			t.Run("least recently used blobs go first", func(t *testing.T) {
				store := &countingStore{Store: newStore(t)}
				var infos []Info
				for range 4 {
					info, err := PutBytes(ctx, store, randomBytes(t, 1000))
					if err != nil {
						t.Fatal(err)
					}
					infos = append(infos, info)
				}
				c, err := NewCache(store, t.TempDir(), 3000, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, i := range []int{0, 1, 2, 0, 3} { // 1 is the least recently used when 3 comes
					if _, err := c.ReadFile(ctx, infos[i].Digest); err != nil {
						t.Fatal(err)
					}
				}
				if !c.Has(infos[0].Digest) || c.Has(infos[1].Digest) || !c.Has(infos[2].Digest) || !c.Has(infos[3].Digest) {
					t.Fatalf("cache holds 0:%v 1:%v 2:%v 3:%v", c.Has(infos[0].Digest), c.Has(infos[1].Digest), c.Has(infos[2].Digest), c.Has(infos[3].Digest))
				}
				if c.Size() > 3000 {
					t.Fatalf("cache size %d over its bound", c.Size())
				}
				files, _ := os.ReadDir(c.Dir())
				if len(files) != 4 { // three blobs and tmp/
					t.Fatalf("%d entries in the cache directory", len(files))
				}
				// A blob held by Acquire is not evicted.
				p, release, err := c.Acquire(ctx, infos[2].Digest)
				if err != nil {
					t.Fatal(err)
				}
				for _, i := range []int{1, 0, 3} {
					if _, err := c.ReadFile(ctx, infos[i].Digest); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := os.Stat(p); err != nil {
					t.Fatalf("an acquired blob was evicted: %v", err)
				}
				release()
				release() // a second call does nothing
				if c.Size() > 3000 {
					t.Fatalf("cache size %d over its bound after release", c.Size())
				}
			})
			t.Run("a corrupt blob in the store is never cached", func(t *testing.T) {
				store := newStore(t)
				data := randomBytes(t, 5000)
				info, err := PutBytes(ctx, store, data)
				if err != nil {
					t.Fatal(err)
				}
				corruptStore(t, store, info.Digest)
				c, err := NewCache(store, t.TempDir(), 1<<20, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.ReadFile(ctx, info.Digest); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("fetch of a corrupt blob: %v", err)
				}
				if c.Has(info.Digest) {
					t.Fatal("a corrupt blob was cached")
				}
				if left, _ := os.ReadDir(filepath.Join(c.Dir(), "tmp")); len(left) != 0 {
					t.Fatalf("%d temporary files left", len(left))
				}
			})
		})
	}
}

// corruptStore overwrites a blob's stored bytes behind the store's back.
func corruptStore(t *testing.T, s Store, digest string) {
	t.Helper()
	switch s := s.(type) {
	case *Local:
		p, _ := s.path(digest)
		if err := os.Remove(p); err != nil { // a new inode: cached links keep the old one
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("tampered"), 0o600); err != nil {
			t.Fatal(err)
		}
	case *S3:
		key, _ := s.key(digest)
		if _, err := s.Client().PutObject(context.Background(), s.Bucket(), key, bytes.NewReader([]byte("tampered")), 8, minioPutOptions()); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("cannot corrupt a %T", s)
	}
}

// TestCacheCrash: what a crash leaves in the cache's directory is never
// used: half-downloaded temporary files are removed at start, and a file
// under a blob's name whose bytes are wrong is found out on first use and
// fetched again.
func TestCacheCrash(t *testing.T) {
	ctx := context.Background()
	store, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingStore{Store: store}
	data := randomBytes(t, 100_000)
	info, err := PutBytes(ctx, store, data)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	h, _ := hexOf(info.Digest)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", h[:12]+"-123"), data[:50_000], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, h), data[:50_000], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "not-a-blob"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewCache(counting, dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("interrupted downloads left: %d", len(left))
	}
	if _, err := os.Stat(filepath.Join(dir, "not-a-blob")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a stray file was kept: %v", err)
	}
	got, err := c.ReadFile(ctx, info.Digest)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile after a crash: %d bytes, %v", len(got), err)
	}
	if counting.gets.Load() != 1 {
		t.Fatalf("the half file was used (%d downloads)", counting.gets.Load())
	}
	// A good file found at start is used without a download.
	c2, err := NewCache(counting, dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c2.ReadFile(ctx, info.Digest); err != nil || !bytes.Equal(got, data) || counting.gets.Load() != 1 {
		t.Fatalf("ReadFile after a restart: %v, %d downloads", err, counting.gets.Load())
	}
}

func TestCacheErrors(t *testing.T) {
	ctx := context.Background()
	store, err := NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCache(store, t.TempDir(), 0, nil); err == nil {
		t.Fatal("a cache of size 0 was made")
	}
	c, err := NewCache(store, t.TempDir(), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFile(ctx, "sha256:nope"); !errors.Is(err, ErrBadDigest) {
		t.Fatalf("bad digest: %v", err)
	}
	if _, err := c.ReadFile(ctx, Digest([]byte("absent"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.ReadFile(cancelled, Digest([]byte("absent too"))); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancelled fetch: %v", err)
	}
}
