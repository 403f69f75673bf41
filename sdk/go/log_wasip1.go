//go:build wasip1

package wisp

import (
	"os"
	"unsafe"
)

// initialStderr is os.Stderr as the program started with it.
var initialStderr = os.Stderr

// writeStderr writes s to file descriptor 2 with WASI's fd_write and
// reports true, unless os.Stderr is no longer the file the program started
// with (a test or the handler replaced it): then it writes nothing and
// reports false. The host sees what os.Stderr would send, one fd_write of
// the line, without os.File's and internal/poll's layers (a lock, a
// reference count, a deadline check and syscall's wrapper): 2–6 µs of an
// activation of the Go example in process, with 0 to 16 MiB of other
// memory touched between calls (docs/rationale.md).
// A failed write is dropped, as Log drops os.Stderr's errors.
func writeStderr(s string) bool {
	if os.Stderr != initialStderr {
		return false
	}
	for len(s) > 0 {
		iov := ciovec{buf: uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))), len: uint32(len(s))}
		var n uint32
		if fdWrite(2, unsafe.Pointer(&iov), 1, unsafe.Pointer(&n)) != 0 || n == 0 {
			break
		}
		s = s[min(int(n), len(s)):]
	}
	return true
}

// ciovec is WASI's ciovec: a buffer's address and length in linear memory.
type ciovec struct {
	buf, len uint32
}

// fdWrite is WASI's fd_write: it writes the iovsLen buffers described at
// iovs to fd, stores the bytes written at nwritten, and returns an errno.
//
//go:wasmimport wasi_snapshot_preview1 fd_write
//go:noescape
func fdWrite(fd int32, iovs unsafe.Pointer, iovsLen int32, nwritten unsafe.Pointer) int32
