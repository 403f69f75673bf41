package runtimes

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBuild builds every runtime into a fresh directory, checks each
// layout, runs the interpreters and the launchers inside the root
// filesystems (chrooted, as the unprivileged uid containers use), and
// checks that a second Build leaves them as they are and that a changed
// input builds afresh.
func TestBuild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestBuild chroots into the runtimes: run the tests as root, as CI does")
	}
	ctx := context.Background()
	dir := t.TempDir()
	var progress bytes.Buffer
	if err := Build(ctx, dir, nil, &progress); err != nil {
		t.Fatalf("Build: %v\n%s", err, progress.String())
	}
	t.Logf("first build:\n%s", progress.String())
	for _, name := range Names() {
		if !strings.Contains(progress.String(), name+": built in ") {
			t.Errorf("the progress does not say %s was built", name)
		}
	}

	rts, err := List(dir)
	if err != nil || len(rts) != 3 {
		t.Fatalf("List = %d runtimes, %v", len(rts), err)
	}
	for _, r := range rts {
		t.Run("layout of "+r.Name, func(t *testing.T) { checkLayout(t, r) })
	}

	py, _ := Open(dir, Python3)
	node, _ := Open(dir, NodeJS20)
	native, _ := Open(dir, Native)

	t.Run("python3 has what the interpreter and the standard library load", func(t *testing.T) {
		out := chrootRun(t, py.RootFS, nil, "/usr/bin/python3", "-c",
			"import json, sys, ssl, sqlite3, ctypes, decimal, hashlib, lzma, bz2, zlib, uuid, asyncio, zoneinfo, wisp; "+
				"zoneinfo.ZoneInfo('Europe/Paris'); ssl.create_default_context(); print(json.dumps(sys.version_info[:2]))")
		if strings.TrimSpace(out) != "[3, 11]" {
			t.Errorf("python3 said %q", out)
		}
		if _, err := os.Stat(filepath.Join(py.RootFS, "usr/lib/python3.11/__pycache__/os.cpython-311.pyc")); err != nil {
			t.Errorf("the standard library is not compiled: %v", err)
		}
		for _, skipped := range []string{"usr/lib/python3.11/test", "usr/lib/python3.11/idlelib", "usr/share/doc"} {
			if _, err := os.Stat(filepath.Join(py.RootFS, skipped)); err == nil {
				t.Errorf("%s is in the runtime", skipped)
			}
		}
	})
	t.Run("nodejs20 runs node and finds the SDK", func(t *testing.T) {
		out := chrootRun(t, node.RootFS, nil, "/usr/bin/node", "-e", "console.log(process.versions.node.split('.')[0], typeof require('@wispfaas/wisp').action)")
		if strings.TrimSpace(out) != "20 function" {
			t.Errorf("node said %q", out)
		}
	})
	t.Run("the launchers inside their runtimes", func(t *testing.T) {
		chrootLoop(t, py, map[string]string{"__main__.py": pythonHello}, "__main__.py",
			step{msg: run(`{"name":"Ada"}`), reply: `{"greeting":"Hello Ada!"}`, out: "Hello Ada!\n"})
		chrootLoop(t, py, map[string]string{"__main__.py": readFile(t, "../sdk/python/examples/hello/__main__.py")}, "__main__.py",
			step{msg: run(`{"name":"Ada"}`), reply: `{"greeting":"Hello Ada!","activation":"0123abc"}`})
		chrootLoop(t, node, map[string]string{"index.js": nodeHello}, "index.js",
			step{msg: run(`{"name":"Ada"}`), reply: `{"payload":"Hello, Ada!"}`})
		chrootLoop(t, node, map[string]string{"index.js": readFile(t, "../sdk/nodejs/examples/hello/index.js")}, "index.js",
			step{msg: run(`{"name":"Ada"}`), reply: `{"greeting":"Hello Ada!","activation":"0123abc"}`})
		_, hello := nativeBinaries(t)
		helloBin, err := os.ReadFile(hello)
		if err != nil {
			t.Fatal(err)
		}
		chrootLoop(t, native, map[string]string{"exec": string(helloBin)}, "",
			step{msg: run(`{"name":"Ada"}`), reply: `{"greeting":"Hello, Ada!","activationId":"0123abc","action":"/guest/hello","calls":1}`})
	})

	// Nothing changed: nothing is built.
	progress.Reset()
	if err := Build(ctx, dir, nil, &progress); err != nil {
		t.Fatalf("second Build: %v", err)
	}
	if strings.Count(progress.String(), ": up to date (") != 3 || strings.Contains(progress.String(), "building") {
		t.Errorf("second Build:\n%s", progress.String())
	}

	// A changed input (here: the stamp no longer matches) builds afresh,
	// swapping the new tree in and keeping the old one aside.
	stamp := filepath.Join(dir, Native, stampFile)
	if err := os.WriteFile(stamp, []byte("sha256:0000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	oldRoot, _ := os.Stat(native.RootFS)
	progress.Reset()
	if err := Build(ctx, dir, []string{Native}, &progress); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	r, err := Open(dir, Native)
	if err != nil || r.Stamp != native.Stamp {
		t.Fatalf("after the rebuild: %+v, %v (want the stamp %s)", r, err, native.Stamp)
	}
	newRoot, _ := os.Stat(r.RootFS)
	if os.SameFile(oldRoot, newRoot) {
		t.Error("the rebuild did not replace the root filesystem")
	}
	olds, _ := filepath.Glob(filepath.Join(dir, ".old", "*", "tree", rootfsDir))
	if len(olds) != 1 {
		t.Errorf("the replaced tree is not kept in .old: %v", olds)
	}
	// The next Build removes it.
	if err := Build(ctx, dir, []string{Native}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".old")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(".old is still there: %v", err)
	}
}

func checkLayout(t *testing.T, r *Runtime) {
	// runtime.json has exactly the fields of docs/container-protocol.md.
	b, err := os.ReadFile(filepath.Join(r.Dir, specFile))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		t.Errorf("runtime.json: %v", err)
	}
	if s.Cgroups != (r.Name == NodeJS20) {
		t.Errorf("runtime.json: cgroups %v for %s (Node.js alone reads its memory limit there)", s.Cgroups, r.Name)
	}
	if s.InMemory != (r.Name == NodeJS20) {
		t.Errorf("runtime.json: inMemory %v for %s (Node.js alone starts faster from memory)", s.InMemory, r.Name)
	}
	if name, ok := NameForKind(s.Kind); !ok || name != r.Name || s.Cwd != "/action" {
		t.Errorf("runtime.json: %+v", s)
	}
	if !strings.HasPrefix(r.Stamp, "sha256:") || len(r.Stamp) != len("sha256:")+64 {
		t.Errorf("stamp %q", r.Stamp)
	}
	for p, want := range map[string]fs.FileMode{
		"action": fs.ModeDir | 0o755, "tmp": fs.ModeDir | fs.ModeSticky | 0o777, "proc": fs.ModeDir | 0o755,
		"dev": fs.ModeDir | 0o755, "etc/passwd": 0o644, "etc/group": 0o644, "etc/resolv.conf": 0o644,
	} {
		fi, err := os.Lstat(filepath.Join(r.RootFS, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if got := fi.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSticky); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(r.RootFS, "etc/passwd"))
	if !strings.Contains(string(passwd), "nobody:x:65534:65534:") {
		t.Errorf("/etc/passwd has no nobody: %q", passwd)
	}
	// The action loop's program is there and executable.
	prog := filepath.Join(r.RootFS, s.Args[0])
	fi, err := os.Stat(prog)
	if err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s: %v %v", s.Args[0], fi, err)
	}
	for _, a := range s.Args[1:] {
		if strings.HasPrefix(a, "/wisp/") {
			if _, err := os.Stat(filepath.Join(r.RootFS, a)); err != nil {
				t.Errorf("the launcher: %v", err)
			}
		}
	}
	// Nothing may gain privileges: no set-id files.
	_ = filepath.WalkDir(r.RootFS, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
				t.Errorf("%s is set-id", p)
			}
		}
		return nil
	})
	if r.Name == Native {
		f, err := elf.Open(filepath.Join(r.RootFS, "wisp/launcher"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the native launcher is not static")
			}
		}
	}
}

// chrootRun runs a command in rootfs as uid and gid 65534 and returns its
// stdout.
func chrootRun(t *testing.T, rootfs string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"}, env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v in %s: %v\n%s", args, rootfs, err, stderr.String())
	}
	return string(out)
}

// chrootLoop starts a runtime's action loop in its root filesystem, with
// the action's files in a directory under its /tmp, and checks one init
// and the steps.
func chrootLoop(t *testing.T, r *Runtime, files map[string]string, entry string, steps ...step) {
	t.Helper()
	host, err := os.MkdirTemp(filepath.Join(r.RootFS, "tmp"), "action-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(host)
	if err := os.Chmod(host, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		mode := fs.FileMode(0o644)
		if name == "exec" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(host, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	inside := "/tmp/" + filepath.Base(host)
	env := append(append([]string{}, r.Spec.Env...), "WISP_ACTION_DIR="+inside)
	l := startLoop(t, r.Spec.Args, env, func(cmd *exec.Cmd) {
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: r.RootFS, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	})
	init := map[string]any{"main": "main", "binary": entry == "", "entry": "", "env": map[string]string{}}
	if entry != "" {
		init["entry"] = inside + "/" + entry
	}
	b, _ := json.Marshal(map[string]any{"init": init})
	reply, _, _ := l.send(string(b))
	checkReply(t, step{msg: string(b), reply: `{"ok":true}`}, reply)
	for _, s := range steps {
		reply, out, _ := l.send(s.msg)
		checkReply(t, s, reply)
		if !strings.Contains(out.text, s.out) {
			t.Errorf("%s: stdout %q, want %q", r.Name, out.text, s.out)
		}
	}
	l.stdin.Close()
	if err := l.wait(); err != nil {
		t.Errorf("%s: the launcher's exit: %v", r.Name, err)
	}
}

func TestNamesAndKinds(t *testing.T) {
	for kind, want := range map[string]string{"python:3": Python3, "python:default": Python3, "nodejs:20": NodeJS20, "nodejs:default": NodeJS20, "native": Native} {
		if got, ok := NameForKind(kind); !ok || got != want {
			t.Errorf("NameForKind(%s) = %s, %v", kind, got, ok)
		}
	}
	for _, kind := range []string{"wasm", "blackbox", "sequence", "python:2", ""} {
		if got, ok := NameForKind(kind); ok {
			t.Errorf("NameForKind(%s) = %s", kind, got)
		}
	}
}

// TestConcurrentBuilds: two Builds of one directory at once (two test
// packages, say) wait for each other; one builds, the other finds it built.
func TestConcurrentBuilds(t *testing.T) {
	dir := t.TempDir()
	var outs [2]bytes.Buffer
	errs := make(chan error, 2)
	for i := range outs {
		go func() { errs <- Build(context.Background(), dir, []string{Native}, &outs[i]) }()
	}
	for range outs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	all := outs[0].String() + outs[1].String()
	if strings.Count(all, "native: built in ") != 1 || strings.Count(all, "native: up to date") != 1 {
		t.Errorf("two concurrent Builds said:\n%s", all)
	}
	if _, err := Open(dir, Native); err != nil {
		t.Error(err)
	}
}

// TestBuildUnderStrictUmask: a runtime built by someone with umask 077 is
// still readable by the unprivileged uid actions run as.
func TestBuildUnderStrictUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := Build(context.Background(), dir, []string{Native}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(dir, Native)
	if err != nil {
		t.Fatal(err)
	}
	_ = filepath.WalkDir(r.RootFS, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		fi, _ := d.Info()
		if fi.Mode().Perm()&0o444 != 0o444 || (d.IsDir() && fi.Mode().Perm()&0o111 != 0o111) {
			t.Errorf("%s: mode %v", p, fi.Mode())
		}
		return nil
	})
}

// TestBuildStopped: a Build whose context ends leaves no runtime and no
// temporary directory behind.
func TestBuildStopped(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Build(ctx, dir, []string{Python3}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Build with a cancelled context = %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != ".lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestBuildRefusesUnknownNames(t *testing.T) {
	dir := t.TempDir()
	err := Build(context.Background(), dir, []string{"python3", "ruby"}, nil)
	if err == nil || !strings.Contains(err.Error(), `"ruby" is not a runtime this build knows`) {
		t.Errorf("Build(ruby) = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Build(ruby) wrote %v", ents)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	write := func(name, spec string, stamp bool) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name, rootfsDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, specFile), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		if stamp {
			if err := os.WriteFile(filepath.Join(dir, name, stampFile), []byte("sha256:ab\nversion 1.2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("good", `{"kind":"python:3","args":["/usr/bin/python3"],"env":["A=b"],"cwd":"/action"}`, true)
	write("half", `{"kind":"python:3","args":["/usr/bin/python3"]}`, false)
	write("noargs", `{"kind":"python:3","args":[]}`, true)
	write("relative", `{"kind":"python:3","args":["python3"]}`, true)
	write("badenv", `{"kind":"python:3","args":["/x"],"env":["A"]}`, true)
	write("notjson", `{`, true)

	r, err := Open(dir, "good")
	if err != nil || r.Stamp != "sha256:ab" || r.Version != "1.2" || r.Spec.Args[0] != "/usr/bin/python3" || r.RootFS != filepath.Join(dir, "good", rootfsDir) {
		t.Errorf("Open(good) = %+v, %v", r, err)
	}
	for name, want := range map[string]string{
		"half": "runtime is not built", "missing": "runtime is not built", "noargs": "args is empty",
		"relative": "not an absolute path", "badenv": "not KEY=value", "notjson": "is not valid",
		"../x": "not a runtime name", ".old": "not a runtime name",
	} {
		if _, err := Open(dir, name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s) = %v, want an error saying %q", name, err, want)
		}
	}
	if _, err := Open(dir, "half"); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("Open(half) = %v, want ErrNotBuilt", err)
	}
	if _, err := List(dir); err == nil {
		t.Error("List with broken runtimes did not fail")
	}
	if rts, err := List(filepath.Join(dir, "nowhere")); err != nil || len(rts) != 0 {
		t.Errorf("List(nowhere) = %v, %v", rts, err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("WISP_RUNTIMES", "/srv/rt")
	if d, err := DefaultDir(); err != nil || d != "/srv/rt" {
		t.Errorf("DefaultDir with WISP_RUNTIMES = %s, %v", d, err)
	}
	t.Setenv("WISP_RUNTIMES", "")
	t.Setenv("XDG_CACHE_HOME", "/c")
	if d, err := DefaultDir(); err != nil || d != "/c/wisp/runtimes" {
		t.Errorf("DefaultDir with XDG_CACHE_HOME = %s, %v", d, err)
	}
}
