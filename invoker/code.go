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
