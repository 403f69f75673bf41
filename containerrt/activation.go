package containerrt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/wispfaas/wisp/containerrt/actioncode"
	"github.com/wispfaas/wisp/containerrt/container"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/internal/jsonvalid"
	"github.com/wispfaas/wisp/invoker"
)

// job is one activation (or prewarm) as the pool sees it.
type job struct {
	req      *invoker.RunRequest
	img      *runtimeImage
	key      stemKey
	useStem  bool
	timeout  time.Duration
	logLimit int
	code     []byte // loaded once, on the first specialisation
	// queued is how long the activation waited in the pool's queue for
	// memory (RunResult.Queued: the invoker counts it in waitTime).
	queued time.Duration
}

// Run implements the invoker's Runtime: it runs one activation in a
// container of its action, warm if one is idle, from a stem cell or a
// new container otherwise, waiting in the pool's FIFO queue while the
// memory budget is full. A failure that is the action's (a time-out, an
// OOM kill, an exit, an init error, a result that is not an object) is
// reported with ActionFailed and OpenWhisk's wording; the container is
// removed unless it is still usable. InitTime is set when the activation
// paid for a new container (start and init, or init of a stem cell).
func (r *Runtime) Run(ctx context.Context, req invoker.RunRequest) invoker.RunResult {
	if !r.enter() {
		return platformResult(errClosed)
	}
	defer r.runs.Done()
	j, f := r.newJob(ctx, &req)
	if f != nil {
		return failResult(f, nil)
	}
	m, initTime, initLogs, f := r.obtain(ctx, j)
	if j.queued > 0 && r.log.Enabled(ctx, slog.LevelDebug) {
		r.log.Debug("activation queued for a container", "owner", req.Owner, "activation", req.Env["__OW_ACTIVATION_ID"], "queued", j.queued)
	}
	if f != nil {
		res := failResult(f, initLogs)
		res.Queued = j.queued
		return res
	}
	res := r.runIn(ctx, j, m)
	// The wait for memory is scheduling, not running: the invoker adds it
	// to waitTime.
	res.Queued = j.queued
	if initTime > 0 {
		res.InitTime = initTime
	}
	if len(initLogs) > 0 {
		res.Logs = append(initLogs, res.Logs...)
	}
	if req.Limits.Logs == 0 {
		res.Logs = nil
	}
	return res
}

// Prewarm implements the invoker's Prewarmer: it gets a container of the
// action started and initialised, idle for its first activation, unless
// one already exists. The logs of its init go to that first activation.
// It fails as Run would (an init error, a full budget until ctx ends).
func (r *Runtime) Prewarm(ctx context.Context, req invoker.RunRequest) error {
	if !r.enter() {
		return errClosed
	}
	defer r.runs.Done()
	r.mu.Lock()
	for m := range r.p.members {
		if m.owner == req.Owner {
			r.mu.Unlock()
			return nil
		}
	}
	r.mu.Unlock()
	j, f := r.newJob(ctx, &req)
	if f != nil {
		return f
	}
	m, _, initLogs, f := r.obtain(ctx, j)
	if f != nil {
		return f
	}
	r.mu.Lock()
	m.initLogs = append(m.initLogs, initLogs...)
	r.mu.Unlock()
	r.release(m, true)
	return nil
}

// newJob resolves what an activation needs: the runtime image of its
// kind (importing a blackbox image), its memory, time and log limits.
func (r *Runtime) newJob(ctx context.Context, req *invoker.RunRequest) (*job, *failure) {
	mem := req.Limits.Memory
	if mem == 0 {
		mem = core.DefaultMemoryMB
	}
	if mem < core.MinMemoryMB {
		return nil, &failure{msg: fmt.Sprintf("The action's memory limit (%d MB) is below the smallest container (%d MB).", mem, core.MinMemoryMB), developer: true}
	}
	if mem > r.cfg.MemoryBudgetMB {
		return nil, &failure{msg: fmt.Sprintf("The action's memory limit (%d MB) is more than this invoker's container memory (%d MB).", mem, r.cfg.MemoryBudgetMB)}
	}
	timeout := req.Limits.Timeout
	if timeout <= 0 {
		timeout = core.DefaultTimeoutMs
	}
	j := &job{req: req, timeout: time.Duration(timeout) * time.Millisecond, logLimit: req.Limits.Logs << 20}
	if req.Kind == kindBlackbox {
		img, f := r.blackboxImage(ctx, req)
		if f != nil {
			return nil, f
		}
		j.img = img
		// Containers of one image are interchangeable only for that
		// image; the owner keys reuse anyway.
		j.key = stemKey{kind: kindBlackbox + "@" + req.Digest, memMB: mem}
		return j, nil
	}
	img := r.builtImage(req.Kind)
	if img == nil {
		r.rescan(false)
		if img = r.builtImage(req.Kind); img == nil {
			return nil, &failure{msg: fmt.Sprintf("No runtime for kind %s is built on this invoker (wispd runtimes build).", req.Kind)}
		}
	}
	j.img = img
	j.key = stemKey{kind: req.Kind, memMB: mem}
	j.useStem = !req.Network
	return j, nil
}

// blackboxImage asks the ImageSource for the action's image.
func (r *Runtime) blackboxImage(ctx context.Context, req *invoker.RunRequest) (*runtimeImage, *failure) {
	if r.cfg.Images == nil {
		return nil, &failure{msg: "This invoker does not run blackbox images."}
	}
	open := CodeBytes(req.Load)
	if req.LoadFile != nil {
		open = CodeFile(req.LoadFile) // an image tarball: read in place
	}
	dir, err := r.cfg.Images.Image(ctx, req.Digest, open)
	if err != nil {
		if errors.Is(err, ErrInvalidImage) {
			return nil, &failure{msg: "The action's image cannot be used: " + err.Error(), developer: true, err: err}
		}
		return nil, &failure{msg: "The action's image could not be prepared: " + err.Error(), err: err}
	}
	r.imgMu.Lock()
	img := r.blackbox[dir]
	r.imgMu.Unlock()
	if img != nil {
		return img, nil
	}
	img, err = readRuntime(dir)
	if err != nil {
		return nil, &failure{msg: "The action's image cannot be used: " + err.Error(), developer: true, err: err}
	}
	img.Kind = kindBlackbox
	img.Cgroups = true   // a user's image may size itself from its limits (a JVM does)
	img.InMemory = false // memory holds copies of Wisp's own runtimes only
	r.imgMu.Lock()
	r.blackbox[dir] = img
	r.imgMu.Unlock()
	return img, nil
}

// obtain gets a container initialised for j's owner and claimed for one
// activation: an idle one (resumed if paused), a stem cell or a new
// container (both then initialised with the action's code). initTime is
// what a new container cost the activation, 0 for a warm one.
func (r *Runtime) obtain(ctx context.Context, j *job) (m *member, initTime time.Duration, initLogs []string, f *failure) {
	w := &waiter{owner: j.req.Owner, key: j.key, useStem: j.useStem}
	for {
		g, waited, err := r.acquire(ctx, w)
		j.queued += waited
		if err != nil {
			if errors.Is(err, errClosed) {
				return nil, 0, nil, &failure{msg: "The container runtime is shutting down.", err: err}
			}
			return nil, 0, nil, &failure{msg: "The activation ended while it waited for a container: " + err.Error(), err: err}
		}
		start := time.Now()
		switch {
		case g.cold:
			r.destroyAll(g.evicted)
			m, err = r.startMember(ctx, j.img, j.key, j.req.Network)
			if err != nil {
				r.mu.Lock()
				r.p.used -= j.key.memMB
				r.dispatchLocked()
				r.mu.Unlock()
				return nil, 0, nil, &failure{msg: "The action's container could not be started: " + err.Error(), err: err}
			}
			if err := r.register(m, StatusInitialising); err != nil {
				return nil, 0, nil, &failure{msg: "The container runtime is shutting down.", err: err}
			}
		case g.m.owner == "":
			m = g.m // a stem cell, initialising
		default:
			m = g.m
			if err := r.wake(ctx, m); err != nil {
				if ctx.Err() != nil {
					// The activation ended, not the container: keep it.
					r.release(m, true)
					return nil, 0, nil, &failure{msg: "The activation was interrupted: " + ctx.Err().Error(), err: err}
				}
				r.log.Warn("idle container unusable; removing it", "container", m.id, "owner", m.owner, "err", err)
				r.mu.Lock()
				r.p.stats.Crashed++
				r.mu.Unlock()
				r.remove(m) // each try removes one: the loop ends
				continue
			}
			r.mu.Lock()
			logs := m.initLogs
			m.initLogs = nil
			r.mu.Unlock()
			return m, 0, logs, nil
		}
		// A stem cell taken here is replaced once this activation is over
		// (release and remove ask the refiller): starting a container
		// takes tens of milliseconds of CPU, which on a small machine
		// would slow the very activation that took the stem cell.
		logs, f := r.specialise(ctx, j, m)
		if f != nil {
			r.remove(m)
			return nil, 0, logs, f
		}
		return m, time.Since(start), logs, nil
	}
}

// specialise places j's code in m's action directory and sends init; on
// success m serves j's owner only (status running).
func (r *Runtime) specialise(ctx context.Context, j *job, m *member) ([]string, *failure) {
	req := j.req
	entry, f := r.placeCode(ctx, j, m)
	if f != nil {
		return nil, f
	}
	main := req.Main
	if main == "" {
		main = "main"
	}
	ictx, cancel := context.WithTimeout(ctx, j.timeout)
	logs, err := m.c.Init(ictx, container.InitMessage{Main: main, Binary: req.Binary, Entry: entry, Env: initEnv(req.Env)}, j.logLimit)
	cancel()
	if err != nil {
		return logs, classify(err, ctx, ictx, int(j.timeout/time.Millisecond), j.key.memMB, true)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.status == StatusRemoved {
		return logs, &failure{msg: "The container runtime is shutting down.", err: errClosed}
	}
	m.owner = req.Owner
	if err := m.setStatus(StatusRunning); err != nil {
		return logs, &failure{msg: "The container could not be used: " + err.Error(), err: err}
	}
	return logs, nil
}

// codeReader reads j's code in place: from the invoker's cached file when
// it keeps one, else from the bytes loaded once for the job.
func (j *job) codeReader() CodeReader {
	if j.req.LoadFile != nil && j.code == nil {
		return CodeFile(j.req.LoadFile)
	}
	return CodeBytes(func(ctx context.Context) ([]byte, error) {
		if j.code == nil {
			code, err := j.req.Load(ctx)
			if err != nil {
				return nil, err
			}
			j.code = code
		}
		return j.code, nil
	})
}

// placeCode writes the action's code into m's action directory and
// returns the init message's entry. A native executable the invoker keeps
// in its disk cache is linked from there (actioncode.PlaceNativeFile); a
// zip is unpacked once per digest and its files linked (unpacked.go);
// other code is fetched into memory once per job and written.
func (r *Runtime) placeCode(ctx context.Context, j *job, m *member) (string, *failure) {
	req := j.req
	var entry string
	var err error
	switch {
	case req.Kind == actioncode.KindNative && j.code == nil && req.LoadFile != nil:
		path, release, ferr := req.LoadFile(ctx)
		if ferr != nil {
			return "", &failure{msg: "The action's code could not be fetched: " + ferr.Error(), err: ferr}
		}
		entry, err = actioncode.PlaceNativeFile(m.actionDir, path)
		release()
	case req.Binary && (req.Kind == actioncode.KindPython || req.Kind == actioncode.KindNodeJS):
		// A zip: unpacked once per digest, linked into each container;
		// read in place from the invoker's cached file when it has one.
		err = r.unpacked.link(ctx, req.Digest, req.Kind, j.codeReader(), m.actionDir)
		var le errLoad
		if errors.As(err, &le) {
			return "", &failure{msg: "The action's code could not be fetched: " + le.Error(), err: le.err}
		}
		var pe errPlace
		if errors.As(err, &pe) {
			return "", &failure{msg: "The action's code could not be placed: " + pe.Error(), err: pe.err}
		}
		if err != nil && ctx.Err() != nil {
			return "", &failure{msg: "The action's code could not be placed in time: " + err.Error(), err: err}
		}
	default:
		if j.code == nil && req.Kind != kindBlackbox {
			code, ferr := req.Load(ctx)
			if ferr != nil {
				return "", &failure{msg: "The action's code could not be fetched: " + ferr.Error(), err: ferr}
			}
			j.code = code
		}
		entry, err = actioncode.Place(m.actionDir, placeKind(req.Kind), j.code, req.Binary)
	}
	if err != nil {
		return "", &failure{msg: "The action's code cannot be used: " + err.Error(), developer: true, err: err}
	}
	return entry, nil
}

// placeKind is the kind whose placement rules code of kind follows.
func placeKind(kind string) string {
	if kind == kindBlackbox {
		return actioncode.KindBlackbox
	}
	return kind
}

// initEnv is the environment of the action for the container's life:
// the activation variables that do not change from one activation of the
// action to the next.
func initEnv(env map[string]string) map[string]string {
	out := make(map[string]string, 4)
	for _, k := range [...]string{"__OW_API_HOST", "__OW_NAMESPACE", "__OW_ACTION_NAME", "__OW_ACTION_VERSION"} {
		if v, ok := env[k]; ok {
			out[k] = v
		}
	}
	return out
}

// runIn runs the activation in m, then gives m back to the pool (or
// removes it when it cannot serve again).
func (r *Runtime) runIn(ctx context.Context, j *job, m *member) invoker.RunResult {
	req := j.req
	env := req.Env
	msg := container.RunMessage{
		Value:         req.Params,
		Namespace:     env["__OW_NAMESPACE"],
		ActionName:    env["__OW_ACTION_NAME"],
		ActionVersion: env["__OW_ACTION_VERSION"],
		ActivationID:  env["__OW_ACTIVATION_ID"],
		APIHost:       env["__OW_API_HOST"],
	}
	if len(msg.Value) == 0 {
		msg.Value = json.RawMessage("{}")
	}
	if ms, err := strconv.ParseInt(env["__OW_DEADLINE"], 10, 64); err == nil {
		msg.Deadline = time.UnixMilli(ms)
	} else {
		msg.Deadline = time.Now().Add(j.timeout)
	}
	rctx, cancel := context.WithTimeout(ctx, j.timeout)
	out, logs, err := m.c.Run(rctx, msg, j.logLimit)
	cancel()
	if err != nil {
		f := classify(err, ctx, rctx, int(j.timeout/time.Millisecond), j.key.memMB, false)
		if f.developer && !f.reusable {
			r.mu.Lock()
			r.p.stats.Crashed++
			r.mu.Unlock()
		}
		r.release(m, f.reusable)
		return failResult(f, logs)
	}
	if !isObject(out) {
		f := notAnObject()
		r.release(m, f.reusable)
		return failResult(f, logs)
	}
	r.release(m, true)
	return invoker.RunResult{Result: out, Logs: logs}
}

// isObject reports whether b is one JSON object.
func isObject(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && jsonvalid.Valid(b)
}

// failResult is the RunResult of a failed activation.
func failResult(f *failure, logs []string) invoker.RunResult {
	return invoker.RunResult{Result: core.ErrorResult(f.msg), Logs: logs, Err: f, ActionFailed: f.developer}
}

// platformResult is the RunResult of a failure of the platform.
func platformResult(err error) invoker.RunResult {
	return invoker.RunResult{Result: core.ErrorResult(err.Error()), Err: err}
}
