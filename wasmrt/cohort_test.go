package wasmrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// cohortInvocation is the reactor guest's invocation for activation id.
func cohortInvocation(owner, id, params string, timeout time.Duration) Invocation {
	return Invocation{Params: []byte(params), Owner: owner, Timeout: timeout, MemoryMB: 64,
		Env: map[string]string{"__OW_ACTIVATION_ID": id}}
}

// ledCohort warms an instance of owner's action and makes the test the
// leader of its cohort, so that activations run meanwhile wait in it; it
// returns the guest's code and the cohort's pool.
func ledCohort(t *testing.T, r *Runtime, owner string) (Code, *pool) {
	t.Helper()
	code := reactorGuest(t)
	if out, _ := runReactor(t, r, code, owner, `{}`); out.Err != nil {
		t.Fatal(out.Err)
	}
	how, pl := r.pools.join(poolKey{owner: owner, digest: code.Digest, memoryMB: 64}, &warmJob{})
	if how != joinLead {
		t.Fatalf("join: %v, want the lead", how)
	}
	return code, pl
}

// waitingIDs are the activation ids waiting in pl's cohort.
func waitingIDs(r *Runtime, pl *pool) []string {
	r.pools.mu.Lock()
	defer r.pools.mu.Unlock()
	var ids []string
	for _, j := range pl.cohort.waiting {
		ids = append(ids, j.inv.Env["__OW_ACTIVATION_ID"])
	}
	return ids
}

// waitFor is nil once n activations wait in pl's cohort.
func waitFor(r *Runtime, pl *pool, n int) error {
	if ids := waitingIDs(r, pl); len(ids) != n {
		return fmt.Errorf("waiting: %v, want %d", ids, n)
	}
	return nil
}

// leaderJob is a job for the test, holding the lead, to run first.
func leaderJob(t *testing.T, r *Runtime, code Code, inv *Invocation, out *Outcome) *warmJob {
	t.Helper()
	mod, _, err := r.module(context.Background(), code.Digest, code.Load)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := limitsOf(inv)
	if err != nil {
		t.Fatal(err)
	}
	return &warmJob{ctx: context.Background(), mod: mod, code: code, inv: inv, lim: lim, start: time.Now(), out: out}
}

// startWaiting runs n activations of owner, ids w0, w1, ..., that join the
// cohort the test leads, and returns when all wait in it, their ids in join
// order.
func startWaiting(t *testing.T, r *Runtime, code Code, pl *pool, owner string, n int) (order []string, outs map[string]*Outcome, finished map[string]time.Time, wg *sync.WaitGroup) {
	t.Helper()
	before := len(waitingIDs(r, pl))
	outs, finished, wg = map[string]*Outcome{}, map[string]time.Time{}, &sync.WaitGroup{}
	var mu sync.Mutex
	for i := range n {
		id := fmt.Sprintf("w%d", i)
		wg.Go(func() {
			out := r.Run(context.Background(), code, cohortInvocation(owner, id, `{}`, 10*time.Second))
			mu.Lock()
			outs[id], finished[id] = &out, time.Now()
			mu.Unlock()
		})
	}
	checkFor(t, 10*time.Second, func() error { return waitFor(r, pl, before+n) })
	return waitingIDs(r, pl)[before:], outs, finished, wg
}

// Activations that arrive while a leader runs wait in its cohort and are
// run by the leader, in the order they came, back to back on its instance,
// each with its own result.
func TestCohortRunsWaitingActivationsInOrder(t *testing.T) {
	r := newRuntime(t, Config{})
	const owner = "/guest/cohort@1"
	code, pl := ledCohort(t, r, owner)
	order, outs, _, wg := startWaiting(t, r, code, pl, owner, 8)

	inv := cohortInvocation(owner, "leader", `{}`, 10*time.Second)
	var first Outcome
	r.lead(pl, leaderJob(t, r, code, &inv, &first))
	wg.Wait()

	calls := func(id string, out *Outcome) int {
		t.Helper()
		var reply struct {
			Calls int            `json:"calls"`
			Ctx   map[string]any `json:"ctx"`
		}
		if out.Err != nil || json.Unmarshal(out.Result, &reply) != nil {
			t.Fatalf("%s: %+v", id, out)
		}
		if reply.Ctx["activationId"] != id {
			t.Errorf("%s got the result of %v", id, reply.Ctx["activationId"])
		}
		if out.NewInstance {
			t.Errorf("%s started an instance: the cohort's instance should have served it", id)
		}
		return reply.Calls
	}
	// The warm-up was call 1 of the instance; the leader's own is call 2.
	if c := calls("leader", &first); c != 2 {
		t.Errorf("the leader's activation was call %d of the instance, want 2", c)
	}
	for i, id := range order {
		if c := calls(id, outs[id]); c != i+3 {
			t.Errorf("%s, number %d to wait, was call %d of the instance, want %d", id, i+1, c, i+3)
		}
	}
	if ids := waitingIDs(r, pl); len(ids) != 0 || pl.cohort.leaders != 0 {
		t.Errorf("after the lead: waiting %v, %d leaders", ids, pl.cohort.leaders)
	}
}

// A leader whose call runs long (spinning: seen at the guest's fuel yield;
// sleeping: at its sleep) sends the activations waiting behind it off to
// run alone, and those arriving meanwhile run alone too: none waits for
// the long call to end.
func TestCohortSendsOffWaitingBehindLongCall(t *testing.T) {
	for _, mode := range []string{"spin", "sleeplong"} {
		t.Run(mode, func(t *testing.T) {
			r := newRuntime(t, Config{})
			owner := "/guest/long-" + mode + "@1"
			code, pl := ledCohort(t, r, owner)
			order, outs, finished, wg := startWaiting(t, r, code, pl, owner, 3)

			// The leader's call runs until its 3 s time limit.
			inv := cohortInvocation(owner, "leader", `{"mode":"`+mode+`"}`, 3*time.Second)
			var first Outcome
			led := make(chan time.Time)
			go func() {
				r.lead(pl, leaderJob(t, r, code, &inv, &first))
				led <- time.Now()
			}()
			wg.Wait()
			late := r.Run(context.Background(), code, cohortInvocation(owner, "late", `{}`, 10*time.Second))
			lateAt := time.Now()
			leaderAt := <-led

			if ae, ok := first.Err.(*ActionError); !ok || ae.Kind != KindTimeout {
				t.Errorf("the leader's activation: %+v, want a timeout", first)
			}
			for _, id := range order {
				if out := outs[id]; out.Err != nil {
					t.Errorf("%s: %+v", id, out)
				}
				if !finished[id].Before(leaderAt) {
					t.Errorf("%s waited for the long call to end", id)
				}
			}
			if late.Err != nil || !lateAt.Before(leaderAt) {
				t.Errorf("an activation arriving during the long call: %+v, done before the call ended: %v", late, lateAt.Before(leaderAt))
			}
		})
	}
}

// A leader hands the lead on after maxCohortLead: the next waiting
// activation leads, and runs the rest.
func TestCohortHandsTheLeadOn(t *testing.T) {
	r := newRuntime(t, Config{})
	const owner = "/guest/handoff@1"
	code, pl := ledCohort(t, r, owner)
	order, outs, _, wg := startWaiting(t, r, code, pl, owner, 3)

	// A leader that has led for longer than maxCohortLead runs its own
	// activation and hands on.
	r.pools.mu.Lock()
	next := pl.cohort.waiting[0]
	r.pools.mu.Unlock()
	inv := cohortInvocation(owner, "leader", `{}`, 10*time.Second)
	var first Outcome
	r.leadSince(pl, leaderJob(t, r, code, &inv, &first), time.Now().Add(-time.Hour))
	if !next.lead {
		t.Errorf("%s, the first to wait, was not made the leader", order[0])
	}
	wg.Wait()
	for _, id := range order {
		if out := outs[id]; out.Err != nil {
			t.Errorf("%s: %+v", id, out)
		}
	}
	if first.Err != nil {
		t.Errorf("leader: %+v", first)
	}
}

// Closing the runtime wakes the activations waiting in a cohort: they end
// with the runtime's closed error instead of waiting for a leader.
func TestCohortCloseSendsOffWaiting(t *testing.T) {
	r, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	const owner = "/guest/closing@1"
	code, pl := ledCohort(t, r, owner)
	order, outs, _, wg := startWaiting(t, r, code, pl, owner, 3)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, id := range order {
		if out := outs[id]; !errors.Is(out.Err, errClosed) {
			t.Errorf("%s after Close: %+v, want %v", id, out, errClosed)
		}
	}
}

// A panic while the leader runs a waiting activation is raised on that
// activation's goroutine, and the leader goes on with the next.
func TestCohortPanicReachesItsActivation(t *testing.T) {
	r := newRuntime(t, Config{})
	const owner = "/guest/panic@1"
	code, pl := ledCohort(t, r, owner)

	// An activation whose job panics on the leader's goroutine: runReactor
	// writes its Outcome through a nil pointer.
	doomed := cohortInvocation(owner, "doomed", `{}`, 10*time.Second)
	j := leaderJob(t, r, code, &doomed, nil)
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		r.runWarm(j.ctx, j.mod, j.code, j.inv, j.lim, j.start, nil)
	}()
	checkFor(t, 10*time.Second, func() error { return waitFor(r, pl, 1) })
	_, outs, _, wg := startWaiting(t, r, code, pl, owner, 1)

	inv := cohortInvocation(owner, "leader", `{}`, 10*time.Second)
	var first Outcome
	r.lead(pl, leaderJob(t, r, code, &inv, &first))
	wg.Wait()
	if p := <-recovered; p == nil {
		t.Error("the doomed activation's goroutine did not panic")
	}
	if out := outs["w0"]; out.Err != nil {
		t.Errorf("the activation after the panic: %+v", out)
	}
}

// A cohort whose lead handed on with activations still waiting is busy:
// an arriving activation leads beside the first leader, up to maxLeaders;
// once a lead empties the queue, arrivals wait again.
func TestCohortBusyTakesMoreLeaders(t *testing.T) {
	defer func(n int) { maxLeaders = n }(maxLeaders)
	maxLeaders = 2
	p := newPools(1, DefaultIdleMemory, time.Minute)
	defer p.closeAll()
	key := poolKey{owner: "/guest/busy@1", digest: "sha256:00", memoryMB: 64}
	join := func(want joinResult) *pool {
		t.Helper()
		how, pl := p.join(key, &warmJob{})
		if how != want {
			t.Fatalf("join: %v, want %v", how, want)
		}
		return pl
	}
	pl := join(joinLead)
	join(joinWait)
	join(joinWait)
	if p.next(pl, true) == nil { // the first leader hands on: busy
		t.Fatal("no activation to hand on to")
	}
	join(joinLead) // beside the one handed the lead
	join(joinWait) // two leaders: the most
	p.next(pl, false)
	p.next(pl, false) // both queued ones taken
	if p.next(pl, false) != nil || pl.cohort.busy || pl.cohort.leaders != 1 {
		t.Fatalf("after a lead emptied the queue: busy %v, %d leaders", pl.cohort.busy, pl.cohort.leaders)
	}
	join(joinWait) // not busy: one leader is enough
}

// A new leader yields before its first call only when the last lead had
// activations waiting: with one request at a time, nobody can join, and
// the yield would only wake another processor for nothing.
func TestCohortYieldsOnlyWhenCrowded(t *testing.T) {
	p := newPools(1, DefaultIdleMemory, time.Minute)
	defer p.closeAll()
	key := poolKey{owner: "/guest/crowd@1", digest: "sha256:00", memoryMB: 64}
	lead := func(step string, wantYield bool) *pool {
		t.Helper()
		j := &warmJob{}
		how, pl := p.join(key, j)
		if how != joinLead || j.yield != wantYield {
			t.Fatalf("%s: join %v, yield %v; want the lead, yield %v", step, how, j.yield, wantYield)
		}
		return pl
	}
	endLead := func(pl *pool) {
		t.Helper()
		if p.next(pl, false) != nil {
			t.Fatal("an activation was still waiting")
		}
	}
	pl := lead("the first", false)
	endLead(pl)
	pl = lead("after a lead alone", false)
	if how, _ := p.join(key, &warmJob{}); how != joinWait {
		t.Fatalf("join beside a leader: %v, want to wait", how)
	}
	if p.next(pl, false) == nil {
		t.Fatal("the waiting activation was not handed to the leader")
	}
	endLead(pl)
	pl = lead("after a lead with one waiting", true)
	endLead(pl)
	lead("after a lead alone again", false)
}
