package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/invoker"
)

// DefaultBlobCacheBytes bounds the invoker's disk cache of code blobs
// when Config.BlobCacheBytes is 0.
const DefaultBlobCacheBytes = 1 << 30

// openCode opens the code store the configuration names and, for an
// invoker, the disk cache its code is fetched through.
func (d *Daemon) openCode(ctx context.Context) (blobs.Store, invoker.CodeSource, error) {
	c := d.cfg
	codeStore, err := blobs.Open(ctx, c.Blobs, c.Data, d.log)
	if err != nil {
		return nil, nil, err
	}
	if s, ok := codeStore.(*blobs.S3); ok {
		d.log.Info("code blobs in S3", "store", s.String())
	}
	size := c.BlobCacheBytes
	if size == 0 {
		size = DefaultBlobCacheBytes
	}
	cache, err := blobs.NewCache(codeStore, filepath.Join(c.Data, "cache", "blobs"), size, d.log)
	if err != nil {
		return nil, nil, err
	}
	return codeStore, invoker.CachedCode{Cache: cache}, nil
}

// uploadKey returns the key that signs the gateway's upload URLs, kept in
// the data directory so that URLs outlive a restart.
func uploadKey(data string) ([]byte, error) {
	path := filepath.Join(data, "upload.key")
	key, err := os.ReadFile(path)
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read the upload key %s: %w", path, err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write the upload key %s: %w", path, err)
	}
	return key, nil
}

// GCRequest asks for a garbage collection of code blobs.
type GCRequest struct {
	Grace  time.Duration
	DryRun bool
}

// actionDigests says whether an action uses a digest.
type actionDigests interface {
	ActionsUsingDigest(digest string) bool
}

func runGC(ctx context.Context, s blobs.Store, actions actionDigests, req GCRequest) (*blobs.GCReport, error) {
	return blobs.GC(ctx, s, actions.ActionsUsingDigest, blobs.GCOptions{Grace: req.Grace, DryRun: req.DryRun})
}

// BlobsGC deletes the code blobs no action references and older than
// req.Grace (or, with DryRun, reports them), through the admin socket of a
// wispd running on cfg.Data, else directly on the store and the blob store
// cfg names.
func BlobsGC(ctx context.Context, cfg Config, req GCRequest) (*blobs.GCReport, error) {
	areq := AdminRequest{Op: "blobs-gc", Grace: req.Grace.String(), DryRun: req.DryRun}
	if cfg.NATSURL == "" {
		if resp, err, reached := adminCall(ctx, cfg.Data, areq); reached {
			if err != nil {
				return nil, err
			}
			return resp.GC, nil
		}
	}
	s, closeStore, err := openStoreDirect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	codeStore, err := blobs.Open(ctx, cfg.Blobs, cfg.Data, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return runGC(ctx, codeStore, s, req)
}
