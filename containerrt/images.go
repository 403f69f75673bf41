package containerrt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/wispfaas/wisp/containerrt/image"
)

// ImageCache is the ImageSource of package image: each blackbox action's
// image (its code: an OCI image layout or a docker save tarball) is
// imported once per digest into Dir/<hex>, and found there again after a
// restart (image.Import writes the stamp last and renames the tree into
// place, so a directory there is complete). Safe for concurrent use: one
// import per digest at a time.
type ImageCache struct {
	// Dir holds the imported images, e.g. <data>/images.
	Dir string

	mu      sync.Mutex
	pending map[string]*sync.Mutex
}

// NewImageCache returns an ImageCache in dir, created if missing.
func NewImageCache(dir string) (*ImageCache, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	return &ImageCache{Dir: abs, pending: map[string]*sync.Mutex{}}, nil
}

// Image implements ImageSource. An image that cannot be imported because
// of what it holds (a layer escaping its root, a corrupt tarball, no
// command) yields an error wrapping ErrInvalidImage.
func (c *ImageCache) Image(ctx context.Context, digest string, load func(context.Context) ([]byte, error)) (string, error) {
	name := strings.TrimPrefix(digest, "sha256/")
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return "", fmt.Errorf("image cache: digest %q is not a content digest", digest)
	}
	dst := filepath.Join(c.Dir, name)
	c.mu.Lock()
	l := c.pending[name]
	if l == nil {
		l = &sync.Mutex{}
		c.pending[name] = l
	}
	c.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(filepath.Join(dst, "stamp")); err == nil {
		return dst, nil
	}
	code, err := load(ctx)
	if err != nil {
		return "", fmt.Errorf("fetch the image: %w", err)
	}
	if _, err := image.Import(ctx, bytes.NewReader(code), int64(len(code)), dst); err != nil {
		if errors.Is(err, image.ErrInvalid) {
			return "", fmt.Errorf("%w: %w", ErrInvalidImage, err)
		}
		return "", err
	}
	return dst, nil
}
