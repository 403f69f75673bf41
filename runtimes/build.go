package runtimes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Build makes the runtimes called names (all of Names when names is empty)
// in dir, creating dir if needed, and writes what it does to progress (nil
// for silence). A runtime whose stamp already holds the hash of its inputs
// (the launcher, the SDK, the host files it copies, the tools it runs) is
// left as it is; otherwise it is built afresh in a temporary directory
// inside dir and swapped in with one rename, so a half-built runtime is
// never seen. The previous tree is kept in dir/.old until the next Build
// (a running container may still use it) and removed then.
//
// Build takes an exclusive lock on dir/.lock, so concurrent Builds (two
// test packages, two wispd commands) wait for each other and the second
// finds the runtimes built. It stops at the first error and returns it,
// wrapped with the runtime's name; runtimes already built stay built.
// Building needs root only to give the files root's ownership; the rest
// works as any user.
func Build(ctx context.Context, dir string, names []string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	if len(names) == 0 {
		names = Names()
	}
	for _, n := range names {
		if _, err := planName(n); err != nil {
			return err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("build runtimes: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("build runtimes: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(abs, ".lock"))
	if err != nil {
		return fmt.Errorf("build runtimes: lock %s: %w", abs, err)
	}
	defer unlock()
	clean(abs)
	for _, n := range names {
		if err := buildOne(ctx, abs, n, progress); err != nil {
			return fmt.Errorf("build runtime %s: %w", n, err)
		}
	}
	return nil
}

// planName checks a name before any work.
func planName(n string) (string, error) {
	for _, k := range Names() {
		if n == k {
			return n, nil
		}
	}
	return "", fmt.Errorf("build runtimes: %q is not a runtime this build knows (known: %s)", n, strings.Join(Names(), ", "))
}

// lock takes an exclusive flock on path, waiting for it as long as ctx allows.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// clean removes what earlier builds left: replaced trees in .old and the
// temporary directories of builds that were stopped.
func clean(dir string) {
	_ = os.RemoveAll(filepath.Join(dir, ".old"))
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".build-") {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// buildOne builds one runtime unless it is up to date.
func buildOne(ctx context.Context, dir, name string, progress io.Writer) error {
	start := time.Now()
	p, err := planFor(ctx, name)
	if err != nil {
		return err
	}
	specJSON, err := json.MarshalIndent(p.spec, "", "  ")
	if err != nil {
		return err
	}
	specJSON = append(specJSON, '\n')
	p.tree.data("/wisp/runtime.json", 0o644, specJSON) // inside too: hashed, and handy for a look from within
	hash := p.tree.hash()

	final := filepath.Join(dir, name)
	if r, err := Open(dir, name); err == nil && r.Stamp == hash {
		fmt.Fprintf(progress, "%s: up to date (%s)\n", name, short(hash))
		return nil
	}
	fmt.Fprintf(progress, "%s: building %s\n", name, p.summary)

	tmp, err := os.MkdirTemp(dir, ".build-"+name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful swap it holds nothing
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	rootfs := filepath.Join(tmp, rootfsDir)
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(progress, "%s: copying %d files (%.1f MB)\n", name, len(p.tree.entries), float64(p.tree.hostBytes())/1e6)
	if err := p.tree.write(ctx, rootfs); err != nil {
		return fmt.Errorf("write the root filesystem: %w", err)
	}
	for _, s := range p.post {
		fmt.Fprintf(progress, "%s: %s\n", name, s.what)
		if err := s.run(ctx, rootfs); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	if err := worldReadable(rootfs); err != nil {
		return fmt.Errorf("set the root filesystem's modes: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, specFile), specJSON, 0o644); err != nil {
		return err
	}
	size, files := du(rootfs)
	took := time.Since(start).Round(time.Millisecond)
	stamp := hash + "\n"
	if p.version != "" {
		stamp += "version " + p.version + "\n"
	}
	stamp += fmt.Sprintf("built %s in %s: %d files, %.1f MB\n", time.Now().UTC().Format(time.RFC3339), took, files, float64(size)/1e6)
	if err := os.WriteFile(filepath.Join(tmp, stampFile), []byte(stamp), 0o644); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := swap(dir, tmp, final); err != nil {
		return err
	}
	fmt.Fprintf(progress, "%s: built in %s: %d files, %.1f MB (%s)\n", name, took, files, float64(size)/1e6, short(hash))
	return nil
}

// worldReadable makes every file under root readable and every directory
// searchable by all: actions run as an unprivileged uid, and a umask such
// as 077 (on the parents MkdirAll made, on the bytecode compileall wrote)
// would otherwise hide the runtime from them. A root filesystem holds no
// secrets. Symlinks are left alone.
func worldReadable(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := fi.Mode()
		want := mode.Perm() | 0o444
		if d.IsDir() || mode.Perm()&0o111 != 0 {
			want |= 0o111
		}
		if want == mode.Perm() {
			return nil
		}
		return os.Chmod(p, want|mode&(fs.ModeSticky))
	})
}

// swap puts the built tree tmp at final in one step: a rename when there is
// nothing at final, else an exchange of the two (renameat2 with
// RENAME_EXCHANGE), after which the old tree is moved to dir/.old.
func swap(dir, tmp, final string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return swapByRenames(dir, tmp, final)
		}
		return fmt.Errorf("rename %s to %s: %w", tmp, final, err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_EXCHANGE); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return swapByRenames(dir, tmp, final)
		}
		return fmt.Errorf("exchange %s and %s: %w", tmp, final, err)
	}
	return retire(dir, tmp)
}

// swapByRenames is swap on a filesystem without renameat2's flags: the old
// tree goes first, so for a moment there is none (Open says "not built").
func swapByRenames(dir, tmp, final string) error {
	if _, err := os.Lstat(final); err == nil {
		old, err := os.MkdirTemp(dir, ".build-old-")
		if err != nil {
			return err
		}
		if err := os.Rename(final, filepath.Join(old, "tree")); err != nil {
			return err
		}
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
		return retire(dir, filepath.Join(old, "tree"))
	}
	return os.Rename(tmp, final)
}

// retire moves a replaced tree into dir/.old, for the next Build to remove.
func retire(dir, old string) error {
	graveyard := filepath.Join(dir, ".old")
	if err := os.MkdirAll(graveyard, 0o755); err != nil {
		return err
	}
	dst, err := os.MkdirTemp(graveyard, filepath.Base(old)+"-")
	if err != nil {
		return err
	}
	return os.Rename(old, filepath.Join(dst, "tree"))
}

// syncDir flushes the filesystem holding dir, so that a runtime swapped in
// is on disk in full even if the machine stops right after.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// du is the size in bytes of the regular files under root, and how many
// entries it holds.
func du(root string) (size int64, n int) {
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		n++
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return size, n
}

// short is a hash cut for people.
func short(hash string) string {
	h := strings.TrimPrefix(hash, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}
