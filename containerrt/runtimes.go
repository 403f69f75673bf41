package containerrt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wispfaas/wisp/runtimes"
)

// runtimeImage is what a container of one kind starts from: a root
// filesystem and the command of its action loop, read from a runtime
// directory (<runtimes>/<name>/{rootfs,runtime.json,stamp}) or from a
// blackbox image imported by an ImageSource.
type runtimeImage struct {
	Kind   string
	Dir    string // the directory holding rootfs/ and runtime.json
	Rootfs string // absolute
	Args   []string
	Env    []string
	Cwd    string
	// Cgroups: the runtime reads its limits in /sys/fs/cgroup
	// (runtime.json "cgroups"; always for blackbox images).
	Cgroups bool
	// InMemory: containers start from a copy of the root filesystem in
	// memory once it is made (runtime.json "inMemory"; memrootfs.go).
	InMemory bool
	// Stamp is the first line of a built runtime's stamp, the hash of its
	// build's inputs ("" for an imported image).
	Stamp string
}

// maxRuntimeFile bounds runtime.json: it is a few lines, and an image's
// may come from a user's tarball.
const maxRuntimeFile = 64 << 10

// readRuntime reads the runtime directory dir (rootfs/ and runtime.json).
// It does not look for the stamp: loadRuntimes does, for built runtimes;
// an imported image is complete when its ImageSource returns it.
func readRuntime(dir string) (*runtimeImage, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("runtime directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, "runtime.json")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if st.Size() > maxRuntimeFile {
		return nil, fmt.Errorf("read %s: %d bytes, more than the %d a runtime.json may have", path, st.Size(), maxRuntimeFile)
	}
	var rf runtimes.Spec
	// Other fields (a builder's "version") are information for people.
	if err := json.NewDecoder(f).Decode(&rf); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if err := rf.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rf.Cwd == "" {
		rf.Cwd = "/"
	}
	// The rootfs may be a link to a shared tree; containers get the
	// real path.
	rootfs, err := filepath.EvalSymlinks(filepath.Join(dir, "rootfs"))
	if err != nil {
		return nil, fmt.Errorf("runtime %s: %w", dir, err)
	}
	if st, err := os.Stat(rootfs); err != nil {
		return nil, fmt.Errorf("runtime %s: %w", dir, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("runtime %s: rootfs is not a directory", dir)
	}
	return &runtimeImage{Kind: rf.Kind, Dir: dir, Rootfs: rootfs, Args: rf.Args, Env: rf.Env, Cwd: rf.Cwd, Cgroups: rf.Cgroups, InMemory: rf.InMemory}, nil
}

// loadRuntimes reads every built runtime under dir, by kind. A directory
// without a stamp (a build in progress or interrupted) is skipped; one
// whose runtime.json is broken is skipped and reported in problems, so
// that one bad runtime does not disable the others. A missing dir means
// no runtime is built yet, which is not an error.
func loadRuntimes(dir string) (byKind map[string]*runtimeImage, problems []error) {
	byKind = map[string]*runtimeImage{}
	if dir == "" {
		return byKind, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return byKind, nil
	}
	if err != nil {
		return byKind, []error{fmt.Errorf("list runtimes in %s: %w", dir, err)}
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		stamp, err := os.ReadFile(filepath.Join(sub, "stamp"))
		if err != nil {
			continue // not (completely) built
		}
		img, err := readRuntime(sub)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		img.Stamp, _, _ = strings.Cut(string(stamp), "\n")
		if img.Kind == "" || img.Kind == kindBlackbox {
			problems = append(problems, fmt.Errorf("runtime %s: runtime.json must name its kind (not %q)", sub, img.Kind))
			continue
		}
		if prev, dup := byKind[img.Kind]; dup {
			problems = append(problems, fmt.Errorf("runtimes %s and %s are both of kind %s; using the first", prev.Dir, sub, img.Kind))
			continue
		}
		byKind[img.Kind] = img
	}
	return byKind, problems
}

// sortedKinds lists the kinds of m, sorted.
func sortedKinds(m map[string]*runtimeImage) []string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}
