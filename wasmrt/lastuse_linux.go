package wasmrt

import (
	"os"
	"syscall"
	"time"
)

// lastUse is when a file was last read or written: the later of its
// access and modification times.
func lastUse(fi os.FileInfo) time.Time {
	used := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if at := time.Unix(st.Atim.Unix()); at.After(used) {
			used = at
		}
	}
	return used
}
