// Command bench measures Wisp side by side with its floor and a peer, in
// one run, on one machine, with one load generator, and prints one main
// table and a few small ones:
//
//   - floor:   a bare echo hello-world JSON handler over loopback HTTP;
//   - workerd: Cloudflare's Workers runtime serving a JavaScript hello
//     world (installed from npm into a cache directory);
//   - wisp-c, wisp-go: Wisp's warm blocking invoke over HTTP of a plain C
//     and a plain Go command module (bench/modules);
//   - sdk-c, sdk-go, sdk-as: the same for the hello example of each SDK,
//     built in its reactor form;
//   - in-process: wasmrt.Runtime.Run of each module, no HTTP, no queue;
//   - waitTime: the scheduling wait of every activation of a loaded phase;
//   - first invokes: after creating an action, and after a wispd restart.
//
// Run it from the repository root with `go run ./bench`; `go run ./bench
// --help` lists the flags. See README.md for how to read the tables.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/wispfaas/wisp/containerrt"
)

type config struct {
	n              int
	duration       time.Duration
	clients        int
	warmup         int
	sample         int
	inprocCalls    int
	inprocMax      time.Duration
	waitWorkers    int
	workerdVersion string
	noWorkerd      bool
	noRestart      bool
	wispd          string
	jsonPath       string
	blobs          bool
	inprocessOnly  bool // -inprocess: only the in-process table
	blobRuns       int
	// oneClientProcs is the benchmark's GOMAXPROCS in the one-client
	// phases; 0 leaves Go's default.
	oneClientProcs int
}

func main() {
	if addr := os.Getenv(floorAddrEnv); addr != "" {
		// This process is the floor server child (see floor.go).
		if err := serveFloor(addr); err != nil {
			fmt.Fprintln(os.Stderr, "floor server:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(realMain())
}

func parseFlags() config {
	var cfg config
	fs := flag.CommandLine
	fs.IntVar(&cfg.n, "n", 3000, "sequential requests per target with 1 client (a closed loop on one keep-alive connection); the phase stops early after 2 × -duration")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "how long each target is loaded by -clients concurrent clients")
	fs.IntVar(&cfg.clients, "clients", 50, "concurrent clients of the throughput phase, each a closed loop with its own keep-alive connection")
	fs.IntVar(&cfg.warmup, "warmup", 200, "sequential requests sent to each target before it is measured, not counted")
	fs.IntVar(&cfg.sample, "sample", 200, "activation ids (from the x-openwhisk-activation-id header) per Wasm target checked to have a record in the store")
	fs.IntVar(&cfg.inprocCalls, "inproc-calls", 5000, "in-process: measured wasmrt Run calls per module")
	fs.DurationVar(&cfg.inprocMax, "inproc-max", 2*time.Second, "in-process: stop measuring a module after this long (a Go command takes milliseconds per call)")
	fs.IntVar(&cfg.waitWorkers, "wait-workers", 4, "parallel clients fetching the activation records for the waitTime table")
	fs.StringVar(&cfg.workerdVersion, "workerd-version", defaultWorkerdVersion, "npm version of workerd to install (into $XDG_CACHE_HOME/wisp-bench/workerd/VERSION) and measure")
	fs.BoolVar(&cfg.noWorkerd, "no-workerd", false, "do not install or measure workerd (its row is marked skipped)")
	fs.BoolVar(&cfg.noRestart, "no-restart", false, "do not restart wispd to time the first invokes after a restart")
	fs.IntVar(&cfg.oneClientProcs, "one-client-procs", 1, "GOMAXPROCS of the benchmark's own process while it loads each target with one client (warm-up included): one closed loop needs one processor, and Go's default (0) keeps a second whose thread spins after every answer on the CPU the server would use; the many-client phase runs with Go's default")
	fs.IntVar(&wispdProcs, "wispd-procs", 0, "run wispd with GOMAXPROCS set to this (0: Go's default, one per CPU); see docs/rationale.md on what one P changes")
	fs.StringVar(&cfg.wispd, "wispd", "", "use this prebuilt wispd binary instead of building ./cmd/wispd (it is copied into the run's own bin directory, outside the data directories, as an installation would have it, with the wispd-init beside it when there is one)")
	fs.BoolVar(&cfg.inprocessOnly, "inprocess", false, "measure only the in-process table (wasmrt Run of each module, no server): quick, and what the Wasm runtime's work changes")
	fs.BoolVar(&cfg.blobs, "blobs", false, "measure only the code store's rows (bench/blobs.go): cold and cached fetches of a 50 MB blob from MinIO, warm invokes with either store")
	fs.IntVar(&cfg.blobRuns, "blob-runs", 7, "with -blobs: runs of each cold fetch")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the results, machine-readable, to this file")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: go run ./bench [flags]

Measures, in one run and with one load generator, a bare echo hello-world
handler (the floor), workerd serving a JavaScript hello world (the peer),
and Wisp's warm blocking invoke (?blocking=true&result=true) of hello-world
Wasm modules: a plain C and a plain Go command, and the hello example of
the C, Go and AssemblyScript SDKs in their reactor form. It prints one
table (p50 and p99 latency with 1 client, requests/s with 1 and with
-clients clients, ratios to the floor and to workerd) with verdicts, and
small tables: in-process warm activations (wasmrt, no HTTP), waitTime of
every activation of a loaded phase, and the first invoke after creating an
action and after a wispd restart.

It builds wispd and the modules into a temporary directory (needs go,
clang and npm, see scripts/deps.sh), installs workerd from npm into a
cache directory (once per version), starts its own servers on free
loopback ports, and stops them at the end. Progress goes to stderr, the
tables to stdout.

Flags:
`)
		fs.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments: %s\n", strings.Join(flag.Args(), " "))
		fs.Usage()
		os.Exit(2)
	}
	if cfg.n < 1 || cfg.clients < 1 || cfg.duration <= 0 || cfg.warmup < 0 || cfg.sample < 0 ||
		cfg.inprocCalls < 1 || cfg.inprocMax <= 0 || cfg.waitWorkers < 1 {
		fmt.Fprintln(os.Stderr, "bench: -n, -clients, -inproc-calls and -wait-workers must be at least 1, -duration and -inproc-max positive, -warmup and -sample not negative")
		os.Exit(2)
	}
	return cfg
}

var begin = time.Now()

// progress writes a line to stderr, stamped with the time since start.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
}

// target is one row of the main table.
type target struct {
	Name        string `json:"name"`
	What        string `json:"what"`
	ModuleBytes int    `json:"module_bytes,omitempty"`
	Warmup      phase  `json:"warmup"`
	Sequential  phase  `json:"sequential"`
	Concurrent  phase  `json:"concurrent"`
	// Activation records checked: Recorded of Sampled ids of the
	// many-client phase had a record, of Invoked activations whose ids the
	// benchmark saw; NewInstances of the records had an initTime
	// annotation (the activation started a new sandbox instance).
	Sampled      int `json:"sampled,omitempty"`
	Recorded     int `json:"recorded,omitempty"`
	NewInstances int `json:"sampled_new_instances,omitempty"`
	Invoked      int `json:"invoked,omitempty"`
	// Skipped says why the target was not measured, if it was not.
	Skipped string `json:"skipped,omitempty"`

	wasm bool   // a Wisp row: it has activation ids and records
	form string // of its module: "command" or "reactor"
}

func (t *target) errors() int { return t.Warmup.Errors + t.Sequential.Errors + t.Concurrent.Errors }

func (t *target) ids() []string {
	return append(append(append([]string(nil), t.Warmup.ids...), t.Sequential.ids...), t.Concurrent.ids...)
}

// results is everything one run measured; it is also the -json document.
type results struct {
	Machine      machine        `json:"machine"`
	Settings     map[string]any `json:"settings"`
	Workerd      *workerdInfo   `json:"workerd"`
	Modules      []*wasmModule  `json:"modules"`
	Targets      []*target      `json:"targets"`
	InProcess    []*inProcess   `json:"in_process"`
	WaitTime     *waitTimes     `json:"wait_time,omitempty"`
	FirstInvokes *firstInvokes  `json:"first_invokes,omitempty"`
	// Containers are the container rows (issue 4): the pool in-process
	// against the runc CLI, and the Python hello world through wispd.
	Containers *containerResults `json:"containers,omitempty"`
	// Filled in when the results are printed.
	Ratios   map[string]map[string]float64 `json:"ratios"`
	Verdicts map[string][]rowVerdict       `json:"verdicts"`
}

// workerdInfo says which workerd was measured, or why it was not.
type workerdInfo struct {
	Version string `json:"npm_version"`
	Binary  string `json:"binary,omitempty"`
	Reports string `json:"reports,omitempty"` // workerd --version
	Skipped string `json:"skipped,omitempty"`
}

func (r *results) target(name string) *target {
	for _, t := range r.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func realMain() int {
	cfg := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second interrupt kills at once; children get SIGTERM from the kernel
	}()
	if cfg.blobs {
		if err := runBlobsBench(ctx, max(cfg.blobRuns, 1)); err != nil {
			fmt.Fprintln(os.Stderr, "bench -blobs:", err)
			return 1
		}
		return 0
	}
	res := &results{
		Machine: machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version(), LoadBefore: loadAverage(), FreshPage: freshPageCost(), IdleCPUs: idleCPUs("/sys")},
		Settings: map[string]any{
			"n": cfg.n, "duration_ns": cfg.duration, "clients": cfg.clients, "warmup": cfg.warmup, "sample": cfg.sample,
			"inproc_calls": cfg.inprocCalls, "inproc_max_ns": cfg.inprocMax, "wait_workers": cfg.waitWorkers,
			"body": invokeBody,
		},
	}
	if cfg.inprocessOnly {
		return runInProcessOnly(ctx, cfg, res)
	}
	err := runBench(ctx, cfg, res)
	res.Machine.LoadAfter = loadAverage()
	res.Machine.Took = time.Since(begin).Round(time.Second).String()
	if ctx.Err() == nil && measured(res.target("floor")) {
		printReport(os.Stdout, cfg, res)
		if cfg.jsonPath != "" {
			if jerr := writeJSON(cfg.jsonPath, res); jerr != nil {
				fmt.Fprintln(os.Stderr, "bench:", jerr)
				return 1
			}
			progress("wrote %s", cfg.jsonPath)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "bench: interrupted")
			return 130
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// machine describes where the benchmark ran.
type machine struct {
	CPUs       int    `json:"cpus"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Go         string `json:"go"`
	LoadBefore string `json:"loadavg_1m_before,omitempty"`
	LoadAfter  string `json:"loadavg_1m_after,omitempty"`
	Took       string `json:"took,omitempty"`
	// FreshPage is the first touch of a 4 KiB page of fresh anonymous
	// memory (freshPageCost), measured once at the start.
	FreshPage time.Duration `json:"fresh_page_ns,omitempty"`
	// IdleCPUs is how idle CPUs wait for work (idleCPUs).
	IdleCPUs string `json:"idle_cpus,omitempty"`
}

// runBench builds, starts, measures and stops everything, filling res as
// it goes; res holds what was measured also when it fails part way.
func runBench(ctx context.Context, cfg config, res *results) (err error) {
	src, err := findSources()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "wisp-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Build everything first.
	mods := wasmModules()
	res.Modules = mods
	if err := buildModules(ctx, src, tmp, mods); err != nil {
		return err
	}
	// wispd runs from a directory of its own, beside (not above) its data
	// directories, as in an installation: libcontainer then seals the
	// binary in place for every container, where a binary whose directory
	// holds the container state would be copied at each container start
	// (37 MB; containerrt/container warns of it).
	binDir := filepath.Join(tmp, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(binDir, "wispd")
	if cfg.wispd == "" {
		progress("building wispd (go build ./cmd/wispd)…")
		if err := buildWispd(ctx, src, bin); err != nil {
			return err
		}
	} else if err := copyExecutable(cfg.wispd, bin); err != nil {
		return err
	} else if helper := filepath.Join(filepath.Dir(cfg.wispd), "wispd-init"); fileExists(helper) {
		if err := copyExecutable(helper, filepath.Join(binDir, "wispd-init")); err != nil {
			return err
		}
	}
	// The pool rows run containers from this process, with the init
	// wispd would use.
	initHelper := filepath.Join(binDir, "wispd-init")
	if !fileExists(initHelper) {
		initHelper = ""
	}
	res.Workerd = &workerdInfo{Version: cfg.workerdVersion}
	if cfg.noWorkerd {
		res.Workerd.Skipped = "-no-workerd"
	} else if res.Workerd.Binary, res.Workerd.Reports, err = installWorkerd(ctx, cfg.workerdVersion); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.Workerd.Skipped = "install: " + err.Error()
		progress("workerd skipped: %s", firstLine(res.Workerd.Skipped))
	}

	// In-process, while no server runs.
	if res.InProcess, err = measureInProcess(ctx, mods, cfg.inprocCalls, cfg.warmup, cfg.inprocMax); err != nil {
		return err
	}
	if res.Containers, err = measureContainers(ctx, src, tmp, initHelper, 20); err != nil {
		return err
	}

	// The servers.
	progress("starting the floor server (echo, child process)…")
	fl, err := startFloor(ctx)
	if err != nil {
		return err
	}
	defer fl.stop()
	var wd *workerdServer
	if res.Workerd.Skipped == "" {
		progress("starting workerd…")
		if wd, err = startWorkerd(ctx, res.Workerd.Binary, filepath.Join(tmp, "workerd")); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Workerd.Skipped = "start: " + err.Error()
			progress("workerd skipped: %s", firstLine(res.Workerd.Skipped))
		} else {
			defer func() {
				progress("stopping workerd…")
				wd.stop()
			}()
		}
	}
	progress("starting wispd…")
	w, err := startWispd(ctx, bin, tmp)
	if err != nil {
		return err
	}
	defer func() {
		progress("stopping wispd (SIGTERM)…")
		w.stop()
		if !w.exitedCleanly() && err == nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "warning: wispd did not exit cleanly (%v)\n%s\n", w.cmd.ProcessState, tail(w.logPath, 10))
		}
		if n, first := w.logProblems(); n > 0 {
			fmt.Fprintf(os.Stderr, "note: wispd logged %d warnings or errors; the first:\n  %s\n", n, strings.Join(first, "\n  "))
		}
	}()
	progress("wispd is up at %s", w.base)

	// The rows.
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	floorT := &target{Name: "floor", What: "bare echo handler, same client"}
	res.Targets = append(res.Targets, floorT)
	floorReq := &request{method: http.MethodPost, url: fl.base + floorPath, body: []byte(invokeBody), header: w.authHeader()}
	runs := []*run{{t: floorT, req: floorReq, pid: fl.cmd.Process.Pid}}
	workerdT := &target{Name: "workerd", What: "workerd " + cfg.workerdVersion + ", JavaScript hello world", Skipped: res.Workerd.Skipped}
	res.Targets = append(res.Targets, workerdT)
	if wd != nil {
		runs = append(runs, &run{t: workerdT, req: &request{method: http.MethodPost, url: wd.base + "/", body: []byte(invokeBody), header: jsonHeader}, pid: wd.cmd.Process.Pid})
	}
	var actions []string
	fineWaits := map[string]*fineWaitRecorder{} // by target: the rounds' waits from wispd's metrics
	for _, m := range mods {
		t := &target{Name: m.Name, What: m.What, ModuleBytes: m.Bytes, Skipped: m.Skipped, wasm: true, form: m.Form}
		res.Targets = append(res.Targets, t)
		if m.Skipped != "" {
			continue
		}
		progress("creating action %s (%d KiB; wispd compiles and prewarms it now)…", m.Name, len(m.code)>>10)
		if _, err := w.createWasmAction(ctx, nil, m.Name, m.code); err != nil {
			t.Skipped = err.Error()
			fmt.Fprintln(os.Stderr, "bench:", err)
			continue
		}
		actions = append(actions, m.Name)
		r := &run{t: t, req: w.invokeRequest(m.Name), pid: w.cmd.Process.Pid}
		if m.Name == "sdk-c" || m.Name == "wisp-c" { // the waitTime table's candidates, below
			fw := newFineWaitRecorder(w)
			fineWaits[m.Name], r.around = fw, fw.around
		}
		runs = append(runs, r)
	}
	for _, r := range runs {
		r.c = newClient()
		defer r.c.CloseIdleConnections()
	}
	if err := measure(ctx, cfg, runs); err != nil {
		return err
	}

	// Records: a sample of every Wisp row, all of one row's loaded phase.
	waitT := res.target("sdk-c")
	if !measured(waitT) {
		waitT = res.target("wisp-c")
	}
	for _, t := range res.Targets {
		if t.wasm && measured(t) && t != waitT {
			checkRecords(ctx, cfg, w, t)
		}
	}
	if measured(waitT) {
		ids := waitT.Concurrent.ids
		progress("waitTime: fetching all %d activation records of %s's %d-client phase (%d workers)…", len(ids), waitT.Name, cfg.clients, cfg.waitWorkers)
		res.WaitTime = fetchWaitTimes(ctx, w, ids, cfg.waitWorkers)
		if fw := fineWaits[waitT.Name]; fw != nil {
			res.WaitTime.Fine = fw.result()
		}
		rounds := concurrentRounds(cfg.duration)
		res.WaitTime.Target, res.WaitTime.Phase = waitT.Name, fmt.Sprintf("%d clients, %d × %s", cfg.clients, rounds, cfg.duration/time.Duration(rounds))
		waitT.Invoked, waitT.Sampled = len(waitT.ids()), res.WaitTime.IDs
		waitT.Recorded, waitT.NewInstances = res.WaitTime.Recorded+res.WaitTime.NoWait, res.WaitTime.NewInstances
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// A Python action through the same wispd, unpaused and resumed, with
	// a Wasm action and the floor invoked after the same idle as controls.
	if res.Containers != nil && res.Containers.Skipped == "" {
		res.Containers.HTTP = measureContainerHTTP(ctx, w, containerrt.DefaultPauseGrace, 1000, resumedSamples, "wisp-c", floorReq)
	}

	// First invokes.
	res.FirstInvokes = &firstInvokes{}
	if sdkGo := findModule(mods, "sdk-go"); sdkGo != nil && sdkGo.Skipped == "" {
		res.FirstInvokes.FreshFromCode = sdkGo.Name
		fi := measureFirstAfterCreate(ctx, w, sdkGo, "sdk-go-fresh")
		res.FirstInvokes.AfterCreate = fi
		if fi.Err == "" || fi.First > 0 {
			actions = append(actions, fi.Action)
		}
	} else {
		res.FirstInvokes.Skipped = "the Go SDK example was not built"
	}
	if !cfg.noRestart && len(actions) > 0 && ctx.Err() == nil {
		measureAfterRestart(ctx, w, actions, res.FirstInvokes)
	}
	return ctx.Err()
}

func findModule(mods []*wasmModule, name string) *wasmModule {
	for _, m := range mods {
		if m.Name == name {
			return m
		}
	}
	return nil
}

func writeJSON(path string, res *results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// copyExecutable copies the program at from to the new file to.
func copyExecutable(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("-wispd: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return nil
}
