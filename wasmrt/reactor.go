package wasmrt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wispfaas/wisp/internal/jsonvalid"
)

// Reuse rules of reactor instances (docs/wasm-abi.md).
const (
	// maxUses is how many activations one instance serves before it is
	// replaced, bounding what a slow leak can accumulate.
	maxUses = 10_000
	// highWaterNum/highWaterDen of the memory limit: an instance whose
	// linear memory grew past it is not reused (Wasm memory never shrinks).
	highWaterNum, highWaterDen = 3, 4
)

// instance is one initialised reactor instance. It serves one activation
// at a time; between activations it sits in its pool.
type instance struct {
	mod      api.Module
	alloc    api.Function
	invoke   api.Function
	mem      linearMemory
	stdout   logWriter // both streams are logs in the reactor form
	stderr   logWriter
	ctx      context.Context // the current activation's, for nanosleep
	uses     int
	lastUsed time.Time
	// compiled is the module it is an instance of: evicting the module
	// from the compiled modules' LRU closes its idle instances, which
	// would otherwise keep its code and decoded module in memory.
	compiled *compiledModule
	// key is its pool; prev and next its neighbours in pools.lru while
	// idle.
	key        poolKey
	prev, next *instance
	// stack holds the parameters and results of calls into the instance
	// (CallWithStack): Call allocates both on every call.
	stack [4]uint64
}

// Allocate implements experimental.MemoryAllocator for the instance's own
// memory, capped at its memory limit.
func (in *instance) Allocate(_, _ uint64) experimental.LinearMemory { return &in.mem }

// nanosleep implements WASI's sleep, ending at the activation's deadline.
// Done is asked for only here: most activations never sleep, and their
// context then never arms a timer (deadlineCtx).
func (in *instance) nanosleep(ns int64) {
	var done <-chan struct{}
	if in.ctx != nil {
		cohortCallOf(in.ctx).checkLong(ns > 0)
		done = in.ctx.Done()
	}
	sleep(ns, done)
}

// poolKey names the instances that may serve an activation: those of the
// same owner (an action at one version), code and memory limit. Two
// actions never share an instance, even with the same code.
type poolKey struct {
	owner    string
	digest   string
	memoryMB int
}

// pool holds the idle instances of one key, most recently used last, and
// the key's cohort of waiting activations (cohort.go).
type pool struct {
	idle   []*instance
	cohort cohort
}

// pools are the idle reactor instances of a Runtime, and the memories of
// the closed ones kept for new instances.
type pools struct {
	mu      sync.Mutex
	byKey   map[poolKey]*pool
	maxIdle int // per pool
	expiry  time.Duration
	// lru holds every idle instance of every pool, least recently used at
	// the front: the expiry and the memory bound close instances from
	// there.
	lru       idleList
	idleBytes int64 // the linear memories of the instances in lru
	maxBytes  int64 // the bound of idleBytes
	stop      chan struct{}
	stopped   chan struct{}
	spares    spareMemories
}

func newPools(maxIdle int, maxBytes int64, expiry time.Duration) *pools {
	p := &pools{byKey: map[poolKey]*pool{}, maxIdle: maxIdle, maxBytes: maxBytes, expiry: expiry, stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.janitor(p.stop)
	return p
}

// idleList is a doubly linked list of instances through their prev and
// next fields, front to back. Intrusive rather than a container/list, whose
// every push allocates an element: an instance goes back to its pool after
// every activation.
type idleList struct {
	front, back *instance
	len         int
}

func (l *idleList) pushBack(in *instance) {
	in.prev, in.next = l.back, nil
	if l.back != nil {
		l.back.next = in
	} else {
		l.front = in
	}
	l.back = in
	l.len++
}

// remove takes in, which is in l, out of l.
func (l *idleList) remove(in *instance) {
	if in.prev != nil {
		in.prev.next = in.next
	} else {
		l.front = in.next
	}
	if in.next != nil {
		in.next.prev = in.prev
	} else {
		l.back = in.prev
	}
	in.prev, in.next = nil, nil
	l.len--
}

// idleCost is what an idle instance counts against pools.maxBytes: its
// linear memory's allocation, by far the largest part of an instance (a
// Go guest's is 4–12 MiB; its compiled code is counted by the compiled
// modules' own bound).
func (in *instance) idleCost() int64 { return int64(cap(in.mem.buf)) }

// retire closes an instance that will not run again and keeps its memory
// for a new instance.
func (p *pools) retire(in *instance) {
	_ = in.mod.Close(context.Background())
	p.spares.put(in.mem.buf)
	in.mem.buf = nil
}

// take returns an idle instance of key, or nil.
func (p *pools) take(key poolKey) *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl := p.byKey[key]
	if pl == nil || len(pl.idle) == 0 {
		return nil
	}
	in := pl.idle[len(pl.idle)-1]
	pl.idle = pl.idle[:len(pl.idle)-1]
	p.unlinkLocked(in)
	return in
}

// unlinkLocked takes in, an idle instance already out of its pool's
// slice, out of the LRU and its memory out of the count.
func (p *pools) unlinkLocked(in *instance) {
	p.lru.remove(in)
	p.idleBytes -= in.idleCost()
}

// give returns an instance to its pool, or closes it when the pool is
// full, its module was evicted or the runtime is closing. Past the bound
// of the idle instances' memory, the least recently used instances of
// any pool are closed to make room.
func (p *pools) give(key poolKey, in *instance) {
	in.lastUsed = time.Now()
	cost := in.idleCost()
	p.mu.Lock()
	pl := p.byKey[key]
	if pl == nil {
		pl = &pool{}
		p.byKey[key] = pl
	}
	// evicted is read under mu: retireModule sets it before it takes mu
	// to close the module's idle instances, so an instance given back
	// concurrently is either closed here or found there.
	keep := len(pl.idle) < p.maxIdle && p.stop != nil && !in.compiled.evicted.Load() && cost <= p.maxBytes
	var over []*instance
	if keep {
		in.key = key
		pl.idle = append(pl.idle, in)
		p.lru.pushBack(in)
		p.idleBytes += cost
		for p.idleBytes > p.maxBytes {
			over = append(over, p.removeLocked(p.lru.front))
		}
	}
	p.mu.Unlock()
	if !keep {
		p.retire(in)
	}
	for _, old := range over {
		p.retire(old)
	}
}

// removeLocked takes in, an idle instance, out of its pool and of the
// LRU, and returns it for the caller to retire once mu is released.
func (p *pools) removeLocked(in *instance) *instance {
	pl := p.byKey[in.key]
	if i := slices.Index(pl.idle, in); i >= 0 {
		pl.idle = slices.Delete(pl.idle, i, i+1)
	}
	p.unlinkLocked(in)
	if len(pl.idle) == 0 && pl.cohort.leaders == 0 {
		delete(p.byKey, in.key)
	}
	return in
}

// retireModule closes the idle instances of mod, which the compiled
// modules' LRU has evicted: they would keep its code in memory past the
// LRU's bound. Instances of mod still running are closed when they end
// (give).
func (p *pools) retireModule(mod *compiledModule) {
	mod.evicted.Store(true)
	var old []*instance
	p.mu.Lock()
	for in := p.lru.front; in != nil; {
		next := in.next
		if in.compiled == mod {
			old = append(old, p.removeLocked(in))
		}
		in = next
	}
	p.mu.Unlock()
	for _, in := range old {
		p.retire(in)
	}
}

// janitor closes instances idle for longer than the expiry, until stop
// is closed.
func (p *pools) janitor(stop <-chan struct{}) {
	defer close(p.stopped)
	t := time.NewTicker(max(p.expiry/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			p.expire(now)
		}
	}
}

func (p *pools) expire(now time.Time) {
	var old []*instance
	p.mu.Lock()
	for p.lru.front != nil && now.Sub(p.lru.front.lastUsed) >= p.expiry {
		old = append(old, p.removeLocked(p.lru.front))
	}
	// A pool that never had an idle instance (its activations failed, or
	// were refused) goes too, once no cohort uses it.
	for key, pl := range p.byKey {
		if len(pl.idle) == 0 && pl.cohort.leaders == 0 {
			delete(p.byKey, key)
		}
	}
	p.mu.Unlock()
	for _, in := range old {
		p.retire(in)
	}
}

// closeAll stops the janitor and closes every idle instance.
func (p *pools) closeAll() {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	all := p.byKey
	p.byKey = map[poolKey]*pool{}
	p.lru = idleList{}
	p.idleBytes = 0
	var waiting []*warmJob
	for _, pl := range all {
		waiting = append(waiting, pl.cohort.waiting...)
		pl.cohort.waiting = nil
	}
	p.mu.Unlock()
	closeWaiting(waiting)
	if stop == nil {
		return
	}
	close(stop)
	<-p.stopped
	for _, pl := range all {
		for _, in := range pl.idle {
			_ = in.mod.Close(context.Background())
		}
	}
	p.spares.drop() // nothing will start again
}

// idleCount is the number of idle instances (for tests and metrics).
func (p *pools) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.len
}

// runReactor runs one activation of a reactor-form module in a warm
// instance of its pool, or in a new one. start is when Run began. call is
// non-nil when a cohort's leader runs it (cohort.go).
func (r *Runtime) runReactor(ctx context.Context, mod *compiledModule, code Code, inv *Invocation, lim limits, start time.Time, out *Outcome, call *cohortCall) {
	key := poolKey{owner: inv.Owner, digest: code.Digest, memoryMB: lim.memoryMB}
	var logs logSink
	logs.reset(lim.logLimit)

	tctx := withDeadline(ctx, lim.timeout)
	tctx.cohort = call
	defer tctx.release()

	var in *instance
	if inv.Owner != "" {
		in = r.pools.take(key)
	}
	if in != nil {
		in.stdout.reset(&logs, "stdout")
		in.stderr.reset(&logs, "stderr")
		in.ctx = tctx
	} else {
		var err error
		in, err = r.newInstance(tctx, mod, &logs, lim)
		out.InitTime = time.Since(start)
		out.NewInstance = true
		if err != nil {
			out.Logs = flushLogs(in, &logs)
			if err = r.classify(ctx, tctx, err, &in.mem, lim, code.Digest); err == nil {
				err = &ActionError{Kind: KindExit, Reason: "the action exited while it was being initialised"}
			}
			out.setErr(err)
			r.pools.retire(in)
			return
		}
	}
	if call != nil {
		call.start = time.Now()
	}
	result, err := r.callInvoke(tctx, in, inv, lim)
	out.Logs = flushLogs(in, &logs)
	if err != nil {
		if _, isAction := err.(*ActionError); !isAction {
			if err = r.classify(ctx, tctx, err, &in.mem, lim, code.Digest); err == nil {
				err = &ActionError{Kind: KindExit, Reason: "the action exited (proc_exit) instead of returning from wisp_invoke"}
			}
		}
		out.setErr(err)
		r.pools.retire(in)
		return
	}
	out.Result = result
	in.uses++
	in.stdout.sink, in.stderr.sink, in.ctx = nil, nil, nil
	if inv.Owner == "" || in.uses >= maxUses || uint64(len(in.mem.buf)) > lim.memoryBytes/highWaterDen*highWaterNum {
		r.pools.retire(in)
		return
	}
	r.pools.give(key, in)
}

// Prewarm prepares code for its first activation by owner: it compiles
// the module and, for a reactor, initialises one instance and keeps it in
// owner's pool, so that the first activation pays for neither. Output of
// the initialisation is discarded. A command-form module is only compiled.
func (r *Runtime) Prewarm(ctx context.Context, code Code, owner string, memoryMB int) error {
	lim, err := limitsOf(&Invocation{MemoryMB: memoryMB})
	if err != nil {
		return err
	}
	mod, _, err := r.module(ctx, code.Digest, code.Load)
	if err != nil || !mod.reactor || owner == "" {
		return err
	}
	if uint64(mod.memMinPages)*pageSize > lim.memoryBytes {
		return nil // every activation will say so
	}
	var logs logSink
	logs.reset(lim.logLimit)
	tctx, cancel := context.WithTimeout(ctx, lim.timeout)
	defer cancel()
	in, err := r.newInstance(tctx, mod, &logs, lim)
	if err != nil {
		r.pools.retire(in)
		return fmt.Errorf("wasmrt: prewarm %s: %w", code.Digest, err)
	}
	in.stdout.sink, in.stderr.sink, in.ctx = nil, nil, nil
	r.pools.give(poolKey{owner: owner, digest: code.Digest, memoryMB: lim.memoryMB}, in)
	return nil
}

func flushLogs(in *instance, logs *logSink) []string {
	if in != nil {
		in.stdout.flush()
		in.stderr.flush()
	}
	return logs.lines
}

// newInstance instantiates and initialises a reactor. On failure the
// returned instance (never nil) still holds what is needed to classify
// the error.
func (r *Runtime) newInstance(ctx context.Context, mod *compiledModule, logs *logSink, lim limits) (*instance, error) {
	in := &instance{compiled: mod, mem: linearMemory{limit: lim.memoryBytes, buf: r.pools.spares.take(uint64(mod.memMinPages) * pageSize)}}
	in.stdout.reset(logs, "stdout")
	in.stderr.reset(logs, "stderr")
	in.ctx = ctx
	// _initialize is called here rather than as a start function of
	// InstantiateModule, so that a failure is told apart from one to
	// instantiate.
	cfg := r.base.
		WithStdout(&in.stdout).
		WithStderr(&in.stderr).
		WithNanosleep(in.nanosleep)
	m, err := r.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, in), mod.cm, cfg)
	if err != nil {
		in.mod = closedModule{}
		return in, err
	}
	in.mod = m
	in.alloc, in.invoke = m.ExportedFunction(exportAlloc), m.ExportedFunction(exportInvoke)
	if init := m.ExportedFunction(exportInitialize); init != nil {
		if _, err = init.Call(ctx); err != nil {
			return in, err
		}
	}
	return in, nil
}

// callInvoke passes the parameters and context into the instance, calls
// wisp_invoke, and returns a copy of the result. ABI violations are
// *ActionErrors; other errors come from the guest's execution.
func (r *Runtime) callInvoke(ctx context.Context, in *instance, inv *Invocation, lim limits) (json.RawMessage, error) {
	params := inv.Params
	if len(params) == 0 {
		params = emptyParams
	}
	pPtr, err := r.passBytes(ctx, in, params)
	if err != nil {
		return nil, err
	}
	actx := activationContext(inv.Env)
	cPtr, err := r.passBytes(ctx, in, actx)
	if err != nil {
		return nil, err
	}
	in.stack = [4]uint64{uint64(pPtr), uint64(len(params)), uint64(cPtr), uint64(len(actx))}
	if err := in.invoke.CallWithStack(ctx, in.stack[:]); err != nil {
		return nil, err
	}
	ptr, n := uint32(in.stack[0]>>32), uint32(in.stack[0])
	if int(n) > lim.resultLimit {
		return nil, &ActionError{Kind: KindResultTooLarge, Reason: fmt.Sprintf("the action's result exceeds the limit of %d bytes", lim.resultLimit)}
	}
	buf, ok := in.mod.Memory().Read(ptr, n)
	if !ok {
		return nil, &ActionError{Kind: KindBadResult, Reason: fmt.Sprintf(
			"the action returned a result at %d..%d, outside its memory of %d bytes", ptr, uint64(ptr)+uint64(n), in.mod.Memory().Size())}
	}
	result := bytes.TrimSpace(buf)
	if len(result) == 0 || result[0] != '{' || !jsonvalid.Valid(result) {
		return nil, &ActionError{Kind: KindBadResult, Reason: "the action did not return a JSON object: " + excerpt(result)}
	}
	return bytes.Clone(result), nil
}

// passBytes copies b into a buffer the guest allocates with wisp_alloc.
func (r *Runtime) passBytes(ctx context.Context, in *instance, b []byte) (uint32, error) {
	in.stack[0] = uint64(len(b))
	if err := in.alloc.CallWithStack(ctx, in.stack[:]); err != nil {
		return 0, err
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 && len(b) > 0 {
		return 0, &ActionError{Kind: KindMemory, Reason: fmt.Sprintf("the action could not allocate %d bytes for its input (wisp_alloc returned 0)", len(b))}
	}
	if !in.mod.Memory().Write(ptr, b) {
		return 0, &ActionError{Kind: KindBadResult, Reason: fmt.Sprintf("wisp_alloc returned %d, where %d bytes do not fit in the action's memory", ptr, len(b))}
	}
	return ptr, nil
}

// activationContext renders the activation's environment as the reactor
// form's context object: "__OW_ACTIVATION_ID" becomes "activationId". The
// bytes are those json.Marshal writes for the map of names to values (keys
// sorted); it runs on every reactor call, so it builds them directly.
func activationContext(env map[string]string) []byte {
	type field struct{ name, value string }
	var buf [8]field
	fields := buf[:0]
	// The invoker sets only the variables of contextOrder: then they are
	// looked up in the order they are written, with no pass over the map
	// and no sort (BenchmarkActivationContext: 280 ns, against 407 ns).
	for _, f := range contextOrder {
		if v, ok := env[f.env]; ok {
			fields = append(fields, field{f.name, v})
		}
	}
	if len(fields) != len(env) {
		fields = fields[:0]
		for k, v := range env {
			if name, ok := contextName(k); ok {
				fields = append(fields, field{name, v})
			}
		}
		slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
	}
	// Two variables may map to one name ("__OW_A_B", "__OW_A__B"): as in a
	// map, one of them is kept.
	fields = slices.CompactFunc(fields, func(a, b field) bool { return a.name == b.name })
	size := 2
	for _, f := range fields {
		size += len(f.name) + len(f.value) + 6
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.name)
		b = append(b, ':')
		b = appendJSONString(b, f.value)
	}
	return append(b, '}')
}

// contextOrder is the variables the invoker sets with their context
// names, sorted by name.
var contextOrder []struct{ env, name string }

func init() {
	for _, k := range []string{"__OW_ACTIVATION_ID", "__OW_NAMESPACE", "__OW_ACTION_NAME", "__OW_ACTION_VERSION", "__OW_DEADLINE", "__OW_API_HOST"} {
		contextOrder = append(contextOrder, struct{ env, name string }{k, camelName(strings.TrimPrefix(k, "__OW_"))})
	}
	slices.SortFunc(contextOrder, func(a, b struct{ env, name string }) int { return strings.Compare(a.name, b.name) })
}

// contextName is the context name of an environment variable, or false
// for a variable that is not one of OpenWhisk's (__OW_*).
func contextName(key string) (string, bool) {
	for _, f := range contextOrder {
		if f.env == key {
			return f.name, true
		}
	}
	name, ok := strings.CutPrefix(key, "__OW_")
	if !ok {
		return "", false
	}
	return camelName(name), true
}

// camelName turns "ACTIVATION_ID" into "activationId".
func camelName(name string) string {
	parts := strings.Split(strings.ToLower(name), "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// appendJSONString appends s as encoding/json writes a string: printable
// ASCII without quotes, backslashes or HTML's <, >, & is copied; anything
// else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// closedModule stands in for an instance that failed to instantiate.
type closedModule struct{ api.Module }

func (closedModule) Close(context.Context) error { return nil }
