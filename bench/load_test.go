package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

func ms(vals ...int) []time.Duration {
	out := make([]time.Duration, len(vals))
	for i, v := range vals {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond // 1..100 ms
	}
	thousand := make([]time.Duration, 1000)
	for i := range thousand {
		thousand[i] = time.Duration(i+1) * time.Millisecond // 1..1000 ms
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value, p50", ms(7), 50, 7 * time.Millisecond},
		{"one value, p99", ms(7), 99, 7 * time.Millisecond},
		{"two values, p50 is the lower", ms(1, 2), 50, 1 * time.Millisecond},
		{"two values, p51 is the upper", ms(1, 2), 51, 2 * time.Millisecond},
		{"odd count, p50 is the middle", ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},
		{"1..100, p50", hundred, 50, 50 * time.Millisecond},
		{"1..100, p90", hundred, 90, 90 * time.Millisecond},
		{"1..100, p99", hundred, 99, 99 * time.Millisecond},
		{"1..100, p99.9 is the max", hundred, 99.9, 100 * time.Millisecond},
		{"1..100, p100 is the max", hundred, 100, 100 * time.Millisecond},
		{"1..100, tiny p is the min", hundred, 0.001, 1 * time.Millisecond},
		{"1..1000, p99.9 is an exact rank", thousand, 99.9, 999 * time.Millisecond},
		{"1..1000, p99", thousand, 99, 990 * time.Millisecond},
		{"ten values, p99 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSortsAndDescribes(t *testing.T) {
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(i+1) * time.Microsecond
	}
	rand.Shuffle(len(lat), func(i, j int) { lat[i], lat[j] = lat[j], lat[i] })
	s := summarize(lat)
	want := summary{
		P50:  500 * time.Microsecond,
		P90:  900 * time.Microsecond,
		P99:  990 * time.Microsecond,
		P999: 999 * time.Microsecond,
		Max:  1000 * time.Microsecond,
		Mean: 500500 * time.Nanosecond,
	}
	if s != want {
		t.Errorf("summarize = %+v, want %+v", s, want)
	}
	if (summarize(nil) != summary{}) {
		t.Errorf("summarize(nil) should be zero")
	}
}

func TestPercentileIsMonotonic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 300; n += 7 {
		lat := make([]time.Duration, n)
		for i := range lat {
			lat[i] = time.Duration(r.IntN(1_000_000))
		}
		summarize(lat) // sorts
		prev := time.Duration(-1)
		for p := 0.5; p <= 100; p += 0.5 {
			got := percentile(lat, p)
			if got < prev {
				t.Fatalf("n=%d: percentile(%v)=%v < percentile(%v)=%v", n, p, got, p-0.5, prev)
			}
			prev = got
		}
		if percentile(lat, 100) != lat[n-1] {
			t.Fatalf("n=%d: p100 is not the max", n)
		}
	}
}
