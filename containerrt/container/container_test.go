package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

var logLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (stdout|stderr): (.*)$`)

// texts strips the timestamps and stream names of log lines, checking
// their form.
func texts(t *testing.T, logs []string) []string {
	t.Helper()
	var out []string
	for _, l := range logs {
		m := logLineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("log line %q is not in OpenWhisk's form", l)
		}
		out = append(out, m[1]+": "+m[2])
	}
	return out
}

func TestInitAndManyRuns(t *testing.T) {
	m := newTestManager(t)
	c, err := m.Start(t.Context(), testSpec(t, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := c.Init(t.Context(), InitMessage{Main: "main", Env: map[string]string{"K": "v"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(t, logs); !slices.Equal(got, []string{"stdout: init log"}) {
		t.Fatalf("init logs %q", got)
	}
	for i := 1; i <= 30; i++ {
		res, logs, err := run(t, c, "echo", 0)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if res["n"] != float64(i) {
			t.Fatalf("run %d: result %v", i, res)
		}
		got := texts(t, logs)
		slices.Sort(got)
		if want := []string{fmt.Sprintf("stderr: err %d", i), fmt.Sprintf("stdout: out %d", i)}; !slices.Equal(got, want) {
			t.Fatalf("run %d: logs %q, want %q", i, got, want)
		}
	}
	if st, err := c.State(t.Context()); err != nil || st != Running {
		t.Fatalf("state %v, %v", st, err)
	}
	if n, err := c.MemoryUsage(); err != nil || n <= 0 {
		t.Fatalf("memory usage %d, %v", n, err)
	}
}

func TestInitErrors(t *testing.T) {
	m := newTestManager(t)
	for _, tc := range []struct {
		main  string
		check func(error) bool
	}{
		{"bad", func(err error) bool {
			var ie *InitError
			return errors.As(err, &ie) && ie.Message == "no function named bad"
		}},
		{"garbage", func(err error) bool { var pe *ProtocolError; return errors.As(err, &pe) }},
	} {
		t.Run(tc.main, func(t *testing.T) {
			c, err := m.Start(t.Context(), testSpec(t, "init-"+tc.main))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Destroy(context.Background())
			logs, err := c.Init(t.Context(), InitMessage{Main: tc.main}, 0)
			if !tc.check(err) {
				t.Fatalf("init: %v (%T)", err, err)
			}
			if tc.main == "bad" && !slices.Equal(texts(t, logs), []string{"stderr: cannot load"}) {
				t.Fatalf("logs %q", logs)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	m := newTestManager(t)
	c := startInit(t, m, testSpec(t, "logs"))

	// 2,000 lines of 60 bytes, cut at 4 KiB with a note.
	const limit = 4096
	_, logs, err := run(t, c, "spam", limit)
	if err != nil {
		t.Fatal(err)
	}
	got := texts(t, logs)
	last := got[len(got)-1]
	if !strings.Contains(last, "Logs were truncated because the total bytes size exceeds the limit of 4096 bytes.") {
		t.Fatalf("last line %q", last)
	}
	kept := 0
	for _, l := range got[:len(got)-1] {
		if !strings.HasPrefix(l, "stdout: line ") {
			t.Fatalf("line %q", l)
		}
		kept += len(l) - len("stdout: ") + 1
	}
	if kept > limit || kept < limit-100 {
		t.Fatalf("kept %d bytes of logs, limit %d", kept, limit)
	}

	// The next activation's logs are its own.
	_, logs, err = run(t, c, "echo", limit)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(t, logs); len(got) != 2 {
		t.Fatalf("logs after a cut: %q", got)
	}

	// An action printing the sentinel itself loses its own later output,
	// but the next activation's logs still line up.
	if _, _, err := run(t, c, "fakesentinel", 0); err != nil {
		t.Fatal(err)
	}
	// What the action printed after its fake sentinel is cut at the real
	// one by the stdout reader, a moment after the call above returned;
	// the next call drops such a segment if it has been cut by then, and
	// otherwise takes it for its own (the protocol cannot tell the two
	// sentinels apart). Wait for the cut, so that the test checks the
	// dropping and not the reader's scheduling (under -race on a loaded
	// machine it once lost that race).
	for deadline := time.Now().Add(10 * time.Second); len(c.stdout.segs) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the output after the fake sentinel was never cut at the real one")
		}
	}
	res, logs, err := run(t, c, "echo", 0)
	if err != nil {
		t.Fatal(err)
	}
	got = texts(t, logs)
	slices.Sort(got)
	if want := []string{fmt.Sprintf("stderr: err %v", res["n"]), fmt.Sprintf("stdout: out %v", res["n"])}; !slices.Equal(got, want) {
		t.Fatalf("logs after a fake sentinel %q, want %q", got, want)
	}
}

func TestMergeLogs(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	out := segment{stream: "stdout", lines: []logLine{{at(1), "stdout", "a"}, {at(3), "stdout", "c"}}}
	errs := segment{stream: "stderr", lines: []logLine{{at(2), "stderr", "b"}}}
	for _, tc := range []struct {
		name  string
		limit int64
		segs  []segment
		want  []string
	}{
		{"interleaved by time", 100, []segment{out, errs}, []string{
			"2026-11-25T18:00:00.001000Z stdout: a", "2026-11-25T18:00:00.002000Z stderr: b", "2026-11-25T18:00:00.003000Z stdout: c"}},
		{"cut across streams", 4, []segment{out, errs}, []string{
			"2026-11-25T18:00:00.001000Z stdout: a", "2026-11-25T18:00:00.002000Z stderr: b",
			"2026-11-25T18:00:00.003000Z stderr: Logs were truncated because the total bytes size exceeds the limit of 4 bytes."}},
		{"empty", 10, []segment{{}, {}}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mergeLogs(tc.limit, tc.segs...); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestPauseResume(t *testing.T) {
	m := newTestManager(t)
	c := startInit(t, m, testSpec(t, "pause"))
	ctx := t.Context()
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(ctx); err != nil || st != Paused {
		t.Fatalf("state after pause: %v, %v", st, err)
	}
	if frozen, err := c.cg.frozen(); err != nil || !frozen {
		t.Fatalf("freezer cgroup frozen: %v, %v", frozen, err)
	}
	sentinel := filepath.Join(filepath.Dir(c.cg.freezer), freezerSentinel)
	if !c.cg.v2 {
		b, err := os.ReadFile(c.cg.freezer + "/freezer.state")
		if err != nil || strings.TrimSpace(string(b)) != "FROZEN" {
			t.Fatalf("freezer.state %q, %v", b, err)
		}
		assertSentinel(t, sentinel)
	}
	if err := c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.cg.v2 {
		assertSentinel(t, sentinel) // it stays frozen
	}
	if st, err := c.State(ctx); err != nil || st != Running {
		t.Fatalf("state after resume: %v, %v", st, err)
	}
	var se *StateError
	if err := c.Resume(ctx); !errors.As(err, &se) || se.State != Running {
		t.Fatalf("resume of a running container: %v", err)
	}
	if _, _, err := run(t, c, "echo", 0); err != nil {
		t.Fatal(err)
	}
	// A paused container is destroyed as well.
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(ctx); st != Stopped {
		t.Fatalf("state after destroy %v", st)
	}
	// Closing the Manager removes the sentinel with the parent cgroup.
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sentinel); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the freezer sentinel after Close: %v", err)
	}
}

// assertSentinel checks the v1 freezer's sentinel cgroup: frozen, and
// with no task in it.
func assertSentinel(t *testing.T, dir string) {
	t.Helper()
	state, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
	if err != nil || strings.TrimSpace(string(state)) != "FROZEN" {
		t.Fatalf("the freezer sentinel's state: %q, %v", state, err)
	}
	tasks, err := os.ReadFile(filepath.Join(dir, "tasks"))
	if err != nil || len(bytes.TrimSpace(tasks)) != 0 {
		t.Fatalf("the freezer sentinel's tasks: %q, %v", tasks, err)
	}
}

func TestTimeout(t *testing.T) {
	m := newTestManager(t)
	c := startInit(t, m, testSpec(t, "timeout"))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, logs, err := c.Run(ctx, RunMessage{Value: []byte(`{"do":"sleep"}`)}, 0)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("run: %v", err)
	}
	if got := texts(t, logs); !slices.Equal(got, []string{"stdout: going to sleep"}) {
		t.Fatalf("logs %q", got)
	}
	memDir := c.cg.memory
	if err := c.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(t.Context()); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
	assertGone(t, m, "timeout", memDir)
	if _, _, err := run(t, c, "echo", 0); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("run after destroy: %v", err)
	}
	if err := c.Pause(t.Context()); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("pause after destroy: %v", err)
	}
}

// assertGone checks that nothing of container id remains: its state
// directory, its cgroup.
func assertGone(t *testing.T, m *Manager, id, cgroupDir string) {
	t.Helper()
	if _, err := os.Stat(m.stateDir + "/" + id); !os.IsNotExist(err) {
		t.Fatalf("state directory of %s: %v", id, err)
	}
	if _, err := os.Stat(cgroupDir); !os.IsNotExist(err) {
		t.Fatalf("cgroup %s: %v", cgroupDir, err)
	}
}

func TestExitAndOOM(t *testing.T) {
	m := newTestManager(t)
	for _, tc := range []struct {
		do       string
		memoryMB int
		code     int
		oom      bool
	}{
		{"exit", 64, 3, false},
		{"oom", 32, -1, true},
	} {
		t.Run(tc.do, func(t *testing.T) {
			spec := testSpec(t, tc.do)
			spec.MemoryMB = tc.memoryMB
			c := startInit(t, m, spec)
			_, _, err := run(t, c, tc.do, 0)
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("run: %v (%T)", err, err)
			}
			if ee.OOMKilled != tc.oom || (!tc.oom && ee.ExitCode != tc.code) {
				t.Fatalf("exit: %+v", ee)
			}
			if tc.oom && !strings.Contains(ee.Error(), "ran out of memory (limit 32 MB)") {
				t.Fatalf("message %q", ee.Error())
			}
			select {
			case <-c.Done():
			default:
				t.Fatal("Done not closed")
			}
			if st, err := c.State(t.Context()); err != nil || st != Stopped {
				t.Fatalf("state %v, %v", st, err)
			}
			if _, _, err := run(t, c, "echo", 0); !errors.As(err, &ee) {
				t.Fatalf("run after exit: %v", err)
			}
		})
	}
}

func TestForkBomb(t *testing.T) {
	m := newTestManager(t)
	spec := testSpec(t, "forkbomb")
	spec.PidsLimit = 32
	c := startInit(t, m, spec)
	if _, _, err := run(t, c, "forkbomb", 0); err != nil {
		t.Fatal(err)
	}
	// Watch the bomb press against the limit for a while.
	maxSeen := int64(0)
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
		n, err := c.cg.pidsCurrent()
		if err != nil {
			t.Fatal(err)
		}
		maxSeen = max(maxSeen, n)
		time.Sleep(10 * time.Millisecond)
	}
	if maxSeen > 32 || maxSeen < 2 {
		t.Fatalf("tasks seen in the cgroup: up to %d, limit 32", maxSeen)
	}
	// Even a container that forks all the time freezes.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.Pause(ctx); err != nil {
		t.Fatalf("pause a fork bomb: %v", err)
	}
	if st, err := c.State(ctx); err != nil || st != Paused {
		t.Fatalf("state %v, %v", st, err)
	}
	memDir := c.cg.memory
	if err := c.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m, "forkbomb", memDir)
}

func TestIsolation(t *testing.T) {
	m := newTestManager(t)
	c := startInit(t, m, testSpec(t, "isolation"))
	who, _, err := run(t, c, "whoami", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"uid": "65534", "gid": "65534", "capeff": "0000000000000000", "capbnd": "0000000000000000",
		"nnp": "1", "seccomp": "2", "host": "wisp", "userns": "no", "ifaces": "0", "pid": "1", "nofile": "1024",
	}
	for k, v := range want {
		if who[k] != v {
			t.Errorf("%s = %v, want %v", k, who[k], v)
		}
	}
	files, _, err := run(t, c, "files", 0)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"root": "no", "action": "no", "tmp": "yes", "code": "the code"} {
		if files[k] != v {
			t.Errorf("%s = %v, want %v", k, files[k], v)
		}
	}
}

// TestCgroupsMount: a container with Spec.Cgroups reads its memory
// limit under /sys/fs/cgroup, read-only; one without sees no cgroups.
func TestCgroupsMount(t *testing.T) {
	m := newTestManager(t)
	for _, withCgroups := range []bool{true, false} {
		spec := testSpec(t, "cgroups-"+strconv.FormatBool(withCgroups))
		spec.Cgroups = withCgroups
		c := startInit(t, m, spec)
		got, _, err := run(t, c, "cgroups", 0)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"limit": "none", "write": "no"}
		if withCgroups {
			want["limit"] = strconv.Itoa(spec.MemoryMB << 20)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("Cgroups %v: %s = %v, want %v", withCgroups, k, got[k], v)
			}
		}
	}
}

func TestBadReplies(t *testing.T) {
	m := newTestManager(t)
	for _, do := range []string{"notjson", "array", "huge"} {
		t.Run(do, func(t *testing.T) {
			c := startInit(t, m, testSpec(t, "reply-"+do))
			_, _, err := run(t, c, do, 0)
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("run: %v (%T)", err, err)
			}
		})
	}
}

func TestBadValue(t *testing.T) {
	m := newTestManager(t)
	c := startInit(t, m, testSpec(t, "value"))
	for _, v := range []string{`[1]`, `{"a":`, `"x"`} {
		if _, _, err := c.Run(t.Context(), RunMessage{Value: []byte(v)}, 0); err == nil {
			t.Fatalf("value %s accepted", v)
		}
	}
	if _, _, err := run(t, c, "echo", 0); err != nil {
		t.Fatalf("run after refused values: %v", err)
	}
}

func TestSpecValidation(t *testing.T) {
	m := newTestManager(t)
	for _, tc := range []struct {
		name string
		mod  func(*Spec)
	}{
		{"upper-case id", func(s *Spec) { s.ID = "Abc" }},
		{"id with slash", func(s *Spec) { s.ID = "a/b" }},
		{"long id", func(s *Spec) { s.ID = strings.Repeat("a", 65) }},
		{"relative rootfs", func(s *Spec) { s.Rootfs = "rootfs" }},
		{"missing rootfs", func(s *Spec) { s.Rootfs = "/nonexistent/rootfs" }},
		{"missing action dir", func(s *Spec) { s.ActionDir = "/nonexistent/action" }},
		{"no args", func(s *Spec) { s.Args = nil }},
		{"NUL in an argument", func(s *Spec) { s.Args = append(s.Args, "a\x00b") }},
		{"env without =", func(s *Spec) { s.Env = []string{"PATH"} }},
		{"relative cwd", func(s *Spec) { s.Cwd = "action" }},
		{"tiny memory", func(s *Spec) { s.MemoryMB = 1 }},
		{"negative pids", func(s *Spec) { s.PidsLimit = -1 }},
		{"missing program", func(s *Spec) { s.Args = []string{"/bin/nonexistent"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(t, "valid")
			tc.mod(&s)
			if c, err := m.Start(t.Context(), s); err == nil {
				c.Destroy(context.Background())
				t.Fatal("started")
			}
			if _, err := os.Stat(m.stateDir + "/valid"); !os.IsNotExist(err) {
				t.Fatalf("state left behind: %v", err)
			}
		})
	}
	// The init's own error reaches the caller (the init logs only
	// warnings and errors back; see initLogLevel).
	s := testSpec(t, "valid")
	s.Args = []string{"/bin/nonexistent"}
	if _, err := m.Start(t.Context(), s); err == nil || !strings.Contains(err.Error(), `"/bin/nonexistent": stat /bin/nonexistent: no such file or directory`) {
		t.Fatalf("a missing program: err %v, want the init's reason", err)
	}
	startInit(t, m, testSpec(t, "dup"))
	if _, err := m.Start(t.Context(), testSpec(t, "dup")); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
}

func TestCleanupLeftovers(t *testing.T) {
	stateDir := t.TempDir() + "/state"
	parent := "wisp-test-" + randomHex(4)
	crashed, err := NewManager(t.Context(), ManagerConfig{StateDir: stateDir, CgroupParent: parent})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i := range 3 {
		c := startInit(t, crashed, testSpec(t, fmt.Sprintf("left-%d", i)))
		st, err := c.lc.State()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.CgroupPaths {
			dirs = append(dirs, p)
		}
		if i == 0 {
			if err := c.Pause(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The crashed Manager is dropped without Close; a new one cleans up.
	m, err := NewManager(t.Context(), ManagerConfig{StateDir: stateDir, CgroupParent: parent})
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.CleanupLeftovers(t.Context())
	if err != nil || n != 3 {
		t.Fatalf("cleanup: %d, %v", n, err)
	}
	entries, err := os.ReadDir(stateDir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("state directory after cleanup: %v, %v", entries, err)
	}
	for _, d := range dirs {
		for _, p := range []string{d, d[:strings.LastIndex(d, "/")]} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("cgroup %s remains: %v", p, err)
			}
		}
	}
	if n, err := m.CleanupLeftovers(t.Context()); err != nil || n != 0 {
		t.Fatalf("second cleanup: %d, %v", n, err)
	}
}

func TestCloseRemovesParent(t *testing.T) {
	m, err := NewManager(t.Context(), ManagerConfig{StateDir: t.TempDir() + "/state", CgroupParent: "wisp-test-" + randomHex(4)})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i := range 2 {
		c := startInit(t, m, testSpec(t, fmt.Sprintf("close-%d", i)))
		st, err := c.lc.State()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.CgroupPaths {
			dirs = append(dirs, p, p[:strings.LastIndex(p, "/")])
		}
	}
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s remains: %v", d, err)
		}
	}
	if _, err := m.Start(t.Context(), testSpec(t, "after")); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}
}

func TestCleanupInterruptedStart(t *testing.T) {
	// What a crash between creating a container's cgroup and saving its
	// state leaves: a state directory without state.json, and a cgroup
	// with a process in it.
	stateDir := t.TempDir() + "/state"
	parent := "wisp-test-" + randomHex(4)
	if err := os.MkdirAll(stateDir+"/broken", 0o700); err != nil {
		t.Fatal(err)
	}
	// The Manager first: if it cannot be made, nothing is put on the host.
	m, err := NewManager(t.Context(), ManagerConfig{StateDir: stateDir, CgroupParent: parent})
	if err != nil {
		t.Fatal(err)
	}
	cg, err := manager.New(&cgroups.Cgroup{Path: "/" + parent + "/broken", Resources: &cgroups.Resources{}})
	if err != nil {
		t.Fatal(err)
	}
	stray := exec.Command("/bin/busybox", "sleep", "1000")
	if err := stray.Start(); err != nil {
		_ = cg.Destroy()
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	exited := make(chan struct{})
	go func() { waited <- stray.Wait(); close(exited) }()
	// Whatever fails below, nothing is left on the host: the process, its
	// cgroup and the parent made for it.
	t.Cleanup(func() {
		_ = stray.Process.Kill()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		_ = removeCgroupTree(context.Background(), "/"+parent)
	})
	if err := cg.Apply(stray.Process.Pid); err != nil {
		t.Fatal(err)
	}
	paths := cg.GetPaths()

	if _, err := m.CleanupLeftovers(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("the stray process still runs")
	}
	if _, err := os.Stat(stateDir + "/broken"); !os.IsNotExist(err) {
		t.Fatalf("state directory remains: %v", err)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("cgroup %s remains: %v", p, err)
		}
	}
}

func TestDestroyDuringRun(t *testing.T) {
	m := newTestManager(t)
	c := startInit(t, m, testSpec(t, "busy"))
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Run(t.Context(), RunMessage{Value: []byte(`{"do":"sleep"}`)}, 0)
		errc <- err
	}()
	// Destroy as soon as the activation is under way.
	for c.stdout.snapshot().lines == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ee *ExitError
	if err := <-errc; !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL {
		t.Fatalf("run during destroy: %v", err)
	}
}

func TestEncodeRun(t *testing.T) {
	d := time.UnixMilli(1764093600000)
	for _, tc := range []struct {
		name   string
		msg    RunMessage
		ctxEnd time.Time
		want   string
	}{
		{"all fields", RunMessage{Value: []byte(`{"name":"Ada"}`), Namespace: "guest", ActionName: "/guest/hello",
			ActionVersion: "0.0.1", ActivationID: "abc", APIHost: "http://127.0.0.1:3233", APIKey: "k", Deadline: d}, time.Time{},
			`{"value":{"name":"Ada"},"namespace":"guest","action_name":"/guest/hello","action_version":"0.0.1","activation_id":"abc","deadline":"1764093600000","api_host":"http://127.0.0.1:3233","api_key":"k"}`},
		{"empty value, deadline from ctx", RunMessage{}, d,
			`{"value":{},"namespace":"","action_name":"","action_version":"","activation_id":"","deadline":"1764093600000","api_host":"","api_key":""}`},
		{"multi-line value", RunMessage{Value: []byte("{\n \"a\": 1\n}")}, time.Time{},
			`{"value":{"a":1},"namespace":"","action_name":"","action_version":"","activation_id":"","deadline":"","api_host":"","api_key":""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeRun(tc.msg, tc.ctxEnd)
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %s, %v\nwant %s", got, err, tc.want)
			}
		})
	}
	for _, v := range []string{`[1]`, `{"a":`, `"x"`, `null`} {
		if _, err := encodeRun(RunMessage{Value: []byte(v)}, time.Time{}); err == nil {
			t.Errorf("value %s accepted", v)
		}
	}
}

func TestStateSeesDeathBeforeReaping(t *testing.T) {
	m := newTestManager(t)
	c := startInit(t, m, testSpec(t, "dies"))
	ctx := t.Context()
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.lc.State()
	if err != nil {
		t.Fatal(err)
	}
	pid := st.InitProcessPid
	// Killed behind the container's back, and thawed so that it dies.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := c.cg.thaw(); err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z ") {
			break // exited: a zombie, or already reaped
		}
		time.Sleep(time.Millisecond)
	}
	if st, err := c.State(ctx); err != nil || st != Stopped {
		t.Fatalf("state of a dead container: %v, %v", st, err)
	}
	var se *StateError
	if err := c.Resume(ctx); !errors.As(err, &se) || se.State != Stopped {
		t.Fatalf("resume of a dead container: %v", err)
	}
}

// TestReplyJustBeforeExit: an action loop that writes its reply and then
// exits (as a launcher refusing an init does) is answered with its reply,
// although the exit may be seen first. The loop here is this test's own
// goroutine, so that both have happened by the time call waits: the
// request line is longer than the pipe, and the loop reads its end only
// after replying and exiting.
func TestReplyJustBeforeExit(t *testing.T) {
	for i := range 20 {
		inR, inW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		outR, outW, _ := os.Pipe()
		errR, errW, _ := os.Pipe()
		files := []*os.File{inR, inW, outR, outW, errR, errW}
		if _, err := unix.FcntlInt(inW.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
			t.Fatal(err)
		}
		quit := make(chan struct{})
		c := &Container{
			id: "fake", m: &Manager{log: slog.New(slog.DiscardHandler)}, pidfd: -1,
			stdin: inW, stdout: newStream("stdout", quit), stderr: newStream("stderr", quit),
			calls: make(chan struct{}, 1), quit: quit, done: make(chan struct{}), replies: make(chan reply, 1),
		}
		go c.stdout.run(outR)
		go c.stderr.run(errR)
		go func() {
			first := make([]byte, 1024)
			if _, err := inR.Read(first); err != nil {
				return
			}
			c.replies <- reply{line: []byte(`{"error":"no such function"}`)}
			fmt.Fprintln(outW, Sentinel)
			fmt.Fprintln(errW, Sentinel)
			c.exitErr = &ExitError{}
			close(c.done)
			_, _ = io.Copy(io.Discard, inR)
		}()
		rep, _, err := c.call(t.Context(), bytes.Repeat([]byte("x"), 64<<10), 0)
		close(quit)
		for _, f := range files {
			f.Close()
		}
		if err != nil || string(rep) != `{"error":"no such function"}` {
			t.Fatalf("try %d: reply %q, error %v; want the reply written before the exit", i, rep, err)
		}
	}
}
