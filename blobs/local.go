package blobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Local is a Store in a directory: each blob is a file at
// <dir>/sha256/<first two hex digits>/<hex>, written to a temporary file
// and renamed into place so that a crash never leaves a partial blob
// under its digest.
type Local struct{ dir string }

// NewLocal opens (creating if needed) a local store in dir.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob store directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("create blob store in %s: %w", abs, err)
	}
	return &Local{dir: abs}, nil
}

func (l *Local) path(digest string) (string, error) {
	key, err := Key(digest)
	if err != nil {
		return "", err
	}
	hexPart := key[len("sha256/"):]
	return filepath.Join(l.dir, "sha256", hexPart[:2], hexPart), nil
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, r io.Reader) (Info, error) {
	return l.put(ctx, r, nil)
}

// PutVerified implements Store: the bytes are hashed into a temporary file,
// which is renamed to the blob's name only when they match want.
func (l *Local) PutVerified(ctx context.Context, r io.Reader, want Info) (Info, error) {
	d, err := Normalize(want.Digest)
	if err != nil {
		return Info{}, err
	}
	want.Digest = d
	return l.put(ctx, r, &want)
}

func (l *Local) put(ctx context.Context, r io.Reader, want *Info) (Info, error) {
	tmp, err := os.CreateTemp(filepath.Join(l.dir, "tmp"), "upload-*")
	if err != nil {
		return Info{}, fmt.Errorf("create blob upload file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("write blob: %w", err)
	}
	info := Info{Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: size}
	if want != nil {
		if err := checkExpected(info, *want); err != nil {
			return Info{}, err
		}
	}
	dst, _ := l.path(info.Digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return Info{}, fmt.Errorf("store blob %s: %w", info.Digest, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return Info{}, fmt.Errorf("store blob %s: %w", info.Digest, err)
	}
	return info, nil
}

// Get implements Store.
func (l *Local) Get(_ context.Context, digest string) (io.ReadCloser, error) {
	p, err := l.path(digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, digest)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", digest, err)
	}
	return newVerifyingReader(f, digest), nil
}

// Stat implements Store.
func (l *Local) Stat(_ context.Context, digest string) (Info, error) {
	p, err := l.path(digest)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, digest)
	}
	if err != nil {
		return Info{}, fmt.Errorf("stat blob %s: %w", digest, err)
	}
	return Info{Digest: digest, Size: fi.Size()}, nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, digest string) error {
	p, err := l.path(digest)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", digest, err)
	}
	return nil
}

// Touch implements Store.
func (l *Local) Touch(_ context.Context, digest string) error {
	p, err := l.path(digest)
	if err != nil {
		return err
	}
	now := time.Now()
	if err := os.Chtimes(p, now, now); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, digest)
	} else if err != nil {
		return fmt.Errorf("touch blob %s: %w", digest, err)
	}
	return nil
}

// Walk implements Store. Files that are not blobs (nothing else writes
// under sha256/) are skipped; temporary files of uploads are reported as
// staged.
func (l *Local) Walk(ctx context.Context, fn func(Object) error) error {
	tmps, err := os.ReadDir(filepath.Join(l.dir, "tmp"))
	if err != nil {
		return fmt.Errorf("list blob uploads: %w", err)
	}
	for _, e := range tmps {
		fi, err := e.Info()
		if err != nil {
			continue // finished meanwhile
		}
		if err := fn(Object{Info: Info{Size: fi.Size()}, Modified: fi.ModTime(), Staged: filepath.Join("tmp", e.Name())}); err != nil {
			return err
		}
	}
	root := filepath.Join(l.dir, "sha256")
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if e.IsDir() {
			return nil
		}
		digest := "sha256:" + e.Name()
		if _, err := Key(digest); err != nil {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil // deleted meanwhile
		}
		return fn(Object{Info: Info{Digest: digest, Size: fi.Size()}, Modified: fi.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("list blobs in %s: %w", l.dir, err)
	}
	return nil
}

// DeleteStaged implements Store.
func (l *Local) DeleteStaged(_ context.Context, o Object) error {
	name := filepath.Base(o.Staged)
	if o.Staged != filepath.Join("tmp", name) {
		return fmt.Errorf("not a staged upload of this store: %q", o.Staged)
	}
	if err := os.Remove(filepath.Join(l.dir, "tmp", name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete staged upload %s: %w", name, err)
	}
	return nil
}

// linkInto makes dst a hard link to the blob's file after checking that
// the file still hashes to digest, so that a cache on the same file
// system holds no second copy. It fails (and the cache copies instead)
// across file systems.
func (l *Local) linkInto(ctx context.Context, digest, dst string) error {
	p, err := l.path(digest)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, digest)
	}
	if err != nil {
		return fmt.Errorf("open blob %s: %w", digest, err)
	}
	defer f.Close()
	if _, err := io.Copy(io.Discard, ctxReader{ctx, newVerifyingReader(f, digest)}); err != nil {
		return fmt.Errorf("read blob %s: %w", digest, err)
	}
	return os.Link(p, dst)
}

// ctxReader stops a long copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
