package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/wispfaas/wisp/wasmrt"
)

// The in-process measurement calls wasmrt.Runtime.Run directly, in the
// benchmark's own process, before any server is started: no HTTP, no
// queue, no record. It is the cost of one warm activation in the sandbox,
// the part of an invoke that Wisp's runtime owns.

// inProcess is one module's in-process result.
type inProcess struct {
	Name    string        `json:"name"`
	Form    string        `json:"form"`
	Target  time.Duration `json:"target_p50_ns,omitempty"`
	Compile time.Duration `json:"compile_ns"`
	Calls   int           `json:"calls"`
	Latency summary       `json:"latency"`
	P9999   time.Duration `json:"p9999_ns"`
	// NewInstances counts the measured calls that paid for a new instance:
	// every call of a command, none of a warm reactor (unless one was
	// thrown away).
	NewInstances int    `json:"new_instances"`
	Errors       int    `json:"errors"`
	FirstError   string `json:"first_error,omitempty"`
	Skipped      string `json:"skipped,omitempty"`
}

// inProcessEnv is what the invoker passes an activation (invoker.env).
func inProcessEnv(name string) map[string]string {
	return map[string]string{
		"__OW_ACTIVATION_ID":  "0123456789abcdef0123456789abcdef",
		"__OW_NAMESPACE":      "guest",
		"__OW_ACTION_NAME":    "/guest/" + name,
		"__OW_ACTION_VERSION": "0.0.1",
		"__OW_DEADLINE":       fmt.Sprint(time.Now().Add(time.Hour).UnixMilli()),
		"__OW_API_HOST":       "http://127.0.0.1:3233",
	}
}

// measureInProcess runs each built module calls times (after warmup
// unmeasured calls) on one wasmrt.Runtime, one call at a time, and stops a
// module early after maxTime. Reactors run with one Owner, so that their
// warm instance is reused from call to call, as the invoker does for one
// action.
func measureInProcess(ctx context.Context, mods []*wasmModule, calls, warmup int, maxTime time.Duration) ([]*inProcess, error) {
	// wazero's file cache in the cache directory: compiling a 3 MB Go
	// module costs seconds, and compile time is not what is measured here.
	var cacheDir string
	if dir, err := os.UserCacheDir(); err == nil {
		cacheDir = filepath.Join(dir, "wisp-bench", "wazero")
	}
	rt, err := wasmrt.New(ctx, wasmrt.Config{CacheDir: cacheDir})
	if err != nil && cacheDir != "" {
		rt, err = wasmrt.New(ctx, wasmrt.Config{})
	}
	if err != nil {
		return nil, err
	}
	defer rt.Close(context.Background())
	var out []*inProcess
	for _, m := range mods {
		r := &inProcess{Name: m.Name, Form: m.Form, Target: m.InProcessTarget}
		out = append(out, r)
		if m.Skipped != "" {
			r.Skipped = m.Skipped
			continue
		}
		sum := sha256.Sum256(m.code)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		code := wasmrt.Code{Digest: digest, Load: func(context.Context) ([]byte, error) { return m.code, nil }}
		progress("in-process: compiling %s (%d KiB)…", m.Name, len(m.code)>>10)
		t0 := time.Now()
		if err := rt.Validate(ctx, digest, m.code); err != nil {
			r.Skipped = "wasmrt refused it: " + err.Error()
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			continue
		}
		r.Compile = time.Since(t0)
		inv := wasmrt.Invocation{
			Params: []byte(`{"name":"wisp"}`),
			Env:    inProcessEnv(m.Name),
			Owner:  "/guest/" + m.Name + "@0.0.1",
		}
		progress("in-process: %s, %d warm-up and up to %d measured calls of wasmrt Run (at most %s)…", m.Name, warmup, calls, maxTime)
		for range warmup {
			if o := rt.Run(ctx, code, inv); o.Err != nil {
				r.Errors++
				if r.FirstError == "" {
					r.FirstError = o.Err.Error()
				}
			}
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		runtime.GC() // the previous module's garbage is not this one's to pay for
		lat := make([]time.Duration, 0, calls)
		deadline := time.Now().Add(maxTime)
		for i := 0; i < calls && ctx.Err() == nil; i++ {
			t := time.Now()
			if !t.Before(deadline) {
				break
			}
			o := rt.Run(ctx, code, inv)
			d := time.Since(t)
			if o.Err != nil {
				r.Errors++
				if r.FirstError == "" {
					r.FirstError = o.Err.Error()
				}
				continue
			}
			lat = append(lat, d)
			if o.NewInstance {
				r.NewInstances++
			}
		}
		r.Calls = len(lat)
		r.Latency = summarize(lat)
		r.P9999 = percentile(lat, 99.99)
		if r.Errors > 0 {
			progress("  %s: %d errors; the first: %s", m.Name, r.Errors, firstLine(r.FirstError))
		}
	}
	return out, ctx.Err()
}

// runInProcessOnly builds the Wasm modules and prints only the in-process
// table (-inprocess): the part of the benchmark that the Wasm runtime's own
// work changes, in a minute instead of several, with no server started.
func runInProcessOnly(ctx context.Context, cfg config, res *results) int {
	src, err := findSources()
	if err == nil {
		var tmp string
		if tmp, err = os.MkdirTemp("", "wisp-bench-"); err == nil {
			defer os.RemoveAll(tmp)
			mods := wasmModules()
			res.Modules = mods
			if err = buildModules(ctx, src, tmp, mods); err == nil {
				res.InProcess, err = measureInProcess(ctx, mods, cfg.inprocCalls, cfg.warmup, cfg.inprocMax)
			}
		}
	}
	res.Machine.LoadAfter = loadAverage()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench -inprocess:", err)
		return 1
	}
	fmt.Printf("Machine: %d CPUs, %s; load average %s before, %s after\n", res.Machine.CPUs, res.Machine.Go, res.Machine.LoadBefore, res.Machine.LoadAfter)
	res.evaluate()
	printInProcess(os.Stdout, cfg, res)
	return 0
}
