package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/wispfaas/wisp/metrics"
)

// waitTime is OpenWhisk's "waitTime" annotation of an activation record:
// how long the activation waited between the gateway queueing it and the
// invoker starting it, in milliseconds. Wisp's invoker writes whole
// milliseconds, truncated (Duration.Milliseconds): 0 means under 1 ms.

// waitTimeTarget is DESIGN.md's budget: p99.99 of waitTime ≤ 1 ms.
const waitTimeTarget = 1 // ms

// waitTimes is the waitTime of every activation of one load phase.
type waitTimes struct {
	Target   string `json:"target"`
	Phase    string `json:"phase"`
	IDs      int    `json:"ids"`      // activation ids the phase returned
	Recorded int    `json:"recorded"` // of them, records fetched with a waitTime
	Missing  int    `json:"missing"`  // 404: no record
	NoWait   int    `json:"no_wait_time"`
	// NewInstances counts the records with an initTime annotation: the
	// activation started a new sandbox instance.
	NewInstances int `json:"new_instances"`
	Errors       int `json:"errors"`
	// FirstError is the first failure to fetch or read a record.
	FirstError string        `json:"first_error,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	// Percentiles of the recorded waitTimes, in milliseconds as recorded.
	P50   int64 `json:"p50_ms"`
	P99   int64 `json:"p99_ms"`
	P999  int64 `json:"p999_ms"`
	P9999 int64 `json:"p9999_ms"`
	Max   int64 `json:"max_ms"`
	// Histogram counts the activations by recorded waitTime (ms).
	Histogram map[int64]int `json:"histogram_ms"`
	// Fine is the same phase's waits from wispd's metrics, in µs buckets;
	// nil when wispd has no /metrics (an older build).
	Fine *fineWaits `json:"fine,omitempty"`
}

// activationRecord is the part of an activation record the benchmark reads.
type activationRecord struct {
	ActivationID string `json:"activationId"`
	Annotations  []struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	} `json:"annotations"`
}

// annotationInt returns annotation key as a whole number.
func (r *activationRecord) annotationInt(key string) (int64, bool) {
	for _, a := range r.Annotations {
		if a.Key != key {
			continue
		}
		var f float64
		if err := json.Unmarshal(a.Value, &f); err != nil || f != math.Trunc(f) {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

// activation fetches the record of id: (nil, nil) when wispd has none.
func (w *wispd) activation(ctx context.Context, c *http.Client, id string) (*activationRecord, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/api/v1/namespaces/_/activations/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header = w.authHeader()
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		var rec activationRecord
		if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
			return nil, fmt.Errorf("decode activation %s: %w", id, err)
		}
		if rec.ActivationID != id {
			return nil, fmt.Errorf("asked for activation %s, got %q", id, rec.ActivationID)
		}
		return &rec, nil
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, nil
	default:
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("get activation %s: %s", id, resp.Status)
	}
}

// fetchWaitTimes fetches the record of every id with workers parallel
// clients and summarizes their waitTime.
func fetchWaitTimes(ctx context.Context, w *wispd, ids []string, workers int) *waitTimes {
	wt := &waitTimes{IDs: len(ids)}
	start := time.Now()
	var (
		mu    sync.Mutex
		waits []int64
		next  = make(chan string)
		wg    sync.WaitGroup
	)
	c := newClient()
	defer c.CloseIdleConnections()
	for range max(1, workers) {
		wg.Go(func() {
			for id := range next {
				rec, err := w.activation(ctx, c, id)
				var v int64
				ok, fresh := false, false
				if err == nil && rec != nil {
					v, ok = rec.annotationInt("waitTime")
					_, fresh = rec.annotationInt("initTime")
				}
				mu.Lock()
				if fresh {
					wt.NewInstances++
				}
				switch {
				case err != nil:
					if ctx.Err() == nil {
						wt.Errors++
						if wt.FirstError == "" {
							wt.FirstError = err.Error()
						}
					}
				case rec == nil:
					wt.Missing++
				case !ok:
					wt.NoWait++
				default:
					waits = append(waits, v)
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		next <- id
	}
	close(next)
	wg.Wait()
	wt.Elapsed = time.Since(start)
	wt.summarize(waits)
	return wt
}

// summarize sets the percentiles and histogram from the recorded waits.
func (wt *waitTimes) summarize(waits []int64) {
	wt.Recorded = len(waits)
	wt.Histogram = map[int64]int{}
	if len(waits) == 0 {
		return
	}
	slices.Sort(waits)
	for _, v := range waits {
		wt.Histogram[v]++
	}
	d := make([]time.Duration, len(waits)) // percentile works on durations; 1 ns stands for 1 ms here
	for i, v := range waits {
		d[i] = time.Duration(v)
	}
	wt.P50, wt.P99 = int64(percentile(d, 50)), int64(percentile(d, 99))
	wt.P999, wt.P9999 = int64(percentile(d, 99.9)), int64(percentile(d, 99.99))
	wt.Max = waits[len(waits)-1]
}

// verdict judges p99.99 ≤ 1 ms, given that the records hold whole
// milliseconds, truncated: a recorded 0 is under 1 ms (met), a recorded 1
// is somewhere in [1 ms, 2 ms) (undecided: the resolution cannot tell), 2
// or more is over (not met). The note says what else limits the reading.
func (wt *waitTimes) verdict() (status, note string) {
	switch {
	case wt.Recorded == 0:
		return statusNA, "no waitTime was recorded"
	case wt.P9999 < waitTimeTarget:
		status = statusMet
	case wt.P9999 == waitTimeTarget:
		status = statusUndecided
		note = "a recorded 1 means 1.0–1.99 ms (waitTime is truncated to whole ms), so ≤ 1 ms cannot be told from the records"
	default:
		status = statusNotMet
	}
	if wt.Recorded < 10_000 {
		if note != "" {
			note += "; "
		}
		note += fmt.Sprintf("with %d values (fewer than 10,000) p99.99 is the maximum", wt.Recorded)
	}
	return status, note
}

// fineWaits is a load phase's waits as wispd's own metrics count them
// (GET /metrics: wisp_activation_wait_seconds of kind wasm, read before
// and after each of the target's loaded rounds): the same quantity as the
// records' waitTime, in buckets from 10 µs up, where the records have
// whole milliseconds. Only that target runs while its rounds do, so the
// difference is its activations, all of them.
type fineWaits struct {
	Rounds int    `json:"rounds"`
	Count  uint64 `json:"count"`
	// AtMost1ms counts the waits of at most 1 ms (a bucket bound).
	AtMost1ms uint64 `json:"at_most_1ms"`
	// P50, P99, P99.9 and P99.99 as the upper bound of the bucket holding
	// each (the percentile is at most that, and above the bucket before);
	// 0 when it is in the last, unbounded bucket.
	P50   time.Duration `json:"p50_bound_ns"`
	P99   time.Duration `json:"p99_bound_ns"`
	P999  time.Duration `json:"p999_bound_ns"`
	P9999 time.Duration `json:"p9999_bound_ns"`
	// Buckets are the counts by bucket, not cumulative: Le is the upper
	// bound (0 for the unbounded bucket above Top, the largest bound).
	Buckets []fineBucket  `json:"buckets"`
	Top     time.Duration `json:"top_bound_ns"`
	Err     string        `json:"error,omitempty"`

	sum metrics.Snapshot
}

type fineBucket struct {
	Le    time.Duration `json:"le_ns"`
	Count uint64        `json:"count"`
}

// fineWaitRecorder is a run's around hook (measure.go): it adds up
// wispd's wait histogram over each loaded round.
type fineWaitRecorder struct {
	w    *wispd
	c    *http.Client
	fine fineWaits
}

func newFineWaitRecorder(w *wispd) *fineWaitRecorder {
	return &fineWaitRecorder{w: w, c: newClient()}
}

func (f *fineWaitRecorder) around(load func()) {
	if f.fine.Err != "" {
		load()
		return
	}
	before, err := f.w.waitHistogram(f.c)
	if err != nil {
		f.fine.Err = err.Error()
		load()
		return
	}
	load()
	after, err := f.w.waitHistogram(f.c)
	if err == nil {
		var d metrics.Snapshot
		if d, err = after.Sub(before); err == nil {
			err = f.fine.add(d)
		}
	}
	if err != nil {
		f.fine.Err = err.Error()
	}
}

// add sums d into the phase's counts.
func (fw *fineWaits) add(d metrics.Snapshot) error {
	if fw.Rounds == 0 {
		fw.sum = metrics.Snapshot{Bounds: d.Bounds, Cumulative: make([]uint64, len(d.Cumulative))}
	} else if !slices.Equal(fw.sum.Bounds, d.Bounds) {
		return fmt.Errorf("wispd's wait buckets changed between rounds")
	}
	for i := range d.Cumulative {
		fw.sum.Cumulative[i] += d.Cumulative[i]
	}
	fw.sum.Sum += d.Sum
	fw.Rounds++
	return nil
}

// result summarizes the rounds; nil when none was read.
func (f *fineWaitRecorder) result() *fineWaits {
	fw := &f.fine
	if fw.Rounds == 0 && fw.Err == "" {
		return nil
	}
	if fw.Rounds == 0 {
		return fw
	}
	s := fw.sum
	fw.Count = s.Count()
	fw.Top = s.Bounds[len(s.Bounds)-1]
	fw.AtMost1ms, _ = s.AtOrBelow(time.Millisecond)
	fw.P50, _ = s.Quantile(0.50)
	fw.P99, _ = s.Quantile(0.99)
	fw.P999, _ = s.Quantile(0.999)
	fw.P9999, _ = s.Quantile(0.9999)
	prev := uint64(0)
	for i, c := range s.Cumulative {
		var le time.Duration
		if i < len(s.Bounds) {
			le = s.Bounds[i]
		}
		if c > prev {
			fw.Buckets = append(fw.Buckets, fineBucket{Le: le, Count: c - prev})
		}
		prev = c
	}
	return fw
}

// verdict judges p99.99 ≤ 1 ms from the metrics: met when at least
// 99.99% of the waits (by nearest rank) were at most 1 ms.
func (fw *fineWaits) verdict() string {
	if fw == nil || fw.Count == 0 {
		return statusNA
	}
	need := uint64(math.Ceil(0.9999*float64(fw.Count) - 1e-9))
	if fw.AtMost1ms >= need {
		return statusMet
	}
	return statusNotMet
}

// waitHistogram reads wispd's Wasm wait histogram from GET /metrics.
func (w *wispd) waitHistogram(c *http.Client) (metrics.Snapshot, error) {
	h, err := w.wasmHistograms(c)
	return h.Wait, err
}

// activationHistograms are wispd's histograms of its Wasm activations.
type activationHistograms struct {
	Wait, Init, Duration metrics.Snapshot
}

// wasmHistograms reads wispd's Wasm activation histograms from GET /metrics.
func (w *wispd) wasmHistograms(c *http.Client) (activationHistograms, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/metrics", nil)
	if err != nil {
		return activationHistograms{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return activationHistograms{}, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return activationHistograms{}, fmt.Errorf("GET /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return activationHistograms{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var h activationHistograms
	for _, s := range []struct {
		name string
		to   *metrics.Snapshot
	}{
		{"wisp_activation_wait_seconds", &h.Wait},
		{"wisp_activation_init_seconds", &h.Init},
		{"wisp_activation_duration_seconds", &h.Duration},
	} {
		if *s.to, err = metrics.ReadHistogram(body, s.name, "wasm"); err != nil {
			return activationHistograms{}, err
		}
	}
	return h, nil
}
