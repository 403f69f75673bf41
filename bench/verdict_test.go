package main

import (
	"testing"
	"time"
)

// fakeTarget has a 1-client p50 and p99 and a many-client throughput.
func fakeTarget(name string, p50, p99 time.Duration, rps float64) *target {
	t := &target{Name: name, wasm: true}
	t.Sequential = phase{Clients: 1, OK: 1000, Elapsed: time.Second, Latency: summary{P50: p50, P99: p99}}
	t.Concurrent = phase{Clients: 50, OK: int(rps), Elapsed: time.Second}
	return t
}

func statuses(v rowVerdict) []string {
	var out []string
	for _, c := range v.Checks {
		out = append(out, c.Status)
	}
	return append(out, v.Overall)
}

func TestHTTPVerdict(t *testing.T) {
	floor := fakeTarget("floor", 100*time.Microsecond, 300*time.Microsecond, 20000)
	workerd := fakeTarget("workerd", 350*time.Microsecond, 900*time.Microsecond, 6000)
	tests := []struct {
		name    string
		row     *target
		workerd *target
		want    []string // p50 ×floor, p50 < workerd, p99, ×workerd, ≥ 10,000, overall
	}{
		{"all met", fakeTarget("w", 300*time.Microsecond, time.Millisecond, 10000), workerd,
			[]string{statusMet, statusMet, statusMet, statusMet, statusMet, statusMet}},
		{"slow and weak", fakeTarget("w", 400*time.Microsecond, 2*time.Millisecond, 8000), workerd,
			[]string{statusNotMet, statusNotMet, statusNotMet, statusNotMet, statusNotMet, statusNotMet}},
		{"fast but under 10,000/s", fakeTarget("w", 250*time.Microsecond, 800*time.Microsecond, 9999), workerd,
			[]string{statusMet, statusMet, statusMet, statusMet, statusNotMet, statusNotMet}},
		{"equal to workerd's p50 is not below it", fakeTarget("w", 350*time.Microsecond, 800*time.Microsecond, 12000), workerd,
			[]string{statusNotMet, statusNotMet, statusMet, statusMet, statusMet, statusNotMet}},
		{"no workerd: its checks do not apply", fakeTarget("w", 250*time.Microsecond, 800*time.Microsecond, 12000), &target{Name: "workerd", Skipped: "npm failed"},
			[]string{statusMet, statusNA, statusMet, statusNA, statusMet, statusMet}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statuses(httpVerdict(tt.row, floor, tt.workerd))
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestOverall(t *testing.T) {
	c := func(s ...string) []check {
		var out []check
		for _, x := range s {
			out = append(out, check{Status: x})
		}
		return out
	}
	tests := []struct {
		checks []check
		want   string
	}{
		{c(statusMet, statusNA), statusMet},
		{c(statusMet, statusUndecided), statusUndecided},
		{c(statusUndecided, statusNotMet), statusNotMet},
		{c(statusNA), statusNA},
		{nil, statusNA},
	}
	for _, tt := range tests {
		if got := overall(tt.checks); got != tt.want {
			t.Errorf("overall(%v) = %s, want %s", tt.checks, got, tt.want)
		}
	}
}

func TestInProcessAndFirstInvokeVerdicts(t *testing.T) {
	r := &inProcess{Name: "sdk-c", Target: 50 * time.Microsecond, Calls: 10, Latency: summary{P50: 49 * time.Microsecond}}
	if v := inProcessVerdict(r); v.Overall != statusMet {
		t.Errorf("49µs ≤ 50µs: %+v", v)
	}
	r.Latency.P50 = 51 * time.Microsecond
	if v := inProcessVerdict(r); v.Overall != statusNotMet {
		t.Errorf("51µs > 50µs: %+v", v)
	}
	if v := inProcessVerdict(&inProcess{Name: "wisp-go", Calls: 10}); v.Overall != statusNA {
		t.Errorf("no target: %+v", v)
	}
	if v := inProcessVerdict(&inProcess{Name: "x", Skipped: "not built"}); v.Overall != statusNA {
		t.Errorf("skipped: %+v", v)
	}
	fi := &firstInvoke{Action: "a", Target: 5 * time.Millisecond, First: 4 * time.Millisecond}
	if v := firstInvokeVerdict("first", fi); v.Overall != statusMet {
		t.Errorf("4ms ≤ 5ms: %+v", v)
	}
	fi = &firstInvoke{Action: "a", Target: 5 * time.Millisecond, Err: "first invoke: status 502"}
	if v := firstInvokeVerdict("first", fi); v.Overall != statusNotMet {
		t.Errorf("a failed invoke: %+v", v)
	}
}
