package wasmrt

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is the context of one warm reactor activation's calls into
// its guest: the caller's context, ended also at the activation's time
// limit (cause errTimeLimit).
//
// context.WithTimeoutCause arms a timer and registers with its parent at
// once, and most warm activations end before anything asks whether they
// should stop: under 50 clients that was ~2.5% of wispd's CPU and ~9% of
// the bytes it allocated. A deadlineCtx does neither until Done is first
// called (by yield, once the guest's fuel runs out, or by a nanosleep), and
// Err compares the clock with the deadline, so a stop is seen whether or
// not Done was ever called. Its cause is read with causeOf, not
// context.Cause, which would find the parent's.
type deadlineCtx struct {
	context.Context // the caller's: Value, and what ends this one early

	deadline time.Time

	mu       sync.Mutex
	done     chan struct{} // made by the first Done
	err      error         // set once, when the context ends
	cause    error
	timer    *time.Timer // armed by the first Done
	stopWait func() bool // ends the wait on the parent armed by the first Done

	// cohort is set when a cohort's leader runs the activation (cohort.go).
	cohort *cohortCall
}

// deadlineKey is the Value key under which a deadlineCtx returns itself,
// so that causeOf finds it under values wrapped around it.
type deadlineKey struct{}

// withDeadline returns the caller's ctx ended also after timeout. Call
// release when the activation is over.
func withDeadline(ctx context.Context, timeout time.Duration) *deadlineCtx {
	return &deadlineCtx{Context: ctx, deadline: time.Now().Add(timeout)}
}

// Deadline is the earlier of the activation's deadline and the caller's.
func (c *deadlineCtx) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

// Done returns a channel closed when the context ends. The first call
// arms the timer and the wait on the parent.
func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil { // it ended while nobody waited: close it here
		close(c.done)
		return c.done
	}
	c.checkLocked() // ending now, endLocked closes it
	if c.err != nil {
		return c.done
	}
	c.timer = time.AfterFunc(time.Until(c.deadline), c.expire)
	c.stopWait = context.AfterFunc(c.Context, c.parentEnded)
	return c.done
}

// Err is nil until the context ends: at the deadline, or when the parent
// ends, whichever comes first.
func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checkLocked()
	return c.err
}

// Value returns the context itself for deadlineKey, else the parent's.
func (c *deadlineCtx) Value(key any) any {
	if key == (deadlineKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// release ends the context if something waits on it (as a cancel func
// would) and disarms its timer. The activation is over.
func (c *deadlineCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.stopWait()
	}
	c.endLocked(context.Canceled, context.Canceled)
}

// causeErr is why the context ended: errTimeLimit at the deadline, the
// parent's cause if it ended first; nil while it has not ended.
func (c *deadlineCtx) causeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checkLocked()
	return c.cause
}

// checkLocked ends the context if its parent ended or its deadline passed.
func (c *deadlineCtx) checkLocked() {
	if c.err != nil {
		return
	}
	if err := c.Context.Err(); err != nil {
		c.endLocked(err, context.Cause(c.Context))
	} else if !time.Now().Before(c.deadline) {
		c.endLocked(context.DeadlineExceeded, errTimeLimit)
	}
}

func (c *deadlineCtx) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(context.DeadlineExceeded, errTimeLimit)
}

func (c *deadlineCtx) parentEnded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(c.Context.Err(), context.Cause(c.Context))
}

// endLocked ends the context with err and cause, unless it already ended.
func (c *deadlineCtx) endLocked(err, cause error) {
	if c.err != nil {
		return
	}
	c.err, c.cause = err, cause
	if c.done != nil {
		close(c.done)
	}
}

// causeOf is context.Cause, except that under a deadlineCtx (also wrapped
// in values) it is the deadlineCtx's cause.
func causeOf(ctx context.Context) error {
	if c, ok := ctx.Value(deadlineKey{}).(*deadlineCtx); ok {
		if cause := c.causeErr(); cause != nil {
			return cause
		}
		return ctx.Err() // a context derived from it that ended first
	}
	return context.Cause(ctx)
}
