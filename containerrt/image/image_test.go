package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/wispfaas/wisp/containerrt/image"
	it "github.com/wispfaas/wisp/containerrt/image/imagetest"
	"github.com/wispfaas/wisp/internal/treetest"
)

// threeLayers exercises layer order, whiteouts, opaque directories,
// symlinks, hard links, modes, setuid and skipped device nodes.
func threeLayers(c it.Compression) it.Image {
	return it.Image{
		Layers: []it.Layer{
			{Compression: c, Entries: []it.Entry{
				it.Dir("etc"),
				it.File("etc/keep", "kept from layer 1"),
				it.File("etc/gone", "whited out by layer 2"),
				it.Dir("etc/conf"),
				it.File("etc/conf/a", "hidden by opaque"),
				it.Dir("etc/conf/sub"),
				it.File("etc/conf/sub/deep", "hidden by opaque"),
				it.Dir("usr"), it.Dir("usr/bin"),
				{Name: "usr/bin/tool", Mode: 0o4755, Body: []byte("tool v1")},
				it.Hardlink("usr/bin/tool-link", "usr/bin/tool"),
				it.Symlink("bin", "usr/bin"),
				it.Dir("opt"), it.Dir("opt/old"), it.File("opt/old/x", "x"),
				{Name: "dev/fifo", Type: tar.TypeFifo},
				{Name: "dev/null", Type: tar.TypeChar},
				{Name: "tmp", Type: tar.TypeDir, Mode: 0o1777},
				{Name: "secret", Mode: 0o600, Body: []byte("s")},
			}},
			{Compression: c, Entries: []it.Entry{
				it.Whiteout("etc/gone"),
				it.Opaque("etc/conf"),
				it.File("etc/conf/b", "new in layer 2"),
				{Name: "usr/bin/tool", Mode: 0o2755, Body: []byte("tool v2")},
				it.Symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
				it.File("etc/keep2", "layer 2"),
			}},
			{Compression: c, Entries: []it.Entry{
				it.Whiteout("opt"),
				it.File("new/file", "layer 3"),
				it.Hardlink("etc/keep2-link", "etc/keep2"),
				it.Whiteout("etc/conf/missing-is-fine"),
			}},
		},
		Entrypoint: []string{"/usr/bin/tool"},
		Cmd:        []string{"--serve"},
		Env:        []string{"A=1"},
		WorkingDir: "srv",
	}
}

var threeLayersTree = map[string]string{
	"etc":            "d 755",
	"etc/keep":       "f 644 kept from layer 1",
	"etc/conf":       "d 755",
	"etc/conf/b":     "f 644 new in layer 2",
	"etc/localtime":  "l /usr/share/zoneinfo/UTC",
	"etc/keep2":      "f 644 layer 2",
	"etc/keep2-link": "f 644 layer 2",
	"usr":            "d 755",
	"usr/bin":        "d 755",
	"usr/bin/tool":   "f 755 tool v2",
	// The hard link was to layer 1's tool, which layer 2 replaced.
	"usr/bin/tool-link": "f 755 tool v1",
	"bin":               "l usr/bin",
	"tmp":               "d 1777",
	"secret":            "f 600 s",
	"new":               "d 755",
	"new/file":          "f 644 layer 3",
}

var threeLayersConfig = &image.Config{
	Args: []string{"/usr/bin/tool", "--serve"},
	Env:  []string{image.DefaultPath, "A=1"},
	Cwd:  "/srv",
}

// format is one way to hand an image to the package.
type format struct {
	name  string
	files func(it.Image) (*it.Files, error)
	dir   bool // an OCI layout directory rather than a tarball
	gzip  bool // the tarball gzip-compressed
	zstd  bool // the tarball zstd-compressed
}

func dockerSave(img it.Image) (*it.Files, error) { return img.DockerSave() }
func ociLayout(img it.Image) (*it.Files, error)  { return img.OCI(false) }
func dockerOCI(img it.Image) (*it.Files, error)  { return img.OCI(true) }

// dockerOCIManifestOnly is Docker 25's layout read through manifest.json.
func dockerOCIManifestOnly(img it.Image) (*it.Files, error) {
	f, err := img.OCI(true)
	if err != nil {
		return nil, err
	}
	f.Delete("index.json")
	f.Delete("oci-layout")
	return f, nil
}

var formats = []format{
	{name: "docker save", files: dockerSave},
	{name: "docker save gzipped", files: dockerSave, gzip: true},
	{name: "OCI layout tar zstd", files: ociLayout, zstd: true},
	{name: "docker 25 save", files: dockerOCI},
	{name: "docker 25 save by manifest.json", files: dockerOCIManifestOnly},
	{name: "OCI layout tar", files: ociLayout},
	{name: "OCI layout dir", files: ociLayout, dir: true},
}

// write lays files out as the format says and returns the image's path.
func (f format) write(t *testing.T, files *it.Files) string {
	t.Helper()
	dir := t.TempDir()
	if f.dir {
		p := filepath.Join(dir, "layout")
		if err := files.WriteDir(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b, err := files.Tar()
	if err != nil {
		t.Fatal(err)
	}
	if f.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	if f.zstd {
		var buf bytes.Buffer
		zw, _ := zstd.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		b = buf.Bytes()
	}
	p := filepath.Join(dir, "image.tar")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportFormats(t *testing.T) {
	// A strict umask must not make the rootfs unreadable to the
	// container's user (new/ is made for new/file, unlisted).
	defer syscall.Umask(syscall.Umask(0o077))
	ctx := context.Background()
	comps := map[string]it.Compression{"uncompressed": it.Uncompressed, "gzip": it.Gzip, "zstd": it.Zstd}
	for _, f := range formats {
		for cname, c := range comps {
			if f.name == "docker save" && c != it.Uncompressed {
				continue // classic docker save layers are plain tars
			}
			t.Run(f.name+"/"+cname, func(t *testing.T) {
				files, err := f.files(threeLayers(c))
				if err != nil {
					t.Fatal(err)
				}
				src := f.write(t, files)
				icfg, err := image.InspectPath(ctx, src)
				if err != nil {
					t.Fatalf("Inspect: %v", err)
				}
				dst := filepath.Join(t.TempDir(), "rt", "img")
				cfg, err := image.ImportPath(ctx, src, dst)
				if err != nil {
					t.Fatalf("Import: %v", err)
				}
				if !reflect.DeepEqual(cfg, threeLayersConfig) || !reflect.DeepEqual(icfg, threeLayersConfig) {
					t.Errorf("config: Import %+v, Inspect %+v, want %+v", cfg, icfg, threeLayersConfig)
				}
				got := treetest.Describe(t, filepath.Join(dst, "rootfs"), treetest.Options{Special: true})
				if !reflect.DeepEqual(got, threeLayersTree) {
					t.Errorf("rootfs:\n%s\nwant:\n%s", show(got), show(threeLayersTree))
				}
				checkRuntimeDir(t, dst, threeLayersConfig)
				// The hard link made in layer 3 shares its target's inode.
				a, _ := os.Stat(filepath.Join(dst, "rootfs/etc/keep2"))
				b, _ := os.Stat(filepath.Join(dst, "rootfs/etc/keep2-link"))
				if !os.SameFile(a, b) {
					t.Error("etc/keep2-link is not a hard link of etc/keep2")
				}
			})
		}
	}
}

func show(m map[string]string) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, "  "+k+": "+v)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func checkRuntimeDir(t *testing.T, dst string, want *image.Config) {
	t.Helper()
	var rj struct {
		Kind string   `json:"kind"`
		Args []string `json:"args"`
		Env  []string `json:"env"`
		Cwd  string   `json:"cwd"`
	}
	b, err := os.ReadFile(filepath.Join(dst, "runtime.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rj); err != nil {
		t.Fatal(err)
	}
	if rj.Kind != "blackbox" || !reflect.DeepEqual(rj.Args, want.Args) || !reflect.DeepEqual(rj.Env, want.Env) || rj.Cwd != want.Cwd {
		t.Errorf("runtime.json = %s", b)
	}
	stamp, err := os.ReadFile(filepath.Join(dst, "stamp"))
	if err != nil || !strings.HasPrefix(string(stamp), "sha256:") {
		t.Errorf("stamp = %q, %v", stamp, err)
	}
	ents, _ := os.ReadDir(filepath.Dir(dst))
	if len(ents) != 1 {
		t.Errorf("beside dst: %v, want dst alone", ents)
	}
}

// TestImportReaderAt covers the io.ReaderAt form with an in-memory tarball.
func TestImportReaderAt(t *testing.T) {
	files, err := threeLayers(it.Gzip).OCI(false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := files.Tar()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := image.Inspect(ctx, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "img")
	if _, err := image.Import(ctx, bytes.NewReader(b), int64(len(b)), dst); err != nil {
		t.Fatal(err)
	}
	if got := treetest.Describe(t, filepath.Join(dst, "rootfs"), treetest.Options{Special: true}); !reflect.DeepEqual(got, threeLayersTree) {
		t.Errorf("rootfs:\n%s", show(got))
	}
	if _, err := image.Import(ctx, bytes.NewReader(b), int64(len(b)), dst); err == nil || !strings.Contains(err.Error(), "already exists") || errors.Is(err, image.ErrInvalid) {
		t.Errorf("second Import into the same dst: %v (want a host error, not ErrInvalid)", err)
	}
}

func TestBusyboxImage(t *testing.T) {
	var buf bytes.Buffer
	if err := it.WriteBusyboxDockerSave(&buf); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "busybox")
	cfg, err := image.Import(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), dst)
	if err != nil {
		t.Fatal(err)
	}
	want := &image.Config{Args: []string{"/bin/sh", "/wisp/loop.sh"}, Env: []string{image.DefaultPath, "GREETING=hello from busybox"}, Cwd: "/wisp"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config %+v, want %+v", cfg, want)
	}
	if fi, err := os.Stat(filepath.Join(dst, "rootfs/bin/sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/sh: %v %v", fi, err)
	}
}

// layerName finds the name of layer i (0-based) among an image's files.
func layerName(t *testing.T, f *it.Files, i int) string {
	t.Helper()
	var m []struct{ Layers []string }
	if b := f.Get("manifest.json"); b != nil {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m[0].Layers[i]
	}
	d, err := f.ManifestDigest()
	if err != nil {
		t.Fatal(err)
	}
	var man struct{ Layers []struct{ Digest string } }
	json.Unmarshal(f.Get("blobs/sha256/"+strings.TrimPrefix(d, "sha256:")), &man)
	return "blobs/sha256/" + strings.TrimPrefix(man.Layers[i].Digest, "sha256:")
}

func configName(t *testing.T, f *it.Files) string {
	t.Helper()
	if b := f.Get("manifest.json"); b != nil {
		var m []struct{ Config string }
		json.Unmarshal(b, &m)
		return m[0].Config
	}
	d, _ := f.ManifestDigest()
	var man struct{ Config struct{ Digest string } }
	json.Unmarshal(f.Get("blobs/sha256/"+strings.TrimPrefix(d, "sha256:")), &man)
	return "blobs/sha256/" + strings.TrimPrefix(man.Config.Digest, "sha256:")
}

func withLayer(entries ...it.Entry) it.Image {
	img := threeLayers(it.Uncompressed)
	img.Layers = append(img.Layers[:1], it.Layer{Entries: entries})
	return img
}

func TestBadImages(t *testing.T) {
	type alter func(t *testing.T, f *it.Files)
	cases := []struct {
		name   string
		img    it.Image
		alter  alter
		raw    []byte // the image file itself, instead of img
		limits image.Limits
		want   string
	}{
		{name: "traversal", img: withLayer(it.File("../../etc/passwd", "root::0:0::/:/bin/sh")),
			want: `layer 2 of 2 && entry "../../etc/passwd": path traversal`},
		{name: "traversal inside", img: withLayer(it.File("a/../../etc/passwd", "x")), want: `entry "a/../../etc/passwd": path traversal`},
		{name: "absolute path", img: withLayer(it.File("/etc/passwd", "x")), want: `entry "/etc/passwd": absolute path`},
		{name: "hard link out", img: withLayer(it.Hardlink("shadow", "../../etc/shadow")), want: `entry "shadow": hard link to "../../etc/shadow": path traversal`},
		{name: "hard link absolute", img: withLayer(it.Hardlink("shadow", "/etc/shadow")), want: `hard link to "/etc/shadow": absolute path`},
		{name: "hard link to nothing", img: withLayer(it.Hardlink("x", "nothing/here")), want: `hard link to "nothing/here", which no layer made`},
		{name: "hard link to a directory", img: withLayer(it.Hardlink("x", "etc")), want: `hard link to "etc", a directory`},
		{name: "write through absolute symlink", img: withLayer(it.Symlink("evil", "/etc"), it.File("evil/passwd", "x")),
			want: `entry "evil/passwd"`},
		{name: "write through absolute symlink of a lower layer", img: func() it.Image {
			img := withLayer(it.Symlink("evil", "/tmp"))
			img.Layers = append(img.Layers, it.Layer{Entries: []it.Entry{it.File("evil/x", "x")}})
			return img
		}(), want: `layer 3 of 3`},
		{name: "write through relative symlink out", img: withLayer(it.Dir("a"), it.Symlink("a/up", "../../.."), it.File("a/up/x", "x")),
			want: `entry "a/up/x"`},
		{name: "directory through symlink out", img: withLayer(it.Symlink("up", "../"), it.Dir("up/d")), want: `entry "up/d"`},
		{name: "whiteout through symlink out", img: withLayer(it.Symlink("up", "/"), it.Whiteout("up/etc")), want: `entry "up/.wh.etc"`},
		{name: "file inside a file", img: withLayer(it.File("etc/keep/x", "x")), want: `entry "etc/keep/x" && not a directory`},
		{name: "unsupported entry type", img: withLayer(it.Entry{Name: "x", Type: 'V'}), want: `unsupported tar entry type`},
		{name: "layer digest mismatch", img: threeLayers(it.Gzip), alter: func(t *testing.T, f *it.Files) {
			n := layerName(t, f, 1)
			raw := f.Get(n)
			// Append a second, empty gzip member: still a valid layer, but
			// not the blob the manifest names.
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Close()
			f.Set(n, append(append([]byte(nil), raw...), buf.Bytes()...))
		}, want: "but the manifest says || it is corrupt or was altered"},
		{name: "docker save layer altered", img: threeLayers(it.Uncompressed), alter: func(t *testing.T, f *it.Files) {
			n := layerName(t, f, 0)
			raw := f.Get(n)
			i := bytes.Index(raw, []byte("kept from layer 1"))
			c := append([]byte(nil), raw...)
			c[i] = 'K'
			f.Set(n, c)
		}, want: "it is corrupt or was altered"},
		{name: "config altered", img: threeLayers(it.Uncompressed), alter: func(t *testing.T, f *it.Files) {
			n := configName(t, f)
			f.Set(n, bytes.Replace(f.Get(n), []byte("--serve"), []byte("--sErve"), 1))
		}, want: "it is corrupt or was altered"},
		{name: "missing layer", img: threeLayers(it.Uncompressed), alter: func(t *testing.T, f *it.Files) {
			f.Delete(layerName(t, f, 2))
		}, want: "missing from the image"},
		{name: "missing config", img: threeLayers(it.Uncompressed), alter: func(t *testing.T, f *it.Files) {
			f.Delete(configName(t, f))
		}, want: "config"},
		{name: "corrupt gzip layer", img: threeLayers(it.Gzip), alter: func(t *testing.T, f *it.Files) {
			n := layerName(t, f, 0)
			raw := f.Get(n)
			c := append([]byte(nil), raw[:len(raw)/2]...)
			f.Set(n, c)
		}, want: "layer 1 of 3"},
		{name: "no entrypoint", img: func() it.Image { i := threeLayers(it.Uncompressed); i.Entrypoint, i.Cmd = nil, nil; return i }(),
			want: "neither Entrypoint nor Cmd"},
		{name: "other architecture", img: func() it.Image { i := threeLayers(it.Uncompressed); i.Architecture = "s390x"; return i }(),
			want: "the image is for s390x"},
		{name: "too many entries", img: threeLayers(it.Uncompressed), limits: image.Limits{MaxEntries: 10}, want: "more than 10 entries"},
		{name: "too big", img: threeLayers(it.Uncompressed), limits: image.Limits{MaxBytes: 20}, want: "more than 20 bytes"},
		{name: "empty file", raw: []byte{}, want: "the image is empty"},
		{name: "not a tar", raw: bytes.Repeat([]byte("this is not a tarball\n"), 100), want: "not a tar archive"},
		{name: "a zip", raw: []byte("PK\x03\x04 and more"), want: "is a zip"},
		{name: "empty tar", raw: make([]byte, 1024), want: "neither index.json"},
	}
	ctx := context.Background()
	for _, c := range cases {
		var fmts []format
		if c.raw != nil {
			fmts = []format{{name: "raw"}}
		} else {
			fmts = formats
		}
		for _, f := range fmts {
			t.Run(c.name+"/"+f.name, func(t *testing.T) {
				var src string
				if c.raw != nil {
					src = filepath.Join(t.TempDir(), "image")
					os.WriteFile(src, c.raw, 0o644)
				} else {
					files, err := f.files(c.img)
					if err != nil {
						t.Fatal(err)
					}
					if c.alter != nil {
						c.alter(t, files)
					}
					src = f.write(t, files)
				}
				_, err := c.limits.InspectPath(ctx, src)
				if !errorSays(err, c.want) {
					t.Errorf("Inspect: %v\nwant an error with %q", err, c.want)
				}
				parent := t.TempDir()
				dst := filepath.Join(parent, "img")
				_, err = c.limits.ImportPath(ctx, src, dst)
				t.Logf("Import: %v", err)
				if !errorSays(err, c.want) {
					t.Errorf("Import: %v\nwant an error with %q", err, c.want)
				}
				if !errors.Is(err, image.ErrInvalid) {
					t.Errorf("Import: %v does not wrap ErrInvalid", err)
				}
				if ents, _ := os.ReadDir(parent); len(ents) != 0 {
					t.Errorf("left behind after a failed import: %v", ents)
				}
			})
		}
	}
}

// TestTruncated cuts image tarballs at several points: every cut is
// refused, by Inspect and Import alike, and leaves nothing.
func TestTruncated(t *testing.T) {
	ctx := context.Background()
	for _, f := range []format{{name: "docker save", files: dockerSave}, {name: "docker 25 save", files: dockerOCI}, {name: "OCI layout", files: ociLayout}} {
		files, err := f.files(threeLayers(it.Uncompressed))
		if err != nil {
			t.Fatal(err)
		}
		b, err := files.Tar()
		if err != nil {
			t.Fatal(err)
		}
		for _, frac := range []int{10, 30, 50, 70, 90, 99} {
			cut := b[:len(b)*frac/100]
			t.Run(fmt.Sprintf("%s/%d%%", f.name, frac), func(t *testing.T) {
				if _, err := image.Inspect(ctx, bytes.NewReader(cut), int64(len(cut))); err == nil {
					t.Error("Inspect accepted a truncated tarball")
				}
				parent := t.TempDir()
				if _, err := image.Import(ctx, bytes.NewReader(cut), int64(len(cut)), filepath.Join(parent, "img")); err == nil {
					t.Error("Import accepted a truncated tarball")
				} else {
					t.Log(err)
				}
				if ents, _ := os.ReadDir(parent); len(ents) != 0 {
					t.Errorf("left behind: %v", ents)
				}
			})
		}
	}
}

// TestNoEscape checks, past the error, that a write through an absolute
// symlink landed nowhere: not in the host's /tmp, not beside dst.
func TestNoEscape(t *testing.T) {
	outside := t.TempDir()
	img := withLayer(it.Symlink("evil", outside), it.File("evil/pwned", "x"))
	files, err := img.OCI(false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := files.Tar()
	if _, err := image.Import(context.Background(), bytes.NewReader(b), int64(len(b)), filepath.Join(t.TempDir(), "img")); err == nil {
		t.Fatal("Import accepted a write through a symlink out of the root")
	}
	if _, err := os.Lstat(filepath.Join(outside, "pwned")); !os.IsNotExist(err) {
		t.Fatalf("a file was written outside the root: %v", err)
	}
}

func TestCanceled(t *testing.T) {
	files, _ := threeLayers(it.Uncompressed).OCI(false)
	b, _ := files.Tar()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	parent := t.TempDir()
	if _, err := image.Import(ctx, bytes.NewReader(b), int64(len(b)), filepath.Join(parent, "img")); !errors.Is(err, context.Canceled) || errors.Is(err, image.ErrInvalid) {
		t.Errorf("Import with a canceled context: %v", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

// errorSays tells whether err says want: alternatives separated by " || ",
// each a list of substrings separated by " && ".
func errorSays(err error, want string) bool {
	if err == nil {
		return false
	}
	for alt := range strings.SplitSeq(want, " || ") {
		ok := true
		for part := range strings.SplitSeq(alt, " && ") {
			ok = ok && strings.Contains(err.Error(), part)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestDockerSaveLinkedLayers covers classic docker save's way of storing a
// layer twice: the second <id>/layer.tar is a symlink to the first.
func TestDockerSaveLinkedLayers(t *testing.T) {
	layer := it.Layer{Entries: []it.Entry{it.File("same", "same bytes")}}
	files, err := it.Image{Layers: []it.Layer{layer, layer}, Entrypoint: []string{"/x"}}.DockerSave()
	if err != nil {
		t.Fatal(err)
	}
	var m []struct{ Layers []string }
	json.Unmarshal(files.Get("manifest.json"), &m)
	first, second := m[0].Layers[0], m[0].Layers[1]
	files.Delete(second)
	tarball, err := files.Tar()
	if err != nil {
		t.Fatal(err)
	}
	// Append the symlink entry by rewriting the tarball's end.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.WriteHeader(&tar.Header{Name: second, Typeflag: tar.TypeSymlink, Linkname: "../" + first})
	tw.Close()
	b := buf.Bytes()
	dst := filepath.Join(t.TempDir(), "img")
	if _, err := image.Import(context.Background(), bytes.NewReader(b), int64(len(b)), dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dst, "rootfs/same")); string(got) != "same bytes" {
		t.Errorf("rootfs/same = %q", got)
	}
}

// TestLayoutDirSymlinkOut checks an OCI layout directory cannot make the
// import read a host file through a symlink.
func TestLayoutDirSymlinkOut(t *testing.T) {
	files, err := threeLayers(it.Uncompressed).OCI(false)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := files.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret.json")
	os.WriteFile(secret, files.Get("index.json"), 0o644)
	os.Remove(filepath.Join(dir, "index.json"))
	if err := os.Symlink(secret, filepath.Join(dir, "index.json")); err != nil {
		t.Fatal(err)
	}
	_, err = image.InspectPath(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Errorf("InspectPath through a symlink out of the layout: %v", err)
	}
}

// TestSeveralTags checks that an index listing one image under two names
// imports it, and that two different images are refused.
func TestSeveralTags(t *testing.T) {
	files, err := threeLayers(it.Uncompressed).OCI(false)
	if err != nil {
		t.Fatal(err)
	}
	var idx map[string]any
	json.Unmarshal(files.Get("index.json"), &idx)
	m := idx["manifests"].([]any)
	idx["manifests"] = []any{m[0], m[0]}
	b, _ := json.Marshal(idx)
	files.Set("index.json", b)
	tarball, _ := files.Tar()
	if _, err := image.Inspect(context.Background(), bytes.NewReader(tarball), int64(len(tarball))); err != nil {
		t.Errorf("one image under two names: %v", err)
	}
	other := map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + strings.Repeat("ab", 32), "size": 10}
	idx["manifests"] = []any{m[0], other}
	b, _ = json.Marshal(idx)
	files.Set("index.json", b)
	tarball, _ = files.Tar()
	if _, err := image.Inspect(context.Background(), bytes.NewReader(tarball), int64(len(tarball))); err == nil || !strings.Contains(err.Error(), "lists 2 images") {
		t.Errorf("two images: %v", err)
	}
}

// TestTrailingBomb checks a layer cannot make the import inflate
// unbounded data hidden after its tar's end.
func TestTrailingBomb(t *testing.T) {
	raw, err := it.Tar([]it.Entry{it.File("a", "a")})
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, make([]byte, 4<<20)...)
	files, err := it.Image{Layers: []it.Layer{{Raw: raw, Compression: it.Gzip}}, Entrypoint: []string{"/a"}}.OCI(false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := files.Tar()
	_, err = image.Inspect(context.Background(), bytes.NewReader(b), int64(len(b)))
	if err == nil || !strings.Contains(err.Error(), "follow the tar's end") {
		t.Errorf("Inspect: %v", err)
	}
}

// TestLongNames checks files of an image tarball found by offset behind
// PAX long-name headers.
func TestLongNames(t *testing.T) {
	files, err := threeLayers(it.Uncompressed).DockerSave()
	if err != nil {
		t.Fatal(err)
	}
	var m []map[string]any
	json.Unmarshal(files.Get("manifest.json"), &m)
	layers := m[0]["Layers"].([]any)
	for i, l := range layers {
		long := strings.Repeat("long-directory-name/", 8) + fmt.Sprintf("layer-%d.tar", i)
		files.Set(long, files.Get(l.(string)))
		files.Delete(l.(string))
		layers[i] = long
	}
	b, _ := json.Marshal(m)
	files.Set("manifest.json", b)
	tarball, _ := files.Tar()
	dst := filepath.Join(t.TempDir(), "img")
	if _, err := image.Import(context.Background(), bytes.NewReader(tarball), int64(len(tarball)), dst); err != nil {
		t.Fatal(err)
	}
	if got := treetest.Describe(t, filepath.Join(dst, "rootfs"), treetest.Options{Special: true}); !reflect.DeepEqual(got, threeLayersTree) {
		t.Errorf("rootfs:\n%s", show(got))
	}
}
