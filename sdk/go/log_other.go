//go:build !wasip1

package wisp

// writeStderr reports false: outside a Wasm guest Log writes through
// os.Stderr (see log_wasip1.go).
func writeStderr(string) bool { return false }
