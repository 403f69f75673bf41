package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// cached is one decoded value with the KV revision it came from. A nil
// value is a tombstone: it keeps a newer delete from being undone by an
// older put still in flight on the watcher.
type cached[T any] struct {
	value *T
	rev   uint64
}

// kvCache mirrors a KV bucket (or part of it) in memory, fed by a watcher,
// so that the invoke path reads entities in nanoseconds. Writers through
// this process update it at once (read-your-writes); writers elsewhere
// reach it through the watcher within milliseconds.
type kvCache[T any] struct {
	mu      sync.RWMutex
	entries map[string]cached[T]
	// index, when set, gives each value a second key (a namespace's
	// UUID), and byIndex maps it to the value's key: looking a value up
	// by it costs a map read, not a pass over every value.
	index   func(*T) string
	byIndex map[string]string
	watcher jetstream.KeyWatcher
	log     *slog.Logger
}

// watchKV starts a cache of bucket kv under filter ("actions.>") and
// returns once it holds every current value. index, when not nil, gives
// each value a second key to look it up by (lookup).
func watchKV[T any](ctx context.Context, kv jetstream.KeyValue, filter string, log *slog.Logger, index func(*T) string) (*kvCache[T], error) {
	w, err := kv.Watch(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("watch %s in %s: %w", filter, kv.Bucket(), err)
	}
	c := &kvCache[T]{entries: make(map[string]cached[T]), watcher: w, log: log}
	if index != nil {
		c.index, c.byIndex = index, make(map[string]string)
	}
	// Load the initial values: the watcher sends a nil entry after them.
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s in %s: closed while loading", filter, kv.Bucket())
			}
			if e == nil {
				go c.follow()
				return c, nil
			}
			c.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("load %s from %s: %w", filter, kv.Bucket(), ctx.Err())
		}
	}
}

func (c *kvCache[T]) follow() {
	for e := range c.watcher.Updates() {
		if e != nil {
			c.apply(e)
		}
	}
}

func (c *kvCache[T]) apply(e jetstream.KeyValueEntry) {
	if e.Operation() != jetstream.KeyValuePut {
		c.set(e.Key(), nil, e.Revision())
		return
	}
	v := new(T)
	if err := json.Unmarshal(e.Value(), v); err != nil {
		c.log.Error("skipping an undecodable stored entry", "bucket", e.Bucket(), "key", e.Key(), "err", err)
		return
	}
	c.set(e.Key(), v, e.Revision())
}

// set records value at rev unless the cache already has a newer revision.
func (c *kvCache[T]) set(key string, value *T, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.entries[key]
	if ok && cur.rev >= rev {
		return
	}
	c.entries[key] = cached[T]{value: value, rev: rev}
	if c.index == nil {
		return
	}
	if cur.value != nil {
		if old := c.index(cur.value); c.byIndex[old] == key && (value == nil || c.index(value) != old) {
			delete(c.byIndex, old)
			c.reindexLocked(old)
		}
	}
	if value != nil {
		c.byIndex[c.index(value)] = key
	}
}

// reindexLocked maps the second key ik to another live value that has it,
// if any: two values should never share one (CreateNamespace refuses a
// taken UUID), but two nodes creating namespaces at once could make them,
// and then removing one must not hide the other. c.mu is held.
func (c *kvCache[T]) reindexLocked(ik string) {
	for k, e := range c.entries {
		if e.value != nil && c.index(e.value) == ik {
			c.byIndex[ik] = k
			return
		}
	}
}

// lookup returns the live value whose second key (index) is ik, or nil.
func (c *kvCache[T]) lookup(ik string) *T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entries[c.byIndex[ik]].value
}

// get returns the value and revision for key; nil when absent or deleted.
func (c *kvCache[T]) get(key string) (*T, uint64) {
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	return e.value, e.rev
}

// each calls fn for every live value, under the read lock: fn must not
// call back into the cache.
func (c *kvCache[T]) each(fn func(key string, v *T)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, e := range c.entries {
		if e.value != nil {
			fn(k, e.value)
		}
	}
}

func (c *kvCache[T]) stop() { _ = c.watcher.Stop() }
