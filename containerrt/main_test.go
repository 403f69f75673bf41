package containerrt

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispfaas/wisp/containerrt/container"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/invoker"
	"github.com/wispfaas/wisp/runtimes"
)

// The tests run real containers: root, cgroups, and busybox-static (the
// test runtime's root filesystem) are needed, as scripts/deps.sh installs.

// fixtures are built once per test binary.
var fixtures struct {
	runtimes   string // a RuntimesDir holding the test runtime "native"
	action     []byte // the native test action (testdata/action), static
	actionPath string
}

// leftoverChildEnv makes the test binary a process that starts a Runtime
// with stem cells in the given state directory, prints their pids, and
// waits to be killed: a wispd that crashes (TestLeftoversAfterCrash).
const leftoverChildEnv = "WISP_CONTAINERRT_LEFTOVER_CHILD"

func TestMain(m *testing.M) {
	container.MaybeInit()
	if dir := os.Getenv(leftoverChildEnv); dir != "" {
		leftoverChild(dir)
		return
	}
	tmp, err := os.MkdirTemp("", "containerrt-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := buildFixtures(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "containerrt tests:", err)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// testLauncher is the test runtime's launcher, in busybox sh. Like the
// native runtime's, it answers init itself and then executes the action,
// which sees only run lines. It refuses a main other than "main" (as a
// launcher refuses a missing function), so that init failures can be
// tested with a real container; main "hang" never answers init.
const testLauncher = `#!/bin/sh
IFS= read -r line || exit 1
case "$line" in
*'"main":"main"'*) ;;
*'"main":"hang"'*) sleep 600 ;;
*) echo '{"error": "the action has no function named by main"}' >&3
   echo XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
   echo XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX >&2
   exit 0 ;;
esac
if [ ! -x /action/exec ]; then
  echo '{"error": "no executable at /action/exec"}' >&3
else
  echo "launcher: init done"
  echo '{"ok": true}' >&3
fi
echo XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX
echo XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX >&2
exec /action/exec
`

// buildFixtures makes the test runtime (busybox's sh and the launcher
// above, kind native) and builds the test action.
func buildFixtures(tmp string) error {
	fixtures.runtimes = filepath.Join(tmp, "runtimes")
	if err := writeBusyboxRuntime(filepath.Join(fixtures.runtimes, "native"), "native", testLauncher); err != nil {
		return err
	}
	out := filepath.Join(tmp, "action")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/action")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the test action: %v\n%s", err, b)
	}
	var err error
	fixtures.actionPath = out
	fixtures.action, err = os.ReadFile(out)
	return err
}

// writeBusyboxRuntime writes a runtime directory whose root filesystem
// holds Debian's static busybox as /bin/sh and launcher as
// /wisp/launcher.sh.
func writeBusyboxRuntime(dir, kind, launcher string) error {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "wisp", "proc", "dev", "sys", "tmp", "action", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox-static is needed (scripts/deps.sh): %w", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		return err
	}
	for _, applet := range []string{"sh", "sleep", "cat", "echo"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "wisp", "launcher.sh"), []byte(launcher), 0o755); err != nil {
		return err
	}
	rj, _ := json.Marshal(runtimes.Spec{Kind: kind, Args: []string{"/bin/sh", "/wisp/launcher.sh"}, Env: []string{"PATH=/bin"}, Cwd: "/action"})
	if err := os.WriteFile(filepath.Join(dir, "runtime.json"), rj, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "stamp"), []byte("test\n"), 0o644)
}

// newRuntime starts a Runtime on the test runtimes with cfg's settings,
// closed at the end of the test.
func newRuntime(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.RuntimesDir == "" {
		cfg.RuntimesDir = fixtures.runtimes
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

var activationSeq atomic.Int64

// request is an activation of the test action by owner with params and
// memory (MB), as the invoker makes it.
func request(owner string, memMB int, params string) invoker.RunRequest {
	id := fmt.Sprintf("%032x", activationSeq.Add(1))
	return invoker.RunRequest{
		Digest: "sha256/test-action",
		Load:   func(context.Context) ([]byte, error) { return fixtures.action, nil },
		Params: json.RawMessage(params),
		Env: map[string]string{
			"__OW_ACTIVATION_ID":  id,
			"__OW_NAMESPACE":      "guest",
			"__OW_ACTION_NAME":    "/guest/" + owner,
			"__OW_ACTION_VERSION": "0.0.1",
			"__OW_DEADLINE":       fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()),
			"__OW_API_HOST":       "http://127.0.0.1:3233",
		},
		Limits: core.Limits{Timeout: 30_000, Memory: memMB, Logs: 1, Concurrency: 1},
		Owner:  "/guest/" + owner + "@0.0.1/1",
		Kind:   "native",
		Binary: true,
	}
}

// run runs req with a generous deadline.
func run(t *testing.T, r *Runtime, req invoker.RunRequest) invoker.RunResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return r.Run(ctx, req)
}

// mustCount runs a counting activation and returns its count.
func mustCount(t *testing.T, r *Runtime, req invoker.RunRequest) (int, invoker.RunResult) {
	t.Helper()
	res := run(t, r, req)
	if res.Err != nil {
		t.Fatalf("Run: %v (result %s, logs %q)", res.Err, res.Result, res.Logs)
	}
	var out struct{ Count int }
	if err := json.Unmarshal(res.Result, &out); err != nil || out.Count == 0 {
		t.Fatalf("result %s: not a count (%v)", res.Result, err)
	}
	return out.Count, res
}

// waitFor polls cond until it holds or a minute passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// members lists the pool's containers of owner ("" for all).
func (r *Runtime) testMembers(owner string) []*member {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*member
	for m := range r.p.members {
		if owner == "" || m.owner == owner {
			out = append(out, m)
		}
	}
	return out
}

// freezerState reads the freezer cgroup of container id: "FROZEN",
// "THAWED" (v1 freezer.state) or "1"/"0" (v2 cgroup.freeze); "" when the
// cgroup does not exist.
func freezerState(t *testing.T, r *Runtime, id string) string {
	t.Helper()
	parent := r.mgr.CgroupParent()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup/freezer", parent, id, "freezer.state"),
		filepath.Join("/sys/fs/cgroup", parent, id, "cgroup.freeze"),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

// cgroupPids lists the processes in container id's cgroup (parent is
// the manager's cgroup parent).
func cgroupPids(parent, id string) []int {
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup/pids", parent, id, "cgroup.procs"),
		filepath.Join("/sys/fs/cgroup/memory", parent, id, "cgroup.procs"),
		filepath.Join("/sys/fs/cgroup", parent, id, "cgroup.procs"),
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	return nil
}

// leftoverChild is the crashing wispd of TestLeftoversAfterCrash: it
// starts two stem cells and one activation whose launcher hangs in init,
// prints the containers' ids and the hanging container's pids, and waits
// to be killed. (The stem cells' launchers exit when their stdin closes
// with this process; the hanging one sleeps on.)
func leftoverChild(dir string) {
	ctx := context.Background()
	r, err := New(ctx, Config{StateDir: dir, RuntimesDir: os.Getenv(leftoverChildEnv + "_RUNTIMES"), Stems: map[string]int{"native@32": 2}})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fixtures.action, err = os.ReadFile(os.Getenv(leftoverChildEnv + "_ACTION"))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for r.Stats().Stems["native@32"] < 2 {
		time.Sleep(10 * time.Millisecond)
	}
	// Another memory size: this activation starts its own container and
	// leaves the stem cells alone. Its launcher reads init and sleeps
	// (main "hang"), so it outlives this process. An action sleeping in a
	// run did not always: the pool counts a container running once init
	// has answered, before the run line is written, and an action killed
	// in between read the end of its stdin and exited.
	req := request("sleeper", 48, `{}`)
	req.Main = "hang"
	go r.Run(ctx, req)
	var report struct {
		Parent string
		IDs    []string
		Pids   []int
	}
	report.Parent = r.mgr.CgroupParent()
	// The launcher has read init once its sleep has started beside it.
	for len(report.Pids) < 2 {
		time.Sleep(10 * time.Millisecond)
		for _, m := range r.testMembers("") {
			if m.key.memMB == 48 {
				report.Pids = cgroupPids(report.Parent, m.id)
			}
		}
	}
	for _, m := range r.testMembers("") {
		report.IDs = append(report.IDs, m.id)
	}
	b, _ := json.Marshal(report)
	fmt.Printf("leftovers %s\n", b)
	select {} // until killed
}
