// Package actioncode places an action's code on the host, in the directory
// that a container sees at /action, as docs/container-protocol.md says: plain
// source as the kind's entry file, a zip unpacked, a native executable at
// /action/exec. It also validates code at create time (CheckZip,
// CheckNative), so that bad code is refused before it is stored.
//
// Nothing written can leave the target directory: every file is created
// through an os.Root, and zips are validated (names, symlink targets, entry
// types, sizes) before a byte is written.
package actioncode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// The kinds whose code this package places (core's canonical names).
const (
	KindPython   = "python:3"
	KindNodeJS   = "nodejs:20"
	KindNative   = "native"
	KindBlackbox = "blackbox"
)

// MountPoint is where the directory given to Place appears in a container.
const MountPoint = "/action"

// Place writes an action's code into dir (the host directory bound at
// /action, created if missing) per docs/container-protocol.md and returns
// the init message's entry: the container path of the file written
// ("/action/__main__.py", "/action/index.js", "/action/exec"), or "" for a
// zip and for blackbox (whose code is its image). A zip is validated for the
// kind as CheckZip does (names, types, links, sizes and entry point before
// anything is written; CRCs and real sizes as it is unpacked, a failure
// removing what was written). Errors say what is wrong with
// the code; on error dir may hold part of the code and should be removed by
// the caller. Place is safe for concurrent use on different directories.
func Place(dir, kind string, code []byte, binary bool) (entry string, err error) {
	switch kind {
	case KindPython, KindNodeJS:
		if binary {
			if err := unpackZip(code, dir, kind); err != nil {
				return "", err
			}
			return "", nil
		}
		name := "__main__.py"
		if kind == KindNodeJS {
			name = "index.js"
		}
		if err := writeFile(dir, name, code, 0o644); err != nil {
			return "", err
		}
		return MountPoint + "/" + name, nil
	case KindNative:
		if err := CheckNative(code); err != nil {
			return "", err
		}
		if err := writeFile(dir, "exec", code, 0o755); err != nil {
			return "", err
		}
		return MountPoint + "/exec", nil
	case KindBlackbox:
		if err := mkdir(dir); err != nil {
			return "", err
		}
		return "", nil
	default:
		return "", fmt.Errorf("place code: kind %q does not run in a container", kind)
	}
}

// PlaceNativeFile is Place of a native executable that is already a file
// on local disk (the invoker's code cache): it is checked as CheckNative
// does, from its headers, and hard-linked into dir as "exec", so that
// starting a container of a large executable copies nothing (a copy of a
// 3 MB Go binary cost 5–7 ms here, most of a stem cell's start). The
// shared file is made readable and executable by all and writable by
// none: the cache never rewrites a blob, and the container sees it on a
// read-only mount. Across file systems it is copied instead.
func PlaceNativeFile(dir, src string) (entry string, err error) {
	if err := CheckNativeFile(src); err != nil {
		return "", err
	}
	if err := mkdir(dir); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "exec")
	if err := os.Link(src, dst); err == nil {
		if err := os.Chmod(dst, 0o555); err != nil {
			return "", fmt.Errorf("place native code: %w", err)
		}
		return MountPoint + "/exec", nil
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("place native code: %w", err)
	}
	defer in.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("open action directory: %w", err)
	}
	defer root.Close()
	defer noForksWhileWriting()()
	// Never write through an existing name: it may be a link to a blob.
	if err := root.Remove("exec"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	out, err := root.OpenFile("exec", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	if err := out.Chmod(0o755); err != nil {
		out.Close()
		return "", fmt.Errorf("chmod %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", dst, err)
	}
	return MountPoint + "/exec", nil
}

// PlaceZipAt is Place of a zip action read in place (the invoker's cached
// file of it: the zip is never whole in memory).
func PlaceZipAt(dir, kind string, r io.ReaderAt, size int64) error {
	if kind != KindPython && kind != KindNodeJS {
		return fmt.Errorf("place code: kind %q does not take a zip", kind)
	}
	return unpackZipAt(r, size, dir, kind)
}

// CheckAt is Check of code read in place, size bytes of r: a zip, an
// executable or source is never read whole into memory.
func CheckAt(kind string, r io.ReaderAt, size int64, binary bool) error {
	switch kind {
	case KindPython, KindNodeJS:
		if binary {
			return CheckZipAt(kind, r, size)
		}
		// Source: not empty, or only white space.
		buf := make([]byte, 32<<10)
		for off := int64(0); off < size; {
			n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
			if len(bytes.TrimSpace(buf[:n])) > 0 {
				return nil
			}
			if err != nil && err != io.EOF {
				return fmt.Errorf("read the action's code: %w", err)
			}
			if n == 0 {
				break
			}
			off += int64(n)
		}
		return fmt.Errorf("the action's code is empty")
	case KindNative:
		return CheckNativeAt(r, size)
	case KindBlackbox:
		return nil
	default:
		return fmt.Errorf("kind %q does not run in a container", kind)
	}
}

// Check validates code for a kind at create time, without writing
// anything: a zip (binary for python:3 and nodejs:20) with CheckZip, a
// native executable with CheckNative. Plain source is not parsed here (a
// syntax error is reported by init, as in OpenWhisk), but it must not be
// empty; blackbox images are checked by package image.
func Check(kind string, code []byte, binary bool) error {
	return CheckAt(kind, bytes.NewReader(code), int64(len(code)), binary)
}

// writeFile creates dir if needed and writes name in it with mode (set
// explicitly, so the process umask cannot make it unreadable to the
// container's unprivileged user).
func writeFile(dir, name string, data []byte, mode os.FileMode) error {
	if err := mkdir(dir); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open action directory: %w", err)
	}
	defer root.Close()
	if mode&0o111 != 0 {
		defer noForksWhileWriting()()
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", filepath.Join(dir, name), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// noForksWhileWriting keeps this process from forking until the function
// it returns is called, and is held while an executable is open for
// writing. A process forked meanwhile (another container starting) holds
// the descriptor too until it executes its own program; a container that
// executes the file before then fails with ETXTBSY ("text file busy"). Run
// at once after Place while other goroutines started processes, 7–8% of
// the runs failed so, and a container's init once did under go test
// -race. os/exec takes syscall.ForkLock for writing around each fork; the
// lock is held for the time of writing one file.
func noForksWhileWriting() (release func()) {
	syscall.ForkLock.RLock()
	return syscall.ForkLock.RUnlock
}

// mkdir makes the action directory, world-readable whatever the umask.
func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create action directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("create action directory: %w", err)
	}
	return nil
}
