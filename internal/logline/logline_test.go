package logline

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	at := time.Date(2026, 11, 25, 18, 0, 7, 123456789, time.FixedZone("CET", 3600))
	if got, want := Format(at, "stdout", "hello"), "2026-11-25T17:00:07.123456Z stdout: hello"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	if got, want := Format(at, "stderr", []byte("")), "2026-11-25T17:00:07.123456Z stderr: "; got != want {
		t.Errorf("Format of an empty line = %q, want %q", got, want)
	}
}

// TestAppendTimeAsAppendFormat compares AppendTime with time's own
// formatting, on edges and on random instants over ±12,000 years.
func TestAppendTimeAsAppendFormat(t *testing.T) {
	times := []time.Time{
		{}, time.Unix(0, 0), time.Unix(0, 999), time.Unix(-1, 999_999_999),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 12, 30, 45, 1000, time.FixedZone("x", -5*3600)),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		times = append(times, time.Unix(r.Int64N(2*380_000_000_000)-380_000_000_000, r.Int64N(1e9)))
	}
	for _, at := range times {
		got := string(AppendTime([]byte("x"), at))
		want := "x" + at.UTC().Format(Layout)
		if got != want {
			t.Fatalf("AppendTime(%v) = %q, want %q", at, got, want)
		}
	}
}

func BenchmarkFormat(b *testing.B) {
	at := time.Now()
	line := []byte("hello: greeting wisp")
	for b.Loop() {
		_ = Format(at, "stdout", line)
	}
}
