package main

import (
	"fmt"
	"time"
)

// The targets of the "sub-millisecond Wasm" issue, after DESIGN.md's
// performance budget, and how the benchmark judges them.
const (
	designP50Ratio        = 3.0              // warm p50 over HTTP ≤ 3 × the floor's
	designP99             = time.Millisecond // and p99 with one client ≤ 1 ms
	throughputVsWorkerd   = 1.5              // 50-client req/s ≥ 1.5 × workerd's
	minThroughput         = 10_000.0         // and ≥ 10,000 req/s
	targetP50Ratio        = 5.0              // the earlier slice's target for wisp-c, still printed
	statusMet             = "MET"
	statusNotMet          = "NOT MET"
	statusUndecided       = "UNDECIDED"
	statusNA              = "n/a"
	workerdNotMeasuredMsg = "workerd not measured"
)

// check is one criterion judged for one row.
type check struct {
	Criterion string `json:"criterion"`
	Observed  string `json:"observed"`
	Status    string `json:"status"`
}

// rowVerdict is a row's checks and their overall status.
type rowVerdict struct {
	Target  string  `json:"target"`
	Checks  []check `json:"checks"`
	Overall string  `json:"overall"`
}

func judge(ok bool) string {
	if ok {
		return statusMet
	}
	return statusNotMet
}

// overall is NOT MET if any check is, else UNDECIDED if any is, else MET
// if any is (checks that do not apply are left out), else n/a.
func overall(checks []check) string {
	var met, undecided, notMet bool
	for _, c := range checks {
		switch c.Status {
		case statusMet:
			met = true
		case statusUndecided:
			undecided = true
		case statusNotMet:
			notMet = true
		}
	}
	switch {
	case notMet:
		return statusNotMet
	case undecided:
		return statusUndecided
	case met:
		return statusMet
	}
	return statusNA
}

// measured reports whether t has numbers to judge.
func measured(t *target) bool {
	return t != nil && t.Skipped == "" && t.Sequential.OK > 0
}

// httpVerdict judges a Wisp row against the floor and workerd: warm p50 ≤
// 3 × floor and below workerd's; p99 with one client ≤ 1 ms; req/s with
// many clients ≥ 1.5 × workerd's and ≥ 10,000.
func httpVerdict(t, floor, workerd *target) rowVerdict {
	v := rowVerdict{Target: t.Name}
	s, c := &t.Sequential, &t.Concurrent
	if measured(floor) {
		r := float64(s.Latency.P50) / float64(floor.Sequential.Latency.P50)
		v.Checks = append(v.Checks, check{"p50 ≤ 3 × floor", fmt.Sprintf("%.2f×", r), judge(r <= designP50Ratio)})
	} else {
		v.Checks = append(v.Checks, check{"p50 ≤ 3 × floor", "floor not measured", statusNA})
	}
	if measured(workerd) {
		w := workerd.Sequential.Latency.P50
		v.Checks = append(v.Checks, check{"p50 < workerd", fmt.Sprintf("%s vs %s", fmtDur(s.Latency.P50), fmtDur(w)), judge(s.Latency.P50 < w)})
	} else {
		v.Checks = append(v.Checks, check{"p50 < workerd", workerdNotMeasuredMsg, statusNA})
	}
	v.Checks = append(v.Checks, check{"p99 1c ≤ 1ms", fmtDur(s.Latency.P99), judge(s.Latency.P99 <= designP99)})
	if measured(workerd) && workerd.Concurrent.RPS() > 0 {
		r := c.RPS() / workerd.Concurrent.RPS()
		v.Checks = append(v.Checks, check{fmt.Sprintf("%dc ≥ %.1f × workerd", c.Clients, throughputVsWorkerd),
			fmt.Sprintf("%.2f×", r), judge(r >= throughputVsWorkerd)})
	} else {
		v.Checks = append(v.Checks, check{fmt.Sprintf("%dc ≥ %.1f × workerd", c.Clients, throughputVsWorkerd), workerdNotMeasuredMsg, statusNA})
	}
	v.Checks = append(v.Checks, check{fmt.Sprintf("%dc ≥ %s/s", c.Clients, fmtInt(minThroughput)), fmtInt(c.RPS()) + "/s", judge(c.RPS() >= minThroughput)})
	v.Overall = overall(v.Checks)
	return v
}

// inProcessVerdict judges a module's in-process warm p50 against its
// target, if it has one.
func inProcessVerdict(r *inProcess) rowVerdict {
	v := rowVerdict{Target: r.Name}
	switch {
	case r.Skipped != "":
		v.Checks = append(v.Checks, check{"p50 in-process", "not measured", statusNA})
	case r.Calls == 0:
		v.Checks = append(v.Checks, check{"p50 in-process", "no successful call", statusNotMet})
	case r.Target == 0:
		v.Checks = append(v.Checks, check{"p50 in-process", fmtDur(r.Latency.P50) + " (no target)", statusNA})
	default:
		v.Checks = append(v.Checks, check{"p50 ≤ " + fmtDur(r.Target), fmtDur(r.Latency.P50), judge(r.Latency.P50 <= r.Target)})
	}
	v.Overall = overall(v.Checks)
	return v
}

// firstInvokeVerdict judges one first invoke against its target.
func firstInvokeVerdict(what string, fi *firstInvoke) rowVerdict {
	v := rowVerdict{Target: fi.Action}
	crit := what + " ≤ " + fmtDur(fi.Target)
	if fi.Err != "" && fi.First == 0 {
		v.Checks = append(v.Checks, check{crit, "failed: " + firstLine(fi.Err), statusNotMet})
	} else {
		v.Checks = append(v.Checks, check{crit, fmtDur(fi.First), judge(fi.First <= fi.Target)})
	}
	v.Overall = overall(v.Checks)
	return v
}
