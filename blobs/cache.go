package blobs

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Cache keeps blobs of a Store as files on local disk for an invoker: at
// most MaxBytes of them (least recently used go first), one download for
// any number of concurrent fetches of the same digest, and never a half
// written file under a blob's name.
//
// A download goes to a temporary file (<dir>/tmp), is verified against
// its digest while it streams, synced, and only then renamed to
// <dir>/<hex>; temporary files left by a crash are removed by NewCache.
// Files found at start are verified again on their first use in the
// process. A blob held by Acquire is not evicted until released.
//
// Safe for concurrent use.
type Cache struct {
	store Store
	dir   string
	max   int64
	log   *slog.Logger

	mu      sync.Mutex
	entries map[string]*list.Element // hex -> *cacheEntry
	lru     *list.List               // front: most recently used
	size    int64
	flights map[string]*flight

	// Downloads counts the blobs fetched from the store (tests, metrics).
	downloads int64
}

type cacheEntry struct {
	hex      string
	size     int64
	pins     int
	verified bool // hashed in this process
}

// flight is one download that concurrent fetches of a digest share.
type flight struct {
	done chan struct{}
	err  error
}

// NewCache opens (creating) a cache of store in dir holding at most
// maxBytes (a blob larger than that is still cached, alone). Leftovers of
// interrupted downloads are deleted; the files already there are kept,
// oldest first out.
func NewCache(store Store, dir string, maxBytes int64, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if maxBytes <= 0 {
		return nil, fmt.Errorf("blob cache %s: the size bound must be positive, not %d", dir, maxBytes)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob cache %s: %w", dir, err)
	}
	if err := os.RemoveAll(filepath.Join(abs, "tmp")); err != nil {
		return nil, fmt.Errorf("blob cache %s: remove interrupted downloads: %w", abs, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("create blob cache in %s: %w", abs, err)
	}
	c := &Cache{store: store, dir: abs, max: maxBytes, log: log, entries: map[string]*list.Element{}, lru: list.New(), flights: map[string]*flight{}}
	files, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("blob cache %s: %w", abs, err)
	}
	type found struct {
		hex  string
		size int64
		used time.Time
	}
	var have []found
	for _, f := range files {
		if f.IsDir() {
			continue
		}
		if _, err := Key("sha256:" + f.Name()); err != nil {
			_ = os.Remove(filepath.Join(abs, f.Name())) // not ours to keep
			continue
		}
		fi, err := f.Info()
		if err != nil {
			continue
		}
		have = append(have, found{f.Name(), fi.Size(), fi.ModTime()})
	}
	sort.Slice(have, func(i, j int) bool { return have[i].used.After(have[j].used) })
	for _, f := range have {
		c.entries[f.hex] = c.lru.PushBack(&cacheEntry{hex: f.hex, size: f.size})
		c.size += f.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

// Size is the bytes the cached blobs take.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// Downloads is how many blobs were fetched from the store since NewCache.
func (c *Cache) Downloads() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.downloads
}

// Has reports whether digest is cached (without fetching it).
func (c *Cache) Has(digest string) bool {
	h, err := hexOf(digest)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[h]
	return ok
}

// Acquire returns the path of the blob's file, fetching it first when it
// is not cached, and keeps the file from eviction until release is
// called (once). Errors: ErrBadDigest, ErrNotFound, ErrCorrupt (the
// store's bytes do not match: nothing is cached), ErrUnavailable, and
// ctx's.
func (c *Cache) Acquire(ctx context.Context, digest string) (path string, release func(), err error) {
	h, err := hexOf(digest)
	if err != nil {
		return "", nil, err
	}
	digest = "sha256:" + h
	for {
		c.mu.Lock()
		if el, ok := c.entries[h]; ok {
			e := el.Value.(*cacheEntry)
			c.lru.MoveToFront(el)
			e.pins++
			verified := e.verified
			c.mu.Unlock()
			release = c.releaser(e)
			if !verified {
				if err := c.verify(ctx, e, digest); err != nil {
					release()
					if errors.Is(err, ErrCorrupt) {
						continue // dropped: download it again
					}
					return "", nil, err
				}
			}
			return c.file(h), release, nil
		}
		f, ok := c.flights[h]
		if !ok {
			f = &flight{done: make(chan struct{})}
			c.flights[h] = f
			c.mu.Unlock()
			// The download is shared: it runs on its own context so that
			// one caller giving up does not fail the others.
			go c.download(context.WithoutCancel(ctx), f, h, digest)
		} else {
			c.mu.Unlock()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
		if f.err != nil {
			return "", nil, f.err
		}
		// Loop: take the entry (it may already have been evicted again
		// under a tiny bound, then it is fetched again).
	}
}

// ReadFile returns the blob's bytes, fetching it when it is not cached.
func (c *Cache) ReadFile(ctx context.Context, digest string) ([]byte, error) {
	p, release, err := c.Acquire(ctx, digest)
	if err != nil {
		return nil, err
	}
	defer release()
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read cached blob %s: %w", digest, err)
	}
	return data, nil
}

func (c *Cache) releaser(e *cacheEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			e.pins--
			c.evictLocked()
			c.mu.Unlock()
		})
	}
}

func (c *Cache) file(h string) string { return filepath.Join(c.dir, h) }

// verify hashes a file found at start once; a corrupt one is removed.
func (c *Cache) verify(ctx context.Context, e *cacheEntry, digest string) error {
	f, err := os.Open(c.file(e.hex))
	if err != nil {
		c.drop(e)
		return fmt.Errorf("%w: cached file of %s: %v", ErrCorrupt, digest, err)
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, ctxReader{ctx, newVerifyingReader(io.NopCloser(f), digest)})
	if errors.Is(err, ErrCorrupt) {
		c.log.Warn("a cached blob was corrupt; fetching it again", "digest", digest)
		c.drop(e)
		return err
	}
	if err != nil {
		return fmt.Errorf("verify cached blob %s: %w", digest, err)
	}
	c.mu.Lock()
	e.verified = true
	c.mu.Unlock()
	return nil
}

// drop removes an entry whatever its pins (its file is bad).
func (c *Cache) drop(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[e.hex]; ok && el.Value == e {
		c.lru.Remove(el)
		delete(c.entries, e.hex)
		c.size -= e.size
		_ = os.Remove(c.file(e.hex))
	}
}

// download fetches one blob into the cache and ends its flight.
func (c *Cache) download(ctx context.Context, f *flight, h, digest string) {
	size, err := c.fetch(ctx, h, digest)
	c.mu.Lock()
	delete(c.flights, h)
	if err == nil {
		c.downloads++
		if _, ok := c.entries[h]; !ok {
			c.entries[h] = c.lru.PushFront(&cacheEntry{hex: h, size: size, verified: true})
			c.size += size
			c.evictLocked()
		}
	}
	f.err = err
	c.mu.Unlock()
	close(f.done)
}

// fetch writes the blob to a temporary file, verifying it, then renames it
// into place.
func (c *Cache) fetch(ctx context.Context, h, digest string) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), h[:12]+"-*")
	if err != nil {
		return 0, fmt.Errorf("cache blob %s: %w", digest, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if l, ok := c.store.(*Local); ok {
		// Same store directory tree: a hard link instead of a copy.
		tmp.Close()
		os.Remove(tmp.Name())
		if err := l.linkInto(ctx, digest, tmp.Name()); err == nil {
			return c.commit(tmp.Name(), h, digest)
		} else if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
			return 0, err
		}
		if tmp, err = os.Create(tmp.Name()); err != nil {
			return 0, fmt.Errorf("cache blob %s: %w", digest, err)
		}
	}
	rc, err := c.store.Get(ctx, digest)
	if err != nil {
		tmp.Close()
		return 0, err
	}
	// Large reads: each Read of an S3 object is a round trip through
	// minio-go's reader goroutine. rc fails with ErrCorrupt at the end on
	// a mismatch.
	_, err = io.CopyBuffer(newWritebackWriter(tmp), rc, make([]byte, 1<<20))
	rc.Close()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return 0, err
		}
		return 0, fmt.Errorf("fetch blob %s: %w", digest, err)
	}
	return c.commit(tmp.Name(), h, digest)
}

// commit renames a verified temporary file to the blob's name and syncs
// the directory, so that the name survives a crash only with its bytes.
func (c *Cache) commit(tmp, h, digest string) (int64, error) {
	fi, err := os.Stat(tmp)
	if err != nil {
		return 0, fmt.Errorf("cache blob %s: %w", digest, err)
	}
	if err := os.Rename(tmp, c.file(h)); err != nil {
		return 0, fmt.Errorf("cache blob %s: %w", digest, err)
	}
	if d, err := os.Open(c.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return fi.Size(), nil
}

// evictLocked removes the least recently used unpinned blobs until the
// cache fits its bound. The most recent blob stays even when it alone is
// larger than the bound.
func (c *Cache) evictLocked() {
	for el := c.lru.Back(); el != nil && c.size > c.max && c.lru.Len() > 1; {
		prev := el.Prev()
		e := el.Value.(*cacheEntry)
		if e.pins == 0 && el != c.lru.Front() {
			c.lru.Remove(el)
			delete(c.entries, e.hex)
			c.size -= e.size
			if err := os.Remove(c.file(e.hex)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.log.Warn("evict a cached blob", "digest", "sha256:"+e.hex, "err", err)
			}
		}
		el = prev
	}
}
