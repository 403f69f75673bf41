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
