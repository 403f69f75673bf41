package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// newClient returns the HTTP client every target is measured with: HTTP/1.1
// keep-alive over loopback, enough idle connections for every load client
// (so none is closed and re-dialled between requests), no compression.
// Each target gets its own client so that no connection is shared.
func newClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
	}
}

// request is one target's request, sent again and again.
type request struct {
	method string
	url    string
	body   []byte
	header http.Header
	// idHeader, when set, must be in every answer; its values are kept
	// (Wisp's activation ids, checked against the store afterwards).
	idHeader string
}

// do sends the request once and reads the whole answer, so that the
// connection goes back to the pool. Anything but 200 is an error.
func (r *request) do(ctx context.Context, c *http.Client) (id string, err error) {
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		return "", err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if r.idHeader != "" {
		id = resp.Header.Get(r.idHeader)
		if id == "" {
			return "", fmt.Errorf("no %s header", r.idHeader)
		}
	}
	return id, nil
}

// phase is the outcome of one load run against one target.
type phase struct {
	Clients    int           `json:"clients"`
	OK         int           `json:"ok"`
	Errors     int           `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Latency    summary       `json:"latency"`
	// ServerCPU is the CPU time (user + system) the server process used
	// during the phase; 0 when unknown.
	ServerCPU time.Duration `json:"server_cpu_ns"`
	// ClientCPU is the CPU time the benchmark's own process (the load
	// generator) used during the phase; 0 when unknown. It shares the
	// machine with the server.
	ClientCPU time.Duration `json:"client_cpu_ns"`

	lat []time.Duration // successful requests' latencies, until summarized
	ids []string
}

// add merges q (another round of the same load) into p; call finish after.
func (p *phase) add(q phase) {
	p.Clients = q.Clients
	p.OK += q.OK
	p.Errors += q.Errors
	if p.FirstError == "" {
		p.FirstError = q.FirstError
	}
	p.Elapsed += q.Elapsed
	p.ServerCPU += q.ServerCPU
	p.ClientCPU += q.ClientCPU
	p.lat = append(p.lat, q.lat...)
	p.ids = append(p.ids, q.ids...)
}

// finish computes the latency summary from the latencies gathered.
func (p *phase) finish() { p.Latency = summarize(p.lat) }

// RPS is successful requests per second.
func (p *phase) RPS() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.OK) / p.Elapsed.Seconds()
}

// CPUPerRequest is the server's CPU time per successful request.
func (p *phase) CPUPerRequest() time.Duration {
	if p.OK == 0 || p.ServerCPU == 0 {
		return 0
	}
	return p.ServerCPU / time.Duration(p.OK)
}

// ClientCPUPerRequest is the load generator's CPU time per successful
// request.
func (p *phase) ClientCPUPerRequest() time.Duration {
	if p.OK == 0 || p.ClientCPU == 0 {
		return 0
	}
	return p.ClientCPU / time.Duration(p.OK)
}

// runLoad sends req from clients concurrent loops, each waiting for its
// answer before sending the next (a closed loop), each on a keep-alive
// connection of its own (loadConn). It stops when n requests
// have been started (n > 0) or when d has passed, whichever comes first, or
// when ctx ends. Only successful requests count in the latencies.
func runLoad(ctx context.Context, req *request, clients, n int, d time.Duration) phase {
	var (
		started  atomic.Int64
		mu       sync.Mutex
		all      []time.Duration
		ids      []string
		errCount int
		firstErr string
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	begin := time.Now()
	for range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 1024)
			var myIDs []string
			var errs int
			var first string
			lc, err := newLoadConn(req)
			if err != nil {
				mu.Lock()
				errCount++
				firstErr = cmp.Or(firstErr, err.Error())
				mu.Unlock()
				return
			}
			defer lc.close()
			for ctx.Err() == nil {
				if n > 0 && started.Add(1) > int64(n) {
					break
				}
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				id, err := lc.do(ctx)
				if err != nil {
					if ctx.Err() != nil {
						break // interrupted, not the target's fault
					}
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				if id != "" {
					myIDs = append(myIDs, id)
				}
			}
			mu.Lock()
			all = append(all, lat...)
			ids = append(ids, myIDs...)
			errCount += errs
			if firstErr == "" {
				firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return phase{
		Clients:    clients,
		OK:         len(all),
		Errors:     errCount,
		FirstError: firstErr,
		Elapsed:    time.Since(begin),
		Latency:    summarize(all),
		lat:        all,
		ids:        ids,
	}
}

// summary describes a set of latencies.
type summary struct {
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
	Mean time.Duration `json:"mean_ns"`
}

// summarize sorts lat in place and returns its percentiles.
func summarize(lat []time.Duration) summary {
	if len(lat) == 0 {
		return summary{}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	return summary{
		P50:  percentile(lat, 50),
		P90:  percentile(lat, 90),
		P99:  percentile(lat, 99),
		P999: percentile(lat, 99.9),
		Max:  lat[len(lat)-1],
		Mean: sum / time.Duration(len(lat)),
	}
}

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values
// are less than or equal to. It is always one of the measured values,
// never an interpolation. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The small epsilon keeps p/100*n from rounding up past an exact
	// rank (99.9/100*1000 is 999.0000000000001 in floating point).
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}
