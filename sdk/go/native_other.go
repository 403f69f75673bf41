//go:build !linux

package wisp

// serveActionLoop reports false: only Linux executables run in Wisp's
// native runtime.
func serveActionLoop() bool { return false }
