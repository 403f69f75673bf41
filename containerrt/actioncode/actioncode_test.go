package actioncode

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/wispfaas/wisp/internal/treetest"
)

// zent is one entry of a test zip. A mode with fs.ModeSymlink makes a
// symlink whose target is body.
type zent struct {
	name string
	body string
	mode fs.FileMode
}

func mkzip(t testing.TB, ents ...zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.body == "" {
			h.Method = zip.Store // a deflater costs ~1 MB to set up
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if strings.HasSuffix(e.name, "/") {
				mode = fs.ModeDir | 0o755
			}
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip writes one deflated entry whose declared size is declared,
// whatever body inflates to: a lying zip.
func rawZip(t testing.TB, name string, body []byte, declared uint64) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(body)
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(body),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return buf.Bytes()
}

func TestPlace(t *testing.T) {
	pyZip := mkzip(t,
		zent{name: "__main__.py", body: "def main(a): return a"},
		zent{name: "virtualenv/bin/activate_this.py", body: "# activate"},
		zent{name: "virtualenv/bin/tool", body: "#!/bin/sh", mode: 0o700},
		zent{name: "virtualenv/lib/python3.11/site-packages/mod/__init__.py", body: "X = 1"},
		zent{name: "virtualenv/lib64", body: "lib", mode: fs.ModeSymlink | 0o777},
		zent{name: "virtualenv/include/", mode: fs.ModeDir | 0o700},
	)
	nodeZip := mkzip(t,
		zent{name: "package.json", body: `{"name": "a", "main": "lib/app"}`},
		zent{name: "lib/app.js", body: "exports.main = p => p"},
		zent{name: "node_modules/left-pad/index.js", body: "module.exports = 1"},
		zent{name: "node_modules/left-pad/cli.js", body: "#!/usr/bin/env node", mode: 0o755},
		zent{name: "node_modules/.bin/left-pad", body: "../left-pad/cli.js", mode: fs.ModeSymlink | 0o777},
	)
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed (scripts/deps.sh): %v", err)
	}
	cases := []struct {
		name, kind string
		code       []byte
		binary     bool
		entry      string
		tree       map[string]string
	}{
		{name: "python source", kind: KindPython, code: []byte("def main(a): return a"), entry: "/action/__main__.py",
			tree: map[string]string{"__main__.py": "f 644 def main(a): return a"}},
		{name: "node source", kind: KindNodeJS, code: []byte("function main(p) { return p }"), entry: "/action/index.js",
			tree: map[string]string{"index.js": "f 644 function main(p) { return p }"}},
		{name: "python zip with a virtualenv", kind: KindPython, code: pyZip, binary: true, entry: "",
			tree: map[string]string{
				"__main__.py":                                 "f 644 def main(a): return a",
				"virtualenv":                                  "d 755",
				"virtualenv/bin":                              "d 755",
				"virtualenv/bin/activate_this.py":             "f 644 # activate",
				"virtualenv/bin/tool":                         "f 755 #!/bin/sh",
				"virtualenv/lib":                              "d 755",
				"virtualenv/lib/python3.11":                   "d 755",
				"virtualenv/lib/python3.11/site-packages":     "d 755",
				"virtualenv/lib/python3.11/site-packages/mod": "d 755",
				"virtualenv/lib/python3.11/site-packages/mod/__init__.py": "f 644 X = 1",
				"virtualenv/lib64":   "l lib",
				"virtualenv/include": "d 755",
			}},
		{name: "node zip with node_modules", kind: KindNodeJS, code: nodeZip, binary: true, entry: "",
			tree: map[string]string{
				"package.json":                   `f 644 {"name": "a", "main": "lib/app"}`,
				"lib":                            "d 755",
				"lib/app.js":                     "f 644 exports.main = p => p",
				"node_modules":                   "d 755",
				"node_modules/left-pad":          "d 755",
				"node_modules/left-pad/index.js": "f 644 module.exports = 1",
				"node_modules/left-pad/cli.js":   "f 755 #!/usr/bin/env node",
				"node_modules/.bin":              "d 755",
				"node_modules/.bin/left-pad":     "l ../left-pad/cli.js",
			}},
		{name: "native", kind: KindNative, code: busybox, binary: true, entry: "/action/exec",
			tree: map[string]string{"exec": "f 755 " + string(busybox)}},
		{name: "blackbox", kind: KindBlackbox, code: []byte("an image"), binary: true, entry: "", tree: map[string]string{}},
	}
	old := syscallUmask(0o077) // a strict umask must not make code unreadable
	defer syscallUmask(old)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := Check(c.kind, c.code, c.binary); err != nil {
				t.Fatalf("Check: %v", err)
			}
			dir := filepath.Join(t.TempDir(), "action")
			entry, err := Place(dir, c.kind, c.code, c.binary)
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			if entry != c.entry {
				t.Errorf("entry %q, want %q", entry, c.entry)
			}
			if got := treetest.Describe(t, dir, treetest.Options{}); !reflect.DeepEqual(got, c.tree) {
				t.Errorf("placed:\n%s\nwant:\n%s", show(got), show(c.tree))
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("action directory: %v %v", fi, err)
			}
		})
	}
}

func show(m map[string]string) string {
	var l []string
	for k, v := range m {
		if len(v) > 60 {
			v = v[:60] + "…"
		}
		l = append(l, "  "+k+": "+v)
	}
	sort.Strings(l)
	return strings.Join(l, "\n")
}

func TestBadZips(t *testing.T) {
	good := mkzip(t, zent{name: "__main__.py", body: "def main(a): return a"})
	crcBad := append([]byte(nil), good...)
	// Flip a byte of the deflated data: the CRC no longer matches.
	crcBad[len("PK")+28+len("__main__.py")+2] ^= 0xff
	many := make([]zent, MaxZipEntries+1)
	for i := range many {
		many[i] = zent{name: fmt.Sprintf("f%d", i)}
	}
	cases := []struct {
		name, kind string
		code       []byte
		want       string
		unpackOK   bool // UnpackZip does not check the kind's entry point
	}{
		{name: "empty", kind: KindPython, code: nil, want: "the zip is empty"},
		{name: "not a zip", kind: KindPython, code: []byte("print('hello')"), want: "not a readable zip archive"},
		{name: "truncated", kind: KindPython, code: good[:len(good)-30], want: "not a readable zip archive"},
		{name: "corrupt data", kind: KindPython, code: crcBad, want: `"__main__.py"`},
		{name: "no files", kind: KindPython, code: mkzip(t), want: "holds no files"},
		{name: "parent escape", kind: KindPython, code: mkzip(t, zent{name: "../evil", body: "x"}, zent{name: "__main__.py"}), want: `"../evil" leaves the action directory`},
		{name: "inner escape", kind: KindPython, code: mkzip(t, zent{name: "a/../../evil"}, zent{name: "__main__.py"}), want: "leaves the action directory"},
		{name: "absolute", kind: KindPython, code: mkzip(t, zent{name: "/etc/passwd"}, zent{name: "__main__.py"}), want: "absolute path"},
		{name: "symlink to /etc then a file through it", kind: KindPython, code: mkzip(t,
			zent{name: "etc", body: "/etc", mode: fs.ModeSymlink | 0o777}, zent{name: "etc/passwd", body: "root::0:0"}, zent{name: "__main__.py"}),
			want: `"etc" is a symlink to "/etc"`},
		{name: "symlink climbing out", kind: KindPython, code: mkzip(t,
			zent{name: "a/up", body: "../..", mode: fs.ModeSymlink | 0o777}, zent{name: "__main__.py"}),
			want: "resolves outside the action directory"},
		{name: "symlink out through another symlink", kind: KindPython, code: mkzip(t,
			zent{name: "here", body: ".", mode: fs.ModeSymlink | 0o777},
			zent{name: "out", body: "here/..", mode: fs.ModeSymlink | 0o777}, zent{name: "__main__.py"}),
			want: `"out" is a symlink to "here/.."`},
		{name: "symlink loop", kind: KindPython, code: mkzip(t,
			zent{name: "a", body: "b", mode: fs.ModeSymlink | 0o777},
			zent{name: "b", body: "a", mode: fs.ModeSymlink | 0o777}, zent{name: "__main__.py"}),
			want: "too many levels of symbolic links"},
		{name: "file through an inner symlink", kind: KindPython, code: mkzip(t,
			zent{name: "sub/"}, zent{name: "d", body: "sub", mode: fs.ModeSymlink | 0o777}, zent{name: "d/x"}, zent{name: "__main__.py"}),
			want: `"d/x" lies inside "d", which is a symlink`},
		{name: "file inside a file", kind: KindPython, code: mkzip(t, zent{name: "f"}, zent{name: "f/x"}, zent{name: "__main__.py"}),
			want: `lies inside "f", which is a file`},
		{name: "device", kind: KindPython, code: mkzip(t, zent{name: "null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}, zent{name: "__main__.py"}),
			want: "character device"},
		{name: "fifo", kind: KindPython, code: mkzip(t, zent{name: "p", mode: fs.ModeNamedPipe | 0o666}, zent{name: "__main__.py"}), want: "named pipe"},
		{name: "duplicate", kind: KindPython, code: mkzip(t, zent{name: "__main__.py"}, zent{name: "./__main__.py"}), want: "appears twice"},
		{name: "bomb by declared size", kind: KindPython, code: rawZip(t, "__main__.py", []byte("x"), 2<<30), want: "more than 1073741824 bytes"},
		{name: "bomb lying about its size", kind: KindPython, code: rawZip(t, "__main__.py", make([]byte, 10<<20), 100), want: `"__main__.py"`},
		{name: "too many entries", kind: KindPython, code: mkzip(t, many...), want: "50001 entries"},
		{name: "missing __main__.py", kind: KindPython, code: mkzip(t, zent{name: "main.py"}), want: "no __main__.py", unpackOK: true},
		{name: "__main__.py not at the root", kind: KindPython, code: mkzip(t, zent{name: "src/__main__.py"}), want: "no __main__.py", unpackOK: true},
		{name: "node without entry", kind: KindNodeJS, code: mkzip(t, zent{name: "app.js"}), want: "neither package.json nor index.js", unpackOK: true},
		{name: "node main missing", kind: KindNodeJS, code: mkzip(t, zent{name: "package.json", body: `{"main": "lib/app.js"}`}, zent{name: "index.js"}),
			want: `"main" is "lib/app.js", but the zip has no such file`, unpackOK: true},
		{name: "node main escaping", kind: KindNodeJS, code: mkzip(t, zent{name: "package.json", body: `{"main": "../x.js"}`}), want: "leaves the action directory", unpackOK: true},
		{name: "node bad package.json", kind: KindNodeJS, code: mkzip(t, zent{name: "package.json", body: `{"main": `}, zent{name: "index.js"}),
			want: "package.json is not valid JSON", unpackOK: true},
		{name: "zip for native", kind: KindNative, code: good, want: `kind "native" does not take a zip`, unpackOK: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckZip(c.kind, c.code)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckZip: %v\nwant an error with %q", err, c.want)
			}
			t.Log(err)
			parent := t.TempDir()
			dst := filepath.Join(parent, "action")
			if _, err := Place(dst, c.kind, c.code, true); err == nil {
				t.Errorf("Place accepted it")
			}
			os.RemoveAll(dst)
			err = UnpackZip(c.code, dst)
			if c.unpackOK {
				if err != nil {
					t.Errorf("UnpackZip: %v", err)
				}
				return
			}
			if err == nil {
				t.Errorf("UnpackZip accepted it")
			}
			got := treetest.Describe(t, parent, treetest.Options{})
			delete(got, "action") // an empty dst may remain
			if len(got) != 0 {
				t.Errorf("after a refused unpack, beside dst: %v", got)
			}
		})
	}
}

func TestNativeChecks(t *testing.T) {
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	dynamic, err := os.ReadFile("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	patch := func(b []byte, off int, v uint16) []byte {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint16(c[off:], v)
		return c
	}
	cases := []struct {
		name string
		code []byte
		want string
	}{
		{"empty", nil, "native code is empty"},
		{"script", []byte("#!/bin/sh\necho hi\n"), "a script, not an ELF executable"},
		{"wasm", []byte("\x00asm\x01\x00\x00\x00"), "a WebAssembly module"},
		{"text", []byte("hello"), "not an ELF executable"},
		{"dynamic", dynamic, "dynamically linked (interpreter \"/lib64/ld-linux-x86-64.so.2\")"},
		{"other arch", patch(busybox, 18, uint16(elf.EM_AARCH64)), "for AARCH64, but this machine runs amd64"},
		{"relocatable", patch(busybox, 16, uint16(elf.ET_REL)), "ET_REL, not an executable"},
		{"truncated ELF", busybox[:40], "malformed ELF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckNative(c.code)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckNative: %v\nwant an error with %q", err, c.want)
			}
			dir := filepath.Join(t.TempDir(), "action")
			if _, err := Place(dir, KindNative, c.code, true); err == nil {
				t.Error("Place accepted it")
			}
			if _, err := os.Lstat(filepath.Join(dir, "exec")); !os.IsNotExist(err) {
				t.Errorf("exec written for refused code: %v", err)
			}
			// The same from a file, as the invoker's cache hands it out.
			src := filepath.Join(t.TempDir(), "blob")
			if err := os.WriteFile(src, c.code, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := PlaceNativeFile(dir, src); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("PlaceNativeFile: %v\nwant an error with %q", err, c.want)
			}
			if _, err := os.Lstat(filepath.Join(dir, "exec")); !os.IsNotExist(err) {
				t.Errorf("exec placed for refused code: %v", err)
			}
		})
	}
}

// TestPlaceNativeFile places a static executable from a cache file: linked
// on the same file system (executable by the container's user, the blob
// unchanged), copied across file systems (/dev/shm is a tmpfs), and never
// written through a name that is already there.
func TestPlaceNativeFile(t *testing.T) {
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	for _, where := range []struct{ name, srcDir string }{{"same file system", t.TempDir()}, {"across file systems", "/dev/shm"}} {
		t.Run(where.name, func(t *testing.T) {
			src, err := os.CreateTemp(where.srcDir, "wisp-test-blob-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(src.Name()) })
			if _, err := src.Write(busybox); err != nil {
				t.Fatal(err)
			}
			src.Close()
			dir := filepath.Join(t.TempDir(), "action")
			entry, err := PlaceNativeFile(dir, src.Name())
			if err != nil || entry != MountPoint+"/exec" {
				t.Fatalf("PlaceNativeFile = %q, %v", entry, err)
			}
			fi, err := os.Stat(filepath.Join(dir, "exec"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o005 != 0o005 || fi.Mode().Perm()&0o222 == 0o222 {
				t.Errorf("exec mode %v: want readable and executable by others", fi.Mode())
			}
			got, err := os.ReadFile(filepath.Join(dir, "exec"))
			if err != nil || !bytes.Equal(got, busybox) {
				t.Fatalf("exec differs from the blob (%v)", err)
			}
			// Placing again replaces the name, and the blob stays whole.
			if _, err := PlaceNativeFile(dir, src.Name()); err != nil {
				t.Fatalf("place again: %v", err)
			}
			if b, err := os.ReadFile(src.Name()); err != nil || !bytes.Equal(b, busybox) {
				t.Fatalf("the blob changed (%v)", err)
			}
		})
	}
	// A copy never writes through an existing exec (a link to a blob).
	blob := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(blob, busybox, 0o555); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "action")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(blob, filepath.Join(dir, "exec")); err != nil {
		t.Fatal(err)
	}
	other, err := os.CreateTemp("/dev/shm", "wisp-test-blob-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(other.Name()) })
	changed := append([]byte(nil), busybox...)
	changed[len(changed)-1] ^= 0xff // still the same ELF headers
	other.Write(changed)
	other.Close()
	if _, err := PlaceNativeFile(dir, other.Name()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(blob); err != nil || !bytes.Equal(b, busybox) {
		t.Fatalf("the linked blob was written through (%v)", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "exec")); err != nil || !bytes.Equal(b, changed) {
		t.Fatalf("exec is not the new code (%v)", err)
	}
}

func TestPlaceUnknownKind(t *testing.T) {
	if _, err := Place(t.TempDir(), "wasm", []byte("\x00asm"), true); err == nil {
		t.Error("Place accepted a wasm action")
	}
	if err := Check(KindPython, []byte("  \n"), false); err == nil {
		t.Error("Check accepted empty source")
	}
}

// TestLinkTree checks that a tree Place unpacked, linked into another
// directory, is the same tree (modes, symbolic links, contents) made of the
// same files.
func TestLinkTree(t *testing.T) {
	for _, c := range []struct {
		kind string
		code []byte
	}{
		{KindPython, mkzip(t,
			zent{name: "__main__.py", body: "def main(a): return a"},
			zent{name: "virtualenv/bin/tool", body: "#!/bin/sh", mode: 0o700},
			zent{name: "virtualenv/lib/python3.11/site-packages/mod/__init__.py", body: "X = 1"},
			zent{name: "virtualenv/lib64", body: "lib", mode: fs.ModeSymlink | 0o777},
			zent{name: "virtualenv/include/", mode: fs.ModeDir | 0o700},
		)},
		{KindNodeJS, mkzip(t,
			zent{name: "package.json", body: `{"name": "a", "main": "lib/app"}`},
			zent{name: "lib/app.js", body: "exports.main = p => p"},
			zent{name: "node_modules/left-pad/cli.js", body: "#!/usr/bin/env node", mode: 0o755},
			zent{name: "node_modules/.bin/left-pad", body: "../left-pad/cli.js", mode: fs.ModeSymlink | 0o777},
		)},
	} {
		t.Run(c.kind, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "src")
			if _, err := Place(src, c.kind, c.code, true); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "dst")
			size, err := LinkTree(src, dst)
			if err != nil {
				t.Fatal(err)
			}
			want, got := treetest.Describe(t, src, treetest.Options{}), treetest.Describe(t, dst, treetest.Options{})
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("linked tree:\n%v\nwant\n%v", got, want)
			}
			var files int64
			filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
				if d.Type().IsRegular() {
					rel, _ := filepath.Rel(src, p)
					a, _ := os.Stat(p)
					b, _ := os.Stat(filepath.Join(dst, rel))
					files += a.Size()
					if !os.SameFile(a, b) {
						t.Errorf("%s is a copy, not a link", rel)
					}
				}
				return nil
			})
			if size != files {
				t.Errorf("LinkTree reported %d bytes, the files hold %d", size, files)
			}
		})
	}
}

// TestCheckAt checks code read in place as Check checks bytes, including
// source whose first non-blank byte lies past the first chunk read.
func TestCheckAt(t *testing.T) {
	blank := strings.Repeat(" \n\t", 40_000) // 120 kB of white space
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, kind string
		code       []byte
		binary     bool
		ok         bool
	}{
		{"blank source", KindPython, []byte(blank), false, false},
		{"source after blanks", KindNodeJS, []byte(blank + "function main() {}"), false, true},
		{"empty source", KindPython, nil, false, false},
		{"a zip", KindPython, mkzip(t, zent{name: "__main__.py", body: "def main(a): return a"}), true, true},
		{"a zip without entry point", KindPython, mkzip(t, zent{name: "main.py", body: "x"}), true, false},
		{"a static executable", KindNative, busybox, true, true},
		{"a script as native", KindNative, []byte("#!/bin/sh\n"), true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			errBytes := Check(c.kind, c.code, c.binary)
			errAt := CheckAt(c.kind, bytes.NewReader(c.code), int64(len(c.code)), c.binary)
			if (errAt == nil) != c.ok || fmt.Sprint(errAt) != fmt.Sprint(errBytes) {
				t.Fatalf("CheckAt = %v, Check = %v; want ok=%v and the same answer", errAt, errBytes, c.ok)
			}
		})
	}
}

// TestPlacedExecutableRunsAtOnce runs each placed executable as soon as
// Place or PlaceNativeFile (copying, across file systems) returns, while
// other goroutines start processes, as other containers start in wispd.
// Without noForksWhileWriting a process forked while the file was open
// for writing kept it open until its own exec, and 7–8% of these runs
// failed with ETXTBSY.
func TestPlacedExecutableRunsAtOnce(t *testing.T) {
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed (scripts/deps.sh): %v", err)
	}
	src := filepath.Join("/dev/shm", "wisp-actioncode-test-"+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(src, busybox, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(src) })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = exec.Command("/bin/true").Run()
			}
		}()
	}
	defer wg.Wait()
	defer close(stop)
	base := t.TempDir()
	place := map[string]func(dir string) (string, error){
		"Place":           func(dir string) (string, error) { return Place(dir, KindNative, busybox, true) },
		"PlaceNativeFile": func(dir string) (string, error) { return PlaceNativeFile(dir, src) },
	}
	for name, placeOne := range place {
		busy := 0
		for i := range 150 {
			dir := filepath.Join(base, name+strconv.Itoa(i))
			if _, err := placeOne(dir); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			cmd := exec.Command(filepath.Join(dir, "exec"))
			cmd.Args = []string{"true"} // busybox's applet
			if err := cmd.Run(); errors.Is(err, syscall.ETXTBSY) {
				busy++
			} else if err != nil {
				t.Fatalf("%s: run the placed executable: %v", name, err)
			}
		}
		if busy > 0 {
			t.Errorf("%s: %d of 150 placed executables could not be run at once (text file busy)", name, busy)
		}
	}
}
