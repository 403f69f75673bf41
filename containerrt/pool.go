package containerrt

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/wispfaas/wisp/containerrt/container"
)

// This file is the pool's bookkeeping: which container may serve which
// activation, the memory budget, the FIFO queue of activations that wait
// for memory, and the idle timers. Everything here runs under Runtime.mu
// and never waits on the kernel; the kernel operations (start, init,
// pause, resume, destroy) are in lifecycle.go and run outside the lock.

// stemKey is what makes containers interchangeable before init: the
// runtime they run and their memory limit (a cgroup setting fixed at
// creation). Containers with network access are never stem cells (their
// network namespace is set up at creation too).
type stemKey struct {
	kind  string
	memMB int
}

// member is one pooled container.
type member struct {
	id        string
	key       stemKey
	actionDir string // bound at /action
	c         *container.Container
	created   time.Time

	// Guarded by Runtime.mu.
	status     Status
	owner      string // "" until init succeeded
	lastUsed   time.Time
	gen        uint64      // bumped whenever the container is claimed or goes idle, so stale timers do nothing
	timer      *time.Timer // the pause or removal timer of an idle container
	memCounted bool        // its memory is still in Runtime.used
	initLogs   []string    // logs of a prewarm's init, for the first activation

	// op serialises kernel operations on c (pause, resume, destroy): a
	// claimant waits for a pause under way before resuming.
	op     sync.Mutex
	broken bool // guarded by op: a pause failed, or the process is gone
	frozen bool // guarded by op: paused in the kernel by pauseIdle, not resumed since
}

// setStatus moves m to status to, if the state machine allows it.
func (m *member) setStatus(to Status) error {
	if !canMove(m.status, to) {
		return &TransitionError{ID: m.id, From: m.status, To: to}
	}
	m.status = to
	return nil
}

// waiter is an activation (or a prewarm) asking for a container.
type waiter struct {
	owner   string
	key     stemKey
	useStem bool // the request may take a stem cell of key
	since   time.Time
	ch      chan grant // buffered: a grant is sent at most once
}

// grant is what a waiter gets: a container already claimed for it (its
// owner's idle one, status running; or a stem cell, status initialising),
// or memory reserved for a new container, after the idle containers in
// evicted (already out of the pool and out of the budget) are destroyed.
type grant struct {
	m       *member
	cold    bool
	evicted []*member
	err     error
}

// poolState is the bookkeeping of Runtime, guarded by Runtime.mu.
type poolState struct {
	closed   bool
	members  map[*member]struct{} // every container started and not yet removed
	idle     map[string][]*member // by owner, least recently used first
	stems    map[stemKey][]*member
	starting map[stemKey]int // stem cells being started by the refiller
	used     int             // MB of memory of the containers (and reservations)
	queue    []*waiter       // FIFO
	backoff  map[stemKey]time.Time
	stats    counters
}

// counters are the pool's event counts, reported by Stats.
type counters struct {
	ColdStarts, StemStarts, WarmStarts, Resumes, Pauses, Evictions, Expired, Crashed, Queued uint64
}

// claimLocked takes m (ready, paused, or a stem cell) out of the idle
// sets for one activation.
func (r *Runtime) claimLocked(m *member, to Status) {
	if err := m.setStatus(to); err != nil {
		panic(err) // only idle members are in the idle sets
	}
	m.gen++
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
}

// takeIdleLocked claims the most recently used idle container of owner.
func (r *Runtime) takeIdleLocked(owner string) *member {
	list := r.p.idle[owner]
	if len(list) == 0 {
		return nil
	}
	m := list[len(list)-1]
	if len(list) == 1 {
		delete(r.p.idle, owner)
	} else {
		r.p.idle[owner] = list[:len(list)-1]
	}
	r.claimLocked(m, StatusRunning)
	return m
}

// takeStemLocked claims the oldest stem cell of key.
func (r *Runtime) takeStemLocked(key stemKey) *member {
	list := r.p.stems[key]
	if len(list) == 0 {
		return nil
	}
	m := list[0]
	if len(list) == 1 {
		delete(r.p.stems, key)
	} else {
		r.p.stems[key] = slices.Delete(list, 0, 1)
	}
	r.claimLocked(m, StatusInitialising)
	// The refill is asked for once the activation that took it is over
	// (see obtain).
	return m
}

// stemFor claims a stem cell for w, if it may take one and one is ready.
func (r *Runtime) stemFor(w *waiter) *member {
	if !w.useStem {
		return nil
	}
	return r.takeStemLocked(w.key)
}

// tryLocked serves w at once if it can: its owner's idle container, a
// stem cell of its kind, or, when fifo is false or nobody queues, memory
// for a new container (evicting idle containers, least recently used
// first, if the budget is full).
func (r *Runtime) tryLocked(w *waiter, fifo bool) (grant, bool) {
	if m := r.takeIdleLocked(w.owner); m != nil {
		r.p.stats.WarmStarts++
		return grant{m: m}, true
	}
	if m := r.stemFor(w); m != nil {
		r.p.stats.StemStarts++
		return grant{m: m}, true
	}
	if fifo && len(r.p.queue) > 0 {
		return grant{}, false
	}
	evicted, ok := r.makeRoomLocked(w.key.memMB)
	if !ok {
		return grant{}, false
	}
	r.p.used += w.key.memMB
	r.p.stats.ColdStarts++
	return grant{cold: true, evicted: evicted}, true
}

// makeRoomLocked frees memory for a container of memMB: nothing if the
// budget has room; otherwise idle containers, least recently used first,
// then stem cells, oldest first. It evicts nothing unless that makes
// enough room. The evicted containers leave the pool and the budget at
// once; the caller destroys them before starting its own.
func (r *Runtime) makeRoomLocked(memMB int) ([]*member, bool) {
	free := r.cfg.MemoryBudgetMB - r.p.used
	if memMB <= free {
		return nil, true
	}
	var cands []*member
	for _, list := range r.p.idle {
		cands = append(cands, list...)
	}
	slices.SortFunc(cands, func(a, b *member) int { return a.lastUsed.Compare(b.lastUsed) })
	var stems []*member
	for _, list := range r.p.stems {
		stems = append(stems, list...)
	}
	slices.SortFunc(stems, func(a, b *member) int { return a.created.Compare(b.created) })
	cands = append(cands, stems...)
	n := 0
	for n < len(cands) && free < memMB {
		free += cands[n].key.memMB
		n++
	}
	if free < memMB {
		return nil, false
	}
	evicted := cands[:n:n]
	for _, m := range evicted {
		r.discardLocked(m)
		r.p.used -= m.key.memMB
		m.memCounted = false
		r.p.stats.Evictions++
	}
	return evicted, true
}

// discardLocked takes m out of the pool (status removed). Its memory stays
// counted until destroy has killed it.
func (r *Runtime) discardLocked(m *member) {
	if m.status == StatusRemoved {
		return
	}
	if m.status == StatusStem {
		r.p.stems[m.key] = slices.DeleteFunc(r.p.stems[m.key], func(x *member) bool { return x == m })
		if len(r.p.stems[m.key]) == 0 {
			delete(r.p.stems, m.key)
		}
		r.kickRefill()
	}
	if m.status == StatusReady || m.status == StatusPaused {
		r.p.idle[m.owner] = slices.DeleteFunc(r.p.idle[m.owner], func(x *member) bool { return x == m })
		if len(r.p.idle[m.owner]) == 0 {
			delete(r.p.idle, m.owner)
		}
	}
	_ = m.setStatus(StatusRemoved) // allowed from every status but removed
	m.gen++
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	delete(r.p.members, m)
}

// dispatchLocked serves queued waiters after something changed: first,
// in queue order, those that need no memory (their owner's idle
// container, a stem cell of their kind); then the head of the queue gets
// memory, and those behind it wait their turn (FIFO). With nobody
// waiting, missing stem cells are refilled.
func (r *Runtime) dispatchLocked() {
	for i := 0; i < len(r.p.queue); {
		w := r.p.queue[i]
		var g grant
		if m := r.takeIdleLocked(w.owner); m != nil {
			r.p.stats.WarmStarts++
			g = grant{m: m}
		} else if m := r.stemFor(w); m != nil {
			r.p.stats.StemStarts++
			g = grant{m: m}
		} else {
			i++
			continue
		}
		r.p.queue = slices.Delete(r.p.queue, i, i+1)
		w.ch <- g
	}
	for len(r.p.queue) > 0 {
		w := r.p.queue[0]
		g, ok := r.tryLocked(w, false)
		if !ok {
			break
		}
		r.p.queue = slices.Delete(r.p.queue, 0, 1)
		w.ch <- g
	}
	if len(r.p.queue) == 0 {
		r.kickRefill()
	}
}

// acquire gets w a grant, waiting in the FIFO queue while the memory
// budget is full. It fails when ctx ends first or the pool closes. The
// returned duration is the time spent queued.
func (r *Runtime) acquire(ctx context.Context, w *waiter) (grant, time.Duration, error) {
	r.mu.Lock()
	if r.p.closed {
		r.mu.Unlock()
		return grant{}, 0, errClosed
	}
	if g, ok := r.tryLocked(w, true); ok {
		r.mu.Unlock()
		return g, 0, nil
	}
	w.since = time.Now()
	w.ch = make(chan grant, 1)
	r.p.queue = append(r.p.queue, w)
	r.p.stats.Queued++
	r.mu.Unlock()
	select {
	case g := <-w.ch:
		return g, time.Since(w.since), g.err
	case <-ctx.Done():
	}
	r.mu.Lock()
	if i := slices.Index(r.p.queue, w); i >= 0 {
		r.p.queue = slices.Delete(r.p.queue, i, i+1)
		r.dispatchLocked() // those behind it may fit
		r.mu.Unlock()
		return grant{}, time.Since(w.since), ctx.Err()
	}
	r.mu.Unlock()
	g := <-w.ch // granted while ctx ended: give it back
	if g.err == nil {
		r.giveBack(g, w.key.memMB)
	}
	return grant{}, time.Since(w.since), ctx.Err()
}

// giveBack returns an unused grant for a container of memMB to the pool.
func (r *Runtime) giveBack(g grant, memMB int) {
	if g.cold {
		r.destroyAll(g.evicted)
		r.mu.Lock()
		r.p.used -= memMB
		r.dispatchLocked()
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	stem := g.m.status == StatusInitialising
	r.mu.Unlock()
	if stem {
		// A claimed stem cell cannot go back (initialising never returns
		// to stem); the refiller starts another.
		r.remove(g.m)
		return
	}
	r.release(g.m, true)
}

// stemCount is the number of stem cells of key, ready or starting.
func (r *Runtime) stemCountLocked(key stemKey) int {
	return len(r.p.stems[key]) + r.p.starting[key]
}
