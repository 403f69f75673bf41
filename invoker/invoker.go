// Package invoker takes activations off the queue, runs them in the
// runtime for their kind, stores each activation record, and sends the
// result back to the gateway that waits for it.
package invoker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/metrics"
	"github.com/wispfaas/wisp/queue"
)

// Runtime runs one activation of one kind. Implementations are safe for
// concurrent use.
type Runtime interface {
	Run(ctx context.Context, req RunRequest) RunResult
}

// RunRequest is one activation as a runtime sees it.
type RunRequest struct {
	// Digest names the action's code; Load fetches its bytes when the
	// runtime has no compiled or cached copy.
	Digest string
	Load   func(ctx context.Context) ([]byte, error)
	// LoadFile, when the invoker's code source keeps files (CodeFiles),
	// returns the path of a verified, read-only file of the code, kept in
	// place until release is called (once): a container runtime links a
	// native executable from there instead of copying it. Nil otherwise.
	LoadFile func(ctx context.Context) (path string, release func(), err error)
	Params   json.RawMessage
	Env      map[string]string
	Limits   core.Limits
	// Owner names the action at its version ("/ns/pkg/name@0.0.2"): only
	// activations of the same owner may share a warm sandbox.
	Owner string
	// Kind is the action's canonical kind ("wasm", "python:3", ...).
	Kind string
	// Main is exec.main (the function a container runtime calls); empty
	// means the kind's default.
	Main string
	// Binary is exec.binary: for python:3 and nodejs:20 the code is a zip.
	Binary bool
	// Network is true when the action's "network" annotation grants it
	// network access; containers have none otherwise.
	Network bool
}

// RunResult is what a runtime reports of one activation.
type RunResult struct {
	// Result is the action's JSON object, or {"error": ...} on failure.
	Result json.RawMessage
	Logs   []string
	// Err is nil on success. ActionFailed tells whether it is the action's
	// own fault (a developer error) rather than the platform's.
	Err          error
	ActionFailed bool
	// InitTime is time spent preparing a new sandbox; 0 when a ready one
	// was used.
	InitTime time.Duration
	// Queued is time the activation waited inside the runtime before it
	// ran (a container pool waiting for memory): it counts in waitTime,
	// not in the activation's duration, as in OpenWhisk.
	Queued time.Duration
}

// PromptRuntime is a Runtime that can tell, before running an activation,
// that Run will start it at once (waiting for nothing: no compilation, no
// memory held by others) and return within the action's time limit.
type PromptRuntime interface {
	Prompt(req RunRequest) bool
}

// Prewarmer is a Runtime that can get an action ready before its first
// activation.
type Prewarmer interface {
	Prewarm(ctx context.Context, req RunRequest) error
}

// Queue is the invoker's side of the queue.
type Queue interface {
	SubscribePrewarm(invokerID string, prewarm func(*core.Action) error) (unsubscribe func() error, err error)
	ConsumeInvocations(ctx context.Context, invokerID string, prefetch int, handle func(*queue.Delivery)) (*queue.Consumption, error)
	AckWait() time.Duration
	PublishResult(subject string, record []byte) error
}

// Records stores activation records.
type Records interface {
	// PutActivationAsync stores an encoded record without waiting and
	// calls done (which must not block) once it is stored or has failed;
	// done is not called when it returns an error. record may be reused
	// once it returns. A read of the records made after it returns sees
	// the record (it waits for the puts sent before it).
	PutActivationAsync(ns, id string, record []byte, done func(error)) error
	// PutActivationNotify stores an encoded record without waiting; the
	// store's acknowledgement goes to subject notify.
	PutActivationNotify(ns, id string, record []byte, notify string) error
	HasActivation(ctx context.Context, ns, id string) (bool, error)
}

// Heartbeats announces the invoker to the gateways.
type Heartbeats interface {
	Beat(ctx context.Context, st queue.InvokerStatus) error
	Leave(ctx context.Context, id string) error
}

// CodeSource fetches code blobs by digest.
type CodeSource interface {
	Fetch(ctx context.Context, digest string) ([]byte, error)
}

// DefaultCapacity is how many activations an invoker runs at once unless
// told otherwise. It bounds the memory a burst takes (each running
// activation holds its instance), and it is above the concurrency of a
// busy but not overloaded node: with fewer slots than concurrent callers,
// the callers past the slots go through the queue even though the CPUs
// could take them, and wait milliseconds there (docs/rationale.md).
const DefaultCapacity = 64

// Config configures an Invoker. Immutable once passed to New.
type Config struct {
	// ID names the invoker; it must stay the same across restarts so that
	// activations queued for it are found again.
	ID string
	// Capacity is how many activations run at once; the rest wait in the
	// queue (and their waitTime shows it). 0 means DefaultCapacity.
	Capacity int
	// APIHost is given to actions as __OW_API_HOST.
	APIHost string
}

// Deps are the parts an invoker works with.
type Deps struct {
	Queue      Queue
	Records    Records
	Heartbeats Heartbeats
	Code       CodeSource
	// Runtimes by canonical kind.
	Runtimes map[string]Runtime
	Logger   *slog.Logger
	// Metrics, when set, counts every activation run (how long it waited,
	// initialised and ran, how it ended) and shows how busy the invoker
	// is; whoever serves it makes the series' kinds known beforehand.
	Metrics *metrics.Registry
}

// Invoker runs activations. New builds it, Start begins consuming,
// Shutdown drains it. Safe for concurrent use.
type Invoker struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	slots    chan struct{}
	mu       sync.RWMutex // orders running.Add (read-locked) against Shutdown's Wait
	running  sync.WaitGroup
	busy     atomic.Int64
	runCtx   context.Context // cancelled when a shutdown's grace runs out
	cancel   context.CancelFunc
	stopping bool          // under mu
	stopCh   chan struct{} // closed when shutdown begins
	work     chan task     // to idle workers
	consumer *queue.Consumption
	unsubPre func() error
	stopBeat chan struct{}
	beatDone chan struct{}

	kinds []string // the kinds of deps.Runtimes, sorted, for heartbeats

	annMu       sync.RWMutex
	annotations map[annotationsKey]*[3]core.KeyValue // see staticAnnotations
}

// New builds an invoker; it fails when a dependency is missing.
func New(cfg Config, deps Deps) (*Invoker, error) {
	if deps.Queue == nil || deps.Records == nil || deps.Heartbeats == nil || deps.Code == nil || len(deps.Runtimes) == 0 {
		return nil, errors.New("invoker: Queue, Records, Heartbeats, Code and at least one Runtime are required")
	}
	if cfg.ID == "" {
		return nil, errors.New("invoker: an ID is required")
	}
	if cfg.Capacity <= 0 {
		cfg.Capacity = DefaultCapacity
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inv := &Invoker{cfg: cfg, deps: deps, log: log.With("invoker", cfg.ID), slots: make(chan struct{}, cfg.Capacity), stopCh: make(chan struct{}), work: make(chan task)}
	for k := range deps.Runtimes {
		inv.kinds = append(inv.kinds, k)
	}
	slices.Sort(inv.kinds)
	inv.runCtx, inv.cancel = context.WithCancel(context.Background())
	if m := deps.Metrics; m != nil {
		m.Collect(func() []metrics.Family {
			return []metrics.Family{
				{Name: "wisp_invoker_activations_running", Help: "Activations the invoker is running now.", Type: "gauge", Samples: []metrics.Sample{{Value: float64(inv.busy.Load())}}},
				{Name: "wisp_invoker_capacity", Help: "Activations the invoker runs at once (--invoker-capacity); more wait in the queue.", Type: "gauge", Samples: []metrics.Sample{{Value: float64(cfg.Capacity)}}},
			}
		})
	}
	return inv, nil
}

// Start announces the invoker and begins taking activations.
func (inv *Invoker) Start(ctx context.Context) error {
	err := inv.beat(ctx)
	if err != nil {
		return err
	}
	inv.stopBeat, inv.beatDone = make(chan struct{}), make(chan struct{})
	go inv.heartbeats()
	if inv.unsubPre, err = inv.deps.Queue.SubscribePrewarm(inv.cfg.ID, inv.prewarm); err != nil {
		close(inv.stopBeat)
		return err
	}
	c, err := inv.deps.Queue.ConsumeInvocations(ctx, inv.cfg.ID, inv.cfg.Capacity, inv.accept)
	if err != nil {
		close(inv.stopBeat)
		return err
	}
	inv.consumer = c
	inv.log.Info("invoker started", "capacity", inv.cfg.Capacity)
	return nil
}

// Shutdown stops taking activations (returning those fetched but not
// started to the queue) and waits for the running ones until ctx ends; those still running then are stopped and recorded as
// interrupted. Activations not yet taken stay queued for the next start.
// A later call only waits for the running activations, as the first does.
func (inv *Invoker) Shutdown(ctx context.Context) error {
	inv.mu.Lock()
	first := !inv.stopping
	if first {
		inv.stopping = true
		close(inv.stopCh)
	}
	inv.mu.Unlock()
	if !first {
		inv.waitRunning(ctx)
		return nil
	}
	if inv.unsubPre != nil {
		_ = inv.unsubPre()
	}
	if inv.consumer != nil {
		// Activations already fetched go back to the queue (Nak) at once,
		// so that they run first after a restart, not after the ack wait.
		if err := inv.consumer.Stop(ctx); err != nil {
			inv.log.Warn("stop taking activations", "err", err)
		}
	}
	inv.waitRunning(ctx)
	if inv.stopBeat != nil {
		close(inv.stopBeat)
		<-inv.beatDone
	}
	leaveCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := inv.deps.Heartbeats.Leave(leaveCtx, inv.cfg.ID); err != nil {
		return err
	}
	return nil
}

// waitRunning waits for the running activations until ctx ends, then
// interrupts those left and waits for them to be recorded.
func (inv *Invoker) waitRunning(ctx context.Context) {
	done := make(chan struct{})
	go func() { inv.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		inv.log.Warn("shutdown grace over: interrupting running activations", "running", inv.busy.Load())
		inv.cancel()
		<-done
	}
	inv.cancel()
}

func (inv *Invoker) beat(ctx context.Context) error {
	return inv.deps.Heartbeats.Beat(ctx, queue.InvokerStatus{ID: inv.cfg.ID, Capacity: inv.cfg.Capacity, Busy: int(inv.busy.Load()), Kinds: inv.kinds})
}

func (inv *Invoker) heartbeats() {
	defer close(inv.beatDone)
	t := time.NewTicker(queue.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-inv.stopBeat:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), queue.HeartbeatInterval)
			if err := inv.beat(ctx); err != nil {
				inv.log.Warn("heartbeat failed", "err", err)
			}
			cancel()
		}
	}
}

// ID is the invoker's id, as its heartbeats announce it.
func (inv *Invoker) ID() string { return inv.cfg.ID }

// task is one activation for a worker: a delivery from the queue, or a
// blocking activation handed over by a gateway in this process (local,
// answered through done).
type task struct {
	d     *queue.Delivery
	local *core.Invocation
	done  func(queue.Result)
}

// accept is called by the queue for each delivery, one at a time. It
// blocks while all slots are taken, so that the queue, not memory, holds
// the backlog.
func (inv *Invoker) accept(d *queue.Delivery) {
	select {
	case inv.slots <- struct{}{}:
	case <-inv.stopCh:
		_ = d.Nak(0) // leave it for the next start
		return
	}
	if !inv.enter() {
		_ = d.Nak(0) // leave it for the next start
		return
	}
	inv.dispatch(task{d: d})
}

// Offer runs a blocking activation that a gateway in this process hands
// over directly, instead of through the queue, when a slot is free at
// once; it reports whether it took the activation. When it reports false
// nothing was done, and the gateway queues the activation as usual: a
// backlog in the queue has the first claim on each freed slot (accept
// waits on the slots, Offer never does), so a direct hand-over never
// overtakes queued work. done is called once, on a goroutine that must
// not be held long, with the result once the record is stored (or could
// not be: that is logged). The result's bytes are lent: the caller calls
// its Release once it no longer reads them.
//
// wait is how long the caller waits for the result. When the action's
// runtime says the activation will start at once and end within its time
// limit, and that limit is within wait, Offer runs it on the caller's
// goroutine before it returns: no hand-over to a worker, no scheduling
// delay in waitTime. Otherwise a worker runs it, and Offer returns at
// once, so that the caller can give up waiting after wait. ranHere tells
// which: after a run in place, done comes as soon as the store answers
// (within its own timeout), and the caller need not watch the clock.
//
// The activation lives only in this process until its record is stored:
// should the process die meanwhile, it is lost along with its caller's
// connection, as a blocking invoke is in OpenWhisk (docs/rationale.md).
func (inv *Invoker) Offer(msg *core.Invocation, wait time.Duration, done func(queue.Result)) (taken, ranHere bool) {
	select {
	case inv.slots <- struct{}{}:
	default:
		return false, false
	}
	if !inv.enter() {
		return false, false
	}
	if inv.prompt(msg, wait) {
		inv.handleLocal(msg, done)
		return true, true
	}
	inv.dispatch(task{local: msg, done: done})
	return true, false
}

// prompt reports whether msg can run on the caller's goroutine: its
// runtime will start it at once and end it within its time limit, which
// is within wait.
func (inv *Invoker) prompt(msg *core.Invocation, wait time.Duration) bool {
	a := &msg.Action
	if time.Duration(a.Limits.Timeout)*time.Millisecond > wait {
		return false
	}
	p, ok := inv.deps.Runtimes[a.Kind].(PromptRuntime)
	return ok && p.Prompt(RunRequest{Digest: a.Digest, Kind: a.Kind, Limits: a.Limits})
}

// enter counts an activation as running once it holds a slot; it frees
// the slot and reports false when the invoker is stopping.
func (inv *Invoker) enter() bool {
	inv.mu.RLock()
	if inv.stopping {
		inv.mu.RUnlock()
		<-inv.slots
		return false
	}
	inv.running.Add(1)
	inv.mu.RUnlock()
	inv.busy.Add(1)
	return true
}

// release frees the slot of an activation that has run.
func (inv *Invoker) release() {
	inv.busy.Add(-1)
	<-inv.slots
}

// dispatch hands t to an idle worker, or starts one.
func (inv *Invoker) dispatch(t task) {
	select {
	case inv.work <- t:
	default:
		go inv.worker(t)
	}
}

// worker runs t, then the tasks handed to it while it is idle, until the
// invoker stops. Workers outlive their activations so that each
// activation does not start a goroutine whose stack must grow (copied
// several times) to the depth of a Wasm run: that showed in profiles.
func (inv *Invoker) worker(t task) {
	for {
		if t.local != nil {
			inv.handleLocal(t.local, t.done)
		} else {
			inv.handle(t.d)
		}
		select {
		case t = <-inv.work:
		case <-inv.stopCh:
			return
		}
	}
}

// handleLocal runs an activation handed over by Offer, sends its record
// to the store and hands the result to done without waiting for the
// store's confirmation: reads of the store wait for the records sent
// before them (store.Store), so the caller can read the record as soon
// as it has the result. The activation counts as running until the store
// has answered, so that Close waits for its record.
func (inv *Invoker) handleLocal(msg *core.Invocation, done func(queue.Result)) {
	record := inv.run(inv.runCtx, msg, nil)
	inv.release()
	// The record's buffer is lent to the caller, who gives it back once
	// it has written its answer (Result.Release). The store has copied
	// it by the time PutActivationAsync returns.
	bp := resultBufs.Get().(*[]byte)
	buf, rs, re := record.AppendJSON((*bp)[:0])
	stored := func(err error) {
		if err != nil {
			inv.log.Error("store activation record", "activation", msg.ActivationID, "err", err)
		}
		inv.running.Done()
	}
	if err := inv.deps.Records.PutActivationAsync(record.Namespace, record.ActivationID, buf, stored); err != nil {
		stored(err)
	}
	done(queue.LentResult(buf, record.StatusCode, rs, re, func() { putResultBuf(bp, buf) }))
}

// handle runs one activation, then stores its record. The slot is freed
// as soon as the activation has run.
//
// An activation must be acknowledged only once its record is stored, and
// a blocking caller answered only once its record can be read. When a
// gateway waits (ReplyTo), the record and the result go out together and
// the store's acknowledgement goes to the gateway, which answers the
// caller and acknowledges the activation once it has both (queue.Results).
// Otherwise the invoker waits for the store's acknowledgement itself.
func (inv *Invoker) handle(d *queue.Delivery) {
	msg := &d.Invocation
	ctx := inv.runCtx
	if d.Redelivered() {
		// It may have run before the invoker died, after the record was
		// stored but before the ack: never run an activation twice.
		if done, err := inv.deps.Records.HasActivation(ctx, msg.Namespace, msg.ActivationID); err == nil && done {
			inv.log.Info("activation already recorded; acknowledging the redelivery", "activation", msg.ActivationID)
			_ = d.Ack()
			inv.release()
			inv.running.Done()
			return
		}
	}
	record := inv.run(ctx, msg, d)
	inv.release()
	if msg.ReplyTo != "" && inv.sendToGateway(d, record) {
		inv.running.Done()
		return
	}
	bp := resultBufs.Get().(*[]byte)
	m := encodeResult((*bp)[:0], record, "")
	recorded := func(err error) {
		if err != nil {
			inv.log.Error("store activation record", "activation", msg.ActivationID, "err", err)
		}
		if msg.ReplyTo != "" {
			if err := inv.deps.Queue.PublishResult(msg.ReplyTo, m); err != nil {
				inv.log.Warn("send result", "activation", msg.ActivationID, "err", err)
			}
		}
		if err := d.Ack(); err != nil {
			inv.log.Warn("acknowledge activation", "activation", msg.ActivationID, "err", err)
		}
		putResultBuf(bp, m)
		inv.running.Done()
	}
	if err := inv.deps.Records.PutActivationAsync(record.Namespace, record.ActivationID, queue.ResultRecord(m), recorded); err != nil {
		recorded(err)
	}
}

// sendToGateway publishes the record, its acknowledgement addressed to the
// waiting gateway, and the result, which asks the gateway to acknowledge
// the activation. It reports false, having sent nothing, when the record
// could not be published: the invoker then stores it as when nobody waits.
func (inv *Invoker) sendToGateway(d *queue.Delivery, record *core.Activation) bool {
	msg := &d.Invocation
	bp := resultBufs.Get().(*[]byte)
	m := encodeResult((*bp)[:0], record, d.AckSubject())
	defer putResultBuf(bp, m)
	if err := inv.deps.Records.PutActivationNotify(record.Namespace, record.ActivationID, queue.ResultRecord(m), queue.StoredSubject(msg.ReplyTo)); err != nil {
		inv.log.Warn("store activation record", "activation", msg.ActivationID, "err", err)
		return false
	}
	if err := inv.deps.Queue.PublishResult(msg.ReplyTo, m); err != nil {
		// The gateway will not acknowledge it: it comes back after the
		// ack wait, and its record (if stored) is found.
		inv.log.Warn("send result", "activation", msg.ActivationID, "err", err)
	}
	return true
}

// encodeResult appends the result message of record to dst.
func encodeResult(dst []byte, record *core.Activation, ackSubject string) []byte {
	m, rs, re := record.AppendJSON(queue.AppendResultHeader(dst, ackSubject))
	queue.FinishResultMessage(m, record.StatusCode, rs, re)
	return m
}

func putResultBuf(bp *[]byte, m []byte) {
	if cap(m) <= maxPooledResult {
		*bp = m[:0]
		resultBufs.Put(bp)
	}
}

// resultBufs holds buffers for result messages (the encoded record after
// a short header), which are sent twice: to the store and to the caller.
var resultBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledResult bounds the buffers kept in resultBufs, so that one large
// result does not stay pinned.
const maxPooledResult = 64 << 10

// prewarm gets an action ready for its first activation, if its runtime
// can. It is best effort: on failure the activation will pay.
func (inv *Invoker) prewarm(a *core.Action) error {
	pw, ok := inv.deps.Runtimes[a.Exec.Kind].(Prewarmer)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(inv.runCtx, time.Duration(a.Limits.Timeout)*time.Millisecond)
	defer cancel()
	start := time.Now()
	ia := a.Invoked()
	err := pw.Prewarm(ctx, inv.request(&ia, nil, nil))
	if err != nil {
		inv.log.Warn("prewarm failed; the first activation will start the sandbox", "action", a.Path().String(), "err", err)
		return err
	}
	inv.log.Debug("action prewarmed", "action", a.Path().String(), "version", a.Version, "took", time.Since(start))
	return nil
}

// request is the runtime's view of an activation of a.
func (inv *Invoker) request(a *core.InvokedAction, params json.RawMessage, env map[string]string) RunRequest {
	digest := a.Digest
	var loadFile func(ctx context.Context) (string, func(), error)
	if files, ok := inv.deps.Code.(CodeFiles); ok {
		loadFile = func(ctx context.Context) (string, func(), error) {
			return files.FetchFile(ctx, digest)
		}
	}
	return RunRequest{
		Digest: digest,
		Load: func(ctx context.Context) ([]byte, error) {
			return inv.deps.Code.Fetch(ctx, digest)
		},
		LoadFile: loadFile,
		Params:   params,
		Env:      env,
		Limits:   a.Limits,
		// The update time too: an action deleted and created again starts
		// over at version 0.0.1, and must not inherit the old one's sandboxes.
		Owner:   a.Path().String() + "@" + a.Version + "/" + strconv.FormatInt(a.Updated, 10),
		Kind:    a.Kind,
		Main:    a.Main,
		Binary:  a.Binary,
		Network: a.Network,
	}
}

// run executes the activation msg and returns its record. d is its
// delivery from the queue, told of progress while a long activation runs;
// nil for one handed over in process.
func (inv *Invoker) run(ctx context.Context, msg *core.Invocation, d *queue.Delivery) *core.Activation {
	action := &msg.Action
	path := action.Path()
	start := time.Now()
	wait := time.Duration(start.UnixNano() - msg.Queued)
	if wait < 0 {
		wait = 0
	}
	rec := &core.Activation{
		Namespace:    msg.Namespace,
		Name:         action.Name,
		Version:      action.Version,
		Subject:      msg.Subject,
		ActivationID: msg.ActivationID,
		Start:        start.UnixMilli(),
		Publish:      false,
	}
	static := inv.staticAnnotations(action)
	rec.Annotations = make(core.KeyValues, 4, 5)
	rec.Annotations[0] = static[0]
	rec.Annotations[1] = core.KeyValue{Key: "waitTime", Value: strconv.AppendInt(nil, wait.Milliseconds(), 10)}
	rec.Annotations[2], rec.Annotations[3] = static[1], static[2]

	var res RunResult
	rt := inv.deps.Runtimes[action.Kind]
	if rt == nil {
		res = RunResult{Err: fmt.Errorf("this invoker cannot run actions of kind %q", action.Kind)}
	} else {
		stopProgress := func() {}
		if d != nil {
			// Tell JetStream the activation is alive while it runs long.
			stopProgress = keepAlive(d, inv.deps.Queue.AckWait()/3)
		}
		env := inv.env(msg, start)
		res = rt.Run(ctx, inv.request(action, msg.Params, env))
		putEnv(env)
		stopProgress()
	}
	if res.Queued > 0 {
		start, wait = start.Add(res.Queued), wait+res.Queued
		rec.Start = start.UnixMilli()
		rec.Annotations[1].Value = strconv.AppendInt(nil, wait.Milliseconds(), 10)
	}
	end := time.Now()
	rec.End, rec.Duration = end.UnixMilli(), end.Sub(start).Milliseconds()
	rec.Logs = res.Logs
	if rec.Logs == nil {
		rec.Logs = []string{}
	}
	// The activation paid for a new sandbox: initTime is part of its record.
	paidInit := res.InitTime > 0 && (res.Err == nil || res.ActionFailed)
	if paidInit {
		rec.Annotations = append(rec.Annotations, core.KeyValue{Key: "initTime", Value: strconv.AppendInt(nil, res.InitTime.Milliseconds(), 10)})
	}
	switch {
	case res.Err == nil && hasErrorField(res.Result):
		rec.Response = core.NewResponse(core.StatusApplicationError, res.Result)
	case res.Err == nil:
		rec.Response = core.NewResponse(core.StatusSuccess, res.Result)
	case ctx.Err() != nil:
		rec.Response = core.NewResponse(core.StatusInternalError, core.ErrorResult("The activation was interrupted because the invoker shut down."))
	case res.ActionFailed:
		rec.Response = core.NewResponse(core.StatusDeveloperError, res.Result)
	default:
		inv.log.Error("activation failed in the platform", "activation", msg.ActivationID, "action", path.String(), "err", res.Err)
		rec.Response = core.NewResponse(core.StatusInternalError, core.ErrorResult("The action could not be run: "+res.Err.Error()))
	}
	rec.StatusCode = rec.Response.StatusCode
	if m := inv.deps.Metrics; m != nil {
		observed := metrics.Activation{Kind: action.Kind, Outcome: outcomes[rec.StatusCode], Wait: wait, Duration: end.Sub(start)}
		if paidInit {
			observed.Init = res.InitTime
		}
		m.Observe(observed)
	}
	if inv.log.Enabled(ctx, slog.LevelDebug) {
		inv.log.Debug("activation done", "activation", msg.ActivationID, "action", path.String(), "status", rec.Response.Status, "duration", end.Sub(start), "wait", wait)
	}
	return rec
}

// outcomes are the metrics' outcomes by record status code.
var outcomes = [...]metrics.Outcome{
	core.StatusSuccess:          metrics.Success,
	core.StatusApplicationError: metrics.ApplicationError,
	core.StatusDeveloperError:   metrics.DeveloperError,
	core.StatusInternalError:    metrics.InternalError,
}

// env is the activation's environment. The map is the runtime's only
// while Run runs: give it back with putEnv.
func (inv *Invoker) env(msg *core.Invocation, start time.Time) map[string]string {
	a := &msg.Action
	env := envMaps.Get().(map[string]string)
	env["__OW_ACTIVATION_ID"] = msg.ActivationID
	env["__OW_NAMESPACE"] = msg.Namespace
	env["__OW_ACTION_NAME"] = "/" + a.Namespace + "/" + a.Name
	env["__OW_ACTION_VERSION"] = a.Version
	env["__OW_DEADLINE"] = strconv.FormatInt(start.Add(time.Duration(a.Limits.Timeout)*time.Millisecond).UnixMilli(), 10)
	env["__OW_API_HOST"] = inv.cfg.APIHost
	return env
}

var envMaps = sync.Pool{New: func() any { return make(map[string]string, 6) }}

func putEnv(env map[string]string) {
	clear(env)
	envMaps.Put(env)
}

// annotationsKey is what the constant annotations of a record depend on.
type annotationsKey struct {
	path, kind string
	limits     core.Limits
}

// staticAnnotations are the "path", "kind" and "limits" annotations of a
// record of action, encoded once per distinct action and limits (the
// cache is dropped whenever it holds maxAnnotations of them).
func (inv *Invoker) staticAnnotations(a *core.InvokedAction) *[3]core.KeyValue {
	key := annotationsKey{path: a.Namespace + "/" + a.Name, kind: a.Kind, limits: a.Limits}
	inv.annMu.RLock()
	static := inv.annotations[key]
	inv.annMu.RUnlock()
	if static != nil {
		return static
	}
	kv := core.KeyValues{}.Set("path", key.path).Set("kind", key.kind).Set("limits", key.limits)
	static = &[3]core.KeyValue{kv[0], kv[1], kv[2]}
	inv.annMu.Lock()
	if len(inv.annotations) >= maxAnnotations || inv.annotations == nil {
		inv.annotations = make(map[annotationsKey]*[3]core.KeyValue)
	}
	inv.annotations[key] = static
	inv.annMu.Unlock()
	return static
}

const maxAnnotations = 4096

// keepAlive signals progress on d every interval until the returned
// function is called.
func keepAlive(d *queue.Delivery, interval time.Duration) (stop func()) {
	var (
		mu      sync.Mutex
		t       *time.Timer
		stopped bool
	)
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(interval, func() {
		_ = d.InProgress()
		mu.Lock()
		if !stopped {
			t.Reset(interval)
		}
		mu.Unlock()
	})
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// hasErrorField reports whether a result object has a top-level "error"
// key, which OpenWhisk counts as an application error.
func hasErrorField(result json.RawMessage) bool {
	if !bytes.Contains(result, []byte(`"error"`)) {
		return false // the common case, without decoding
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(result, &top) != nil {
		return false
	}
	_, ok := top["error"]
	return ok
}
