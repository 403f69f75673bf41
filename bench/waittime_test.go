package main

import (
	"encoding/json"
	"strings"
	"testing"
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
