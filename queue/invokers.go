package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// InvokersBucket holds one heartbeat per live invoker.
const InvokersBucket = "WISP_INVOKERS"

// HeartbeatInterval is how often an invoker reports; an invoker silent for
// staleAfter is taken for dead.
const HeartbeatInterval = 2 * time.Second

// InvokerStatus is what an invoker says of itself in each heartbeat.
type InvokerStatus struct {
	ID       string `json:"id"`
	Capacity int    `json:"capacity"` // activations it runs at once
	Busy     int    `json:"busy"`     // activations running now
	Beat     int64  `json:"beat"`     // Unix milliseconds of this heartbeat
	// Kinds lists the kinds this invoker runs (container kinds need their
	// runtimes built). Empty means "wasm" only, as invokers of earlier
	// versions did not say.
	Kinds []string `json:"kinds,omitempty"`
}

// Runs reports whether the invoker runs actions of kind.
func (st *InvokerStatus) Runs(kind string) bool {
	if len(st.Kinds) == 0 {
		return kind == "wasm"
	}
	for _, k := range st.Kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// Registry tracks live invokers through their heartbeats. Safe for
// concurrent use; Close stops it.
type Registry struct {
	kv      jetstream.KeyValue
	watcher jetstream.KeyWatcher
	mu      sync.RWMutex
	known   map[string]InvokerStatus
	// live is Live's answer until a heartbeat changes known or one of
	// its invokers goes stale: every invoke reads it.
	live atomic.Pointer[liveSet]
}

// liveSet is a computed answer of Live.
type liveSet struct {
	list       []InvokerStatus
	validUntil int64 // Unix milliseconds when the oldest heartbeat in list goes stale
}

// OpenRegistry opens the heartbeat bucket and follows it.
func (b *Broker) OpenRegistry(ctx context.Context) (*Registry, error) {
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      InvokersBucket,
		Description: "Heartbeats of live Wisp invokers",
		TTL:         10 * HeartbeatInterval,
		Storage:     jetstream.MemoryStorage,
		Replicas:    b.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", InvokersBucket, err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch bucket %s: %w", InvokersBucket, err)
	}
	r := &Registry{kv: kv, watcher: w, known: map[string]InvokerStatus{}}
	ready := make(chan struct{})
	go r.follow(ready)
	select {
	case <-ready:
	case <-ctx.Done():
		_ = w.Stop()
		return nil, fmt.Errorf("load invoker heartbeats: %w", ctx.Err())
	}
	return r, nil
}

func (r *Registry) follow(ready chan struct{}) {
	for e := range r.watcher.Updates() {
		if e == nil {
			close(ready)
			continue
		}
		r.mu.Lock()
		if e.Operation() == jetstream.KeyValuePut {
			var st InvokerStatus
			if json.Unmarshal(e.Value(), &st) == nil {
				r.known[st.ID] = st
			}
		} else {
			delete(r.known, e.Key())
		}
		r.live.Store(nil)
		r.mu.Unlock()
	}
}

// Beat publishes st as the invoker's heartbeat.
func (r *Registry) Beat(ctx context.Context, st InvokerStatus) error {
	st.Beat = time.Now().UnixMilli()
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode heartbeat of invoker %s: %w", st.ID, err)
	}
	// Known here at once, before the store has it: a gateway in this
	// process must not take its own invoker for dead because a put was
	// slow under load.
	r.mu.Lock()
	r.known[st.ID] = st
	r.live.Store(nil)
	r.mu.Unlock()
	if _, err := r.kv.Put(ctx, st.ID, data); err != nil {
		return fmt.Errorf("heartbeat of invoker %s: %w", st.ID, err)
	}
	return nil
}

// Leave removes the invoker's heartbeat, so that gateways stop sending it
// work at once instead of after the heartbeat goes stale.
func (r *Registry) Leave(ctx context.Context, id string) error {
	if err := r.kv.Delete(ctx, id); err != nil {
		return fmt.Errorf("remove heartbeat of invoker %s: %w", id, err)
	}
	return nil
}

// staleAfter is how long an invoker may go unheard before gateways stop
// sending it work: five heartbeats, so that a machine too busy to beat on
// time for a few seconds is not taken for dead.
const staleAfter = 5 * HeartbeatInterval

// Live returns the invokers heard from within staleAfter,
// sorted by id. The slice is shared by every caller until the set changes:
// it must not be modified.
func (r *Registry) Live() []InvokerStatus {
	now := time.Now().UnixMilli()
	if ls := r.live.Load(); ls != nil && now < ls.validUntil {
		return ls.list
	}
	stale := int64(staleAfter / time.Millisecond)
	cutoff := now - stale
	r.mu.RLock()
	out := make([]InvokerStatus, 0, len(r.known))
	oldest := int64(math.MaxInt64)
	for _, st := range r.known {
		if st.Beat >= cutoff {
			out = append(out, st)
			oldest = min(oldest, st.Beat)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	// Kept until the oldest heartbeat goes stale (at most a heartbeat
	// interval); a change of known drops it at once (writers hold mu, so
	// none can change known between the reading above and this store).
	r.live.Store(&liveSet{list: out, validUntil: min(oldest+stale, now+int64(HeartbeatInterval/time.Millisecond))})
	r.mu.RUnlock()
	return out
}

// Close stops following heartbeats.
func (r *Registry) Close() { _ = r.watcher.Stop() }
