// Package treetest describes a directory tree as a map, for tests to
// compare unpacked code and root filesystems with what they expect.
package treetest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Options says what Describe shows beyond types, permissions and contents.
type Options struct {
	// Special shows the setuid and setgid bits (prefixed "SETUID ").
	Special bool
	// Links shows each regular file's link count.
	Links bool
}

// Describe maps every entry under root, by its path relative to root, to
// "d <mode>", "l <target>", "f <mode> [<links> ]<contents>" or
// "other <mode>". Modes are octal permissions, prefixed "1" when sticky.
func Describe(tb testing.TB, root string, o Options) map[string]string {
	tb.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		if o.Special {
			perm |= fi.Mode() & (fs.ModeSetuid | fs.ModeSetgid)
		}
		mode := fmt.Sprintf("%o", perm)
		if fi.Mode()&fs.ModeSticky != 0 {
			mode = "1" + mode
		}
		if o.Special && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			mode = "SETUID " + mode
		}
		switch {
		case fi.IsDir():
			got[rel] = "d " + mode
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got[rel] = "l " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if o.Links {
				mode += fmt.Sprintf(" %d", fi.Sys().(*syscall.Stat_t).Nlink)
			}
			got[rel] = "f " + mode + " " + string(b)
		default:
			got[rel] = "other " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}
