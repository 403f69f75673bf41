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
