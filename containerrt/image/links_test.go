package image_test

import (
	"io/fs"
	"syscall"
)

// links is a file's hard link count.
func links(fi fs.FileInfo) uint64 { return uint64(fi.Sys().(*syscall.Stat_t).Nlink) }
