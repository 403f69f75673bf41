package invoker

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/internal/wasmtest"
	"github.com/wispfaas/wisp/queue"
	"github.com/wispfaas/wisp/store"
	"github.com/wispfaas/wisp/wasmrt"
)

// BenchmarkPipeline measures one blocking activation through everything
// but HTTP: the gateway's publish (asynchronous, with its reply subject),
// JetStream, the invoker (decode, run a tiny echo command, record), the
// record stored in the KV bucket and the result back through a waiter map.
// cpu-µs/op is the process's CPU time per activation (user + system): on a
// shared machine it is steadier than ns/op.
func BenchmarkPipeline(b *testing.B) {
	for _, c := range []struct {
		name    string
		clients int
	}{{"1client", 1}, {"50clients", 50}} {
		b.Run(c.name, func(b *testing.B) {
			p := newPipeline(b, 32)
			p.invoke(b) // compile and warm up
			var wg sync.WaitGroup
			work := make(chan struct{}, c.clients)
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for range c.clients {
				wg.Go(func() {
					for range work {
						p.invoke(b)
					}
				})
			}
			for b.Loop() {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

type pipeline struct {
	broker  *queue.Broker
	action  core.InvokedAction
	results *queue.Results
}

func newPipeline(b *testing.B, capacity int) *pipeline {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	broker, err := queue.Open(ctx, queue.Config{StoreDir: filepath.Join(dir, "js")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { broker.Close() })
	st, err := store.Open(ctx, broker.JetStream(), store.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	reg, err := broker.OpenRegistry(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(reg.Close)
	bl, err := blobs.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		b.Fatal(err)
	}
	rt, err := wasmrt.New(ctx, wasmrt.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close(context.Background()) })
	info, err := blobs.PutBytes(ctx, bl, wasmtest.Action{}.Wasm())
	if err != nil {
		b.Fatal(err)
	}
	p := &pipeline{broker: broker}
	p.action = core.InvokedAction{Namespace: "guest", Name: "echo", Version: "0.0.1", Kind: "wasm", Digest: info.Digest, Limits: core.DefaultLimits()}
	if p.results, err = broker.OpenResults("gw", nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.results.Close() })
	inv, err := New(Config{ID: "bench", Capacity: capacity}, Deps{
		Queue: broker, Records: st, Heartbeats: reg, Code: BlobCode{Store: bl},
		Runtimes: map[string]Runtime{"wasm": WasmRuntime{RT: rt}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := inv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		inv.Shutdown(ctx)
	})
	return p
}

// invoke does what the gateway does for a blocking invoke.
func (p *pipeline) invoke(b *testing.B) {
	id := core.NewActivationID(time.Now())
	done := p.results.Wait(id)
	defer p.results.Leave(id)
	inv := &core.Invocation{ActivationID: id, Namespace: "guest", Subject: "guest", Action: p.action,
		Params: json.RawMessage(`{"x":1}`), ReplyTo: queue.ReplySubject("gw", id), Queued: time.Now().UnixNano()}
	if err := p.broker.PublishInvocationAsync("bench", inv); err != nil {
		b.Fatal(err)
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case out := <-done:
		if out.Err != nil || out.Result.StatusCode != core.StatusSuccess {
			b.Fatalf("outcome %+v", out)
		}
	case <-t.C:
		b.Fatal("no result in 30s")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
