package containerrt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wispfaas/wisp/invoker"
)

// The pool must satisfy the invoker's interfaces.
var (
	_ invoker.Runtime   = (*Runtime)(nil)
	_ invoker.Prewarmer = (*Runtime)(nil)
)

func TestColdStart(t *testing.T) {
	r := newRuntime(t, Config{})
	n, res := mustCount(t, r, request("cold", 32, `{"mode":"count"}`))
	if n != 1 {
		t.Errorf("count = %d, want 1 in a new container", n)
	}
	if res.InitTime <= 0 {
		t.Errorf("InitTime = %v, want > 0 for a new container", res.InitTime)
	}
	if !slicesContain(res.Logs, "launcher: init done") {
		t.Errorf("logs %q lack the init's log line (init logs belong to the first activation)", res.Logs)
	}
	st := r.Stats()
	if st.ColdStarts != 1 || st.ByStatus["ready"] != 1 || st.UsedMB != 32 {
		t.Errorf("stats after one cold start: %+v", st)
	}
}

// TestStemsAfter checks that no stem cell starts before Config.StemsAfter
// is closed, that activations are served meanwhile (cold), and that the
// stem cells come once it is.
func TestStemsAfter(t *testing.T) {
	gate := make(chan struct{})
	r := newRuntime(t, Config{Stems: map[string]int{"native@32": 1}, StemsAfter: gate})
	time.Sleep(300 * time.Millisecond) // a stem cell starts in tens of ms when allowed
	if st := r.Stats(); st.Stems["native@32"] != 0 || st.ByStatus["starting"] != 0 {
		t.Fatalf("before the gate: stems %v, by status %v; want none", st.Stems, st.ByStatus)
	}
	if n, _ := mustCount(t, r, request("before-gate", 32, `{"mode":"count"}`)); n != 1 {
		t.Errorf("an activation before the gate counted %d, want 1", n)
	}
	if st := r.Stats(); st.ColdStarts != 1 || st.StemStarts != 0 {
		t.Errorf("before the gate: cold starts %d, stem starts %d; want 1 and 0", st.ColdStarts, st.StemStarts)
	}
	close(gate)
	waitFor(t, "a stem cell once the gate is open", func() bool { return r.Stats().Stems["native@32"] == 1 })
}

func TestStemCellStart(t *testing.T) {
	r := newRuntime(t, Config{Stems: map[string]int{"native@32": 2}})
	waitFor(t, "two stem cells", func() bool { return r.Stats().Stems["native@32"] == 2 })
	if st := r.Stats(); st.UsedMB != 64 {
		t.Errorf("two stem cells of 32 MB use %d MB", st.UsedMB)
	}
	n, res := mustCount(t, r, request("stem", 32, `{"mode":"count"}`))
	if n != 1 || res.InitTime <= 0 {
		t.Errorf("count %d, InitTime %v: want 1 and > 0 (init paid)", n, res.InitTime)
	}
	st := r.Stats()
	if st.StemStarts != 1 || st.ColdStarts != 0 {
		t.Errorf("stem starts %d, cold starts %d: want 1 and 0", st.StemStarts, st.ColdStarts)
	}
	// The refiller replaces the stem cell taken.
	waitFor(t, "the stem cell refilled", func() bool { return r.Stats().Stems["native@32"] == 2 })
	// Another memory size does not take a stem cell.
	mustCount(t, r, request("other-size", 48, `{"mode":"count"}`))
	if st := r.Stats(); st.ColdStarts != 1 || st.StemStarts != 1 {
		t.Errorf("a 48 MB activation: stem starts %d, cold starts %d; want 1 and 1", st.StemStarts, st.ColdStarts)
	}
	// Nor does an action granted network access (its network namespace
	// is made with the container).
	netReq := request("network", 32, `{"mode":"count"}`)
	netReq.Network = true
	mustCount(t, r, netReq)
	if st := r.Stats(); st.ColdStarts != 2 || st.StemStarts != 1 || st.Stems["native@32"] != 2 {
		t.Errorf("an action with network: stem starts %d, cold starts %d, stems %v; want 1, 2 and 2 left", st.StemStarts, st.ColdStarts, st.Stems)
	}
}

func TestWarmReuse(t *testing.T) {
	r := newRuntime(t, Config{})
	a := request("a", 32, `{"mode":"count"}`)
	for want := 1; want <= 3; want++ {
		n, res := mustCount(t, r, a)
		if n != want {
			t.Fatalf("activation %d of one action counted %d: not the same container", want, n)
		}
		if want > 1 && res.InitTime != 0 {
			t.Errorf("warm activation %d: InitTime %v, want 0", want, res.InitTime)
		}
		if want > 1 && slicesContain(res.Logs, "launcher: init done") {
			t.Errorf("warm activation %d carries the init's logs: %q", want, res.Logs)
		}
	}
	// Another action (or another version of it) never gets that container.
	b := request("a", 32, `{"mode":"count"}`)
	b.Owner = "/guest/a@0.0.2/2"
	if n, _ := mustCount(t, r, b); n != 1 {
		t.Errorf("a new version counted %d: it reused the old version's container", n)
	}
	if st := r.Stats(); st.WarmStarts != 2 || st.ColdStarts != 2 {
		t.Errorf("warm %d, cold %d; want 2 and 2", st.WarmStarts, st.ColdStarts)
	}
}

func TestPauseAfterGraceAndResume(t *testing.T) {
	r := newRuntime(t, Config{PauseGrace: 50 * time.Millisecond})
	req := request("pause", 32, `{"mode":"count"}`)
	mustCount(t, r, req)
	ms := r.testMembers(req.Owner)
	if len(ms) != 1 {
		t.Fatalf("%d containers for the action, want 1", len(ms))
	}
	id := ms[0].id
	if s := freezerState(t, r, id); s == "" {
		t.Fatalf("no freezer cgroup found for container %s under %s", id, r.mgr.CgroupParent())
	}
	waitFor(t, "the idle container paused in the freezer cgroup", func() bool {
		s := freezerState(t, r, id)
		return s == "FROZEN" || s == "1"
	})
	waitFor(t, "the pool to count it paused", func() bool { return r.Stats().ByStatus["paused"] == 1 })
	n, _ := mustCount(t, r, req)
	if n != 2 {
		t.Errorf("count after resume = %d, want 2 (the same container)", n)
	}
	if st := r.Stats(); st.Resumes != 1 || st.Pauses < 1 {
		t.Errorf("resumes %d, pauses %d; want 1 and ≥ 1", st.Resumes, st.Pauses)
	}
	// Right after the run it is thawed (the grace has begun again).
	if s := freezerState(t, r, id); s == "FROZEN" || s == "1" {
		// It may have been paused again already if the machine stalled
		// for the whole grace; only a thawed or re-frozen state is valid.
		t.Logf("container frozen again right after its run (state %s)", s)
	}
}

func TestPausedContainerThatDiedIsRemovedNotResumed(t *testing.T) {
	r := newRuntime(t, Config{PauseGrace: 20 * time.Millisecond})
	req := request("dies", 32, `{"mode":"count"}`)
	mustCount(t, r, req)
	m := r.testMembers(req.Owner)[0]
	waitFor(t, "the container paused", func() bool { return r.Stats().ByStatus["paused"] == 1 })
	// Its action loop dies while the pool holds it paused: SIGKILL, then
	// a thaw behind the pool's back (a frozen task dies only once thawed
	// on cgroup v1, as an OOM victim escapes the freezer).
	pids := cgroupPids(r.mgr.CgroupParent(), m.id)
	if len(pids) == 0 {
		t.Fatalf("no process found in container %s's cgroup", m.id)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", pid, err)
		}
	}
	thaw(t, r.mgr.CgroupParent(), m.id)
	waitFor(t, "the action loop dead", func() bool { return !alive(pids[0]) })
	n, res := mustCount(t, r, req)
	if n != 1 {
		t.Errorf("count %d: the dead container was reused", n)
	}
	if res.InitTime <= 0 {
		t.Errorf("the activation after the death paid no init: InitTime %v", res.InitTime)
	}
	if st := r.Stats(); st.Resumes != 0 {
		t.Errorf("the dead container was resumed (%d resumes)", st.Resumes)
	}
	if got := len(r.testMembers(req.Owner)); got != 1 {
		t.Errorf("%d containers for the action; the dead one should be gone", got)
	}
}

// thaw unfreezes container id's cgroup directly.
func thaw(t *testing.T, parent, id string) {
	t.Helper()
	if err := os.WriteFile("/sys/fs/cgroup/freezer/"+parent+"/"+id+"/freezer.state", []byte("THAWED"), 0); err == nil {
		return
	}
	if err := os.WriteFile("/sys/fs/cgroup/"+parent+"/"+id+"/cgroup.freeze", []byte("0"), 0); err != nil {
		t.Fatalf("thaw %s: %v", id, err)
	}
}

func TestIdleContainersRemovedAfterTimeout(t *testing.T) {
	r := newRuntime(t, Config{PauseGrace: 10 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})
	req := request("idle", 32, `{"mode":"count"}`)
	mustCount(t, r, req)
	id := r.testMembers(req.Owner)[0].id
	waitFor(t, "the idle container removed", func() bool { st := r.Stats(); return st.Expired == 1 && st.UsedMB == 0 })
	if n := len(r.testMembers("")); n != 0 {
		t.Errorf("%d containers after expiry", n)
	}
	if s := freezerState(t, r, id); s != "" {
		t.Errorf("the removed container's freezer cgroup is still there (%s)", s)
	}
}

func TestEvictionUnderSmallBudget(t *testing.T) {
	// Idle containers are paused quickly: eviction removes paused ones.
	r := newRuntime(t, Config{MemoryBudgetMB: 64, PauseGrace: 10 * time.Millisecond})
	a, b, c := request("ev-a", 32, `{}`), request("ev-b", 32, `{}`), request("ev-c", 32, `{}`)
	mustCount(t, r, a)
	mustCount(t, r, b)
	mustCount(t, r, b) // b is now the most recently used
	waitFor(t, "both idle containers paused", func() bool { return r.Stats().ByStatus["paused"] == 2 })
	if n, _ := mustCount(t, r, c); n != 1 {
		t.Fatalf("c counted %d", n)
	}
	st := r.Stats()
	if st.Evictions != 1 || st.UsedMB != 64 {
		t.Fatalf("after c: evictions %d, used %d MB; want 1 and 64", st.Evictions, st.UsedMB)
	}
	if len(r.testMembers(a.Owner)) != 0 || len(r.testMembers(b.Owner)) != 1 {
		t.Errorf("the least recently used container (a's) should have been evicted, b's kept")
	}
	if n, _ := mustCount(t, r, b); n != 3 {
		t.Errorf("b counted %d after the eviction of a, want 3 (its container kept)", n)
	}
}

func TestMemoryLimitAboveBudgetIsRefused(t *testing.T) {
	r := newRuntime(t, Config{MemoryBudgetMB: 64})
	res := run(t, r, request("huge", 128, `{}`))
	if res.Err == nil || res.ActionFailed {
		t.Fatalf("a 128 MB action on a 64 MB budget: err %v, ActionFailed %v; want a platform error", res.Err, res.ActionFailed)
	}
	if !strings.Contains(string(res.Result), "64 MB") {
		t.Errorf("result %s does not say the budget", res.Result)
	}
}

func TestFailuresAreRecordedAndContainersReplaced(t *testing.T) {
	r := newRuntime(t, Config{Stems: map[string]int{"native@32": 1}})
	cases := []struct {
		name      string
		params    string
		timeoutMs int
		want      string // the result's error
		developer bool
		kept      bool // the container serves the next activation
	}{
		{"timeout", `{"mode":"sleep","ms":10000}`, 300, "The action exceeded its time limits of 300 milliseconds.", true, false},
		{"exit", `{"mode":"exit","code":3}`, 0, "The action exited (status 3).", true, false},
		{"oom", `{"mode":"oom","mb":256}`, 0, "The action ran out of memory (limit 32 MB).", true, false},
		{"not an object", `{"mode":"array"}`, 0, "The action did not return a dictionary.", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := request("fail-"+strings.ReplaceAll(tc.name, " ", "-"), 32, `{"mode":"count"}`)
			mustCount(t, r, req) // a warm container with count 1
			crashed := r.Stats().Crashed
			bad := req
			bad.Params = json.RawMessage(tc.params)
			if tc.timeoutMs > 0 {
				bad.Limits.Timeout = tc.timeoutMs
			}
			res := run(t, r, bad)
			if res.Err == nil || res.ActionFailed != tc.developer {
				t.Fatalf("err %v, ActionFailed %v; want an error, ActionFailed %v", res.Err, res.ActionFailed, tc.developer)
			}
			var out struct{ Error string }
			if err := json.Unmarshal(res.Result, &out); err != nil || out.Error != tc.want {
				t.Errorf("result %s, want error %q", res.Result, tc.want)
			}
			n, _ := mustCount(t, r, req)
			switch {
			case tc.kept && n != 2:
				t.Errorf("next activation counted %d, want 2 (the container is still usable)", n)
			case !tc.kept && n != 1:
				t.Errorf("next activation counted %d, want 1 (a new container)", n)
			}
			if got := r.Stats().Crashed - crashed; !tc.kept && got != 1 {
				t.Errorf("Crashed grew by %d, want 1", got)
			}
			if !tc.kept && len(r.testMembers(req.Owner)) != 1 {
				t.Errorf("%d containers for the action, want 1 (the failed one removed)", len(r.testMembers(req.Owner)))
			}
		})
	}
	waitFor(t, "the stem cell refilled after the failures", func() bool { return r.Stats().Stems["native@32"] == 1 })
}

func TestApplicationErrorIsAResult(t *testing.T) {
	// {"error": ...} returned by the action is its result; the invoker
	// records it as an application error. The test action returns it for
	// an unknown JSON line, which cannot happen here, so use echo with a
	// tag that is an error object and check it passes through untouched.
	r := newRuntime(t, Config{})
	res := run(t, r, request("apperr", 32, `{"mode":"echo","tag":{"error":"not found"}}`))
	if res.Err != nil {
		t.Fatalf("Run: %v", res.Err)
	}
	if !bytes.Contains(res.Result, []byte(`"tag":{"error":"not found"}`)) {
		t.Errorf("result %s", res.Result)
	}
}

func TestInitFailureIsADeveloperError(t *testing.T) {
	r := newRuntime(t, Config{Stems: map[string]int{"native@32": 1}})
	waitFor(t, "a stem cell", func() bool { return r.Stats().Stems["native@32"] == 1 })
	req := request("badinit", 32, `{}`)
	req.Main = "nosuchfunction"
	res := run(t, r, req)
	if res.Err == nil || !res.ActionFailed {
		t.Fatalf("err %v, ActionFailed %v; want a developer error", res.Err, res.ActionFailed)
	}
	if !strings.Contains(string(res.Result), "has no function named by main") {
		t.Errorf("result %s does not carry the launcher's message", res.Result)
	}
	if len(r.testMembers(req.Owner)) != 0 {
		t.Errorf("the container whose init failed was kept")
	}
	// An init that never answers is stopped at the time limit.
	req = request("hanginit", 32, `{}`)
	req.Main, req.Limits.Timeout = "hang", 300
	res = run(t, r, req)
	if res.Err == nil || !res.ActionFailed || !strings.Contains(string(res.Result), "The action exceeded its time limits of 300 milliseconds during initialization.") {
		t.Errorf("init past the time limit: err %v, ActionFailed %v, result %s", res.Err, res.ActionFailed, res.Result)
	}
	if len(r.testMembers(req.Owner)) != 0 {
		t.Errorf("the container whose init timed out was kept")
	}
	// Code that is not a native executable is refused before init.
	req = request("notelf", 32, `{}`)
	req.Load = func(context.Context) ([]byte, error) { return []byte("#!/bin/sh\necho hi\n"), nil }
	res = run(t, r, req)
	if res.Err == nil || !res.ActionFailed || !strings.Contains(string(res.Result), "not an ELF") {
		t.Errorf("script as native code: err %v, ActionFailed %v, result %s", res.Err, res.ActionFailed, res.Result)
	}
	waitFor(t, "the stem cell refilled", func() bool { return r.Stats().Stems["native@32"] == 1 })
	if st := r.Stats(); st.UsedMB != 32 {
		t.Errorf("memory in use %d MB, want 32 (the stem cell only)", st.UsedMB)
	}
}

func TestLogsLimitAndNoLogs(t *testing.T) {
	r := newRuntime(t, Config{})
	req := request("logs", 32, `{"mode":"log","lines":3}`)
	res := run(t, r, req)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var outs, errs int
	for _, l := range res.Logs {
		if strings.Contains(l, "stdout: out ") {
			outs++
		}
		if strings.Contains(l, "stderr: err ") {
			errs++
		}
	}
	if outs != 3 || errs != 3 {
		t.Errorf("logs %q: %d stdout and %d stderr lines, want 3 and 3", res.Logs, outs, errs)
	}
	req.Limits.Logs = 0
	if res := run(t, r, req); res.Err != nil || res.Logs != nil {
		t.Errorf("limits.logs 0: err %v, logs %q; want no logs", res.Err, res.Logs)
	}
}

func TestConcurrentActivationsQueueOnSmallBudget(t *testing.T) {
	// 50 activations of 3 actions at once on room for 3 containers: each
	// is served (none lost), each gets its own answer, the budget is never
	// exceeded, and some had to queue.
	r := newRuntime(t, Config{MemoryBudgetMB: 96, PauseGrace: -1})
	stop := make(chan struct{})
	var maxUsed int
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if u := r.Stats().UsedMB; u > maxUsed {
				maxUsed = u
			}
			time.Sleep(time.Millisecond)
		}
	}()
	const n = 50
	results := make([]invoker.RunResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("conc-%d", i%3)
			results[i] = run(t, r, request(owner, 32, fmt.Sprintf(`{"mode":"sleep","ms":20,"tag":%d}`, i)))
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	counts := map[string][]int{}
	for i, res := range results {
		if res.Err != nil {
			t.Errorf("activation %d: %v", i, res.Err)
			continue
		}
		var out struct{ Count, Tag int }
		if err := json.Unmarshal(res.Result, &out); err != nil || out.Tag != i {
			t.Errorf("activation %d got result %s", i, res.Result)
			continue
		}
		owner := fmt.Sprintf("conc-%d", i%3)
		counts[owner] = append(counts[owner], out.Count)
	}
	st := r.Stats()
	if maxUsed > 96 || st.UsedMB > 96 {
		t.Errorf("memory in use reached %d MB on a 96 MB budget", maxUsed)
	}
	if st.Queued == 0 {
		t.Errorf("no activation queued: %+v", st)
	}
	reported := 0
	for _, res := range results {
		if res.Queued > 0 {
			reported++
		}
	}
	if reported == 0 {
		t.Errorf("%d activations queued but none reported RunResult.Queued", st.Queued)
	}
	if st.ColdStarts+st.WarmStarts+st.StemStarts != n {
		t.Errorf("cold %d + warm %d + stem %d != %d activations", st.ColdStarts, st.WarmStarts, st.StemStarts, n)
	}
	t.Logf("stats: %+v; per-action counts: %v", st, counts)
}

func TestPrewarmThenWarmRun(t *testing.T) {
	r := newRuntime(t, Config{})
	req := request("prewarm", 32, `{"mode":"count"}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Prewarm(ctx, req); err != nil {
		t.Fatalf("Prewarm: %v", err)
	}
	if err := r.Prewarm(ctx, req); err != nil { // already warm: nothing to do
		t.Fatalf("Prewarm again: %v", err)
	}
	if got := len(r.testMembers(req.Owner)); got != 1 {
		t.Fatalf("%d containers after two prewarms, want 1", got)
	}
	n, res := mustCount(t, r, req)
	if n != 1 || res.InitTime != 0 {
		t.Errorf("first run after prewarm: count %d, InitTime %v; want 1 and 0", n, res.InitTime)
	}
	if !slicesContain(res.Logs, "launcher: init done") {
		t.Errorf("the prewarm's init logs did not reach the first activation: %q", res.Logs)
	}
	bad := request("prewarm-bad", 32, `{}`)
	bad.Main = "nope"
	if err := r.Prewarm(ctx, bad); err == nil {
		t.Errorf("Prewarm of an action whose init fails: no error")
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	r, err := New(context.Background(), Config{StateDir: t.TempDir(), RuntimesDir: fixtures.runtimes, Stems: map[string]int{"native@32": 1}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a stem cell", func() bool { return r.Stats().Stems["native@32"] == 1 })
	mustCount(t, r, request("close", 32, `{}`))
	ids := []string{}
	for _, m := range r.testMembers("") {
		ids = append(ids, m.id)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, id := range ids {
		if s := freezerState(t, r, id); s != "" {
			t.Errorf("container %s still has a cgroup after Close", id)
		}
	}
	if res := run(t, r, request("close", 32, `{}`)); res.Err == nil || res.ActionFailed {
		t.Errorf("Run after Close: err %v, ActionFailed %v", res.Err, res.ActionFailed)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestLeftoversAfterCrash(t *testing.T) {
	state := t.TempDir()
	// If the child hangs, it is killed and the read below ends.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), leftoverChildEnv+"="+state, leftoverChildEnv+"_RUNTIMES="+fixtures.runtimes, leftoverChildEnv+"_ACTION="+fixtures.actionPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "leftovers ") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	var left struct {
		Parent string
		IDs    []string
		Pids   []int
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "leftovers ")), &left); err != nil || len(left.IDs) != 3 || len(left.Pids) == 0 {
		t.Fatalf("child's report %q: %v", line, err)
	}
	// The "wispd" dies without closing anything.
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	for _, pid := range left.Pids {
		if !alive(pid) {
			// Not fatal: the state and cgroups left are cleaned up below.
			t.Errorf("the hanging container's process %d died with its parent; no process would be left over", pid)
		}
	}
	var logs bytes.Buffer
	r := newRuntime(t, Config{StateDir: state, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), "count=3") {
		t.Errorf("New did not report three leftover containers removed; its log:\n%s", logs.String())
	}
	for _, pid := range left.Pids {
		if alive(pid) {
			t.Errorf("leftover action process %d still runs", pid)
		}
	}
	for _, id := range left.IDs {
		for _, p := range []string{
			"/sys/fs/cgroup/freezer/" + left.Parent + "/" + id,
			"/sys/fs/cgroup/memory/" + left.Parent + "/" + id,
			"/sys/fs/cgroup/" + left.Parent + "/" + id,
		} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("leftover cgroup %s still exists", p)
			}
		}
	}
	if entries, _ := os.ReadDir(r.actionRoot); len(entries) != 0 {
		t.Errorf("leftover action directories: %v", entries)
	}
	// And the new runtime works in the same state directory.
	mustCount(t, r, request("after-crash", 32, `{}`))
}

// alive reports whether process pid exists and is not a zombie (a
// container process whose parent died is reaped by whoever adopted it).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func slicesContain(lines []string, part string) bool {
	for _, l := range lines {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}

func TestCancelledWhileQueued(t *testing.T) {
	// One container fits. B waits behind A's long activation, gives up
	// (its context ends), and leaves the pool as it was.
	r := newRuntime(t, Config{MemoryBudgetMB: 32, PauseGrace: -1})
	mustCount(t, r, request("q-a", 32, `{}`))
	done := make(chan invoker.RunResult, 1)
	go func() { done <- run(t, r, request("q-a", 32, `{"mode":"sleep","ms":1000}`)) }()
	waitFor(t, "A running", func() bool { return r.Stats().ByStatus["running"] == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	bres := make(chan invoker.RunResult, 1)
	go func() { bres <- r.Run(ctx, request("q-b", 32, `{}`)) }()
	waitFor(t, "B queued", func() bool { return r.Stats().Waiting == 1 })
	cancel()
	res := <-bres
	if res.Err == nil || res.ActionFailed || !strings.Contains(string(res.Result), "waited for a container") {
		t.Errorf("B cancelled in the queue: err %v, ActionFailed %v, result %s", res.Err, res.ActionFailed, res.Result)
	}
	if res := <-done; res.Err != nil {
		t.Fatalf("A: %v", res.Err)
	}
	if st := r.Stats(); st.Waiting != 0 || st.UsedMB != 32 || st.ByStatus["ready"] != 1 {
		t.Errorf("after B gave up: %+v", st)
	}
	if n, _ := mustCount(t, r, request("q-b", 32, `{}`)); n != 1 {
		t.Errorf("B later counted %d", n)
	}
	if st := r.Stats(); st.Evictions != 1 {
		t.Errorf("B's later run should have evicted A's idle container: %+v", st)
	}
}
