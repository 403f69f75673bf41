package blobs

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
)

// Open opens the store that a --blobs value names: "" is the local store
// in <dataDir>/blobs; "s3://bucket/prefix?endpoint=…" the S3 store (see
// ParseS3URL and OpenS3); "file:///dir" or a path a local store there.
// It fails with the reason the store cannot be used (bad URL, wrong
// credentials, a bucket that may not be created, a server not reachable).
func Open(ctx context.Context, spec, dataDir string, log *slog.Logger) (Store, error) {
	switch {
	case spec == "":
		return NewLocal(filepath.Join(dataDir, "blobs"))
	case strings.HasPrefix(spec, "s3://"):
		cfg, err := ParseS3URL(spec)
		if err != nil {
			return nil, err
		}
		return OpenS3(ctx, cfg, log)
	case strings.HasPrefix(spec, "file://"):
		return NewLocal(strings.TrimPrefix(spec, "file://"))
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("the blob store %q: use a directory, file:///dir, or s3://bucket/prefix?endpoint=host:port", spec)
	}
	return NewLocal(spec)
}
