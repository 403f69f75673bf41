//go:build !linux

package blobs

import "os"

// writebackWriter is the plain file elsewhere: the final fsync does all
// the writing (see writeback_linux.go).
type writebackWriter struct{ *os.File }

func newWritebackWriter(f *os.File) writebackWriter { return writebackWriter{f} }
