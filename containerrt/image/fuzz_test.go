package image_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wispfaas/wisp/containerrt/image"
	it "github.com/wispfaas/wisp/containerrt/image/imagetest"
)

// FuzzImportLayer wraps arbitrary bytes as the top layer of a valid OCI
// image (over a first layer with a symlink to the host's /tmp and one
// climbing out) and imports it. Whatever the bytes, nothing may appear
// beside dst or in the directory the symlinks point at, and what Import
// accepts Inspect accepts too.
func FuzzImportLayer(f *testing.F) {
	seeds := [][]it.Entry{
		{it.File("a/b", "x"), it.Dir("d"), it.Symlink("d/l", "../a")},
		{it.File("../../escape", "x")},
		{it.File("/abs", "x")},
		{it.File("out/pwned", "x")},
		{it.File("up/pwned", "x")},
		{it.Hardlink("h", "../../etc/passwd")},
		{it.Symlink("s", "/"), it.File("s/x", "x")},
		{it.Whiteout("base"), it.Opaque("d")},
		{it.Dir("base"), it.File("base/.wh..wh..opq", ""), it.File("base/new", "n")},
	}
	for _, s := range seeds {
		b, err := it.Tar(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, layer []byte) {
		parent := t.TempDir()
		target := filepath.Join(parent, "target")
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		img := it.Image{
			Layers: []it.Layer{
				{Entries: []it.Entry{it.Dir("base"), it.File("base/f", "f"), it.Symlink("out", target), it.Symlink("up", "../../..")}},
				{Raw: layer},
			},
			Entrypoint: []string{"/x"},
		}
		files, err := img.OCI(false)
		if err != nil {
			t.Fatal(err)
		}
		tarball, err := files.Tar()
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		dst := filepath.Join(parent, "dst")
		_, ierr := image.Import(ctx, bytes.NewReader(tarball), int64(len(tarball)), dst)
		ents, _ := os.ReadDir(parent)
		for _, e := range ents {
			if e.Name() != "dst" && e.Name() != "target" {
				t.Fatalf("Import left %s beside dst (error %v)", e.Name(), ierr)
			}
		}
		if ents, _ := os.ReadDir(target); len(ents) != 0 {
			t.Fatalf("Import wrote into the symlinks' target outside the root: %v", ents)
		}
		if ierr != nil {
			if _, err := os.Lstat(dst); err == nil {
				t.Fatalf("a failed Import left dst (%v)", ierr)
			}
			return
		}
		if _, err := image.Inspect(ctx, bytes.NewReader(tarball), int64(len(tarball))); err != nil {
			t.Fatalf("Import accepted what Inspect refuses: %v", err)
		}
		filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Lstat(p); fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0 {
				t.Fatalf("%s has mode %s", strings.TrimPrefix(p, dst), fi.Mode())
			}
			return nil
		})
	})
}
