package container

import (
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer/exeseal"
	"golang.org/x/sys/unix"
)

// initHelperMemfd names the sealed copy of the init helper. The C
// constructor in initexec.go recognises the helper by the link of its
// descriptor, "/memfd:" + this + " (deleted)".
const initHelperMemfd = "wisp-init-helper"

// sealInitHelper checks the init helper at path (checkInitHelper) and
// copies it into a sealed, executable memfd, so that no container can
// overwrite the program other containers' inits run (the reason
// libcontainer seals its own binary). The check and the copy read the
// same open file.
func sealInitHelper(path string) (*os.File, error) {
	f, st, err := openInitHelper(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mem, seal, err := exeseal.Memfd(initHelperMemfd)
	if err != nil {
		return nil, fmt.Errorf("init helper: memfd: %w", err)
	}
	if n, err := io.Copy(mem, io.NewSectionReader(f, 0, st.Size())); err != nil || n != st.Size() {
		mem.Close()
		return nil, fmt.Errorf("init helper %s: copy into memory: %d of %d bytes: %w", path, n, st.Size(), err)
	}
	if err := seal(&mem); err != nil {
		mem.Close()
		return nil, fmt.Errorf("init helper %s: seal: %w", path, err)
	}
	return mem, nil
}

// CheckInitHelper reports why the program at path cannot be the init
// helper of this binary's containers (ManagerConfig.InitHelper), or nil
// when it can: it must be an executable Go program built with cgo and the
// seccomp tag against this binary's libcontainer, as cmd/wispd-init built
// from the same source is.
func CheckInitHelper(path string) error {
	f, _, err := openInitHelper(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// openInitHelper opens the helper at path and checks it (checkInitHelper)
// through the open file, which the caller closes.
func openInitHelper(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("init helper: %w", err)
	}
	st, err := f.Stat()
	if err == nil && (!st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0) {
		err = fmt.Errorf("init helper %s: not an executable file (mode %s)", path, st.Mode())
	} else if err == nil {
		err = checkInitHelper(path, f)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// hideInitHelper marks the init helper's descriptor, when this process
// got one, close-on-exec, so that the action loop libcontainer's init
// executes does not inherit it. libcontainer keeps every descriptor it
// was asked to pass (the reply pipe, the helper) open across that exec.
func hideInitHelper() error {
	pipe, err := strconv.Atoi(os.Getenv("_LIBCONTAINER_INITPIPE"))
	if err != nil || pipe < 4 {
		return nil
	}
	fd := pipe - 1
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil || !strings.HasPrefix(link, "/memfd:runc_cloned:"+initHelperMemfd+" ") {
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return fmt.Errorf("init helper: mark its descriptor close-on-exec: %w", err)
	}
	return nil
}

// runcModule is the module whose init protocol the helper and this binary
// must share: libcontainer's parent and init sides talk through pipes in a
// format of their version.
const runcModule = "github.com/opencontainers/runc"

// checkInitHelper reads the build information of the helper f, opened
// from path, and refuses one that cannot be this binary's container init:
// not a Go program, built without cgo or the seccomp tag, or against
// another libcontainer than this binary's.
func checkInitHelper(path string, f io.ReaderAt) error {
	info, err := buildinfo.Read(f)
	if err != nil {
		return fmt.Errorf("init helper %s: not a Go program with build information (build it from cmd/wispd-init): %w", path, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "1" {
		return fmt.Errorf("init helper %s: built without cgo; libcontainer's init needs it", path)
	}
	if !slices.Contains(strings.Split(settings["-tags"], ","), "seccomp") {
		return fmt.Errorf("init helper %s: built without the seccomp tag; build it with -tags seccomp, as wispd", path)
	}
	want := moduleVersion(runcModule, readOwnBuildInfo())
	got := moduleVersion(runcModule, info)
	if got == "" {
		return fmt.Errorf("init helper %s: it does not contain libcontainer (%s); build it from cmd/wispd-init", path, runcModule)
	}
	if want != "" && got != want {
		return fmt.Errorf("init helper %s: built with %s %s, this program with %s; rebuild it from the same source", path, runcModule, got, want)
	}
	return nil
}

// readOwnBuildInfo is debug.ReadBuildInfo, nil when there is none.
func readOwnBuildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	return info
}

// moduleVersion is the version of module path in info, its replacement's
// when replaced; "" when info is nil or lacks it.
func moduleVersion(path string, info *debug.BuildInfo) string {
	if info == nil {
		return ""
	}
	for _, m := range info.Deps {
		if m.Path != path {
			continue
		}
		if m.Replace != nil {
			return m.Replace.Path + "@" + m.Replace.Version
		}
		return m.Version
	}
	return ""
}
