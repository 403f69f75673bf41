package main

import (
	"strings"
	"testing"
	"time"
)

// TestPrintReportWithSkippedRows prints a run where workerd and one SDK
// example were skipped and nothing after the load phases ran: every table
// must still print, and say why rows are missing.
func TestPrintReportWithSkippedRows(t *testing.T) {
	floor := fakeTarget("floor", 200*time.Microsecond, time.Millisecond, 15000)
	floor.wasm = false
	res := &results{
		Machine: machine{CPUs: 2, OS: "linux", Arch: "amd64", Go: "go1.26", FreshPage: 14300 * time.Nanosecond},
		Workerd: &workerdInfo{Version: "1.2.3", Skipped: "install: npm install workerd@1.2.3: exit status 1\nnpm error code ETARGET\nnpm error notarget No matching version\nnpm error more\nnpm error even more"},
		Modules: []*wasmModule{
			{Name: "sdk-c", Form: "reactor", Bytes: 2048},
			{Name: "sdk-as", Form: "reactor", Skipped: "sdk/assemblyscript/examples/hello/package.json: not in the tree yet"},
		},
		Targets: []*target{
			floor,
			{Name: "workerd", Skipped: "install: npm failed"},
			fakeTarget("sdk-c", 500*time.Microsecond, 2*time.Millisecond, 3000),
			{Name: "sdk-as", Skipped: "sdk/assemblyscript/examples/hello/package.json: not in the tree yet", wasm: true},
		},
		InProcess: []*inProcess{
			{Name: "sdk-c", Form: "reactor", Target: 50 * time.Microsecond, Calls: 100, Latency: summary{P50: 40 * time.Microsecond}},
			{Name: "sdk-as", Form: "reactor", Skipped: "sdk/assemblyscript/examples/hello/package.json: not in the tree yet"},
		},
		FirstInvokes: &firstInvokes{Skipped: "the Go SDK example was not built"},
	}
	var b strings.Builder
	printReport(&b, config{n: 100, clients: 50, duration: time.Second, inprocCalls: 100, inprocMax: time.Second}, res)
	out := b.String()
	for _, want := range []string{
		"(skipped, see below)",
		"Fresh memory: the first touch of a 4 KiB page costs 14.3µs here",
		"workerd not measured n/a",
		"waitTime: not measured",
		"First invokes: not measured: the Go SDK example was not built.",
		"Skipped:\n  workerd: install: npm install workerd@1.2.3: exit status 1\n    npm error code ETARGET\n    npm error notarget No matching version\n    …",
		"  sdk-as: sdk/assemblyscript/examples/hello/package.json: not in the tree yet",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if v := res.Verdicts["in_process"]; len(v) != 2 || v[0].Overall != statusMet || v[1].Overall != statusNA {
		t.Errorf("in-process verdicts: %+v", v)
	}
	if v := res.Verdicts["http"]; len(v) != 1 || v[0].Target != "sdk-c" {
		t.Errorf("http verdicts: %+v", v)
	}
}
