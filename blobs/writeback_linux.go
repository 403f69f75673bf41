package blobs

import (
	"os"

	"golang.org/x/sys/unix"
)

// writebackChunk is how many bytes a writebackWriter lets pile up in the
// page cache before it asks the kernel to start writing them out.
const writebackChunk = 4 << 20

// writebackWriter writes to a file and starts the kernel's writeback of
// every full chunk as it goes (sync_file_range with
// SYNC_FILE_RANGE_WRITE, which does not wait). The fsync that makes a
// cached blob durable then finds most of the file on its way to the disk
// already: the disk works while the download is still running, instead
// of after it.
type writebackWriter struct {
	f       *os.File
	off     int64 // bytes written
	started int64 // bytes whose writeback has been started
}

func newWritebackWriter(f *os.File) *writebackWriter { return &writebackWriter{f: f} }

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writebackChunk {
		// Advisory: an error here (an old kernel, a file system without
		// it) only means the final fsync does all the work.
		_ = unix.SyncFileRange(int(w.f.Fd()), w.started, w.off-w.started, unix.SYNC_FILE_RANGE_WRITE)
		w.started = w.off
	}
	return n, err
}
