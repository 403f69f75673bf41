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
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispfaas/wisp/core"
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
	Params json.RawMessage
	Env    map[string]string
	Limits core.Limits
	// Owner names the action at its version ("/ns/pkg/name@0.0.2"): only
	// activations of the same owner may share a warm sandbox.
	Owner string
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
	PutActivationJSON(ctx context.Context, ns, id string, record []byte) error
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

// Config configures an Invoker. Immutable once passed to New.
type Config struct {
	// ID names the invoker; it must stay the same across restarts so that
	// activations queued for it are found again.
	ID string
	// Capacity is how many activations run at once; the rest wait in the
	// queue (and their waitTime shows it). Default 32.
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
}

// Invoker runs activations. New builds it, Start begins consuming,
// Shutdown drains it. Safe for concurrent use.
type Invoker struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	slots    chan struct{}
	mu       sync.Mutex // orders running.Add against Shutdown's Wait
	running  sync.WaitGroup
	busy     atomic.Int64
	runCtx   context.Context // cancelled when a shutdown's grace runs out
	cancel   context.CancelFunc
	stopping bool          // under mu
	stopCh   chan struct{} // closed when shutdown begins
	consumer *queue.Consumption
	unsubPre func() error
	stopBeat chan struct{}
	beatDone chan struct{}
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
		cfg.Capacity = 32
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inv := &Invoker{cfg: cfg, deps: deps, log: log.With("invoker", cfg.ID), slots: make(chan struct{}, cfg.Capacity), stopCh: make(chan struct{})}
	inv.runCtx, inv.cancel = context.WithCancel(context.Background())
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
func (inv *Invoker) Shutdown(ctx context.Context) error {
	inv.mu.Lock()
	if !inv.stopping {
		inv.stopping = true
		close(inv.stopCh)
	}
	inv.mu.Unlock()
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

func (inv *Invoker) beat(ctx context.Context) error {
	return inv.deps.Heartbeats.Beat(ctx, queue.InvokerStatus{ID: inv.cfg.ID, Capacity: inv.cfg.Capacity, Busy: int(inv.busy.Load())})
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
	inv.mu.Lock()
	if inv.stopping {
		inv.mu.Unlock()
		<-inv.slots
		_ = d.Nak(0) // leave it for the next start
		return
	}
	inv.running.Add(1)
	inv.mu.Unlock()
	inv.busy.Add(1)
	go func() {
		defer func() {
			inv.busy.Add(-1)
			<-inv.slots
			inv.running.Done()
		}()
		inv.handle(d)
	}()
}

func (inv *Invoker) handle(d *queue.Delivery) {
	msg := &d.Invocation
	ctx := inv.runCtx
	if d.Redelivered() {
		// It may have run before the invoker died, after the record was
		// stored but before the ack: never run an activation twice.
		if done, err := inv.deps.Records.HasActivation(ctx, msg.Namespace, msg.ActivationID); err == nil && done {
			inv.log.Info("activation already recorded; acknowledging the redelivery", "activation", msg.ActivationID)
			_ = d.Ack()
			return
		}
	}
	record := inv.run(ctx, d)
	data, err := json.Marshal(record)
	if err != nil {
		inv.log.Error("encode activation record", "activation", msg.ActivationID, "err", err)
		return
	}
	storeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := inv.deps.Records.PutActivationJSON(storeCtx, record.Namespace, record.ActivationID, data); err != nil {
		inv.log.Error("store activation record", "activation", msg.ActivationID, "err", err)
	}
	if msg.ReplyTo != "" {
		if err := inv.deps.Queue.PublishResult(msg.ReplyTo, data); err != nil {
			inv.log.Warn("send result", "activation", msg.ActivationID, "err", err)
		}
	}
	if err := d.Ack(); err != nil {
		inv.log.Warn("acknowledge activation", "activation", msg.ActivationID, "err", err)
	}
}

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
	err := pw.Prewarm(ctx, inv.request(a, nil, nil))
	if err != nil {
		inv.log.Warn("prewarm failed; the first activation will start the sandbox", "action", a.Path().String(), "err", err)
		return err
	}
	inv.log.Debug("action prewarmed", "action", a.Path().String(), "version", a.Version, "took", time.Since(start))
	return nil
}

// request is the runtime's view of an activation of a.
func (inv *Invoker) request(a *core.Action, params json.RawMessage, env map[string]string) RunRequest {
	digest := a.Exec.Digest
	return RunRequest{
		Digest: digest,
		Load: func(ctx context.Context) ([]byte, error) {
			return inv.deps.Code.Fetch(ctx, digest)
		},
		Params: params,
		Env:    env,
		Limits: a.Limits,
		Owner:  a.Path().String() + "@" + a.Version,
	}
}

// run executes the activation and returns its record.
func (inv *Invoker) run(ctx context.Context, d *queue.Delivery) *core.Activation {
	msg := &d.Invocation
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
	rec.Annotations = core.KeyValues{}.
		Set("path", path.Namespace+"/"+path.Relative()).
		Set("waitTime", wait.Milliseconds()).
		Set("kind", action.Exec.Kind).
		Set("limits", action.Limits)

	var res RunResult
	rt := inv.deps.Runtimes[action.Exec.Kind]
	if rt == nil {
		res = RunResult{Err: fmt.Errorf("this invoker cannot run actions of kind %q", action.Exec.Kind)}
	} else {
		// Tell JetStream the activation is alive while it runs long.
		stopProgress := keepAlive(d, inv.deps.Queue.AckWait()/3)
		res = rt.Run(ctx, inv.request(action, msg.Params, inv.env(msg, start)))
		stopProgress()
	}
	end := time.Now()
	rec.End, rec.Duration = end.UnixMilli(), end.Sub(start).Milliseconds()
	rec.Logs = res.Logs
	if rec.Logs == nil {
		rec.Logs = []string{}
	}
	if res.InitTime > 0 && (res.Err == nil || res.ActionFailed) {
		rec.Annotations = rec.Annotations.Set("initTime", res.InitTime.Milliseconds())
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
	inv.log.Debug("activation done", "activation", msg.ActivationID, "action", path.String(), "status", rec.Response.Status, "duration", end.Sub(start), "wait", wait)
	return rec
}

func (inv *Invoker) env(msg *core.Invocation, start time.Time) map[string]string {
	a := &msg.Action
	return map[string]string{
		"__OW_ACTIVATION_ID":  msg.ActivationID,
		"__OW_NAMESPACE":      msg.Namespace,
		"__OW_ACTION_NAME":    a.Path().String(),
		"__OW_ACTION_VERSION": a.Version,
		"__OW_DEADLINE":       fmt.Sprint(start.Add(time.Duration(a.Limits.Timeout) * time.Millisecond).UnixMilli()),
		"__OW_API_HOST":       inv.cfg.APIHost,
	}
}

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
