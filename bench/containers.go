package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/containerrt"
	"github.com/wispfaas/wisp/containerrt/container"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/invoker"
	"github.com/wispfaas/wisp/runtimes"
)

// The container rows: what a container action costs, side by side with
// its floors, in the benchmark's own process (libcontainer runs
// in-process, as in wispd; no HTTP, no queue):
//
//   - pause + resume: the runc CLI (`runc pause`, `runc resume`, as
//     OpenWhisk's invoker does it) against the pool's own calls on the
//     same kind of container (container.State then Pause; State then
//     Resume: the pool re-reads the kernel's state before each);
//   - start from a stem cell: containerrt.Runtime.Run of an action never
//     seen, its kind's stem cell waiting (code placed, init, run);
//   - cold start with nothing warm: the same with no stem cell of that
//     memory size, next to its floors (libcontainer create + start, and
//     `runc run -d`, of a busybox sleep);
//   - memory per paused container, from each one's memory cgroup;
//   - warm invoke of OpenWhisk's Python hello world over HTTP through
//     wispd, unpaused and resumed (measureContainerHTTP, once wispd runs
//     python:3).
//
// The benchmark process must be root and built with -tags seccomp (see
// package container); otherwise the rows say why they were skipped.

func init() {
	// libcontainer re-executes this binary as each container's init.
	container.MaybeInit()
}

// Targets of the container rows (issue 4, DESIGN.md's budget).
const (
	targetPauseResumeRatio = 10.0 // pool pause + resume ≥ 10 × faster than the runc CLI's
	targetStemStart        = 15 * time.Millisecond
	targetColdStart        = 100 * time.Millisecond
	targetHTTPUnpaused     = time.Millisecond
	targetHTTPResumed      = 3 * time.Millisecond
)

// helloPython is OpenWhisk's canonical Python hello world, unchanged.
const helloPython = `def main(args):
    name = args.get("name", "stranger")
    greeting = "Hello " + name + "!"
    print(greeting)
    return {"greeting": greeting}
`

// helloNode is OpenWhisk's canonical Node.js hello world, unchanged.
const helloNode = `function main(params) {
    var name = params.name || 'World';
    return {payload:  'Hello, ' + name + '!'};
}
`

// containerResults is everything the container rows measured.
type containerResults struct {
	Skipped string `json:"skipped,omitempty"`
	N       int    `json:"n"`
	// Pause and resume of a busybox `sleep` container.
	CLIPause  summary `json:"runc_cli_pause"`
	CLIResume summary `json:"runc_cli_resume"`
	PoolPause summary `json:"pool_pause"`  // State + Pause
	PoolWake  summary `json:"pool_resume"` // State + Resume
	// Ratio is (CLI pause + resume) / (pool pause + resume), medians.
	Ratio    float64 `json:"pause_resume_ratio"`
	CLIError string  `json:"runc_cli_error,omitempty"`
	// Floors of a cold start: a busybox sleep container.
	CLIRun summary           `json:"runc_cli_run"`       // runc run -d
	LibRun summary           `json:"libcontainer_start"` // Manager.Start
	Starts []*containerStart `json:"starts"`
	// Loops are the other floor of a cold start: each runtime's action
	// loop alone, with no container (measureLoopAlone).
	Loops   []*loopAlone    `json:"loop_alone"`
	Warm    []*warmRun      `json:"warm"`
	Memory  []*pausedMemory `json:"paused_memory"`
	HTTP    *containerHTTP  `json:"http,omitempty"`
	Runtime string          `json:"runtimes_dir,omitempty"`
	// InitHelper is the wispd-init the pool's containers ran as their
	// init ("" when none was built: the benchmark's own binary).
	InitHelper string `json:"init_helper,omitempty"`
	// InMemory lists the kinds whose start rows ran from a root
	// filesystem copied to memory (containerrt.Config.RootfsInMemory).
	InMemory []string `json:"in_memory,omitempty"`
}

// containerStart is the start of a new action's container of one kind.
type containerStart struct {
	Kind       string        `json:"kind"`
	From       string        `json:"from"` // "stem cell" or "nothing warm"
	Latency    summary       `json:"latency"`
	InitTime   summary       `json:"init_time"` // what the record's initTime says
	Target     time.Duration `json:"target_ns"`
	Errors     int           `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
}

// loopAlone is a floor of a cold start of one kind: the runtime's action
// loop started with no container at all (chrooted into its root
// filesystem, with its runtime.json's command, environment and working
// directory) on an empty stdin, so that it starts, finds no message and
// ends. That is the interpreter's start and its launcher's, which every
// cold start pays inside the container too; a cold start's other floor is
// libcontainer's create + start of a busybox sleep (LibRun).
type loopAlone struct {
	Kind    string  `json:"kind"`
	Latency summary `json:"latency"`
	Err     string  `json:"error,omitempty"`
}

// warmRun is an activation in a warm container of one kind, in-process:
// unpaused (back to back) and resumed (after the pool paused it).
type warmRun struct {
	Kind     string  `json:"kind"`
	Unpaused summary `json:"unpaused"`
	Resumed  summary `json:"resumed"`
	Errors   int     `json:"errors"`
}

// pausedMemory is the memory charged to paused containers of one kind.
type pausedMemory struct {
	Kind       string `json:"kind"`
	Containers int    `json:"containers"`
	MeanBytes  int64  `json:"mean_bytes"`
	LimitMB    int    `json:"limit_mb"`
}

// containerHTTP is the warm invoke of the Python hello world over HTTP.
type containerHTTP struct {
	Skipped  string        `json:"skipped,omitempty"`
	Unpaused summary       `json:"unpaused"`
	Resumed  summary       `json:"resumed"`
	Grace    time.Duration `json:"pause_grace_ns"`
	Errors   int           `json:"errors"`
	// Control is a Wasm action invoked after the same idle time as the
	// resumed row: what waking wispd itself costs, with no container.
	Control     string  `json:"control,omitempty"`
	ControlIdle summary `json:"control_after_idle"`
	// FloorIdle is the bare echo floor after the same idle: what waking
	// the machine costs any HTTP service, before Wisp does anything.
	FloorIdle summary `json:"floor_after_idle"`
	// The same three after the idle, from the moment the request was
	// written to the connection to the first byte of the answer: the
	// server's time, without the benchmark's own waking up (a timer, then
	// net/http's goroutines for writing and for reading, each of which
	// may have to wake an idle CPU).
	ResumedWire summary `json:"resumed_wire"`
	ControlWire summary `json:"control_after_idle_wire"`
	FloorWire   summary `json:"floor_after_idle_wire"`
}

// measureContainers measures the container rows n times each, in tmp.
// It fails only when ctx ends; anything that cannot be measured is
// marked skipped with the reason.
//
// initHelper is a wispd-init for the pool's containers (containerrt's
// InitHelper), as wispd uses the one beside it; "" runs this binary as
// their init. The libcontainer floor always runs this binary.
func measureContainers(ctx context.Context, src sources, tmp, initHelper string, n int) (*containerResults, error) {
	cr := &containerResults{N: n, InitHelper: initHelper}
	if os.Geteuid() != 0 {
		cr.Skipped = "containers need root"
		return cr, nil
	}
	dir := filepath.Join(tmp, "containers")
	rtDir := filepath.Join(dir, "runtimes")
	progress("containers: preparing a busybox root filesystem and the native test action…")
	bbRoot, err := writeBenchBusybox(filepath.Join(dir, "busybox"))
	if err != nil {
		cr.Skipped = err.Error()
		return cr, nil
	}
	action := filepath.Join(dir, "action")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", action, "./containerrt/testdata/action")
	cmd.Dir, cmd.Env = src.repo, append(os.Environ(), "CGO_ENABLED=0")
	if err := runCmd(cmd, "build the native test action"); err != nil {
		cr.Skipped = err.Error()
		return cr, ctx.Err()
	}
	nativeCode, err := os.ReadFile(action)
	if err != nil {
		return nil, err
	}
	python := linkRuntime(ctx, rtDir, runtimes.Python3)
	native := linkRuntime(ctx, rtDir, runtimes.Native)
	node := linkRuntime(ctx, rtDir, runtimes.NodeJS20)
	cr.Runtime = rtDir

	// Pause and resume: runc CLI, then in-process, on a busybox sleep.
	mgr, err := container.NewManager(ctx, container.ManagerConfig{StateDir: filepath.Join(dir, "direct")})
	if err != nil {
		cr.Skipped = err.Error()
		return cr, nil
	}
	defer mgr.Close(context.Background())
	progress("containers: runc CLI run, pause and resume (%d each)…", n)
	measureRuncCLI(ctx, cr, bbRoot, filepath.Join(dir, "bundle"), n)
	progress("containers: in-process start, pause and resume (%d each)…", n)
	if err := measureDirect(ctx, cr, mgr, bbRoot, n); err != nil {
		cr.Skipped = "in-process containers: " + err.Error()
		return cr, ctx.Err()
	}
	if cr.PoolPause.P50 > 0 && cr.CLIPause.P50 > 0 {
		cr.Ratio = float64(cr.CLIPause.P50+cr.CLIResume.P50) / float64(cr.PoolPause.P50+cr.PoolWake.P50)
	}

	// Starts through the pool.
	var kinds []benchKind
	if native == "" {
		kinds = append(kinds, benchKind{kind: "native", skipped: "the native runtime could not be built"})
	} else {
		kinds = append(kinds, benchKind{kind: "native", runtime: runtimes.Native, memMB: 64, coldMB: 96, code: nativeCode, binary: true, params: `{"mode":"count"}`})
	}
	if python == "" {
		kinds = append(kinds, benchKind{kind: "python:3", skipped: "the python3 runtime could not be built"})
	} else {
		kinds = append(kinds, benchKind{kind: "python:3", runtime: runtimes.Python3, memMB: 128, coldMB: 160, code: []byte(helloPython), params: `{"name":"wisp"}`})
	}
	if node == "" {
		kinds = append(kinds, benchKind{kind: "nodejs:20", skipped: "the nodejs20 runtime could not be built"})
	} else {
		kinds = append(kinds, benchKind{kind: "nodejs:20", runtime: runtimes.NodeJS20, memMB: 256, coldMB: 320, code: []byte(helloNode), params: `{"name":"wisp"}`})
	}
	for _, k := range kinds {
		if k.skipped == "" {
			progress("containers: %s action loop alone, no container (%d runs)…", k.kind, n)
			cr.Loops = append(cr.Loops, measureLoopAlone(ctx, rtDir, k, n))
		}
	}
	if err := storeBenchCode(ctx, filepath.Join(dir, "blobs"), kinds); err != nil {
		return nil, err
	}
	if err := measureStarts(ctx, cr, filepath.Join(dir, "pool"), rtDir, kinds, n); err != nil {
		return cr, err
	}
	progress("containers: memory of paused containers…")
	if err := measurePausedMemory(ctx, cr, filepath.Join(dir, "paused"), rtDir, kinds, 5, n); err != nil {
		return cr, err
	}
	return cr, ctx.Err()
}

// benchKind is one kind measured through the pool.
type benchKind struct {
	kind          string
	runtime       string // its runtime's directory name in the runtimes directory
	memMB, coldMB int    // stem cells are of memMB; coldMB has none
	code          []byte
	// The code is served as wispd's invoker serves it: from a blob store
	// through the invoker's disk cache (storeBenchCode).
	digest  string
	source  invoker.CachedCode
	binary  bool
	params  string
	skipped string
}

// writeBenchBusybox writes a root filesystem of Debian's static busybox
// under dir (for the busybox sleep containers) and returns it.
func writeBenchBusybox(dir string) (string, error) {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return "", err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", fmt.Errorf("busybox-static is needed (scripts/deps.sh): %w", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		return "", err
	}
	for _, a := range []string{"sh", "sleep"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			return "", err
		}
	}
	return rootfs, nil
}

// linkRuntime makes sure the runtime name is built (in its default
// directory, where a build is reused while its inputs are unchanged) and
// links it into rtDir. It returns "" when it cannot.
func linkRuntime(ctx context.Context, rtDir, name string) string {
	def, err := runtimes.DefaultDir()
	if err != nil {
		progress("containers: no %s runtime: %v", name, err)
		return ""
	}
	progress("containers: building the %s runtime in %s if needed…", name, def)
	if err := runtimes.Build(ctx, def, []string{name}, nil); err != nil {
		progress("containers: no %s runtime: %v", name, err)
		return ""
	}
	rt, err := runtimes.Open(def, name)
	if err != nil {
		progress("containers: no %s runtime: %v", name, err)
		return ""
	}
	dst := filepath.Join(rtDir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return ""
	}
	for _, f := range []string{"runtime.json", "stamp"} {
		b, err := os.ReadFile(filepath.Join(rt.Dir, f))
		if err != nil || os.WriteFile(filepath.Join(dst, f), b, 0o644) != nil {
			return ""
		}
	}
	if err := os.Symlink(rt.RootFS, filepath.Join(dst, "rootfs")); err != nil {
		return ""
	}
	return dst
}

// measureRuncCLI times `runc run -d`, `runc pause` and `runc resume` of a
// busybox sleep through Debian's runc, n times each.
func measureRuncCLI(ctx context.Context, cr *containerResults, rootfs, bundle string, n int) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		cr.CLIError = "runc CLI not found (Debian's runc package; scripts/deps.sh)"
		return
	}
	state := filepath.Join(bundle, "state")
	if err := writeRuncBundle(bundle, rootfs); err != nil {
		cr.CLIError = err.Error()
		return
	}
	// Output goes to a file, not a pipe: a detached container keeps
	// runc's stdout and stderr open, and a pipe would never end.
	outPath := filepath.Join(bundle, "runc.out")
	runcCmd := func(args ...string) (time.Duration, error) {
		f, err := os.Create(outPath)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		c := exec.CommandContext(ctx, runc, append([]string{"--root", state}, args...)...)
		c.Dir, c.Stdout, c.Stderr = bundle, f, f
		start := time.Now()
		err = c.Run()
		d := time.Since(start)
		if err != nil {
			out, _ := os.ReadFile(outPath)
			return d, fmt.Errorf("runc %s: %v: %s", args[0], err, bytes.TrimSpace(out))
		}
		return d, nil
	}
	var runs, pauses, resumes []time.Duration
	for i := range n {
		id := fmt.Sprintf("wisp-bench-%d", i)
		d, err := runcCmd("run", "-d", "--bundle", bundle, id)
		if err != nil {
			cr.CLIError = err.Error()
			_, _ = runcCmd("delete", "-f", id)
			return
		}
		runs = append(runs, d)
		if i == 0 { // pause and resume one container n times
			for range n {
				p, err := runcCmd("pause", id)
				if err != nil {
					cr.CLIError = err.Error()
					break
				}
				r, err := runcCmd("resume", id)
				if err != nil {
					cr.CLIError = err.Error()
					break
				}
				pauses, resumes = append(pauses, p), append(resumes, r)
			}
		}
		if _, err := runcCmd("delete", "-f", id); err != nil {
			cr.CLIError = err.Error()
		}
		if ctx.Err() != nil {
			return
		}
	}
	cr.CLIRun, cr.CLIPause, cr.CLIResume = summarize(runs), summarize(pauses), summarize(resumes)
}

// writeRuncBundle writes an OCI bundle (config.json from `runc spec`)
// running busybox's sleep in rootfs, read-only, without a terminal.
func writeRuncBundle(bundle, rootfs string) error {
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return err
	}
	c := exec.Command("runc", "spec")
	c.Dir = bundle
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("runc spec wrote %s: %w", path, err)
	}
	proc, _ := spec["process"].(map[string]any)
	if proc == nil {
		return errors.New("runc spec: no process in config.json")
	}
	proc["args"] = []string{"/bin/sleep", "3600"}
	proc["terminal"] = false
	spec["root"] = map[string]any{"path": rootfs, "readonly": true}
	b, _ = json.Marshal(spec)
	return os.WriteFile(path, b, 0o644)
}

// measureDirect times what the pool does, in-process, on the same busybox
// sleep: Manager.Start (create + start), State + Pause, State + Resume.
func measureDirect(ctx context.Context, cr *containerResults, mgr *container.Manager, rootfs string, n int) error {
	var starts, pauses, wakes []time.Duration
	var first *container.Container
	defer func() {
		if first != nil {
			_ = first.Destroy(context.Background())
		}
	}()
	for i := range n {
		spec := container.Spec{ID: fmt.Sprintf("wisp-bench-direct-%d", i), Rootfs: rootfs, Args: []string{"/bin/sleep", "3600"}, Cwd: "/", MemoryMB: 64}
		start := time.Now()
		c, err := mgr.Start(ctx, spec)
		if err != nil {
			return err
		}
		starts = append(starts, time.Since(start))
		if i == 0 {
			first = c
			continue
		}
		if err := c.Destroy(ctx); err != nil {
			return err
		}
	}
	for range n {
		start := time.Now()
		if st, err := first.State(ctx); err != nil || st != container.Running {
			return fmt.Errorf("state before pause: %v, %v", st, err)
		}
		if err := first.Pause(ctx); err != nil {
			return err
		}
		pauses = append(pauses, time.Since(start))
		start = time.Now()
		if st, err := first.State(ctx); err != nil || st != container.Paused {
			return fmt.Errorf("state before resume: %v, %v", st, err)
		}
		if err := first.Resume(ctx); err != nil {
			return err
		}
		wakes = append(wakes, time.Since(start))
	}
	cr.LibRun, cr.PoolPause, cr.PoolWake = summarize(starts), summarize(pauses), summarize(wakes)
	return nil
}

// measureLoopAlone times n runs of kind k's action loop with no container
// (see loopAlone), from the runtimes directory rtDir.
func measureLoopAlone(ctx context.Context, rtDir string, k benchKind, n int) *loopAlone {
	la := &loopAlone{Kind: k.kind}
	rt, err := runtimes.Open(rtDir, k.runtime)
	if err != nil {
		la.Err = err.Error()
		return la
	}
	var lat []time.Duration
	for range n {
		d, err := runLoopOnce(ctx, rt)
		if err != nil {
			la.Err = err.Error()
			return la
		}
		lat = append(lat, d)
	}
	la.Latency = summarize(lat)
	return la
}

// runLoopOnce starts rt's action loop outside any container and times it
// until it has ended on its empty stdin. Its stdio are pipes and its reply
// pipe (fd 3) is open, as in a container.
func runLoopOnce(ctx context.Context, rt *runtimes.Runtime) (time.Duration, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, rt.Spec.Args[0], rt.Spec.Args[1:]...)
	cmd.Env, cmd.Dir = rt.Spec.Env, rt.Spec.Cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rt.RootFS}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), io.Discard, &stderr
	cmd.ExtraFiles = []*os.File{w}
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("%s alone: %w: %s", rt.Name, err, firstLine(stderr.String()))
	}
	return d, nil
}

// storeBenchCode puts each kind's code in a local blob store under dir and
// serves it through a disk cache beside it, as wispd's invoker does.
func storeBenchCode(ctx context.Context, dir string, kinds []benchKind) error {
	store, err := blobs.NewLocal(filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	cache, err := blobs.NewCache(store, filepath.Join(dir, "cache"), 1<<30, nil)
	if err != nil {
		return err
	}
	for i := range kinds {
		if kinds[i].skipped != "" {
			continue
		}
		info, err := store.Put(ctx, bytes.NewReader(kinds[i].code))
		if err != nil {
			return fmt.Errorf("store the %s bench action: %w", kinds[i].kind, err)
		}
		kinds[i].digest, kinds[i].source = info.Digest, invoker.CachedCode{Cache: cache}
	}
	return nil
}

// benchRequest is an activation of a new action of kind k (owner).
func benchRequest(k benchKind, owner string, memMB int) invoker.RunRequest {
	return invoker.RunRequest{
		Digest: k.digest,
		Load:   func(ctx context.Context) ([]byte, error) { return k.source.Fetch(ctx, k.digest) },
		LoadFile: func(ctx context.Context) (string, func(), error) {
			return k.source.FetchFile(ctx, k.digest)
		},
		Params: json.RawMessage(k.params),
		Env:    inProcessEnv(owner),
		Limits: core.Limits{Timeout: 60_000, Memory: memMB, Logs: core.DefaultLogsMB, Concurrency: 1},
		Owner:  "/guest/" + owner + "@0.0.1/1",
		Kind:   k.kind,
		Binary: k.binary,
	}
}

// measureStarts runs n new actions of each kind from a stem cell, then n
// with nothing warm, through one containerrt.Runtime.
func measureStarts(ctx context.Context, cr *containerResults, state, rtDir string, kinds []benchKind, n int) error {
	stems := map[string]int{}
	budget := 0
	for _, k := range kinds {
		if k.skipped == "" {
			stems[fmt.Sprintf("%s@%d", k.kind, k.memMB)] = 1
			budget += (n+1)*k.memMB + n*k.coldMB
		}
	}
	// As wispd does by default: nodejs:20 starts from its root
	// filesystem copied to memory, once that copy is made.
	rt, err := containerrt.New(ctx, containerrt.Config{StateDir: state, RuntimesDir: rtDir, MemoryBudgetMB: budget, Stems: stems, PauseGrace: -1, IdleTimeout: -1, InitHelper: cr.InitHelper, RootfsInMemory: true})
	if err != nil {
		for _, k := range kinds {
			cr.Starts = append(cr.Starts, &containerStart{Kind: k.kind, From: "stem cell", FirstError: err.Error()})
		}
		return nil
	}
	defer rt.Close(context.Background())
	for _, k := range kinds {
		if k.runtime == runtimes.NodeJS20 && k.skipped == "" {
			// The copy takes a fraction of a second after New.
			deadline := time.Now().Add(memoryCopyWait)
			for !slices.Contains(rt.Stats().InMemory, k.kind) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	cr.InMemory = rt.Stats().InMemory
	for _, k := range kinds {
		stem := &containerStart{Kind: k.kind, From: "stem cell", Target: targetStemStart}
		cold := &containerStart{Kind: k.kind, From: "nothing warm", Target: targetColdStart}
		cr.Starts = append(cr.Starts, stem, cold)
		if k.skipped != "" {
			stem.FirstError, cold.FirstError = k.skipped, k.skipped
			continue
		}
		progress("containers: %s: %d starts from a stem cell, %d with nothing warm…", k.kind, n, n)
		key := fmt.Sprintf("%s@%d", k.kind, k.memMB)
		for _, row := range []*containerStart{stem, cold} {
			var lat, inits []time.Duration
			for i := range n {
				mem := k.coldMB
				if row == stem {
					mem = k.memMB
					if err := waitStem(ctx, rt, key); err != nil {
						return err
					}
					// A stem cell is measured as it is found between
					// activations: its interpreter done starting.
					time.Sleep(stemSettle)
				}
				owner := fmt.Sprintf("bench-%s-%s-%d", strings.ReplaceAll(k.kind, ":", ""), strings.ReplaceAll(row.From, " ", "-"), i)
				start := time.Now()
				res := rt.Run(ctx, benchRequest(k, owner, mem))
				d := time.Since(start)
				if res.Err != nil {
					row.Errors++
					if row.FirstError == "" {
						row.FirstError = fmt.Sprintf("%v: %s", res.Err, res.Result)
					}
					continue
				}
				lat, inits = append(lat, d), append(inits, res.InitTime)
			}
			row.Latency, row.InitTime = summarize(lat), summarize(inits)
		}
		if st := rt.Stats(); st.StemStarts < uint64(n-stem.Errors) {
			stem.FirstError = fmt.Sprintf("only %d of the activations took a stem cell", st.StemStarts)
		}
	}
	return ctx.Err()
}

// memoryCopyWait bounds the wait for nodejs20's root filesystem to be
// copied to memory; past it (the log says why) it is measured from disk.
const memoryCopyWait = 30 * time.Second

// stemSettle is how long a new stem cell is left before it is used: its
// process is started when the pool counts it, but an interpreter still
// loads for tens of milliseconds, which an activation finding a stem cell
// that waited since the last one never sees.
const stemSettle = 500 * time.Millisecond

// waitStem waits until the stem cell of key is ready (the refiller starts
// one after each is taken), so that each measured start finds one.
func waitStem(ctx context.Context, rt *containerrt.Runtime, key string) error {
	deadline := time.Now().Add(time.Minute)
	for rt.Stats().Stems[key] == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("containers: no %s stem cell after a minute", key)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// measurePausedMemory starts k actions of each kind, lets them be paused,
// and reads what their memory cgroups are charged; then it times n warm
// activations of each kind unpaused and n resumed.
func measurePausedMemory(ctx context.Context, cr *containerResults, state, rtDir string, kinds []benchKind, k, n int) error {
	rt, err := containerrt.New(ctx, containerrt.Config{StateDir: state, RuntimesDir: rtDir, MemoryBudgetMB: 1 << 16, PauseGrace: 10 * time.Millisecond, IdleTimeout: -1, InitHelper: cr.InitHelper})
	if err != nil {
		return nil // the starts rows already say why
	}
	defer rt.Close(context.Background())
	for _, bk := range kinds {
		if bk.skipped != "" {
			continue
		}
		for i := range k {
			res := rt.Run(ctx, benchRequest(bk, fmt.Sprintf("bench-mem-%s-%d", strings.ReplaceAll(bk.kind, ":", ""), i), bk.memMB))
			if res.Err != nil {
				return nil
			}
		}
	}
	deadline := time.Now().Add(time.Minute)
	for rt.Stats().ByStatus["paused"] < len(rt.Usage()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	byKind := map[string]*pausedMemory{}
	for _, u := range rt.Usage() {
		if u.Status != containerrt.StatusPaused || u.MemoryBytes < 0 {
			continue
		}
		pm := byKind[u.Kind]
		if pm == nil {
			pm = &pausedMemory{Kind: u.Kind, LimitMB: u.MemoryMB}
			byKind[u.Kind] = pm
			cr.Memory = append(cr.Memory, pm)
		}
		pm.MeanBytes = (pm.MeanBytes*int64(pm.Containers) + u.MemoryBytes) / int64(pm.Containers+1)
		pm.Containers++
	}
	// Warm activations of the first of them: back to back, then each
	// after the pool has paused the container again.
	for _, bk := range kinds {
		if bk.skipped != "" {
			continue
		}
		progress("containers: %s: warm activations in-process, unpaused and resumed (%d each)…", bk.kind, n)
		req := benchRequest(bk, fmt.Sprintf("bench-mem-%s-0", strings.ReplaceAll(bk.kind, ":", "")), bk.memMB)
		wr := &warmRun{Kind: bk.kind}
		cr.Warm = append(cr.Warm, wr)
		var unpaused, resumed []time.Duration
		timed := func(into *[]time.Duration) {
			start := time.Now()
			if res := rt.Run(ctx, req); res.Err != nil {
				wr.Errors++
				return
			}
			*into = append(*into, time.Since(start))
		}
		for range n {
			waitPaused(ctx, rt, req.Owner)
			timed(&resumed)
			timed(&unpaused)
		}
		wr.Unpaused, wr.Resumed = summarize(unpaused), summarize(resumed)
	}
	return ctx.Err()
}

// waitPaused waits (up to a minute) until owner's container is paused.
func waitPaused(ctx context.Context, rt *containerrt.Runtime, owner string) {
	deadline := time.Now().Add(time.Minute)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		for _, u := range rt.Usage() {
			if u.Owner == owner && u.Status == containerrt.StatusPaused {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// resumedSamples is how many resumed invokes the Python row takes, each
// after its own idle of 1.5 × the pause grace plus 100 ms, and the two
// controls as many: the three together take about 5 s a sample. With 10
// samples, the median moved from 3.35 to 7.69 ms between two runs of the
// same build; a median of 20 is steadier.
const resumedSamples = 20

// measureContainerHTTP times warm blocking invokes of OpenWhisk's Python
// hello world over HTTP through a running wispd that serves python:3:
// n back to back (the container stays unpaused), then resumed ones, each
// after waiting more than the pool's pause grace (wispd's setting). The
// integrator calls it once wispd runs container kinds. After each resumed
// one, when given, the control Wasm action and then the floor are invoked,
// each after the same idle: the three rows take turns, so that the
// machine's drift over the minute they take moves them alike.
func measureContainerHTTP(ctx context.Context, w *wispd, grace time.Duration, n, resumed int, control string, floor *request) *containerHTTP {
	h := &containerHTTP{Grace: grace, Control: control}
	c := newClient()
	defer c.CloseIdleConnections()
	body, _ := json.Marshal(map[string]any{"exec": map[string]any{"kind": "python:3", "code": helloPython}})
	u := w.base + "/api/v1/namespaces/_/actions/py-hello?overwrite=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		h.Skipped = err.Error()
		return h
	}
	req.Header = w.authHeader()
	resp, err := c.Do(req)
	if err != nil {
		h.Skipped = "create py-hello: " + err.Error()
		return h
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.Skipped = fmt.Sprintf("create py-hello: %s: %s", resp.Status, bytes.TrimSpace(msg))
		return h
	}
	inv := w.invokeRequest("py-hello")
	for range 20 { // warm it up
		if _, err := inv.do(ctx, c); err != nil {
			h.Skipped = "invoke py-hello: " + err.Error()
			return h
		}
	}
	var lat []time.Duration
	for range n {
		start := time.Now()
		if _, err := inv.do(ctx, c); err != nil {
			h.Errors++
			continue
		}
		lat = append(lat, time.Since(start))
	}
	h.Unpaused = summarize(lat)
	reqs := []*request{inv}
	if control != "" {
		reqs = append(reqs, w.invokeRequest(control))
	}
	if floor != nil {
		reqs = append(reqs, floor)
	}
	lats := make([][]time.Duration, len(reqs))
	wire := make([][]time.Duration, len(reqs))
idle:
	for range resumed {
		for i, req := range reqs {
			select {
			case <-ctx.Done():
				break idle
			case <-time.After(grace + grace/2 + 100*time.Millisecond):
			}
			var tw wireTimes
			start := time.Now()
			if _, err := req.do(tw.trace(ctx), c); err != nil {
				h.Errors++
				continue
			}
			lats[i] = append(lats[i], time.Since(start))
			if d, ok := tw.server(); ok {
				wire[i] = append(wire[i], d)
			}
		}
	}
	h.Resumed, h.ResumedWire = summarize(lats[0]), summarize(wire[0])
	if control != "" {
		h.ControlIdle, h.ControlWire = summarize(lats[1]), summarize(wire[1])
	}
	if floor != nil {
		h.FloorIdle, h.FloorWire = summarize(lats[len(lats)-1]), summarize(wire[len(wire)-1])
	}
	return h
}

// wireTimes are when net/http wrote a request and when the first byte of
// its answer came, in Unix nanoseconds (the trace's callbacks run on the
// transport's goroutines).
type wireTimes struct{ wrote, first atomic.Int64 }

// trace returns ctx with a client trace that records tw.
func (tw *wireTimes) trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { tw.wrote.Store(time.Now().UnixNano()) },
		GotFirstResponseByte: func() { tw.first.Store(time.Now().UnixNano()) },
	})
}

// server is the time from the request written to the first byte of the
// answer; false when either was not seen.
func (tw *wireTimes) server() (time.Duration, bool) {
	w, f := tw.wrote.Load(), tw.first.Load()
	if w == 0 || f < w {
		return 0, false
	}
	return time.Duration(f - w), true
}

// verdicts judges the container rows against their targets.
func (cr *containerResults) verdicts() []rowVerdict {
	if cr == nil || cr.Skipped != "" {
		return nil
	}
	var out []rowVerdict
	if cr.Ratio > 0 {
		cs := []check{{"pause + resume ≥ 10 × faster than runc CLI", fmt.Sprintf("%.1f×", cr.Ratio), judge(cr.Ratio >= targetPauseResumeRatio)}}
		out = append(out, rowVerdict{Target: "pause+resume", Checks: cs, Overall: overall(cs)})
	}
	for _, s := range cr.Starts {
		if s.Latency.P50 == 0 {
			continue
		}
		observed := fmtDur(s.Latency.P50)
		if la := cr.loop(s.Kind); s.From == "nothing warm" && la != nil && cr.LibRun.P50 > 0 {
			// The floors beside the verdict: what the start cannot go under.
			observed += fmt.Sprintf(" (floors: libcontainer start %s, action loop alone %s)", fmtDur(cr.LibRun.P50), fmtDur(la.Latency.P50))
		}
		cs := []check{{"start p50 ≤ " + fmtDur(s.Target), observed, judge(s.Latency.P50 <= s.Target)}}
		out = append(out, rowVerdict{Target: s.Kind + " from " + s.From, Checks: cs, Overall: overall(cs)})
	}
	if h := cr.HTTP; h != nil && h.Skipped == "" && h.Unpaused.P50 > 0 {
		cs := []check{
			{"unpaused p50 ≤ 1ms", fmtDur(h.Unpaused.P50), judge(h.Unpaused.P50 <= targetHTTPUnpaused)},
			{"resumed p50 ≤ 3ms", fmtDur(h.Resumed.P50) + h.idleFloors(), judge(h.Resumed.P50 > 0 && h.Resumed.P50 <= targetHTTPResumed)},
		}
		out = append(out, rowVerdict{Target: "python hello over HTTP", Checks: cs, Overall: overall(cs)})
	}
	return out
}

// idleFloors adds to the resumed verdict the server's share of the
// resumed invoke, " (request written to first byte: X)", and what the
// same idle costs without a container, " (after the same idle: floor Y,
// Wasm action Z)"; each when measured.
// The verdict itself is on the whole round trip, as every latency of the
// benchmark is.
func (h *containerHTTP) idleFloors() string {
	var server string
	if h.ResumedWire.P50 > 0 {
		server = " (request written to first byte: " + fmtDur(h.ResumedWire.P50) + ")"
	}
	var parts []string
	if h.FloorIdle.P50 > 0 {
		parts = append(parts, "floor "+fmtDur(h.FloorIdle.P50))
	}
	if h.ControlIdle.P50 > 0 {
		parts = append(parts, "Wasm action "+fmtDur(h.ControlIdle.P50))
	}
	if len(parts) == 0 {
		return server
	}
	return server + " (after the same idle: " + strings.Join(parts, ", ") + ")"
}

// loop returns kind's action-loop-alone row, measured without error; nil
// if there is none.
func (cr *containerResults) loop(kind string) *loopAlone {
	for _, la := range cr.Loops {
		if la.Kind == kind && la.Err == "" && la.Latency.P50 > 0 {
			return la
		}
	}
	return nil
}

// printContainers writes the container tables and their verdicts.
func printContainers(out io.Writer, cr *containerResults) {
	if cr == nil {
		return
	}
	if cr.Skipped != "" {
		fmt.Fprintf(out, "Containers: not measured: %s\n\n", cr.Skipped)
		return
	}
	if cr.N > 0 {
		printContainerTables(out, cr)
	}
	if h := cr.HTTP; h != nil {
		if h.Skipped != "" {
			fmt.Fprintf(out, "Python hello world over HTTP: not measured: %s\n", firstLine(h.Skipped))
		} else {
			fmt.Fprintf(out, "Python hello world over HTTP (blocking, warm): unpaused p50 %s p99 %s; resumed (after %s idle) p50 %s max %s; %d errors.\n",
				fmtDur(h.Unpaused.P50), fmtDur(h.Unpaused.P99), fmtDur(h.Grace+h.Grace/2+100*time.Millisecond), fmtDur(h.Resumed.P50), fmtDur(h.Resumed.Max), h.Errors)
			if h.Control != "" {
				fmt.Fprintf(out, "  control: Wasm action %s after the same idle (no container): p50 %s max %s.\n", h.Control, fmtDur(h.ControlIdle.P50), fmtDur(h.ControlIdle.Max))
				if h.Resumed.P50 > 0 && h.ControlIdle.P50 > 0 {
					// What waking the machine costs any invoke is in the
					// control; the rest is the container's resume and run.
					fmt.Fprintf(out, "  the container's share (resumed p50 − control p50): %s; unpaused p50 %s.\n", fmtDur(h.Resumed.P50-h.ControlIdle.P50), fmtDur(h.Unpaused.P50))
				}
			}
			if h.FloorIdle.P50 > 0 {
				fmt.Fprintf(out, "  floor: the bare echo handler after the same idle: p50 %s max %s (what waking the machine costs any HTTP service).\n", fmtDur(h.FloorIdle.P50), fmtDur(h.FloorIdle.Max))
			}
			if h.ResumedWire.P50 > 0 {
				fmt.Fprintf(out, "  from the request written to the answer's first byte (the benchmark's own waking up left out), p50: resumed %s, Wasm action %s, floor %s.\n",
					fmtDur(h.ResumedWire.P50), fmtDur(h.ControlWire.P50), fmtDur(h.FloorWire.P50))
			}
		}
	}
	fmt.Fprintln(out)
	vs := cr.verdicts()
	if len(vs) == 0 {
		return
	}
	fmt.Fprintln(out, "Verdicts, containers (issue 4: pause + resume ≥ 10 × the runc CLI; stem cell start ≤ 15 ms; cold start ≤ 100 ms; Python over HTTP ≤ 1 ms unpaused, ≤ 3 ms resumed):")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, v := range vs {
		for _, c := range v.Checks {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", v.Target, c.Criterion, c.Observed, c.Status)
		}
	}
	tw.Flush()
	fmt.Fprintln(out)
}

// printColdFloors writes each kind's cold start next to its two floors:
// libcontainer's create + start of a busybox sleep, and the kind's action
// loop alone.
func printColdFloors(out io.Writer, cr *containerResults) {
	if len(cr.Loops) == 0 {
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "cold start, p50\tnothing warm\tlibcontainer start\taction loop alone\t\n")
	for _, la := range cr.Loops {
		cold := "-"
		for _, s := range cr.Starts {
			if s.Kind == la.Kind && s.From == "nothing warm" && s.Latency.P50 > 0 {
				cold = fmtDur(s.Latency.P50)
			}
		}
		alone := fmtDur(la.Latency.P50)
		if la.Err != "" {
			alone = "-  (" + firstLine(la.Err) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", la.Kind, cold, fmtDur(cr.LibRun.P50), alone)
	}
	tw.Flush()
	fmt.Fprintln(out, "(The floors of a cold start, which runs both one after the other. libcontainer start: create + start of a busybox sleep, as above. Action loop alone: the runtime's runtime.json command chrooted into its root filesystem, no container, on an empty stdin, from start to exit: the interpreter's start and its launcher's, plus the exit, which a cold start does not pay.)")
}

// printContainerTables writes the in-process container tables.
func printContainerTables(out io.Writer, cr *containerResults) {
	fmt.Fprintf(out, "Containers (in the benchmark's process, libcontainer in-process as in wispd; %d of each):\n", cr.N)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "busybox sleep container\tp50\tp90\tmax\t\n")
	row := func(name string, s summary) {
		if s.P50 == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t\n", name)
			return
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, fmtDur(s.P50), fmtDur(s.P90), fmtDur(s.Max))
	}
	row("runc CLI: pause", cr.CLIPause)
	row("runc CLI: resume", cr.CLIResume)
	row("pool: State + Pause", cr.PoolPause)
	row("pool: State + Resume", cr.PoolWake)
	row("runc CLI: run -d", cr.CLIRun)
	row("libcontainer: create + start", cr.LibRun)
	tw.Flush()
	if cr.CLIError != "" {
		fmt.Fprintf(out, "runc CLI: %s\n", firstLine(cr.CLIError))
	}
	if cr.Ratio > 0 {
		fmt.Fprintf(out, "Pause + resume, medians: runc CLI %s, pool %s: %.1f× faster.\n",
			fmtDur(cr.CLIPause.P50+cr.CLIResume.P50), fmtDur(cr.PoolPause.P50+cr.PoolWake.P50), cr.Ratio)
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "new action's container\tfrom\tp50\tp90\tmax\tinitTime p50\terrors\ttarget p50\t\n")
	for _, s := range cr.Starts {
		if s.Latency.P50 == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t%d\t≤ %s\t  (%s)\n", s.Kind, s.From, s.Errors, fmtDur(s.Target), firstLine(s.FirstError))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t≤ %s\t\n", s.Kind, s.From, fmtDur(s.Latency.P50), fmtDur(s.Latency.P90), fmtDur(s.Latency.Max), fmtDur(s.InitTime.P50), s.Errors, fmtDur(s.Target))
	}
	tw.Flush()
	fmt.Fprintln(out, "(containerrt.Runtime.Run of an action never seen: code placed, init, one run. native: the native runtime's launcher executing a static Go action; python:3 and nodejs:20: OpenWhisk's hello worlds.)")
	if len(cr.InMemory) > 0 {
		fmt.Fprintf(out, "(Started from the root filesystem copied to memory, as wispd does by default: %s. The action loop alone below runs from the disk.)\n", strings.Join(cr.InMemory, ", "))
	}
	if cr.InitHelper != "" {
		fmt.Fprintln(out, "(The pool's containers ran wispd-init as their init, as wispd does when it is installed beside it; the libcontainer floor below runs the benchmark's own binary, as a plain use of libcontainer does.)")
	} else {
		fmt.Fprintln(out, "(No wispd-init: the pool's containers ran the benchmark's own binary as their init.)")
	}
	printColdFloors(out, cr)
	for _, s := range cr.Starts {
		if s.Errors > 0 && s.Latency.P50 > 0 {
			fmt.Fprintf(out, "  %s from %s: %s\n", s.Kind, s.From, firstLine(s.FirstError))
		}
	}
	if len(cr.Warm) > 0 {
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "warm activation, in-process	unpaused p50	p90	resumed p50	p90	errors	\n")
		for _, w := range cr.Warm {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t\n", w.Kind, fmtDur(w.Unpaused.P50), fmtDur(w.Unpaused.P90), fmtDur(w.Resumed.P50), fmtDur(w.Resumed.P90), w.Errors)
		}
		tw.Flush()
		fmt.Fprintln(out, "(containerrt.Runtime.Run, no HTTP or queue: resumed ones find their container paused by the pool and pay the State + Resume.)")
	}
	if len(cr.Memory) > 0 {
		var parts []string
		for _, m := range cr.Memory {
			parts = append(parts, fmt.Sprintf("%s %.1f MiB (mean of %d, limit %d MB)", m.Kind, float64(m.MeanBytes)/(1<<20), m.Containers, m.LimitMB))
		}
		fmt.Fprintf(out, "Memory per paused container (its memory cgroup): %s.\n", strings.Join(parts, "; "))
	}
}
