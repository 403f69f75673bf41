package actioncode

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Limits on a zip action, checked against both the sizes a zip declares and
// the bytes it really inflates to (a zip bomb lies in the first and is
// caught by the second).
const (
	// MaxZipEntries is the most entries a zip may hold.
	MaxZipEntries = 50_000
	// MaxUnpackedBytes is the most bytes a zip may unpack to, in all.
	MaxUnpackedBytes = 1 << 30
	// maxLinkTarget bounds a symlink entry's target (Linux's PATH_MAX).
	maxLinkTarget = 4096
	// maxLinkHops bounds symlink resolution, as the kernel's ELOOP does.
	maxLinkHops = 40
	// maxPackageJSON bounds the package.json read at create time.
	maxPackageJSON = 1 << 20
)

type entryType int

const (
	typeFile entryType = iota
	typeDir
	typeLink
)

// zipEntry is one validated zip entry.
type zipEntry struct {
	f      *zip.File
	name   string // cleaned, relative, never "." or leaving the directory
	typ    entryType
	exec   bool   // a file with an executable bit
	target string // a symlink's target
}

// scanned is a zip whose names, types, sizes and symlinks have been
// validated; nothing has been inflated but symlink targets.
type scanned struct {
	entries []zipEntry
	byName  map[string]*zipEntry
}

// scanZipAt opens a zip read in place and validates everything but the
// file contents: entry count, declared sizes, names (no absolute paths,
// nothing leaving the directory, no duplicates, no entry inside a symlink
// or a file), types (files, directories and symlinks only) and symlink
// targets (relative, resolving inside the directory).
func scanZipAt(r io.ReaderAt, size int64) (*scanned, error) {
	if size == 0 {
		return nil, errors.New("the zip is empty (0 bytes)")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("the code is not a readable zip archive: %w", err)
	}
	if len(zr.File) == 0 {
		return nil, errors.New("the zip holds no files")
	}
	if len(zr.File) > MaxZipEntries {
		return nil, fmt.Errorf("the zip holds %d entries, more than the limit of %d", len(zr.File), MaxZipEntries)
	}
	s := &scanned{byName: make(map[string]*zipEntry, len(zr.File))}
	var declared uint64
	for _, f := range zr.File {
		e, skip, err := checkEntry(f)
		if err != nil {
			return nil, err
		}
		if skip {
			continue
		}
		declared += f.UncompressedSize64
		if declared > MaxUnpackedBytes || f.UncompressedSize64 > MaxUnpackedBytes {
			return nil, fmt.Errorf("the zip unpacks to more than %d bytes (the limit), by the sizes it declares", MaxUnpackedBytes)
		}
		if prev, ok := s.byName[e.name]; ok {
			if prev.typ == typeDir && e.typ == typeDir {
				continue
			}
			return nil, fmt.Errorf("zip entry %q appears twice", f.Name)
		}
		s.entries = append(s.entries, e)
		s.byName[e.name] = &s.entries[len(s.entries)-1]
	}
	// Pointers into s.entries were taken while it grew: take them again.
	for i := range s.entries {
		s.byName[s.entries[i].name] = &s.entries[i]
	}
	links := map[string]string{}
	for _, e := range s.entries {
		// No entry may lie inside a symlink or a file of the zip: its place
		// would then depend on the order of unpacking.
		for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
			if parent, ok := s.byName[p]; ok && parent.typ != typeDir {
				what := "a file"
				if parent.typ == typeLink {
					what = "a symlink"
				}
				return nil, fmt.Errorf("zip entry %q lies inside %q, which is %s", e.f.Name, parent.f.Name, what)
			}
		}
		if e.typ == typeLink {
			links[e.name] = e.target
		}
	}
	for name, target := range links {
		hops := 0
		if _, err := resolve(links, parentParts(name), target, &hops); err != nil {
			return nil, fmt.Errorf("zip entry %q is a symlink to %q: %w", name, target, err)
		}
	}
	return s, nil
}

// checkEntry validates one entry's name and type, and reads a symlink's
// target. skip is true for the entry of the directory itself ("./").
func checkEntry(f *zip.File) (e zipEntry, skip bool, err error) {
	name := f.Name
	switch {
	case name == "":
		return e, false, errors.New("a zip entry has an empty name")
	case strings.ContainsRune(name, 0):
		return e, false, fmt.Errorf("zip entry %q has a NUL byte in its name", name)
	case strings.HasPrefix(name, "/"):
		return e, false, fmt.Errorf("zip entry %q has an absolute path", name)
	}
	clean := path.Clean(name)
	if clean == "." {
		return e, true, nil
	}
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return e, false, fmt.Errorf("zip entry %q leaves the action directory", name)
	}
	e = zipEntry{f: f, name: clean}
	mode := f.Mode()
	switch mode.Type() {
	case 0:
		e.typ = typeFile
		e.exec = mode.Perm()&0o111 != 0
	case fs.ModeDir:
		e.typ = typeDir
	case fs.ModeSymlink:
		e.typ = typeLink
		if f.UncompressedSize64 == 0 || f.UncompressedSize64 > maxLinkTarget {
			return e, false, fmt.Errorf("zip entry %q is a symlink with a target of %d bytes", name, f.UncompressedSize64)
		}
		target, err := readAll(f, maxLinkTarget)
		if err != nil {
			return e, false, fmt.Errorf("read zip entry %q: %w", name, err)
		}
		e.target = string(target)
		if strings.ContainsRune(e.target, 0) {
			return e, false, fmt.Errorf("zip entry %q is a symlink whose target has a NUL byte", name)
		}
		if strings.HasPrefix(e.target, "/") {
			return e, false, fmt.Errorf("zip entry %q is a symlink to %q, an absolute path outside the action directory", name, e.target)
		}
	default:
		return e, false, fmt.Errorf("zip entry %q is a %s; only files, directories and symlinks are allowed", name, typeName(mode))
	}
	return e, false, nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (fifo)"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	default:
		return "irregular file"
	}
}

var (
	errEscapes = errors.New("it resolves outside the action directory")
	errLoop    = errors.New("too many levels of symbolic links")
)

// resolve walks rel from the directory cur (path components from the
// action directory) the way the kernel would, following the zip's own
// symlinks, and fails if the walk ever climbs above the action directory.
func resolve(links map[string]string, cur []string, rel string, hops *int) ([]string, error) {
	cur = append([]string(nil), cur...)
	for c := range strings.SplitSeq(rel, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return nil, errEscapes
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, c)
		target, ok := links[strings.Join(cur, "/")]
		if !ok {
			continue
		}
		if *hops++; *hops > maxLinkHops {
			return nil, errLoop
		}
		if strings.HasPrefix(target, "/") {
			return nil, errEscapes
		}
		r, err := resolve(links, cur[:len(cur)-1], target, hops)
		if err != nil {
			return nil, err
		}
		cur = r
	}
	return cur, nil
}

func parentParts(name string) []string {
	d := path.Dir(name)
	if d == "." {
		return nil
	}
	return strings.Split(d, "/")
}

// readAll reads an entry of at most limit bytes (archive/zip checks its
// size and CRC as it goes).
func readAll(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// CheckZip validates a zip action for a kind at create time, without
// writing anything: it must be a readable zip (a corrupt one gets an error
// naming what is wrong); no entry may leave the directory (absolute paths,
// "..", symlinks resolving outside); only files, directories and symlinks;
// at most MaxZipEntries entries and MaxUnpackedBytes unpacked, by the
// declared sizes and by inflating every file (which also checks CRCs); and
// the kind's entry point must be present: __main__.py at the root for
// python:3; for nodejs:20 a package.json whose "main" resolves to a file
// (as Node's require does), or index.js.
func CheckZip(kind string, code []byte) error {
	return CheckZipAt(kind, bytes.NewReader(code), int64(len(code)))
}

// CheckZipAt is CheckZip of a zip read in place (a file: the zip is never
// whole in memory).
func CheckZipAt(kind string, r io.ReaderAt, size int64) error {
	if kind != KindPython && kind != KindNodeJS {
		return fmt.Errorf("kind %q does not take a zip", kind)
	}
	s, err := scanZipAt(r, size)
	if err != nil {
		return err
	}
	var total int64
	for _, e := range s.entries {
		if e.typ != typeFile {
			continue
		}
		n, err := inflate(e.f, io.Discard, MaxUnpackedBytes-total)
		total += n
		if err != nil {
			return err
		}
	}
	return s.checkEntryPoint(kind)
}

// checkEntryPoint finds the file the kind's launcher loads.
func (s *scanned) checkEntryPoint(kind string) error {
	switch kind {
	case KindPython:
		if !s.isFile("__main__.py") {
			return errors.New("the zip has no __main__.py at its root: a python:3 zip action needs one (it defines main)")
		}
	case KindNodeJS:
		return s.checkNodeEntry()
	}
	return nil
}

func (s *scanned) isFile(name string) bool {
	e, ok := s.byName[name]
	return ok && e.typ == typeFile
}

// checkNodeEntry finds the module Node.js loads from the zip's root.
func (s *scanned) checkNodeEntry() error {
	if !s.isFile("package.json") {
		if s.isFile("index.js") {
			return nil
		}
		return errors.New("the zip has neither package.json nor index.js at its root: a nodejs:20 zip action needs one of them")
	}
	b, err := readAll(s.byName["package.json"].f, maxPackageJSON)
	if err != nil {
		return fmt.Errorf("read package.json: %w", err)
	}
	var pkg struct {
		Main *string `json:"main"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return fmt.Errorf("package.json is not valid JSON: %w", err)
	}
	if pkg.Main == nil || *pkg.Main == "" {
		if s.isFile("index.js") {
			return nil
		}
		return errors.New(`package.json has no "main" and there is no index.js at the zip's root`)
	}
	m := path.Clean(*pkg.Main)
	if strings.HasPrefix(*pkg.Main, "/") || m == ".." || strings.HasPrefix(m, "../") {
		return fmt.Errorf(`package.json's "main" %q leaves the action directory`, *pkg.Main)
	}
	// Node's require(X) tries X, X.js, X.json, X.node, then X/index.*.
	for _, c := range []string{m, m + ".js", m + ".json", m + ".node", m + "/index.js", m + "/index.json", m + "/index.node"} {
		if s.isFile(path.Clean(c)) {
			return nil
		}
	}
	return fmt.Errorf(`package.json's "main" is %q, but the zip has no such file (tried %s, %s.js and %s/index.js)`, *pkg.Main, m, m, m)
}

// inflate copies an entry's bytes to w, refusing more than limit bytes.
func inflate(f *zip.File, w io.Writer, limit int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("zip entry %q: %w", f.Name, err)
	}
	defer rc.Close()
	n, err := io.Copy(w, io.LimitReader(rc, limit+1))
	if err != nil {
		return n, fmt.Errorf("zip entry %q is corrupt: %w", f.Name, err)
	}
	if n > limit {
		return n, fmt.Errorf("the zip unpacks to more than %d bytes (the limit)", MaxUnpackedBytes)
	}
	if uint64(n) != f.UncompressedSize64 {
		return n, fmt.Errorf("zip entry %q is corrupt: it inflates to %d bytes, not the %d it declares", f.Name, n, f.UncompressedSize64)
	}
	return n, nil
}

// UnpackZip validates a zip as scanZip does (not the kind's entry point:
// see CheckZip) and unpacks it into dst, created if missing. Every file is
// created through an os.Root on dst, so nothing can be written outside it,
// whatever the zip holds. Files get mode 0644, or 0755 if the zip marks them
// executable; directories 0755; symlinks are kept as symlinks. On error dst
// may hold part of the zip and should be removed by the caller.
func UnpackZip(code []byte, dst string) error {
	return unpackZip(code, dst, "")
}

// unpackZip is UnpackZip, checking kind's entry point first if kind is set
// (Place: one pass over the data, which unpacking verifies as it goes).
func unpackZip(code []byte, dst, kind string) (err error) {
	return unpackZipAt(bytes.NewReader(code), int64(len(code)), dst, kind)
}

// unpackZipAt is unpackZip of a zip read in place.
func unpackZipAt(r io.ReaderAt, size int64, dst, kind string) (err error) {
	s, err := scanZipAt(r, size)
	if err != nil {
		return err
	}
	if kind != "" {
		if err := s.checkEntryPoint(kind); err != nil {
			return err
		}
	}
	_, statErr := os.Lstat(dst)
	made := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("open %s: %w", dst, err)
	}
	defer root.Close()
	// A zip found corrupt halfway (a CRC, a lying size) leaves nothing
	// behind: what it wrote is removed, and dst too if this made it.
	top := map[string]bool{}
	defer func() {
		if err == nil {
			return
		}
		for name := range top {
			root.RemoveAll(name)
		}
		if made {
			os.Remove(dst)
		}
	}()
	var total int64
	for _, e := range s.entries {
		top[strings.SplitN(e.name, "/", 2)[0]] = true
		if d := path.Dir(e.name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("unpack zip entry %q: %w", e.f.Name, err)
			}
		}
		switch e.typ {
		case typeDir:
			if err := root.MkdirAll(e.name, 0o755); err != nil {
				return fmt.Errorf("unpack zip entry %q: %w", e.f.Name, err)
			}
		case typeLink:
			if err := root.Symlink(e.target, e.name); err != nil {
				return fmt.Errorf("unpack zip entry %q: %w", e.f.Name, err)
			}
		case typeFile:
			n, err := unpackFile(root, e, MaxUnpackedBytes-total)
			total += n
			if err != nil {
				return err
			}
		}
	}
	// Directories created as parents got the umask's mode: make every one
	// 0755, so the container's unprivileged user can read them.
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return root.Chmod(p, 0o755)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set directory modes in %s: %w", dst, err)
	}
	return nil
}

func unpackFile(root *os.Root, e zipEntry, limit int64) (int64, error) {
	mode := os.FileMode(0o644)
	if e.exec {
		mode = 0o755
	}
	f, err := root.OpenFile(e.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return 0, fmt.Errorf("unpack zip entry %q: %w", e.f.Name, err)
	}
	n, err := inflate(e.f, f, limit)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("unpack zip entry %q: %w", e.f.Name, err)
	}
	return n, nil
}
