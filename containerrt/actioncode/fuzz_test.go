package actioncode

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzUnpackZip feeds UnpackZip arbitrary bytes, seeded with good zips and
// every kind of bad one. Whatever it does with them, nothing may appear
// outside dst, a file beside dst must stay as it was, and a zip it accepts
// may leave only files, directories and relative symlinks that resolve
// inside dst.
func FuzzUnpackZip(f *testing.F) {
	sym := fs.ModeSymlink | 0o777
	seeds := [][]zent{
		{{name: "__main__.py", body: "def main(a): return a"}},
		{{name: "a/b/c.txt", body: "c"}, {name: "a/x", body: "b", mode: sym}, {name: "d/"}},
		{{name: "../evil", body: "x"}},
		{{name: "/abs", body: "x"}},
		{{name: "etc", body: "/etc", mode: sym}, {name: "etc/passwd", body: "x"}},
		{{name: "up", body: "../..", mode: sym}, {name: "up/x", body: "x"}},
		{{name: "here", body: ".", mode: sym}, {name: "out", body: "here/..", mode: sym}, {name: "out/x"}},
		{{name: "dev", mode: fs.ModeDevice | 0o666}},
		{{name: "x"}, {name: "x"}},
	}
	for _, s := range seeds {
		f.Add(mkzip(f, s...))
	}
	f.Add(rawZip(f, "bomb", make([]byte, 1<<16), 10))
	f.Add([]byte("PK\x03\x04 not really"))
	f.Fuzz(func(t *testing.T, code []byte) {
		parent := t.TempDir()
		beside := filepath.Join(parent, "beside")
		if err := os.WriteFile(beside, []byte("untouched"), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(parent, "dst")
		err := UnpackZip(code, dst)
		ents, _ := os.ReadDir(parent)
		for _, e := range ents {
			if e.Name() != "dst" && e.Name() != "beside" {
				t.Fatalf("UnpackZip wrote %s outside dst", e.Name())
			}
		}
		if b, _ := os.ReadFile(beside); string(b) != "untouched" {
			t.Fatalf("the file beside dst changed: %q", b)
		}
		if err != nil {
			return
		}
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, werr error) error {
			if werr != nil {
				t.Fatal(werr)
			}
			fi, _ := os.Lstat(p)
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				if filepath.IsAbs(target) {
					t.Fatalf("%s links to absolute %s", p, target)
				}
				if real, err := filepath.EvalSymlinks(p); err == nil && !strings.HasPrefix(real+"/", dst+"/") {
					t.Fatalf("%s resolves to %s, outside dst", p, real)
				}
			case fi.IsDir(), fi.Mode().IsRegular():
			default:
				t.Fatalf("%s is a %s", p, fi.Mode().Type())
			}
			return nil
		})
	})
}
