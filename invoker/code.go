package invoker

import (
	"context"

	"github.com/wispfaas/wisp/blobs"
)

// BlobCode fetches code straight from a blob store, verifying its digest.
type BlobCode struct{ Store blobs.Store }

// Fetch implements CodeSource.
func (b BlobCode) Fetch(ctx context.Context, digest string) ([]byte, error) {
	return blobs.ReadAll(ctx, b.Store, digest)
}

// CodeFiles is a CodeSource that also hands out code as a file on local
// disk (container runtimes copy or mount it rather than hold it in
// memory).
type CodeFiles interface {
	CodeSource
	// FetchFile returns the path of a verified file holding the code of
	// digest; it stays in place until release is called (once).
	FetchFile(ctx context.Context, digest string) (path string, release func(), err error)
}

// CachedCode fetches code through the invoker's disk cache: one download
// per digest however many activations need it at once, verified before it
// is used, then served from local disk.
type CachedCode struct{ Cache *blobs.Cache }

var _ CodeFiles = CachedCode{}

// Fetch implements CodeSource.
func (c CachedCode) Fetch(ctx context.Context, digest string) ([]byte, error) {
	return c.Cache.ReadFile(ctx, digest)
}

// FetchFile implements CodeFiles.
func (c CachedCode) FetchFile(ctx context.Context, digest string) (string, func(), error) {
	return c.Cache.Acquire(ctx, digest)
}
