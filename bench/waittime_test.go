package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wispfaas/wisp/metrics"
)

func TestAnnotationInt(t *testing.T) {
	var rec activationRecord
	doc := `{"activationId":"a","annotations":[{"key":"path","value":"guest/x"},{"key":"waitTime","value":3},{"key":"initTime","value":1.5},{"key":"limits","value":{"timeout":60000}}]}`
	if err := json.Unmarshal([]byte(doc), &rec); err != nil {
		t.Fatal(err)
	}
	if v, ok := rec.annotationInt("waitTime"); !ok || v != 3 {
		t.Errorf("waitTime = %d, %v; want 3", v, ok)
	}
	for _, key := range []string{"initTime", "path", "limits", "absent"} {
		if v, ok := rec.annotationInt(key); ok {
			t.Errorf("%s = %d: not a whole number, want !ok", key, v)
		}
	}
}

func waitsOf(counts map[int64]int) []int64 {
	var out []int64
	for v, n := range counts {
		for range n {
			out = append(out, v)
		}
	}
	return out
}

func TestWaitTimesSummarize(t *testing.T) {
	var wt waitTimes
	// 10,000 values: 9,990 of 0 ms (p99.9 is the 9,990th), 9 of 1 ms, 1 of 7 ms.
	wt.summarize(waitsOf(map[int64]int{0: 9990, 1: 9, 7: 1}))
	if wt.Recorded != 10000 || wt.P50 != 0 || wt.P99 != 0 || wt.P999 != 0 || wt.P9999 != 1 || wt.Max != 7 {
		t.Errorf("got %+v", wt)
	}
	if wt.Histogram[0] != 9990 || wt.Histogram[1] != 9 || wt.Histogram[7] != 1 {
		t.Errorf("histogram %v", wt.Histogram)
	}
	var empty waitTimes
	empty.summarize(nil)
	if empty.Recorded != 0 || empty.P9999 != 0 {
		t.Errorf("empty: %+v", empty)
	}
}

func TestWaitTimeVerdictRespectsTheResolution(t *testing.T) {
	tests := []struct {
		name     string
		counts   map[int64]int
		status   string
		noteHas  string
		noteLack string
	}{
		{"all under 1 ms", map[int64]int{0: 20000}, statusMet, "", "10,000"},
		{"a recorded 1 cannot be judged", map[int64]int{0: 19990, 1: 10}, statusUndecided, "truncated", ""},
		{"2 ms is over", map[int64]int{0: 19990, 2: 10}, statusNotMet, "", ""},
		{"few values: p99.99 is the max", map[int64]int{0: 500}, statusMet, "fewer than 10,000", ""},
		{"nothing recorded", map[int64]int{}, statusNA, "no waitTime", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wt waitTimes
			wt.summarize(waitsOf(tt.counts))
			status, note := wt.verdict()
			if status != tt.status {
				t.Errorf("status %q, want %q (p99.99 %d)", status, tt.status, wt.P9999)
			}
			if tt.noteHas != "" && !strings.Contains(note, tt.noteHas) {
				t.Errorf("note %q lacks %q", note, tt.noteHas)
			}
			if tt.noteLack != "" && strings.Contains(note, tt.noteLack) {
				t.Errorf("note %q has %q", note, tt.noteLack)
			}
		})
	}
}

func TestHistogramLine(t *testing.T) {
	got := histogramLine(map[int64]int{0: 3, 2: 1}, 4)
	if got != "0 ms: 3 (75.00%), 2 ms: 1 (25.00%)" {
		t.Errorf("got %q", got)
	}
	many := map[int64]int{}
	for v := range int64(20) {
		many[v] = 1
	}
	if got := histogramLine(many, 20); !strings.HasSuffix(got, "8–19 ms: 12") {
		t.Errorf("long tail not folded: %q", got)
	}
}

// TestFineWaits reads a real metrics endpoint around two loaded rounds,
// with waits of another target counted between them, and judges p99.99
// at microsecond resolution.
func TestFineWaits(t *testing.T) {
	m := metrics.NewRegistry("wasm")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = m.WriteTo(w)
	}))
	defer srv.Close()
	rec := newFineWaitRecorder(&wispd{base: srv.URL})
	observe := func(n int, wait time.Duration) {
		for range n {
			m.Observe(metrics.Activation{Kind: "wasm", Wait: wait})
		}
	}
	// Round 1: 9,999 waits of 40 µs; between the rounds another target's
	// slow waits, which must not count; round 2: one of 3 ms.
	rec.around(func() { observe(9_999, 40*time.Microsecond) })
	observe(100, time.Second)
	rec.around(func() { observe(1, 3*time.Millisecond) })
	fw := rec.result()
	if fw == nil || fw.Err != "" || fw.Rounds != 2 || fw.Count != 10_000 || fw.AtMost1ms != 9_999 {
		t.Fatalf("result %+v", fw)
	}
	if fw.P50 != 50*time.Microsecond || fw.P9999 != 50*time.Microsecond {
		t.Errorf("p50 bound %s, p99.99 bound %s; want 50µs both", fw.P50, fw.P9999)
	}
	if got := fw.verdict(); got != statusMet {
		t.Errorf("9,999 of 10,000 waits ≤ 1 ms: %s, want %s", got, statusMet)
	}
	if len(fw.Buckets) != 2 || fw.Buckets[0] != (fineBucket{50 * time.Microsecond, 9_999}) || fw.Buckets[1] != (fineBucket{5 * time.Millisecond, 1}) {
		t.Errorf("buckets %+v", fw.Buckets)
	}

	// Two waits over 1 ms in 10,000 is over the budget.
	rec2 := newFineWaitRecorder(&wispd{base: srv.URL})
	rec2.around(func() { observe(9_998, 40*time.Microsecond); observe(2, 1100*time.Microsecond) })
	if got := rec2.result().verdict(); got != statusNotMet {
		t.Errorf("9,998 of 10,000 waits ≤ 1 ms: %s, want %s", got, statusNotMet)
	}

	// A wispd without /metrics: the rounds still run, the error is kept.
	rec3 := newFineWaitRecorder(&wispd{base: srv.URL + "/nothing"})
	ran := false
	rec3.around(func() { ran = true })
	if fw := rec3.result(); !ran || fw == nil || fw.Count != 0 || !strings.Contains(fw.Err, "404") || fw.verdict() != statusNA {
		t.Errorf("without metrics: ran %v, result %+v", ran, fw)
	}
}
