// Package metrics counts what an invoker's activations did (how long they
// waited, initialised and ran, and how they ended) in fixed-bucket
// histograms with microsecond resolution, and writes them, with what its
// collectors read at that moment (the invoker's load, the container
// pool), in Prometheus's text exposition format (version 0.0.4), which
// Prometheus, VictoriaMetrics, Grafana Agent and curl all read.
//
// Records carry waitTime, initTime and duration in whole milliseconds, as
// OpenWhisk's do; the histograms are what tells a 40 µs wait from a
// 900 µs one. Labels are the runtime kind and, for the counter, the
// status: never the action or the namespace, so that the series stay few
// and the endpoint tells an anonymous reader nothing about whose code
// runs (docs/rationale.md).
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ContentType is the media type of the text WriteTo writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// DefaultBuckets are the upper bounds of the activation histograms: fine
// below a millisecond, where Wasm activations and their scheduling live,
// and up to the longest time limit of an action (5 minutes).
var DefaultBuckets = []time.Duration{
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
}

// Histogram counts durations in buckets with fixed upper bounds. Observe
// is safe for concurrent use and does not allocate.
type Histogram struct {
	bounds []time.Duration
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Int64    // nanoseconds
}

// NewHistogram returns a histogram with the given upper bounds, which
// must be positive and increasing.
func NewHistogram(bounds []time.Duration) *Histogram {
	if len(bounds) == 0 || !slices.IsSorted(bounds) || bounds[0] <= 0 {
		panic("metrics: histogram bounds must be positive and increasing")
	}
	return &Histogram{bounds: slices.Clone(bounds), counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe counts d (a negative d counts as 0).
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	// The first bound ≥ d: Prometheus's buckets are "less or equal".
	i, _ := slices.BinarySearch(h.bounds, d)
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot is a histogram's counts at one moment.
type Snapshot struct {
	// Bounds are the buckets' upper bounds; the last bucket, +Inf, has
	// none.
	Bounds []time.Duration
	// Cumulative[i] counts the observations ≤ Bounds[i]; its last element,
	// one past Bounds, is the total.
	Cumulative []uint64
	Sum        time.Duration
}

// Count is the number of observations.
func (s Snapshot) Count() uint64 { return s.Cumulative[len(s.Cumulative)-1] }

// Snapshot returns the counts so far. Observations made meanwhile may be
// partly in it (a count without its sum), as with any Prometheus scrape.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Bounds: h.bounds, Cumulative: make([]uint64, len(h.counts)), Sum: time.Duration(h.sum.Load())}
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
		s.Cumulative[i] = total
	}
	return s
}

// Outcome is how an activation ended, the status label of the counter.
type Outcome int

// The outcomes, as OpenWhisk's four response statuses.
const (
	Success Outcome = iota
	ApplicationError
	DeveloperError
	InternalError
	outcomes
)

var outcomeNames = [outcomes]string{"success", "application_error", "developer_error", "internal_error"}

// Activation is what Registry.Observe counts of one activation.
type Activation struct {
	Kind    string
	Outcome Outcome
	// Wait is from the activation being queued (or handed over) to its
	// start; Duration from its start to its end.
	Wait, Duration time.Duration
	// Init is what starting a new sandbox cost the activation; 0 when it
	// found one ready (not observed then).
	Init time.Duration
}

// kindMetrics are the series of one runtime kind.
type kindMetrics struct {
	wait, init, duration *Histogram
	outcomes             [outcomes]atomic.Uint64
}

func newKindMetrics() *kindMetrics {
	return &kindMetrics{wait: NewHistogram(DefaultBuckets), init: NewHistogram(DefaultBuckets), duration: NewHistogram(DefaultBuckets)}
}

// Registry holds a node's metrics: the activations its invoker ran, by
// runtime kind, and the collectors that read the rest (the invoker's
// load, the container pool) when the metrics are written. The zero value
// is not usable: call NewRegistry.
type Registry struct {
	mu         sync.Mutex
	byKind     atomic.Pointer[map[string]*kindMetrics] // copied on write: Observe only loads
	collectors []func() []Family
}

// Family is one metric read by a collector: its samples, of one type.
type Family struct {
	Name, Help string
	// Type is "gauge" or "counter".
	Type    string
	Samples []Sample
}

// Sample is one series of a Family.
type Sample struct {
	// Labels are name, value pairs: {"status", "paused"}; none for a
	// metric of one series.
	Labels [][2]string
	Value  float64
}

// NewRegistry returns a registry with activation series for the given
// kinds already present (at zero), so that a scrape shows every kind the
// invoker runs before it has run any.
func NewRegistry(kinds ...string) *Registry {
	m := make(map[string]*kindMetrics, len(kinds))
	for _, k := range kinds {
		m[k] = newKindMetrics()
	}
	a := &Registry{}
	a.byKind.Store(&m)
	return a
}

// Collect adds a collector, called each time the metrics are written; its
// families follow the activation series, in the order the collectors were
// added. Metric names must be valid Prometheus names. Safe for concurrent
// use.
func (a *Registry) Collect(collector func() []Family) {
	a.mu.Lock()
	a.collectors = append(a.collectors, collector)
	a.mu.Unlock()
}

// Observe counts one activation.
func (a *Registry) Observe(act Activation) {
	km := a.kind(act.Kind)
	km.wait.Observe(act.Wait)
	km.duration.Observe(act.Duration)
	if act.Init > 0 {
		km.init.Observe(act.Init)
	}
	if act.Outcome >= 0 && act.Outcome < outcomes {
		km.outcomes[act.Outcome].Add(1)
	}
}

func (a *Registry) kind(kind string) *kindMetrics {
	if km := (*a.byKind.Load())[kind]; km != nil {
		return km
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := *a.byKind.Load()
	if km := old[kind]; km != nil {
		return km
	}
	m := make(map[string]*kindMetrics, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	km := newKindMetrics()
	m[kind] = km
	a.byKind.Store(&m)
	return km
}

// The metric names.
const (
	nameWait     = "wisp_activation_wait_seconds"
	nameInit     = "wisp_activation_init_seconds"
	nameDuration = "wisp_activation_duration_seconds"
	nameTotal    = "wisp_activations_total"
)

// WriteTo writes every series in Prometheus's text format, kinds in
// alphabetical order, in one write.
func (a *Registry) WriteTo(w io.Writer) (int64, error) {
	byKind := *a.byKind.Load()
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	var b bytes.Buffer
	hists := []struct {
		name, help string
		of         func(*kindMetrics) *Histogram
	}{
		{nameWait, "Time from an activation being queued, or handed to the invoker in-process, to its start.", func(k *kindMetrics) *Histogram { return k.wait }},
		{nameInit, "Time an activation spent starting a new sandbox (a Wasm instance or a container's init); activations that found one ready are not counted.", func(k *kindMetrics) *Histogram { return k.init }},
		{nameDuration, "Time from an activation's start to its end, init included.", func(k *kindMetrics) *Histogram { return k.duration }},
	}
	for _, h := range hists {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", h.name, h.help, h.name)
		for _, k := range kinds {
			writeHistogram(&b, h.name, k, h.of(byKind[k]).Snapshot())
		}
	}
	fmt.Fprintf(&b, "# HELP %s Activations run, by how they ended (OpenWhisk's response status).\n# TYPE %s counter\n", nameTotal, nameTotal)
	for _, k := range kinds {
		for o := range outcomes {
			fmt.Fprintf(&b, "%s{kind=%s,status=%q} %d\n", nameTotal, quote(k), outcomeNames[o], byKind[k].outcomes[o].Load())
		}
	}
	a.mu.Lock()
	collectors := slices.Clone(a.collectors)
	a.mu.Unlock()
	for _, collect := range collectors {
		for _, f := range collect() {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.Name, f.Help, f.Name, f.Type)
			for _, smp := range f.Samples {
				b.WriteString(f.Name)
				for i, l := range smp.Labels {
					sep := ","
					if i == 0 {
						sep = "{"
					}
					b.WriteString(sep + l[0] + "=" + quote(l[1]))
				}
				if len(smp.Labels) > 0 {
					b.WriteByte('}')
				}
				b.WriteString(" " + formatFloat(smp.Value) + "\n")
			}
		}
	}
	return b.WriteTo(w)
}

func writeHistogram(w io.Writer, name, kind string, s Snapshot) {
	k := quote(kind)
	for i, b := range s.Bounds {
		fmt.Fprintf(w, "%s_bucket{kind=%s,le=\"%s\"} %d\n", name, k, formatFloat(b.Seconds()), s.Cumulative[i])
	}
	fmt.Fprintf(w, "%s_bucket{kind=%s,le=\"+Inf\"} %d\n", name, k, s.Count())
	fmt.Fprintf(w, "%s_sum{kind=%s} %s\n", name, k, formatFloat(s.Sum.Seconds()))
	fmt.Fprintf(w, "%s_count{kind=%s} %d\n", name, k, s.Count())
}

// quote quotes a label value: backslash, double quote and newline escaped,
// as the exposition format wants (strconv.Quote would also escape other
// bytes, which the format does not decode).
func quote(v string) string {
	b := make([]byte, 0, len(v)+2)
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case f == math.Trunc(f) && math.Abs(f) < 1<<53:
		// A count or a size in bytes reads as one: 536870912, not
		// 'g''s 5.36870912e+08.
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// ReadHistogram finds histogram name's series for kind in text of
// Prometheus's format, as WriteTo writes it, and returns its counts. It is
// how a client (the benchmark, the tests) reads what a scrape says.
func ReadHistogram(text []byte, name, kind string) (Snapshot, error) {
	var s Snapshot
	prefix := name + "_bucket{kind=" + quote(kind) + ",le=\""
	count := name + "_count{kind=" + quote(kind) + "} "
	sum := name + "_sum{kind=" + quote(kind) + "} "
	var inf uint64
	var haveInf, haveCount bool
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, prefix):
			le, value, ok := strings.Cut(line[len(prefix):], "\"} ")
			if !ok {
				return Snapshot{}, fmt.Errorf("metrics: malformed bucket line %q", line)
			}
			n, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return Snapshot{}, fmt.Errorf("metrics: bucket line %q: %w", line, err)
			}
			if le == "+Inf" {
				inf, haveInf = n, true
				continue
			}
			secs, err := strconv.ParseFloat(le, 64)
			if err != nil {
				return Snapshot{}, fmt.Errorf("metrics: bucket line %q: %w", line, err)
			}
			s.Bounds = append(s.Bounds, time.Duration(math.Round(secs*1e9)))
			s.Cumulative = append(s.Cumulative, n)
		case strings.HasPrefix(line, sum):
			secs, err := strconv.ParseFloat(line[len(sum):], 64)
			if err != nil {
				return Snapshot{}, fmt.Errorf("metrics: sum line %q: %w", line, err)
			}
			s.Sum = time.Duration(math.Round(secs * 1e9))
		case strings.HasPrefix(line, count):
			haveCount = true
		}
	}
	if !haveInf || !haveCount {
		return Snapshot{}, fmt.Errorf("metrics: no histogram %s for kind %q", name, kind)
	}
	s.Cumulative = append(s.Cumulative, inf)
	return s, nil
}

// Sub returns the observations made between earlier and s, two snapshots
// of one histogram.
func (s Snapshot) Sub(earlier Snapshot) (Snapshot, error) {
	if !slices.Equal(s.Bounds, earlier.Bounds) || len(s.Cumulative) != len(earlier.Cumulative) {
		return Snapshot{}, fmt.Errorf("metrics: the snapshots have different buckets")
	}
	d := Snapshot{Bounds: s.Bounds, Cumulative: make([]uint64, len(s.Cumulative)), Sum: s.Sum - earlier.Sum}
	for i := range s.Cumulative {
		if s.Cumulative[i] < earlier.Cumulative[i] {
			return Snapshot{}, fmt.Errorf("metrics: the counts went down (the server restarted?)")
		}
		d.Cumulative[i] = s.Cumulative[i] - earlier.Cumulative[i]
	}
	return d, nil
}

// AtOrBelow is how many observations were at most bound, which must be one
// of the bucket bounds.
func (s Snapshot) AtOrBelow(bound time.Duration) (uint64, bool) {
	i, ok := slices.BinarySearch(s.Bounds, bound)
	if !ok {
		return 0, false
	}
	return s.Cumulative[i], true
}

// Quantile returns the upper bound of the bucket holding quantile q (0 < q
// ≤ 1) of the observations: the q-quantile is at most that, and above the
// bucket before. ok is false without observations or when the quantile is
// in the +Inf bucket.
func (s Snapshot) Quantile(q float64) (bound time.Duration, ok bool) {
	total := s.Count()
	if total == 0 {
		return 0, false
	}
	// The rank of the quantile, as nearest-rank percentiles count it; the
	// epsilon keeps q×total from rounding up past an exact rank (0.9999 ×
	// 10,000 is not exactly 9,999 in floating point).
	rank := max(1, uint64(math.Ceil(q*float64(total)-1e-9)))
	for i, b := range s.Bounds {
		if s.Cumulative[i] >= rank {
			return b, true
		}
	}
	return 0, false
}
