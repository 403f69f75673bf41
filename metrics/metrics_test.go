package metrics

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	h := NewHistogram([]time.Duration{time.Millisecond, 10 * time.Millisecond})
	for _, d := range []time.Duration{
		-time.Second,          // counts as 0
		0,                     // ≤ 1 ms
		time.Millisecond,      // ≤ 1 ms: the bounds are inclusive
		time.Millisecond + 1,  // ≤ 10 ms
		10 * time.Millisecond, // ≤ 10 ms
		time.Hour,             // +Inf
	} {
		h.Observe(d)
	}
	s := h.Snapshot()
	if want := []uint64{3, 5, 6}; !slices.Equal(s.Cumulative, want) {
		t.Errorf("cumulative counts %v, want %v", s.Cumulative, want)
	}
	if want := 2*time.Millisecond + 1 + 10*time.Millisecond + time.Hour; s.Sum != want {
		t.Errorf("sum %s, want %s", s.Sum, want)
	}
	if s.Count() != 6 {
		t.Errorf("count %d, want 6", s.Count())
	}
}

func TestNewHistogramRefusesBadBounds(t *testing.T) {
	for _, bounds := range [][]time.Duration{nil, {0}, {2, 1}, {-1, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHistogram(%v) did not panic", bounds)
				}
			}()
			NewHistogram(bounds)
		}()
	}
}

func TestQuantile(t *testing.T) {
	h := NewHistogram([]time.Duration{100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond})
	for range 9_999 {
		h.Observe(50 * time.Microsecond)
	}
	h.Observe(5 * time.Millisecond)
	s := h.Snapshot()
	tests := []struct {
		q      float64
		want   time.Duration
		wantOK bool
	}{
		{0.5, 100 * time.Microsecond, true},
		{0.9999, 100 * time.Microsecond, true}, // the 9,999th of 10,000
		{1, 10 * time.Millisecond, true},
	}
	for _, tt := range tests {
		got, ok := s.Quantile(tt.q)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Quantile(%v) = %s, %v; want %s, %v", tt.q, got, ok, tt.want, tt.wantOK)
		}
	}
	h.Observe(time.Minute)
	if _, ok := h.Snapshot().Quantile(1); ok {
		t.Error("the maximum is in the +Inf bucket, but Quantile(1) says it is bounded")
	}
	if _, ok := NewHistogram(DefaultBuckets).Snapshot().Quantile(0.5); ok {
		t.Error("Quantile of no observations reported a bound")
	}
}

// TestWriteAndRead writes the metrics in the exposition format and reads
// them back, as a scraper would.
func TestWriteAndRead(t *testing.T) {
	a := NewRegistry("wasm", "python:3")
	a.Collect(func() []Family {
		return []Family{
			{Name: "wisp_invoker_capacity", Help: "Activations the invoker runs at once.", Type: "gauge", Samples: []Sample{{Value: 64}}},
			{Name: "wisp_containers", Help: "Containers by status.", Type: "gauge", Samples: []Sample{
				{Labels: [][2]string{{"status", "paused"}}, Value: 2},
				{Labels: [][2]string{{"status", "ready"}, {"kind", `py"3`}}, Value: 0.5},
			}},
		}
	})
	a.Observe(Activation{Kind: "wasm", Wait: 20 * time.Microsecond, Duration: 40 * time.Microsecond})
	a.Observe(Activation{Kind: "wasm", Wait: 3 * time.Millisecond, Duration: time.Millisecond, Init: 6 * time.Millisecond, Outcome: ApplicationError})
	a.Observe(Activation{Kind: `odd"kind`, Outcome: InternalError}) // a kind not given to NewRegistry

	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		"# TYPE wisp_activation_wait_seconds histogram\n",
		`wisp_activation_wait_seconds_bucket{kind="wasm",le="2.5e-05"} 1` + "\n",
		`wisp_activation_wait_seconds_bucket{kind="wasm",le="+Inf"} 2` + "\n",
		`wisp_activation_wait_seconds_count{kind="python:3"} 0` + "\n",
		`wisp_activation_init_seconds_count{kind="wasm"} 1` + "\n",
		`wisp_activations_total{kind="wasm",status="success"} 1` + "\n",
		`wisp_activations_total{kind="wasm",status="application_error"} 1` + "\n",
		`wisp_activations_total{kind="odd\"kind",status="internal_error"} 1` + "\n",
		"# TYPE wisp_invoker_capacity gauge\nwisp_invoker_capacity 64\n",
		"# TYPE wisp_containers gauge\n" + `wisp_containers{status="paused"} 2` + "\n" + `wisp_containers{status="ready",kind="py\"3"} 0.5` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the metrics lack %q:\n%s", want, text)
		}
	}

	s, err := ReadHistogram(buf.Bytes(), "wisp_activation_wait_seconds", "wasm")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Cumulative, waitOf(a, "wasm").Cumulative) || s.Sum != 3020*time.Microsecond {
		t.Errorf("read back %+v, want %+v", s, waitOf(a, "wasm"))
	}
	if n, ok := s.AtOrBelow(time.Millisecond); !ok || n != 1 {
		t.Errorf("AtOrBelow(1ms) = %d, %v; want 1, true", n, ok)
	}
	if _, ok := s.AtOrBelow(time.Millisecond + 1); ok {
		t.Error("AtOrBelow accepted a duration that is not a bound")
	}
	if _, err := ReadHistogram(buf.Bytes(), "wisp_activation_wait_seconds", "nodejs:20"); err == nil {
		t.Error("ReadHistogram found a kind that has no series")
	}
}

func TestSub(t *testing.T) {
	a := NewRegistry("wasm")
	a.Observe(Activation{Kind: "wasm", Wait: time.Millisecond})
	before := waitOf(a, "wasm")
	a.Observe(Activation{Kind: "wasm", Wait: 5 * time.Millisecond})
	d, err := waitOf(a, "wasm").Sub(before)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count() != 1 || d.Sum != 5*time.Millisecond {
		t.Errorf("difference: %d observations summing to %s, want 1 and 5ms", d.Count(), d.Sum)
	}
	if _, err := before.Sub(waitOf(a, "wasm")); err == nil {
		t.Error("Sub accepted counts that went down")
	}
	other := NewHistogram([]time.Duration{time.Second}).Snapshot()
	if _, err := before.Sub(other); err == nil {
		t.Error("Sub accepted snapshots with different buckets")
	}
}

// TestObserveConcurrently counts from many goroutines while another
// writes the metrics (run it with -race).
func TestObserveConcurrently(t *testing.T) {
	a := NewRegistry()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			kind := []string{"wasm", "python:3"}[g%2]
			for i := range 1000 {
				a.Observe(Activation{Kind: kind, Wait: time.Duration(i) * time.Microsecond})
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			var buf bytes.Buffer
			if _, err := a.WriteTo(&buf); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	for _, kind := range []string{"wasm", "python:3"} {
		if n := waitOf(a, kind).Count(); n != 4000 {
			t.Errorf("%s: %d observations, want 4000", kind, n)
		}
	}
}

// BenchmarkObserve is the cost an invoker pays per activation.
func BenchmarkObserve(b *testing.B) {
	a := NewRegistry("wasm")
	act := Activation{Kind: "wasm", Wait: 40 * time.Microsecond, Duration: 90 * time.Microsecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.Observe(act)
		}
	})
}

// waitOf is the wait histogram of kind, as the registry holds it.
func waitOf(a *Registry, kind string) Snapshot {
	return (*a.byKind.Load())[kind].wait.Snapshot()
}

func TestFormatFloat(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "0"},
		{64, "64"},
		{512 << 20, "536870912"},
		{1 << 53, "9.007199254740992e+15"},
		{0.0005, "0.0005"},
		{2.5, "2.5"},
		{-3, "-3"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
	} {
		if got := formatFloat(tc.f); got != tc.want {
			t.Errorf("formatFloat(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}
