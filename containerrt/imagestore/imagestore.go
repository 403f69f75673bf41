// Package imagestore keeps the blackbox images an invoker has imported:
// one directory per code digest (rootfs/, runtime.json, stamp, as
// docs/container-protocol.md describes), imported on first use and reused
// by every container of any action with that image.
package imagestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/wispfaas/wisp/containerrt"
	"github.com/wispfaas/wisp/containerrt/image"
)

// Store is a directory of imported images. It satisfies
// containerrt.ImageSource. Safe for concurrent use.
type Store struct {
	dir string
	log *slog.Logger

	mu       sync.Mutex
	inflight map[string]*importCall // one import per digest at a time
}

type importCall struct {
	done chan struct{}
	err  error
}

// Open opens (creating it) the image directory dir and removes the
// half-imported images a crash left there.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open image store %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", dir, err)
	}
	for _, e := range entries {
		// image.Import builds in ".<hex>.import-*" and renames: anything
		// else starting with a dot is a crash's leftover.
		if strings.HasPrefix(e.Name(), ".") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("remove half-imported image %s: %w", e.Name(), err)
			}
			log.Info("removed a half-imported image", "dir", e.Name())
		}
	}
	return &Store{dir: dir, log: log, inflight: map[string]*importCall{}}, nil
}

// Image returns the directory of the image whose code has digest,
// importing it from load's bytes on first use. Concurrent calls for one
// digest import once.
func (s *Store) Image(ctx context.Context, digest string, load containerrt.CodeReader) (string, error) {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hex) != 64 || strings.Trim(hex, "0123456789abcdef") != "" {
		return "", fmt.Errorf("image digest %q is not sha256:<64 hex digits>", digest)
	}
	dst := filepath.Join(s.dir, hex)
	for {
		if _, err := os.Stat(filepath.Join(dst, "stamp")); err == nil {
			return dst, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("image %s: %w", digest, err)
		}
		s.mu.Lock()
		if c := s.inflight[hex]; c != nil {
			s.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			if c.err != nil {
				return "", c.err
			}
			continue
		}
		c := &importCall{done: make(chan struct{})}
		s.inflight[hex] = c
		s.mu.Unlock()

		c.err = s.importImage(ctx, digest, dst, load)
		s.mu.Lock()
		delete(s.inflight, hex)
		s.mu.Unlock()
		close(c.done)
		if c.err != nil {
			return "", c.err
		}
	}
}

func (s *Store) importImage(ctx context.Context, digest, dst string, load containerrt.CodeReader) error {
	code, size, done, err := load(ctx)
	if err != nil {
		return fmt.Errorf("fetch image %s: %w", digest, err)
	}
	defer done()
	// A directory without its stamp was never finished (Import renames a
	// complete build into place, so this is only a manual leftover).
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("import image %s: %w", digest, err)
	}
	cfg, err := image.Import(ctx, code, size, dst)
	if errors.Is(err, image.ErrInvalid) {
		// Rare, as the image was inspected when its action was created
		// (limits may have changed since); a developer error.
		return fmt.Errorf("%w: import %s: %w", containerrt.ErrInvalidImage, digest, err)
	} else if err != nil {
		return fmt.Errorf("import image %s: %w", digest, err) // a full disk, a cancelled import: ours
	}
	s.log.Info("blackbox image imported", "digest", digest, "args", cfg.Args, "bytes", size)
	return nil
}
