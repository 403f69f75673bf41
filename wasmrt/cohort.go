package wasmrt

import (
	"context"
	"runtime"
	"time"
)

// Cohort scheduling of warm activations.
//
// Under load a warm activation's guest code runs between the host's work
// for other requests (HTTP, the record store, NATS), which evicts the
// guest's code and data from the CPU's caches: the Go SDK's example cost
// ~10 µs in a warm call with its instance in cache and ~50 µs more under 50
// clients, nearly all of it cache misses. So the warm activations of one
// pool key that arrive together run back to back on one goroutine, the
// cohort's leader, on the instance the previous one used: the second and
// later ones find the guest hot. (Larus and Parkes, "Using Cohort
// Scheduling to Enhance Server Performance", USENIX 2002.)
//
// The first activation to arrive for a key with no leader becomes the
// leader; it runs its own activation and then those queued, in order, and
// hands the lead to the next waiting activation after maxCohortLead,
// which bounds how long a leader's own reply waits. A waiting
// activation's goroutine sleeps until the leader has run it. When the
// last lead had activations waiting (the cohort is crowded), a new leader
// first yields its processor once (runtime.Gosched), so that the requests
// already parsed by then can join. Not otherwise: Gosched also wakes an
// idle processor's thread to look for work (the runtime's wakep), which
// with one request at a time finds none, and on this kind of VM costs a
// cross-CPU wake-up per invoke. With one request at a time nobody waits,
// and the cost is a lock.
//
// A cohort must not make activations wait behind a slow one, which they
// would not do alone (each would take an instance of its own). So when the
// leader's current call into its guest has run for longer than
// cohortLongCall (seen when the guest yields for fuel, every ~10–50 µs of
// its code) or sleeps, the waiting activations are sent off to run alone,
// and those arriving run alone until that call ends.
//
// Nor may it hold an action's guest code to one processor when that code
// is most of the work: calls of 100–500 µs each, run by one leader at a
// time, made 20–23% fewer requests a second under 50 clients than two
// instances side by side. So a lead that hands on, its queue never
// emptied, marks the cohort busy, and while it is busy an arriving
// activation may lead beside the others, up to one leader per processor
// (GOMAXPROCS), each on an instance of its own.

// maxCohortLead is how long a leader runs activations before it hands
// the lead on: what its own reply may wait for.
const maxCohortLead = time.Millisecond

// cohortLongCall is how long a call into a guest may run before the
// activations waiting behind it are sent off to run alone.
const cohortLongCall = 500 * time.Microsecond

// cohort is the warm activations of one pool key waiting for its
// leaders. Its fields are guarded by the pools' mutex.
type cohort struct {
	waiting []*warmJob
	// leaders is how many goroutines are running the cohort's activations.
	leaders int
	// busy says that the last lead to end handed on with activations
	// still waiting: another may lead beside it.
	busy bool
	// long says that a leader's current call has run past cohortLongCall:
	// new activations run alone until it ends.
	long bool
	// waited says that an activation has waited since the last lead
	// ended; crowded, that one had when it ended: a new leader then
	// yields before its first call, for others to join.
	waited, crowded bool
}

// warmJob is one warm activation: Run's arguments for runReactor, and how
// its goroutine learns what became of it.
type warmJob struct {
	ctx   context.Context
	mod   *compiledModule
	code  Code
	inv   *Invocation
	lim   limits
	start time.Time
	out   *Outcome

	// done is closed when the leader has run the job, or sent it off
	// (alone) or made it the leader (lead), or when the runtime closed
	// (closed). Made only for a job that waits.
	done   chan struct{}
	alone  bool
	lead   bool
	closed bool
	// panicked is a panic of runReactor for this job on the leader's
	// goroutine, raised again on the job's own.
	panicked any
	// yield says that the job, made a leader by join, yields before its
	// first call: the cohort is crowded.
	yield bool
}

// cohortCall is what a call into a guest run by a cohort's leader knows
// of its cohort: yield and nanosleep ask it whether the call is long.
type cohortCall struct {
	pools *pools
	pool  *pool
	// start is when the call into the guest began; zero while the
	// activation is still getting its instance (a new instance's
	// initialisation is not the call: the waiting activations would each
	// start one of their own).
	start time.Time
	// sentOff says that this call already sent the waiting activations off.
	sentOff bool
}

// checkLong sends the cohort's waiting activations off to run alone if
// the call has run longer than cohortLongCall, or at once if sleeping (the
// guest asked to sleep: the call does not end soon). It runs on the
// leader's goroutine, inside the call.
func (c *cohortCall) checkLong(sleeping bool) {
	if c == nil || c.sentOff || c.start.IsZero() {
		return
	}
	if !sleeping && time.Since(c.start) < cohortLongCall {
		return
	}
	c.sentOff = true
	c.pools.sendOff(c.pool)
}

// cohortCallOf is the cohortCall of the guest call ctx belongs to, or nil.
// wazero hands host functions the context the call was made with, which
// for a warm activation is its deadlineCtx itself: a type assertion, and
// no walk up a command's contexts at every fuel yield.
func cohortCallOf(ctx context.Context) *cohortCall {
	if dc, ok := ctx.(*deadlineCtx); ok {
		return dc.cohort
	}
	return nil
}

// runWarm runs a warm activation of a reactor module through its pool
// key's cohort (see above); one without an owner has no pool and runs
// alone.
func (r *Runtime) runWarm(ctx context.Context, mod *compiledModule, code Code, inv *Invocation, lim limits, start time.Time, out *Outcome) {
	if inv.Owner == "" {
		r.runReactor(ctx, mod, code, inv, lim, start, out, nil)
		return
	}
	key := poolKey{owner: inv.Owner, digest: code.Digest, memoryMB: lim.memoryMB}
	j := &warmJob{ctx: ctx, mod: mod, code: code, inv: inv, lim: lim, start: start, out: out}
	how, pl := r.pools.join(key, j)
	switch how {
	case joinAlone:
		r.runReactor(ctx, mod, code, inv, lim, start, out, nil)
		return
	case joinWait:
		<-j.done
		switch {
		case j.closed:
			out.Err = errClosed
			return
		case j.alone:
			r.runReactor(ctx, mod, code, inv, lim, start, out, nil)
			return
		case !j.lead:
			if j.panicked != nil {
				panic(j.panicked)
			}
			return
		}
	case joinLead:
		if j.yield {
			// Let the goroutines already runnable (requests parsed,
			// about to invoke) join before the first call.
			runtime.Gosched()
		}
	}
	r.lead(pl, j)
	if j.panicked != nil {
		panic(j.panicked)
	}
}

// lead runs first, then the cohort's waiting activations, until none
// wait; after maxCohortLead it hands the lead to the next one.
func (r *Runtime) lead(pl *pool, first *warmJob) { r.leadSince(pl, first, time.Now()) }

// leadSince is lead for a leader that began at began.
func (r *Runtime) leadSince(pl *pool, first *warmJob, began time.Time) {
	call := &cohortCall{pools: r.pools, pool: pl}
	j := first
	for {
		call.start, call.sentOff = time.Time{}, false
		r.runJob(j, call)
		if j != first {
			close(j.done)
		}
		handOn := time.Since(began) >= maxCohortLead
		next := r.pools.next(pl, handOn)
		if next == nil {
			return
		}
		if handOn {
			next.lead = true
			close(next.done)
			return
		}
		j = next
	}
}

// runJob runs j on the leader's goroutine; a panic is kept for j's own.
func (r *Runtime) runJob(j *warmJob, call *cohortCall) {
	defer func() {
		if p := recover(); p != nil {
			j.panicked = p
		}
	}()
	r.runReactor(j.ctx, j.mod, j.code, j.inv, j.lim, j.start, j.out, call)
}

// joinResult is what join tells an activation to do.
type joinResult int

const (
	joinLead  joinResult = iota // lead the cohort: run j, then the waiting ones
	joinWait                    // j waits: for j.done
	joinAlone                   // run j alone: a long call is running, or the pools are closed
)

// maxLeaders is how many leaders a busy cohort may have at once.
var maxLeaders = runtime.GOMAXPROCS(0)

// join enters j in key's cohort, and returns what j's goroutine does and
// the pool whose cohort it joined.
func (p *pools) join(key poolKey, j *warmJob) (joinResult, *pool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop == nil {
		return joinAlone, nil
	}
	pl := p.byKey[key]
	if pl == nil {
		pl = &pool{}
		p.byKey[key] = pl
	}
	c := &pl.cohort
	switch {
	case c.leaders == 0:
		c.leaders, c.long = 1, false
		j.yield = c.crowded
		return joinLead, pl
	case c.long:
		return joinAlone, nil
	case c.busy && c.leaders < maxLeaders:
		c.leaders++
		j.yield = true // busy: crowded
		return joinLead, pl
	}
	j.done = make(chan struct{})
	c.waiting = append(c.waiting, j)
	c.waited = true
	return joinWait, pl
}

// next takes the next waiting activation of pl's cohort, or ends a lead
// when none waits. The one taken is run by the leader, or, with handOn,
// leads in its place (the cohort is then busy).
func (p *pools) next(pl *pool, handOn bool) *warmJob {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &pl.cohort
	c.long = false
	if len(c.waiting) == 0 {
		c.leaders--
		c.busy = false
		c.crowded, c.waited = c.waited, false
		return nil
	}
	c.busy = c.busy || handOn
	j := c.waiting[0]
	c.waiting[0] = nil
	c.waiting = c.waiting[1:]
	if len(c.waiting) == 0 {
		c.waiting = nil // let the array go
	}
	return j
}

// sendOff sends pl's waiting activations off to run alone, and makes those
// arriving run alone until the leader's current call ends.
func (p *pools) sendOff(pl *pool) {
	p.mu.Lock()
	pl.cohort.long = true
	off := pl.cohort.waiting
	pl.cohort.waiting = nil
	p.mu.Unlock()
	wakeAlone(off)
}

// wakeAlone wakes the activations of off to run alone.
func wakeAlone(off []*warmJob) {
	for _, j := range off {
		j.alone = true
		close(j.done)
	}
}

// closeWaiting wakes the activations of off to fail: the runtime closed.
func closeWaiting(off []*warmJob) {
	for _, j := range off {
		j.closed = true
		close(j.done)
	}
}
