package runtimes

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	nativeOnce     sync.Once
	nativeDir      string
	nativeLauncher string
	nativeHello    string
	nativeErr      error
)

// nativeBinaries builds, once per test binary, the native launcher from
// its embedded source (as Build does) and the Go SDK's hello example for
// Linux, static.
func nativeBinaries(t *testing.T) (launcher, hello string) {
	t.Helper()
	nativeOnce.Do(func() {
		nativeDir, nativeErr = os.MkdirTemp("", "wisp-native-test-")
		if nativeErr != nil {
			return
		}
		gobin, err := goTool()
		if err != nil {
			nativeErr = err
			return
		}
		nativeLauncher = filepath.Join(nativeDir, "launcher")
		if nativeErr = buildNativeLauncher(context.Background(), gobin, nativeLauncher); nativeErr != nil {
			return
		}
		nativeHello = filepath.Join(nativeDir, "hello")
		cmd := exec.Command(gobin, "build", "-o", nativeHello, ".")
		cmd.Dir = "../sdk/go/examples/hello"
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOWORK=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			nativeErr = &buildError{err, string(out)}
		}
	})
	if nativeErr != nil {
		t.Fatalf("build the native binaries: %v", nativeErr)
	}
	return nativeLauncher, nativeHello
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if nativeDir != "" {
		os.RemoveAll(nativeDir)
	}
	os.Exit(code)
}

func TestNativeLauncherIsStatic(t *testing.T) {
	launcher, _ := nativeBinaries(t)
	f, err := elf.Open(launcher)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the native launcher has a dynamic loader: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the native launcher needs %v", libs)
	}
}

func TestNativeLauncher(t *testing.T) {
	launcher, hello := nativeBinaries(t)
	helloBin, err := os.ReadFile(hello)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		setup func(dir string) error
		steps []step
	}{
		{
			name: "the Go SDK's example in the action loop",
			setup: func(dir string) error {
				return os.WriteFile(filepath.Join(dir, "exec"), helloBin, 0o755)
			},
			steps: []step{
				{msg: `{"init":{"main":"main","binary":true,"entry":"","env":{"SECRET":"s"}}}`, reply: `{"ok":true}`},
				{msg: run(`{"name":"Ada"}`), reply: `{"greeting":"Hello, Ada!","activationId":"0123abc","action":"/guest/hello","calls":1}`, errs: "hello: greeting Ada in activation 0123abc call 1\n"},
				// One process serves the activations: its state carries over.
				{msg: `{"value":{"name":"Bo"},"activation_id":"2"}`, reply: `{"greeting":"Hello, Bo!","activationId":"2","action":"","calls":2}`},
				{msg: run(`{}`), reply: `{"error":"hello: a name is required"}`, out: "hello: no name in activation 0123abc\n"},
			},
		},
		{
			name:  "no executable",
			setup: func(string) error { return nil },
			steps: []step{
				{msg: `{"init":{"main":"main","binary":true,"entry":"","env":{}}}`, replyHas: `the action has no executable: `},
				{msg: run(`{}`), replyHas: `the action failed to initialize`},
			},
		},
		{
			name: "not executable",
			setup: func(dir string) error {
				return os.WriteFile(filepath.Join(dir, "exec"), helloBin, 0o644)
			},
			steps: []step{{msg: `{"init":{"main":"main","binary":true,"entry":"","env":{}}}`, replyHas: `is not executable (its mode is -rw-r--r--)`}},
		},
		{
			name: "not an executable at all",
			setup: func(dir string) error {
				return os.WriteFile(filepath.Join(dir, "exec"), []byte("PK\x03\x04 a zip, say"), 0o755)
			},
			steps: []step{{msg: `{"init":{"main":"main","binary":true,"entry":"","env":{}}}`, replyHas: `is not a Linux executable`}},
		},
		{
			name: "a directory",
			setup: func(dir string) error {
				return os.Mkdir(filepath.Join(dir, "exec"), 0o755)
			},
			steps: []step{{msg: `{"init":{"main":"main","binary":true,"entry":"","env":{}}}`, replyHas: `is not a regular file`}},
		},
		{
			// A stem cell removed unused: its loop ends quietly, as the
			// other runtimes' loops do (exit status 0, checked below).
			name:  "stdin ends before any message",
			setup: func(string) error { return nil },
		},
		{
			name:  "a first message that is not init",
			setup: func(string) error { return nil },
			steps: []step{{msg: run(`{}`), replyHas: `the first message is not an init message`}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			l := startLoop(t, []string{launcher}, []string{"PATH=/usr/bin:/bin", "WISP_ACTION_DIR=" + dir})
			for _, s := range tc.steps {
				reply, out, errs := l.send(s.msg)
				checkReply(t, s, reply)
				if !strings.Contains(out.text, s.out) || !strings.Contains(errs.text, s.errs) {
					t.Errorf("after %s: stdout %q, stderr %q; want %q, %q", s.msg, out.text, errs.text, s.out, s.errs)
				}
			}
			l.stdin.Close()
			if err := l.wait(); err != nil {
				t.Errorf("exit after stdin closed: %v", err)
			}
		})
	}
}

// TestNativeLauncherWaitsForBusyExecutable: while another process still
// holds the executable open for writing (as a process wispd forked while
// writing it does, until its own exec), execve fails with ETXTBSY; the
// launcher tries again, and the action starts once the file is closed.
func TestNativeLauncherWaitsForBusyExecutable(t *testing.T) {
	launcher, hello := nativeBinaries(t)
	helloBin, err := os.ReadFile(hello)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := os.OpenFile(filepath.Join(dir, "exec"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(helloBin); err != nil {
		t.Fatal(err)
	}
	l := startLoop(t, []string{launcher}, []string{"PATH=/usr/bin:/bin", "WISP_ACTION_DIR=" + dir})
	reply, _, _ := l.send(`{"init":{"main":"main","binary":true,"entry":"","env":{}}}`)
	checkReply(t, step{reply: `{"ok":true}`}, reply)
	closed := time.AfterFunc(100*time.Millisecond, func() { w.Close() })
	defer closed.Stop()
	start := time.Now()
	reply, _, _ = l.send(run(`{"name":"Ada"}`))
	checkReply(t, step{reply: `{"greeting":"Hello, Ada!","activationId":"0123abc","action":"/guest/hello","calls":1}`}, reply)
	if waited := time.Since(start); waited < 100*time.Millisecond {
		t.Errorf("the action answered after %v, before its file was closed", waited)
	}
	l.stdin.Close()
	if err := l.wait(); err != nil {
		t.Errorf("exit after stdin closed: %v", err)
	}
}
