// Package runtimes builds and finds the root filesystems that container
// actions run in: one directory per runtime under a runtimes directory
// (docs/container-protocol.md), each holding rootfs/, runtime.json and,
// written last, stamp.
//
// The python3 (kind python:3) and nodejs20 (kind nodejs:20) root
// filesystems are assembled offline from the interpreters installed on the
// machine (Debian's python3.11 packages, the node binary) and the shared
// libraries they load, plus the launcher that speaks the container protocol
// and the runtime's SDK. native holds only a static launcher. Build makes
// them; Open and List read them.
package runtimes

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The names of the runtimes Build knows.
const (
	Python3  = "python3"
	NodeJS20 = "nodejs20"
	Native   = "native"
)

// Names lists the runtimes Build knows, in the order it builds them.
func Names() []string { return []string{Python3, NodeJS20, Native} }

// kinds maps each action kind served by a built-in runtime to its name.
var kinds = map[string]string{
	"python:3":       Python3,
	"python:default": Python3,
	"nodejs:20":      NodeJS20,
	"nodejs:default": NodeJS20,
	"native":         Native,
}

// NameForKind returns the name of the runtime that serves an action kind
// ("python:3" → "python3"). It reports false for kinds no built-in runtime
// serves (wasm, blackbox, sequence, or unknown ones).
func NameForKind(kind string) (string, bool) {
	n, ok := kinds[kind]
	return n, ok
}

// Files in a runtime's directory.
const (
	rootfsDir = "rootfs"
	specFile  = "runtime.json"
	stampFile = "stamp"
)

// Spec is a runtime's runtime.json: how to start its action loop.
type Spec struct {
	// Kind is the action kind the runtime serves, e.g. "python:3".
	Kind string `json:"kind"`
	// Args is the action loop's command line; Args[0] is an absolute
	// path inside the root filesystem.
	Args []string `json:"args"`
	// Env is the action loop's environment, as "KEY=value".
	Env []string `json:"env"`
	// Cwd is the action loop's working directory inside the container.
	Cwd string `json:"cwd"`
	// Cgroups mounts the container's own cgroups, read-only, at
	// /sys/fs/cgroup, for runtimes that size themselves from the memory
	// limit there (Node.js sizes its heap from it; passing the heap flags
	// instead costs Node.js more, see docs/rationale.md). Under cgroup v1
	// only the memory controller is shown (a tmpfs and one bind mount, a
	// few milliseconds of every container start), so runtimes that do not
	// read it go without.
	Cgroups bool `json:"cgroups,omitempty"`
	// InMemory asks wispd to start the runtime's containers from a copy
	// of its root filesystem on a tmpfs with 2 MB pages (containerrt,
	// memrootfs.go). Node.js's 99 MB executable starts 20 ms sooner so;
	// Python's 7 MB one gained nothing, so python3 stays on disk.
	InMemory bool `json:"inMemory,omitempty"`
}

// Validate checks what a container needs of a spec: wispd's container
// runtime calls it on every runtime.json it reads, built or imported.
func (s *Spec) Validate() error {
	switch {
	case len(s.Args) == 0:
		return errors.New("args is empty: the runtime has no action loop to start (args must name its program by its absolute path)")
	case !filepath.IsAbs(s.Args[0]):
		return fmt.Errorf("args[0] %q is not an absolute path (args must name the action loop's program by its absolute path)", s.Args[0])
	case s.Cwd != "" && !filepath.IsAbs(s.Cwd):
		return fmt.Errorf("cwd %q is not an absolute path", s.Cwd)
	}
	for _, e := range s.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("env entry %q is not KEY=value", e)
		}
	}
	return nil
}

// Runtime is a built runtime found by Open or List.
type Runtime struct {
	// Name is the runtime's directory name, e.g. "python3".
	Name string
	// Dir is the runtime's directory, absolute.
	Dir string
	// RootFS is the root filesystem, absolute: Dir/rootfs.
	RootFS string
	// Spec is its runtime.json.
	Spec Spec
	// Stamp is the first line of its stamp: "sha256:" and the hash of
	// everything it was built from (for a blackbox image, whatever its
	// importer writes).
	Stamp string
	// Version is the interpreter's version ("3.11.2", "v20.20.2") from
	// the stamp's "version" line; empty when it has none.
	Version string
}

// DefaultDir returns the runtimes directory: $WISP_RUNTIMES, else
// $XDG_CACHE_HOME/wisp/runtimes, else ~/.cache/wisp/runtimes. It fails
// only when neither a cache directory nor a home directory is known.
func DefaultDir() (string, error) {
	if d := os.Getenv("WISP_RUNTIMES"); d != "" {
		return filepath.Abs(d)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the runtimes directory (set WISP_RUNTIMES or --runtimes): %w", err)
	}
	return filepath.Join(base, "wisp", "runtimes"), nil
}

// ErrNotBuilt is wrapped by Open's error when a runtime has not been built
// (or its build never finished).
var ErrNotBuilt = errors.New("runtime is not built")

// Open reads the runtime called name in dir. Its error wraps ErrNotBuilt
// (with the command that builds it) when the runtime's directory or its
// stamp is missing, and says what is wrong when runtime.json is not valid.
// Open only reads; it is safe to call while Build runs (Build replaces a
// runtime's directory in one rename).
func Open(dir, name string) (*Runtime, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open runtime %s: %w", name, err)
	}
	rd := filepath.Join(abs, name)
	stamp, err := os.ReadFile(filepath.Join(rd, stampFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open runtime %s in %s: %w (run `wispd runtimes build %s`)", name, abs, ErrNotBuilt, name)
	}
	if err != nil {
		return nil, fmt.Errorf("open runtime %s: %w", name, err)
	}
	b, err := os.ReadFile(filepath.Join(rd, specFile))
	if err != nil {
		return nil, fmt.Errorf("open runtime %s: %w", name, err)
	}
	r := &Runtime{Name: name, Dir: rd, RootFS: filepath.Join(rd, rootfsDir)}
	if err := json.Unmarshal(b, &r.Spec); err != nil {
		return nil, fmt.Errorf("open runtime %s: %s is not valid: %w", name, filepath.Join(rd, specFile), err)
	}
	if err := r.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("open runtime %s: %s: %w", name, filepath.Join(rd, specFile), err)
	}
	if fi, err := os.Stat(r.RootFS); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("open runtime %s: %s is not a directory", name, r.RootFS)
	}
	lines := strings.Split(string(stamp), "\n")
	r.Stamp = lines[0]
	for _, l := range lines[1:] {
		if v, ok := strings.CutPrefix(l, "version "); ok {
			r.Version = v
		}
	}
	return r, nil
}

// List returns the built runtimes in dir (those with a stamp), sorted by
// name; a missing dir is an empty list. A runtime whose runtime.json is
// broken is an error.
func List(dir string) ([]*Runtime, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runtimes: %w", err)
	}
	var rts []*Runtime
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r, err := Open(dir, e.Name())
		if errors.Is(err, ErrNotBuilt) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rts = append(rts, r)
	}
	sort.Slice(rts, func(i, j int) bool { return rts[i].Name < rts[j].Name })
	return rts, nil
}

// checkName refuses names that are not one directory name.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%q is not a runtime name", name)
	}
	return nil
}
