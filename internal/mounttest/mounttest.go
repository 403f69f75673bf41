// Package mounttest reads this process's mount table for tests that check
// what a component mounted and unmounted.
package mounttest

import (
	"os"
	"strings"
	"testing"
)

// SourcesAt lists the sources of the file systems mounted at dir, bottom
// first, from /proc/self/mountinfo. The kernel can leave a line out of one
// read while other processes mount and unmount, so a test should rely on
// what it finds there, not on what it does not.
func SourcesAt(tb testing.TB, dir string) []string {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[4] != dir {
			continue
		}
		// After the optional fields, "-", the type and the source.
		for i := 6; i+2 < len(f); i++ {
			if f[i] == "-" {
				out = append(out, f[i+2])
				break
			}
		}
	}
	return out
}
