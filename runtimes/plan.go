package runtimes

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	nodesdk "github.com/wispfaas/wisp/sdk/nodejs"
	pysdk "github.com/wispfaas/wisp/sdk/python"
)

// The launchers, embedded so that wispd builds runtimes wherever it runs.
var (
	//go:embed python/launcher.py
	pythonLauncher []byte
	//go:embed nodejs/launcher.js
	nodeLauncher []byte
	//go:embed native/launcher/main.go
	nativeLauncherSource []byte
)

// builderVersion changes when the builder itself changes what it makes in
// a way no other input of the hash shows.
const builderVersion = "wisp-runtimes-1"

// plan is what building one runtime takes: the tree to write, the spec, and
// the steps that run on the written tree.
type plan struct {
	name string
	spec Spec
	tree *tree
	// post steps run on the written root filesystem, in order.
	post []postStep
	// summary says where the files come from, for the progress output.
	summary string
	// version is the interpreter's version, for the stamp.
	version string
}

// postStep is one step run on the written root filesystem.
type postStep struct {
	what string
	run  func(ctx context.Context, rootfs string) error
}

// planFor makes the plan of a runtime from the host as it is now. It runs
// no step that writes: Build calls it to hash the inputs, and builds only
// when the hash changed.
func planFor(ctx context.Context, name string) (*plan, error) {
	switch name {
	case Python3:
		return planPython(ctx)
	case NodeJS20:
		return planNode(ctx)
	case Native:
		return planNative(ctx)
	}
	return nil, fmt.Errorf("%q is not a runtime this build knows (known: %s)", name, strings.Join(Names(), ", "))
}

// base adds what every runtime has: the directories the container mounts
// over, /etc's few files for an unprivileged uid and for name lookups when
// an action is granted the network, the CA certificates, and the host's
// merged-/usr links (/lib → usr/lib, so the loader's /lib64 path resolves).
func base(t *tree) error {
	for _, d := range []string{"/action", "/dev", "/proc", "/sys", "/etc", "/wisp", "/usr/bin"} {
		t.dir(d, 0o755)
	}
	t.dir("/tmp", 0o777) // plus sticky, set when written
	t.data("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"))
	t.data("/etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	t.data("/etc/hosts", 0o644, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"))
	t.data("/etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nhosts: files dns\n"))
	// Empty: the container bind-mounts its own resolv.conf here when the
	// action is granted the network; a read-only root needs the file to
	// mount over.
	t.data("/etc/resolv.conf", 0o644, nil)
	for _, top := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		if target, err := os.Readlink(top); err == nil {
			t.link(top, target)
		}
	}
	// CA certificates, for HTTPS from actions granted the network (Python's
	// ssl and Go's crypto/x509 read this file; Node.js has its own).
	const certs = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(certs); err == nil {
		if _, err := t.host(certs); err != nil {
			return err
		}
	}
	return nil
}

// dpkgFiles lists the files of an installed Debian package.
func dpkgFiles(ctx context.Context, pkg string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-L", pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("list the files of the Debian package %s (is it installed? scripts/deps.sh installs it): %w%s", pkg, err, stderrOf(err))
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

// dpkgOwner is the Debian package that installed path.
func dpkgOwner(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-S", path).Output()
	if err != nil {
		return "", fmt.Errorf("find the Debian package of %s: %w%s", path, err, stderrOf(err))
	}
	pkg, _, ok := strings.Cut(strings.TrimSpace(string(out)), ": ")
	if !ok {
		return "", fmt.Errorf("find the Debian package of %s: dpkg-query said %q", path, out)
	}
	pkg, _, _ = strings.Cut(pkg, ", ") // diverted: the first
	pkg, _, _ = strings.Cut(pkg, ":")  // libfoo:amd64
	return pkg, nil
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// addLibs adds the shared-library closure of the ELF files at paths.
func addLibs(t *tree, paths []string) (int, error) {
	libs, err := libClosure(paths)
	if err != nil {
		return 0, err
	}
	for _, l := range libs {
		if _, err := t.host(l); err != nil {
			return 0, fmt.Errorf("add library %s: %w", l, err)
		}
	}
	return len(libs), nil
}

// Paths no runtime needs: documentation, packaging metadata.
var skipAlways = []string{"/usr/share/doc", "/usr/share/man", "/usr/share/lintian", "/usr/share/binfmts", "/usr/lib/binfmt.d", "/usr/share/pixmaps", "/usr/share/applications"}

// skipPython tells the parts of Python's standard library an action never
// uses (tests, the IDE, Tk, the bundled pip, pydoc's topics) and the
// bytecode, compiled afresh into the runtime.
func skipPython(stdlib, p string) bool {
	if !strings.HasPrefix(p, stdlib+"/") {
		return false
	}
	rel := strings.TrimPrefix(p, stdlib+"/")
	for _, c := range strings.Split(rel, "/") {
		switch c {
		case "test", "tests", "idle_test", "__pycache__":
			return true
		}
	}
	if underAny(rel, "idlelib", "turtledemo", "tkinter", "ensurepip", "pydoc_data", "turtle.py", "config-"+filepath.Base(stdlib)[len("python"):]+"-"+multiarch()) {
		return true
	}
	if strings.HasPrefix(rel, "lib-dynload/") {
		b := filepath.Base(rel)
		for _, pre := range []string{"_test", "xxlimited", "_xxtestfuzz", "_ctypes_test", "_xxsubinterpreters"} {
			if strings.HasPrefix(b, pre) {
				return true
			}
		}
	}
	return false
}

// planPython makes python3 from Debian's packages of the interpreter that
// /usr/bin/python3 is: the interpreter, its minimal and full standard
// library, and the libraries the interpreter and the standard library's
// extension modules load.
func planPython(ctx context.Context) (*plan, error) {
	const py = "/usr/bin/python3"
	real, err := filepath.EvalSymlinks(py)
	if err != nil {
		return nil, fmt.Errorf("python3: %s is missing (scripts/deps.sh installs python3-minimal): %w", py, err)
	}
	ver := filepath.Base(real) // python3.11
	if !strings.HasPrefix(ver, "python3.") {
		return nil, fmt.Errorf("python3: %s is %s, not a python3.N interpreter", py, real)
	}
	version, err := exec.CommandContext(ctx, real, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])").Output()
	if err != nil {
		return nil, fmt.Errorf("python3: run %s: %w%s", real, err, stderrOf(err))
	}
	interpPkg, err := dpkgOwner(ctx, real)
	if err != nil {
		return nil, fmt.Errorf("python3: %w", err)
	}
	pkgs := []string{interpPkg, "lib" + ver + "-minimal", "lib" + ver + "-stdlib"}
	stdlib := "/usr/lib/" + ver

	t := newTree()
	if err := base(t); err != nil {
		return nil, fmt.Errorf("python3: %w", err)
	}
	var elfs []string
	for _, pkg := range pkgs {
		files, err := dpkgFiles(ctx, pkg)
		if err != nil {
			return nil, fmt.Errorf("python3: %w", err)
		}
		for _, f := range files {
			if f == "/." || underAny(f, skipAlways...) || skipPython(stdlib, f) {
				continue
			}
			fi, err := os.Lstat(f)
			if err != nil || fi.IsDir() {
				continue // a directory comes with its files; a file dpkg lists but that was removed is not ours to restore
			}
			realPath, err := t.host(f)
			if err != nil {
				return nil, fmt.Errorf("python3: add %s of %s: %w", f, pkg, err)
			}
			if strings.HasSuffix(realPath, ".so") || strings.Contains(realPath, ".so.") || realPath == real {
				elfs = append(elfs, realPath)
			}
		}
	}
	// Time zones for zoneinfo and time.localtime with TZ, when the machine
	// has them (Debian's tzdata; 4 MB). Node.js carries its own.
	if files, err := dpkgFiles(ctx, "tzdata"); err == nil {
		for _, f := range files {
			if !strings.HasPrefix(f, "/usr/share/zoneinfo/") {
				continue
			}
			if fi, err := os.Lstat(f); err != nil || fi.IsDir() {
				continue
			}
			if _, err := t.host(f); err != nil {
				return nil, fmt.Errorf("python3: add %s: %w", f, err)
			}
		}
		pkgs = append(pkgs, "tzdata")
	}
	if _, err := t.host(py); err != nil { // python3 → python3.11
		return nil, fmt.Errorf("python3: %w", err)
	}
	nlibs, err := addLibs(t, elfs)
	if err != nil {
		return nil, fmt.Errorf("python3: %w", err)
	}
	// The SDK, importable by every action as `import wisp` (an action's own
	// wisp.py comes first on the path).
	t.data("/usr/lib/python3/dist-packages/wisp.py", 0o644, pysdk.Source)
	t.data("/wisp/launcher.py", 0o644, pythonLauncher)
	t.extra = append(t.extra, builderVersion)

	return &plan{
		name: Python3,
		spec: Spec{
			Kind: "python:3",
			// The launcher runs from its bytecode: Python never caches a
			// script's, and compiling it cost 3–10 ms of every start.
			Args: []string{"/usr/bin/python3", "-S", "-u", "/wisp/launcher.pyc"},
			Env:  []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/tmp", "PYTHONDONTWRITEBYTECODE=1"},
			Cwd:  "/action",
		},
		version: strings.TrimSpace(string(version)),
		tree:    t,
		summary: fmt.Sprintf("Python %s from the Debian packages %s and %d shared libraries", strings.TrimSpace(string(version)), strings.Join(pkgs, ", "), nlibs),
		post: []postStep{{
			what: "compiling the standard library to bytecode",
			run: func(ctx context.Context, rootfs string) error {
				// The root filesystem is read-only in a container: without
				// bytecode here every cold start would compile every module
				// it imports. -s/-p record the paths as seen inside.
				cmd := exec.CommandContext(ctx, real, "-m", "compileall", "-q", "-j", "0",
					"-s", rootfs, "-p", "/", filepath.Join(rootfs, stdlib), filepath.Join(rootfs, "usr/lib/python3/dist-packages"))
				var stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = io.Discard, &stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("compileall: %w: %s", err, strings.TrimSpace(stderr.String()))
				}
				// The launcher's bytecode, which runtime.json runs (its
				// tracebacks name /wisp/launcher.py, kept beside it).
				cmd = exec.CommandContext(ctx, real, "-c", `import py_compile, sys
py_compile.compile(sys.argv[1], cfile=sys.argv[2], dfile="/wisp/launcher.py", doraise=True,
                   invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)`,
					filepath.Join(rootfs, "wisp", "launcher.py"), filepath.Join(rootfs, "wisp", "launcher.pyc"))
				stderr.Reset()
				cmd.Stdout, cmd.Stderr = io.Discard, &stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("compile the launcher: %w: %s", err, strings.TrimSpace(stderr.String()))
				}
				return nil
			},
		}},
	}, nil
}

// planNode makes nodejs20 from the node executable on the machine and the
// libraries it loads. Node.js keeps its standard library inside the
// executable, so nothing else is needed.
func planNode(ctx context.Context) (*plan, error) {
	node := "/usr/bin/node"
	if _, err := os.Stat(node); err != nil {
		p, err := exec.LookPath("node")
		if err != nil {
			return nil, fmt.Errorf("nodejs20: no node executable (scripts/deps.sh installs nodejs): %w", err)
		}
		node = p
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("nodejs20: run %s --version: %w%s", node, err, stderrOf(err))
	}
	version := strings.TrimSpace(string(out))
	if !strings.HasPrefix(version, "v20.") {
		return nil, fmt.Errorf("nodejs20: %s is Node.js %s, not 20: install Node.js 20 (the kind nodejs:20 promises it)", node, version)
	}
	t := newTree()
	if err := base(t); err != nil {
		return nil, fmt.Errorf("nodejs20: %w", err)
	}
	real, err := t.host(node)
	if err != nil {
		return nil, fmt.Errorf("nodejs20: %w", err)
	}
	if real != "/usr/bin/node" {
		t.link("/usr/bin/node", real)
	}
	nlibs, err := addLibs(t, []string{real})
	if err != nil {
		return nil, fmt.Errorf("nodejs20: %w", err)
	}
	// The SDK in Node.js's global folder ($PREFIX/lib/node): every action
	// can require('@wispfaas/wisp'); an action's own node_modules comes first.
	err = fs.WalkDir(nodesdk.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(nodesdk.Files, p)
		if err != nil {
			return err
		}
		t.data("/usr/lib/node/@wispfaas/wisp/"+p, 0o644, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nodejs20: the SDK: %w", err)
	}
	t.data("/wisp/launcher.js", 0o644, nodeLauncher)
	t.extra = append(t.extra, builderVersion)
	return &plan{
		name: NodeJS20,
		spec: Spec{
			Kind:     "nodejs:20",
			Args:     []string{"/usr/bin/node", "/wisp/launcher.js"},
			Env:      []string{"PATH=/usr/bin:/bin", "HOME=/tmp", "NODE_ENV=production"},
			Cwd:      "/action",
			Cgroups:  true,
			InMemory: true,
		},
		version: version,
		tree:    t,
		summary: fmt.Sprintf("Node.js %s from %s and %d shared libraries", version, node, nlibs),
	}, nil
}

// planNative makes native: the launcher, built static from its embedded
// source with the Go toolchain on the machine, and nothing else.
func planNative(ctx context.Context) (*plan, error) {
	gobin, err := goTool()
	if err != nil {
		return nil, fmt.Errorf("native: %w", err)
	}
	out, err := exec.CommandContext(ctx, gobin, "env", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("native: run %s env GOVERSION: %w%s", gobin, err, stderrOf(err))
	}
	t := newTree()
	if err := base(t); err != nil {
		return nil, fmt.Errorf("native: %w", err)
	}
	sum := sha256.Sum256(nativeLauncherSource)
	t.extra = append(t.extra, builderVersion, "launcher "+hex.EncodeToString(sum[:]), strings.TrimSpace(string(out)), runtime.GOARCH)
	return &plan{
		name: Native,
		spec: Spec{
			Kind: "native",
			Args: []string{"/wisp/launcher"},
			Env:  []string{"PATH=/usr/bin:/bin", "HOME=/tmp"},
			Cwd:  "/action",
		},
		tree:    t,
		summary: "the static launcher, built with " + strings.TrimSpace(string(out)),
		post: []postStep{{
			what: "building the static launcher",
			run: func(ctx context.Context, rootfs string) error {
				return buildNativeLauncher(ctx, gobin, filepath.Join(rootfs, "wisp/launcher"))
			},
		}},
	}, nil
}

// goTool finds the go command.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	// A daemon started with a short PATH (a service manager's): where
	// GOROOT points, or where Go's own archive installs it.
	for _, root := range []string{os.Getenv("GOROOT"), "/usr/local/go"} {
		if root == "" {
			continue
		}
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("building the native launcher needs the Go toolchain: no go on PATH, in $GOROOT/bin or /usr/local/go/bin")
}

// buildNativeLauncher compiles the embedded launcher source into a static
// executable at out, offline (it uses the standard library only).
func buildNativeLauncher(ctx context.Context, gobin, out string) error {
	dir, err := os.MkdirTemp("", "wisp-native-launcher-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module wisp.launcher\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), nativeLauncherSource, 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH,
		"GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local", "GOPROXY=off")
	if os.Getenv("HOME") == "" && os.Getenv("GOCACHE") == "" {
		cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(dir, "gocache"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the native launcher: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return os.Chmod(out, 0o755)
}
