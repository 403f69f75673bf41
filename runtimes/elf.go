package runtimes

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// multiarch is Debian's library directory name for the machine's
// architecture.
func multiarch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64-linux-gnu"
	case "arm64":
		return "aarch64-linux-gnu"
	case "riscv64":
		return "riscv64-linux-gnu"
	case "ppc64le":
		return "powerpc64le-linux-gnu"
	case "s390x":
		return "s390x-linux-gnu"
	}
	return runtime.GOARCH + "-linux-gnu"
}

// libDirs are the directories the dynamic loader searches by default on a
// Debian system (those of /etc/ld.so.conf.d for the architecture, then the
// loader's built-in ones). A root filesystem has no ld.so.cache: the
// loader finds the libraries in these same places inside it.
func libDirs() []string {
	ma := multiarch()
	return []string{
		"/usr/local/lib/" + ma, "/lib/" + ma, "/usr/lib/" + ma,
		"/usr/local/lib", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
	}
}

// libClosure returns the shared libraries (and the dynamic loader) that
// the ELF files at paths load, directly or not: host paths as the loader
// would find them. A file that is not ELF, or a static executable, adds
// nothing. A library that cannot be found is an error: the runtime would
// fail to start.
func libClosure(paths []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	queue := append([]string(nil), paths...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		f, err := elf.Open(p)
		if err != nil {
			var fe *elf.FormatError
			if errors.As(err, &fe) {
				continue // not ELF: a script, data
			}
			return nil, fmt.Errorf("read ELF %s: %w", p, err)
		}
		var deps []string
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b := make([]byte, prog.Filesz)
				if _, err := prog.ReadAt(b, 0); err != nil {
					f.Close()
					return nil, fmt.Errorf("read the interpreter of %s: %w", p, err)
				}
				deps = append(deps, strings.TrimRight(string(b), "\x00"))
			}
		}
		needed, err := f.ImportedLibraries()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read the libraries %s needs: %w", p, err)
		}
		var search []string
		for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
			vals, _ := f.DynString(tag)
			for _, v := range vals {
				for _, d := range strings.Split(v, ":") {
					d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN"), "$ORIGIN", filepath.Dir(p))
					if d != "" {
						search = append(search, d)
					}
				}
			}
		}
		f.Close()
		search = append(search, libDirs()...)
		for _, lib := range needed {
			found := ""
			if strings.Contains(lib, "/") {
				found = lib
			} else {
				for _, d := range search {
					c := filepath.Join(d, lib)
					if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
						found = c
						break
					}
				}
			}
			if found == "" {
				return nil, fmt.Errorf("%s needs %s, which is in none of %s", p, lib, strings.Join(search, ", "))
			}
			deps = append(deps, found)
		}
		for _, d := range deps {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
				queue = append(queue, d)
			}
		}
	}
	return out, nil
}
