package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// evaluate fills res.Ratios and res.Verdicts from what was measured.
func (res *results) evaluate() {
	floor, workerd := res.target("floor"), res.target("workerd")
	res.Ratios = map[string]map[string]float64{}
	res.Verdicts = map[string][]rowVerdict{}
	for _, t := range res.Targets {
		if !measured(t) || t == floor {
			continue
		}
		r := map[string]float64{}
		if measured(floor) {
			r["p50_to_floor"] = float64(t.Sequential.Latency.P50) / float64(floor.Sequential.Latency.P50)
			r["rps_1_client_to_floor"] = t.Sequential.RPS() / floor.Sequential.RPS()
			if floor.Concurrent.RPS() > 0 {
				r["rps_n_clients_to_floor"] = t.Concurrent.RPS() / floor.Concurrent.RPS()
			}
		}
		if measured(workerd) && t != workerd {
			r["p50_to_workerd"] = float64(t.Sequential.Latency.P50) / float64(workerd.Sequential.Latency.P50)
			if workerd.Concurrent.RPS() > 0 {
				r["rps_n_clients_to_workerd"] = t.Concurrent.RPS() / workerd.Concurrent.RPS()
			}
		}
		res.Ratios[t.Name] = r
		if t.wasm {
			res.Verdicts["http"] = append(res.Verdicts["http"], httpVerdict(t, floor, workerd))
		}
	}
	for _, r := range res.InProcess {
		res.Verdicts["in_process"] = append(res.Verdicts["in_process"], inProcessVerdict(r))
	}
	if wt := res.WaitTime; wt != nil {
		status, note := wt.verdict()
		obs := fmt.Sprintf("%d ms", wt.P9999)
		if note != "" {
			obs += " (" + note + ")"
		}
		// wispd's own histogram has the resolution the records lack: it
		// decides, the records' reading stays beside it.
		if fw := wt.Fine; fw != nil && fw.Count > 0 {
			status = fw.verdict()
			obs = fmt.Sprintf("%s of %s waits ≤ 1 ms, p99.99 %s (wispd's metrics); records: %s",
				fmtInt(float64(fw.AtMost1ms)), fmtInt(float64(fw.Count)), fw.bound(fw.P9999), obs)
		}
		res.Verdicts["wait_time"] = []rowVerdict{{Target: wt.Target, Checks: []check{{"waitTime p99.99 ≤ 1 ms", obs, status}}, Overall: status}}
	}
	if res.Containers != nil {
		res.Verdicts["containers"] = res.Containers.verdicts()
	}
	if fi := res.FirstInvokes; fi != nil {
		if fi.AfterCreate != nil {
			res.Verdicts["first_invoke"] = append(res.Verdicts["first_invoke"], firstInvokeVerdict("first invoke after create", fi.AfterCreate))
		}
		for _, a := range fi.AfterRestart {
			res.Verdicts["first_invoke"] = append(res.Verdicts["first_invoke"], firstInvokeVerdict("first invoke after restart", a))
		}
	}
}

// printReport writes every table and verdict.
func printReport(out io.Writer, cfg config, res *results) {
	res.evaluate()
	m := res.Machine
	fmt.Fprintf(out, "\nWisp benchmark: %d CPUs, %s/%s, %s. 1 client: %d sequential requests; %d clients: %s; after %d warm-up requests each. Body %s.\n",
		m.CPUs, m.OS, m.Arch, m.Go, cfg.n, cfg.clients, cfg.duration, cfg.warmup, invokeBody)
	if wispdProcs > 0 {
		fmt.Fprintf(out, "wispd ran with GOMAXPROCS=%d (-wispd-procs).\n", wispdProcs)
	}
	if cfg.oneClientProcs > 0 {
		fmt.Fprintf(out, "The load generator ran with GOMAXPROCS=%d with 1 client (-one-client-procs), Go's default with %d.\n", cfg.oneClientProcs, cfg.clients)
	}
	if m.LoadBefore != "" {
		fmt.Fprintf(out, "Load average (1 min) before: %s, after: %s; run took %s. Other work on the machine moves absolute numbers; the ratios, measured side by side, move less.\n",
			m.LoadBefore, m.LoadAfter, m.Took)
	}
	if m.FreshPage > 0 {
		fmt.Fprintf(out, "Fresh memory: the first touch of a 4 KiB page costs %.1fµs here (page fault and zeroing, and whatever a hypervisor adds); every page a new process, Wasm instance or buffer touches pays it, cold starts most.\n", float64(m.FreshPage)/float64(time.Microsecond))
	}
	if m.IdleCPUs != "" {
		fmt.Fprintf(out, "Idle CPUs: %s. With one client a server's CPUs are idle while the request is elsewhere, and waking an idle CPU takes time (tens of µs for a halted virtual one): that weighs most on the cheapest row, the floor (bench/README.md).\n", m.IdleCPUs)
	}
	if w := res.Workerd; w != nil && w.Skipped == "" {
		fmt.Fprintf(out, "Peer: workerd %s from npm (%s).\n", w.Version, w.Reports)
	}
	fmt.Fprintf(out, "×floor, ×workerd: p50 as a multiple (lower is better); req/s as a fraction (higher is better). srv CPU/req: the server process's CPU time per request; client CPU/req: the load generator's (this process), which shares the two CPUs with the server.\n\n")
	printMainTable(out, cfg, res)
	printHTTPVerdicts(out, res)
	printRecords(out, res)
	printInProcess(out, cfg, res)
	printWaitTime(out, res)
	printFirstInvokes(out, res)
	printContainers(out, res.Containers)
	printSkipped(out, res)
}

func printMainTable(out io.Writer, cfg config, res *results) {
	floor, workerd := res.target("floor"), res.target("workerd")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	c := cfg.clients
	fmt.Fprintf(tw, "target\tp50 1c\tp99 1c\treq/s 1c\treq/s %dc\tp99 %dc\tp50 ×floor\tp50 ×workerd\treq/s %dc ×floor\treq/s %dc ×workerd\tsrv CPU/req %dc\tclient CPU/req %dc\terrors\t\n", c, c, c, c, c, c)
	for _, t := range res.Targets {
		if !measured(t) {
			why := "skipped, see below"
			if t.Skipped == "" {
				why = "no successful request"
			}
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%d\t  (%s)\n", t.Name, t.errors(), why)
			continue
		}
		s, cc := &t.Sequential, &t.Concurrent
		wP50, wRPS := "-", "-"
		if measured(workerd) && t != workerd {
			wP50 = ratio(float64(s.Latency.P50), float64(workerd.Sequential.Latency.P50))
			wRPS = ratio(cc.RPS(), workerd.Concurrent.RPS())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", t.Name,
			fmtDur(s.Latency.P50), fmtDur(s.Latency.P99), fmtInt(s.RPS()), fmtInt(cc.RPS()), fmtDur(cc.Latency.P99),
			ratio(float64(s.Latency.P50), float64(floor.Sequential.Latency.P50)), wP50,
			ratio(cc.RPS(), floor.Concurrent.RPS()), wRPS,
			fmtDur(cc.CPUPerRequest()), fmtDur(cc.ClientCPUPerRequest()), t.errors())
	}
	tw.Flush()
	fmt.Fprintln(out)
}

// printVerdictTable writes rows of verdicts, one column per criterion
// (taken from the first row).
func printVerdictTable(out io.Writer, title string, rows []rowVerdict) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(out, title)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "  \t")
	for _, c := range rows[0].Checks {
		fmt.Fprintf(tw, "%s\t", c.Criterion)
	}
	fmt.Fprint(tw, "overall\t\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t", r.Target)
		for _, c := range r.Checks {
			fmt.Fprintf(tw, "%s %s\t", c.Observed, c.Status)
		}
		fmt.Fprintf(tw, "%s\t\n", r.Overall)
	}
	tw.Flush()
	fmt.Fprintln(out)
}

func printHTTPVerdicts(out io.Writer, res *results) {
	printVerdictTable(out, "Verdicts, warm blocking invoke over HTTP (issue: p50 ≤ 3 × floor and < workerd; p99 ≤ 1 ms with 1 client; throughput ≥ 1.5 × workerd's and ≥ 10,000/s):",
		res.Verdicts["http"])
	if slices.ContainsFunc(res.Verdicts["http"], func(v rowVerdict) bool { return strings.HasPrefix(v.Target, "wisp-") }) {
		fmt.Fprintln(out, "The issue sets these bars for each SDK's hello world (the sdk- rows); wisp-c and wisp-go, plain WASI commands that start a fresh instance per activation, are judged by them for reference.")
	}
	floor := res.target("floor")
	if t := res.target("wisp-c"); measured(t) && measured(floor) {
		r := float64(t.Sequential.Latency.P50) / float64(floor.Sequential.Latency.P50)
		fmt.Fprintf(out, "Earlier slice's target: wisp-c warm p50 ≤ %.0f × floor: %.2f×: %s\n\n", targetP50Ratio, r, judge(r <= targetP50Ratio))
	}
}

func printRecords(out io.Writer, res *results) {
	var lines []string
	for _, t := range res.Targets {
		if !t.wasm || !measured(t) || t.Sampled == 0 {
			continue
		}
		fresh := fmt.Sprintf("; %d of them started a new instance (initTime)", t.NewInstances)
		if t.form == "command" {
			fresh += ", as every activation of a command does"
		}
		if res.WaitTime != nil && t.Name == res.WaitTime.Target {
			lines = append(lines, fmt.Sprintf("Records, %s: recorded: %s of all %s ids of its %s phase (of %s activations it invoked)%s",
				t.Name, fmtInt(float64(t.Recorded)), fmtInt(float64(t.Sampled)), res.WaitTime.Phase, fmtInt(float64(t.Invoked)), fresh))
			continue
		}
		lines = append(lines, fmt.Sprintf("Records, %s: recorded: %d of %d sampled from its %d-client phase (of %s activations it invoked)%s",
			t.Name, t.Recorded, t.Sampled, t.Concurrent.Clients, fmtInt(float64(t.Invoked)), fresh))
	}
	if len(lines) > 0 {
		fmt.Fprintln(out, strings.Join(lines, "\n"))
		fmt.Fprintln(out)
	}
}

func printInProcess(out io.Writer, cfg config, res *results) {
	if len(res.InProcess) == 0 {
		return
	}
	fmt.Fprintf(out, "In-process warm activation: wasmrt.Runtime.Run in the benchmark's process, no HTTP, no queue, one call at a time; up to %d calls (at most %s) per module after %d warm-up calls. A reactor runs with one Owner, so its warm instance is reused.\n",
		cfg.inprocCalls, cfg.inprocMax, cfg.warmup)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "module\tform\tKiB\tcompile¹\tcalls\tp50\tp99\tp99.9\tp99.99\tmax\tnew instances\terrors\ttarget p50\tverdict\t\n")
	verdicts := res.Verdicts["in_process"]
	for i, r := range res.InProcess {
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t  (skipped, see below)\n", r.Name, r.Form)
			continue
		}
		target := "-"
		if r.Target > 0 {
			target = "≤ " + fmtDur(r.Target)
		}
		kib := 0
		if m := findModule(res.Modules, r.Name); m != nil {
			kib = m.Bytes >> 10
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", r.Name, r.Form, kib, fmtDur(r.Compile),
			fmtInt(float64(r.Calls)), fmtDur(r.Latency.P50), fmtDur(r.Latency.P99), fmtDur(r.Latency.P999), fmtDur(r.P9999), fmtDur(r.Latency.Max),
			fmtInt(float64(r.NewInstances)), r.Errors, target, verdicts[i].Overall)
	}
	tw.Flush()
	fmt.Fprintln(out, "Targets: p50 ≤ 50µs for the C and AssemblyScript modules, ≤ 100µs for the Go SDK example; the plain Go command has none (it starts a Go runtime per call).")
	fmt.Fprintln(out, "¹ Validate, with wazero's file cache in the cache directory: a cache hit when an earlier run compiled the same module.")
	fmt.Fprintln(out)
}

func printWaitTime(out io.Writer, res *results) {
	wt := res.WaitTime
	if wt == nil {
		fmt.Fprintln(out, "waitTime: not measured (neither sdk-c nor wisp-c was measured).")
		fmt.Fprintln(out)
		return
	}
	fmt.Fprintf(out, "waitTime (annotation of the activation record, queued → started, whole ms) of every activation of %s's %s phase: %s ids, %s recorded with a waitTime",
		wt.Target, wt.Phase, fmtInt(float64(wt.IDs)), fmtInt(float64(wt.Recorded)))
	if wt.Missing+wt.NoWait+wt.Errors > 0 {
		fmt.Fprintf(out, " (%d without a record, %d without waitTime, %d fetch errors", wt.Missing, wt.NoWait, wt.Errors)
		if wt.FirstError != "" {
			fmt.Fprintf(out, "; the first: %s", firstLine(wt.FirstError))
		}
		fmt.Fprint(out, ")")
	}
	fmt.Fprintf(out, "; fetched in %s.\n", fmtDur(wt.Elapsed))
	if wt.Recorded > 0 {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "target\tp50\tp99\tp99.9\tp99.99\tmax\t\n")
		fmt.Fprintf(tw, "%s\t%d ms\t%d ms\t%d ms\t%d ms\t%d ms\t\n", wt.Target, wt.P50, wt.P99, wt.P999, wt.P9999, wt.Max)
		tw.Flush()
		fmt.Fprintf(out, "Histogram: %s\n", histogramLine(wt.Histogram, wt.Recorded))
	}
	fmt.Fprintln(out, "Resolution: Wisp records waitTime in whole milliseconds, truncated: 0 means under 1 ms, 1 means 1.0–1.99 ms. The records can prove p99.99 < 1 ms (a p99.99 of 0) or > 1 ms (2 or more), not ≤ 1 ms exactly, and show nothing below 1 ms.")
	printFineWaits(out, wt)
	for _, v := range res.Verdicts["wait_time"] {
		fmt.Fprintf(out, "Verdict: %s: %s: %s\n", v.Checks[0].Criterion, v.Checks[0].Observed, v.Overall)
	}
	fmt.Fprintln(out)
}

// histogramLine renders counts by value: "0 ms: 12,000 (98.1%), 1 ms: …".
func histogramLine(h map[int64]int, total int) string {
	keys := make([]int64, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for i, k := range keys {
		if i == 8 && len(keys) > 9 {
			rest := 0
			for _, k2 := range keys[i:] {
				rest += h[k2]
			}
			parts = append(parts, fmt.Sprintf("%d–%d ms: %s", k, keys[len(keys)-1], fmtInt(float64(rest))))
			break
		}
		parts = append(parts, fmt.Sprintf("%d ms: %s (%.2f%%)", k, fmtInt(float64(h[k])), 100*float64(h[k])/float64(total)))
	}
	return strings.Join(parts, ", ")
}

func printFirstInvokes(out io.Writer, res *results) {
	fi := res.FirstInvokes
	if fi == nil {
		return
	}
	if fi.Skipped != "" && fi.AfterCreate == nil && len(fi.AfterRestart) == 0 {
		fmt.Fprintf(out, "First invokes: not measured: %s.\n\n", fi.Skipped)
		return
	}
	fmt.Fprintln(out, "First invokes (blocking, on a keep-alive connection already open):")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "when\taction\tcreate\tserver compile\tfirst invoke\tin wispd: wait + run\tsecond invoke\ttarget\tverdict\t\n")
	verdicts := res.Verdicts["first_invoke"]
	i := 0
	row := func(when string, f *firstInvoke, create, compile string) {
		v := verdicts[i]
		i++
		inWispd := "-"
		if s := f.InWispd; s != nil {
			inWispd = fmtDur(s.Wait) + " + " + fmtDur(s.Run)
			if s.Init > 0 {
				inWispd += " (init " + fmtDur(s.Init) + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t≤ %s\t%s\t\n", when, f.Action, create, compile, fmtDur(f.First), inWispd, fmtDur(f.Second), fmtDur(f.Target), v.Overall)
	}
	if a := fi.AfterCreate; a != nil {
		compile := "-"
		if a.ServerCompile != "" {
			compile = a.ServerCompile + " ms"
		}
		row("after create", a, fmtDur(a.Create), compile)
	}
	for _, a := range fi.AfterRestart {
		row("after restart", a, "", "")
	}
	tw.Flush()
	if slices.ContainsFunc(append([]*firstInvoke{fi.AfterCreate}, fi.AfterRestart...), func(f *firstInvoke) bool { return f != nil && f.InWispd != nil }) {
		fmt.Fprintln(out, "(In wispd: the first invoke's activation as wispd's metrics saw it, from its hand-over to its start, and from its start to its end; the rest of the first invoke went to HTTP, the gateway and the scheduling of both processes.)")
	}
	if a := fi.AfterCreate; a != nil {
		fmt.Fprintf(out, "(%s: a fresh copy of %s's module, made distinct by a custom section, so nothing has compiled it before the create.)\n", a.Action, fi.FreshFromCode)
		if a.Err != "" {
			fmt.Fprintf(out, "  %s: %s\n", a.Action, firstLine(a.Err))
		}
	}
	if fi.RestartErr != "" {
		fmt.Fprintf(out, "Restart failed: %s\n", firstLine(fi.RestartErr))
	} else if len(fi.AfterRestart) > 0 {
		fmt.Fprintf(out, "Restart: SIGTERM to exit %s, start to /ping %s; then each action's first invoke, one after the other, in this order.\n", fmtDur(fi.RestartStop), fmtDur(fi.RestartReady))
		for _, a := range fi.AfterRestart {
			if a.Err != "" {
				fmt.Fprintf(out, "  %s: %s\n", a.Action, firstLine(a.Err))
			}
		}
	}
	fmt.Fprintln(out)
}

func printSkipped(out io.Writer, res *results) {
	var lines []string
	add := func(name, why string) {
		lines = append(lines, "  "+name+": "+indent(why, 3))
	}
	if w := res.Workerd; w != nil && w.Skipped != "" {
		add("workerd", w.Skipped)
	}
	for _, m := range res.Modules {
		if m.Skipped != "" {
			add(m.Name, m.Skipped)
		}
	}
	for _, t := range res.Targets {
		if m := findModule(res.Modules, t.Name); t.Skipped != "" && m != nil && m.Skipped == "" {
			add(t.Name+" (over HTTP)", t.Skipped)
		}
	}
	for _, r := range res.InProcess {
		if m := findModule(res.Modules, r.Name); r.Skipped != "" && m != nil && m.Skipped == "" {
			add(r.Name+" (in-process)", r.Skipped)
		}
	}
	if len(lines) > 0 {
		fmt.Fprintln(out, "Skipped:")
		fmt.Fprintln(out, strings.Join(lines, "\n"))
	}
}

// indent keeps the first n lines of s, each after the first indented to
// sit under the first.
func indent(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n    ")
}

func ratio(x, floor float64) string {
	if floor == 0 {
		return "-"
	}
	if r := x / floor; r < 0.1 {
		return fmt.Sprintf("%.3f×", r)
	}
	return fmt.Sprintf("%.2f×", x/floor)
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// fmtInt formats a rounded number with thousands separators.
func fmtInt(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// printFineWaits prints the phase's waits from wispd's metrics.
func printFineWaits(out io.Writer, wt *waitTimes) {
	fw := wt.Fine
	switch {
	case fw == nil:
		return
	case fw.Count == 0:
		fmt.Fprintf(out, "wispd's metrics (GET /metrics, wisp_activation_wait_seconds): not read")
		if fw.Err != "" {
			fmt.Fprintf(out, ": %s", firstLine(fw.Err))
		}
		fmt.Fprintln(out)
		return
	}
	fmt.Fprintf(out, "wispd's metrics (GET /metrics, wisp_activation_wait_seconds, kind wasm, read around each of %s's %d rounds): %s waits, %s (%.4f%%) ≤ 1 ms; p50 %s, p99 %s, p99.9 %s, p99.99 %s (each: at most the bound of its bucket).\n",
		wt.Target, fw.Rounds, fmtInt(float64(fw.Count)), fmtInt(float64(fw.AtMost1ms)), 100*float64(fw.AtMost1ms)/float64(fw.Count),
		fw.bound(fw.P50), fw.bound(fw.P99), fw.bound(fw.P999), fw.bound(fw.P9999))
	parts := make([]string, 0, len(fw.Buckets))
	for _, b := range fw.Buckets {
		parts = append(parts, fmt.Sprintf("%s: %s", fw.bound(b.Le), fmtInt(float64(b.Count))))
	}
	fmt.Fprintf(out, "By bucket: %s\n", strings.Join(parts, ", "))
	if fw.Err != "" {
		fmt.Fprintf(out, "(a later read failed, not counted: %s)\n", firstLine(fw.Err))
	}
}

// bound names a bucket by its upper bound, "≤ 25µs", or the unbounded
// one (le 0) by the largest bound: "> 5m0s".
func (fw *fineWaits) bound(le time.Duration) string {
	if le == 0 {
		return "> " + fmtDur(fw.Top)
	}
	return "≤ " + fmtDur(le)
}
