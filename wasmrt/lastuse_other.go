//go:build !linux

package wasmrt

import (
	"os"
	"time"
)

// lastUse is when a file was last written (Linux also counts reads,
// lastuse_linux.go).
func lastUse(fi os.FileInfo) time.Time { return fi.ModTime() }
