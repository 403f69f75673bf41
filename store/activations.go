package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wispfaas/wisp/core"
)

func activationKey(ns, id string) string { return enc(ns) + "." + id }

// PutActivation stores an activation record in its namespace. Storing the
// same activation again replaces it.
func (s *Store) PutActivation(ctx context.Context, a *core.Activation) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode activation %s: %w", a.ActivationID, err)
	}
	return s.PutActivationJSON(ctx, a.Namespace, a.ActivationID, data)
}

// PutActivationJSON stores an already encoded activation record.
func (s *Store) PutActivationJSON(ctx context.Context, ns, id string, record []byte) error {
	if _, err := s.activations.Put(ctx, activationKey(ns, id), record); err != nil {
		return fmt.Errorf("store activation %s: %w", id, err)
	}
	return nil
}

// PutActivationAsync stores an already encoded record without waiting:
// done is called once with nil when JetStream has stored it, or with the
// error (also when no acknowledgement came within 10 seconds). done runs
// on the goroutine that reads acknowledgements and must not block. When
// PutActivationAsync returns an error, done is not called. record has
// been copied when it returns.
//
// Every read of the records (GetActivation, HasActivation,
// ListActivations, CountActivations) first waits until the puts sent
// before it have been answered, so a record sent this way can be read
// by anyone told of it once this returns, whether or not done has run:
// an invoke can answer its caller without waiting for JetStream.
//
// The record is published on the bucket's subject directly, not through
// jetstream.KeyValue.Put, which waits for the acknowledgement: a waiting
// goroutine per record costs a wake-up and a channel per activation on
// the invoke path (docs/rationale.md).
func (s *Store) PutActivationAsync(ns, id string, record []byte, done func(error)) error {
	return s.recordPuts.publish(activationsSubjectPrefix+activationKey(ns, id), record, done)
}

// PutActivationNotify stores an already encoded record without waiting;
// JetStream's acknowledgement (or refusal) is published on notify, for
// whoever must know that the record is stored (a gateway's
// queue.Results).
func (s *Store) PutActivationNotify(ns, id string, record []byte, notify string) error {
	m := &nats.Msg{Subject: activationsSubjectPrefix + activationKey(ns, id), Reply: notify, Data: record}
	if err := s.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("store activation %s: %w", id, err)
	}
	return nil
}

// activationsSubjectPrefix is where a KV bucket's values are published
// (jetstream.KeyValue.Put writes there too, for a bucket without a
// JetStream domain, which the store never uses).
const activationsSubjectPrefix = "$KV." + ActivationsBucket + "."

// asyncPuts publishes values to a bucket without waiting and calls each
// one's done when JetStream answers on the put's reply subject: one
// subscription for every answer, a counter for reply tokens, one map of
// what is pending. jetstream.PublishMsgAsync, used before, also arms a
// timer per message, registers it in maps of its own and decodes every
// acknowledgement's JSON: under 50 clients that machinery took ~7% of
// wispd's CPU and ~5% of the bytes it allocated. Puts unanswered after
// timeout fail, found by a sweep each second. Puts go out in rounds, one
// batch in flight at a time, and a round gathers the puts of a window of
// gather before it goes (publish); on a single replica a batch asks for
// one answer, on its last put (send).
//
// A put's reply subject names a slot, not the put: a slot is used again
// once its put has been answered, so the same few reply subjects recur.
// Unique ones cost the embedded server a miss in its subject caches for
// every acknowledgement it routes, an insert, and the pruning of the
// caches that follows (~1.3% of wispd's CPU under load; see
// docs/rationale.md).
type asyncPuts struct {
	nc      *nats.Conn
	prefix  string // of the reply subjects: a new inbox and "."
	sub     *nats.Subscription
	timeout time.Duration
	stop    chan struct{}
	busy    chan struct{} // wakes the sweeper when a put is sent with none pending
	swept   chan struct{} // closed when the sweeper has stopped

	closeOnce sync.Once

	mu      sync.Mutex
	next    uint64
	pending map[uint64]pendingPut
	closed  bool
	// slots[i] is the put whose reply subject is replies[i], 0 when none
	// is; free lists the slots a new put may take. A slot whose put timed
	// out is never used again: its late answer must not settle another.
	slots   []uint64
	replies []string
	free    []uint32
	waiters []putsWaiter // reads waiting for earlier puts (settled)
	// At most one batch of puts is in flight: inFlight counts its puts
	// not yet answered; puts made meanwhile wait in queued, and go out
	// together once the last one in flight is answered (see send).
	inFlight int
	queued   []queuedPut
	// queuedBytes is the size of the values in queued.
	queuedBytes int
	// gather is how long the first put queued for a round waits for
	// others (0: none; a put with nothing in flight goes out at once).
	// gathering is true while that window is open: the round's puts wait
	// in queued until gatherTimer ends it, or a read needs them
	// (settled), or they reach maxGatherBytes, or the store closes; then
	// they go out once nothing is in flight.
	gather      time.Duration
	gathering   bool
	gatherTimer *time.Timer
	// roundAck: a batch asks JetStream for one acknowledgement, on its
	// last put, which answers the batch's other puts too (see send).
	// Only on a single replica, where it is sound.
	roundAck bool
	// spareQueue is the backing array of a batch that has been sent,
	// for the next round's queue (grown afresh, a round's queue cost
	// ~185 bytes per record).
	spareQueue []queuedPut
	// answering holds the puts an answer settles, kept from one answer
	// to the next (a batch's worth was ~230 bytes per record); only
	// answered uses it, on the subscription's one goroutine.
	answering []pendingPut
}

// DefaultRecordGather is how long the records of a round of puts are
// gathered before they go out together (Config.RecordGather). One at a
// time, each record cost the embedded server's goroutines a round of
// wake-ups: with one client invoking a C action, ~60 µs of wispd's CPU
// per invoke, and ~40 µs of its latency (docs/rationale.md). What a crash
// of the process can lose grows by the window: on one replica JetStream
// already holds the records it acknowledged for a few milliseconds before
// writing them to its file (AsyncPersistMode).
const DefaultRecordGather = 2 * time.Millisecond

// maxGatherBytes closes a round's window early: records that add up to
// this are worth a round of their own.
const maxGatherBytes = 256 << 10

// queuedPut is a put waiting for the batch in flight, with a copy of its
// value (the caller may reuse its own once publish returns).
type queuedPut struct {
	id      uint64
	subject string
	reply   string
	data    []byte
	buf     *[]byte // data's buffer, from queueCopies; nil when not pooled
}

// putsWaiter is a read waiting until every put numbered up to upTo has
// been answered.
type putsWaiter struct {
	upTo uint64
	done chan struct{}
}

// pendingPut is a put waiting for JetStream's answer.
type pendingPut struct {
	subject string
	slot    uint32 // of its reply subject; noSlot once sent without one
	// covers are the puts of its batch sent before it without a reply
	// subject, which its answer settles too (roundAck).
	covers []uint64
	done   func(error)
	sent   time.Time // when published; zero while queued
	// inFlight: published, and counted in asyncPuts.inFlight; false
	// while it waits in asyncPuts.queued.
	inFlight bool
}

// noSlot is the slot of a put sent without a reply subject.
const noSlot = math.MaxUint32

// asyncPutTimeout is how long a put waits for JetStream's answer.
const asyncPutTimeout = 10 * time.Second

// newAsyncPuts returns the puts of nc, which fail after timeout and go
// out in rounds gathered over gather (0: no gathering). With roundAck,
// a round asks for one acknowledgement, on its last put; only for a
// stream on a single replica (see send).
func newAsyncPuts(nc *nats.Conn, timeout, gather time.Duration, roundAck bool) (*asyncPuts, error) {
	p := &asyncPuts{nc: nc, prefix: nats.NewInbox() + ".", timeout: timeout, gather: gather, roundAck: roundAck, pending: map[uint64]pendingPut{},
		stop: make(chan struct{}), busy: make(chan struct{}, 1), swept: make(chan struct{})}
	if gather > 0 {
		p.gatherTimer = time.AfterFunc(time.Hour, p.gathered)
		p.gatherTimer.Stop()
	}
	sub, err := nc.Subscribe(p.prefix+"*", p.answered)
	if err != nil {
		return nil, fmt.Errorf("subscribe to the records' acknowledgements: %w", err)
	}
	// Acknowledgements are small and each wakes an activation's caller:
	// no limit that would drop them.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe to the records' acknowledgements: %w", err)
	}
	p.sub = sub
	go p.sweep()
	return p, nil
}

// publish queues a put of data on subject, or sends it, and calls done
// with JetStream's answer. Puts go out in rounds: the first put queued
// for a round opens a window of p.gather, and the puts queued until it
// closes go out together, once the batch in flight, if any, has been
// answered. The embedded server then reads, stores and answers them in
// one pass instead of one wake-up of its goroutines per record
// (docs/rationale.md). Without a window (p.gather 0) a put made with
// nothing in flight is published at once, from the caller's goroutine,
// and those made while a batch is in flight go out when it is answered.
func (p *asyncPuts) publish(subject string, data []byte, done func(error)) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("store %s: the store is closed", subject)
	}
	if len(p.pending) == 0 {
		select {
		case p.busy <- struct{}{}:
		default:
		}
	}
	p.next++
	id := p.next
	now := p.inFlight == 0 && p.gather == 0
	if p.gather > 0 && len(p.queued) == 0 {
		// The first put of the next round: the round's window opens.
		p.gathering = true
		p.gatherTimer.Reset(p.gather)
	}
	slot, reply := p.takeSlotLocked(id)
	put := pendingPut{subject: subject, slot: slot, done: done, inFlight: now}
	if now {
		put.sent = time.Now() // a queued put's clock starts when it is sent
	}
	p.pending[id] = put
	if !now {
		data, buf := queueCopy(data)
		if p.queued == nil {
			p.queued, p.spareQueue = p.spareQueue, nil
		}
		p.queued = append(p.queued, queuedPut{id: id, subject: subject, reply: reply, data: data, buf: buf})
		p.queuedBytes += len(data)
		var batch []queuedPut
		if p.gathering && p.queuedBytes >= maxGatherBytes {
			batch = p.endGatheringLocked()
		}
		p.mu.Unlock()
		p.send(batch)
		return nil
	}
	p.inFlight = 1
	p.mu.Unlock()
	if err := p.nc.PublishRequest(subject, reply, data); err != nil {
		p.mu.Lock()
		_, ours := p.pending[id]
		next := p.settleLocked(id, true)
		p.mu.Unlock()
		p.send(next)
		if !ours {
			return nil // the sweep or close failed it meanwhile and called done
		}
		return fmt.Errorf("store %s: %w", subject, err)
	}
	return nil
}

// takeSlotLocked gives put id a reply slot and returns it with its reply
// subject. p.mu is held.
func (p *asyncPuts) takeSlotLocked(id uint64) (uint32, string) {
	var slot uint32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		slot = uint32(len(p.slots))
		p.slots = append(p.slots, 0)
		p.replies = append(p.replies, p.prefix+strconv.FormatUint(uint64(slot), 36))
	}
	p.slots[slot] = id
	return slot, p.replies[slot]
}

// settleLocked takes put id out of pending, once answered, failed or
// timed out, wakes the reads that waited for it and, when it was the
// last of the batch in flight, returns the next batch to send (which it
// counts in flight). Its reply slot is freed when reuse is true: the put
// was answered, or never sent; else (it timed out) an answer may still
// come, and the slot is retired. p.mu is held.
func (p *asyncPuts) settleLocked(id uint64, reuse bool) []queuedPut {
	put, ok := p.pending[id]
	if !ok {
		return nil
	}
	delete(p.pending, id)
	if put.slot != noSlot {
		p.slots[put.slot] = 0
		if reuse {
			p.free = append(p.free, put.slot)
		}
	}
	p.wakeWaitersLocked()
	if !put.inFlight {
		return nil // still queued: send skips it
	}
	p.inFlight--
	return p.nextBatchLocked()
}

// gathered closes the window when its time is up.
func (p *asyncPuts) gathered() {
	p.mu.Lock()
	batch := p.endGatheringLocked()
	p.mu.Unlock()
	p.send(batch)
}

// endGatheringLocked closes the round's window, if open, and returns its
// puts to send when nothing is in flight (else they go out when the
// batch in flight is answered). p.mu is held. (A timer that fired as a
// new window opened closes that one early: harmless, its puts just go
// out sooner.)
func (p *asyncPuts) endGatheringLocked() []queuedPut {
	if !p.gathering {
		return nil
	}
	p.gathering = false
	p.gatherTimer.Stop()
	return p.nextBatchLocked()
}

// nextBatchLocked returns the queued puts still pending, counted in
// flight, when nothing is in flight any more and their window has
// closed; else nil. A batch holds at most maxBatchPuts puts and, past
// its first, maxBatchBytes: the rest stay queued for the next. p.mu is
// held.
func (p *asyncPuts) nextBatchLocked() []queuedPut {
	if p.inFlight > 0 || p.gathering || len(p.queued) == 0 {
		return nil
	}
	batch := p.queued[:0] // filtered in place: p.queued is dropped below
	var rest []queuedPut
	now := time.Now()
	size := 0
	for i, q := range p.queued {
		if len(batch) == maxBatchPuts || (len(batch) > 0 && size+len(q.data) > maxBatchBytes) {
			// A copy: batch's array goes back to spareQueue once sent.
			rest = slices.Clone(p.queued[i:])
			break
		}
		if put, ok := p.pending[q.id]; ok {
			// Its time-out runs from now: a put waiting behind one that
			// took long has not been sent yet.
			put.inFlight, put.sent = true, now
			p.pending[q.id] = put
			batch = append(batch, q)
			size += len(q.data)
		}
	}
	p.queued, p.queuedBytes = rest, 0
	for _, q := range rest {
		p.queuedBytes += len(q.data)
	}
	p.inFlight = len(batch)
	return batch
}

// maxBatchPuts and maxBatchBytes bound a batch in flight. Without an
// acknowledgement each (roundAck), a record the stream's inbound queue
// had no room for (100,000 messages or 128 MiB) would be lost unsaid: a
// batch far below both cannot fill it, even after a stall of seconds
// under load has queued more records than that.
const (
	maxBatchPuts  = 10_000
	maxBatchBytes = 16 << 20
)

// queueCopies holds the buffers of queued puts' copies: under load most
// records wait for the batch in flight, and a fresh copy of each was 7% of
// the bytes wispd allocated per invoke. A copy dropped unsent (its put
// failed or timed out meanwhile) is left to the collector.
var queueCopies = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledCopy bounds the buffers queueCopies keeps: a record with a
// large result or many logs is copied afresh.
const maxPooledCopy = 16 << 10

// queueCopy returns a copy of data and the pooled buffer holding it (nil
// when data is too large to pool).
func queueCopy(data []byte) ([]byte, *[]byte) {
	if len(data) > maxPooledCopy {
		return bytes.Clone(data), nil
	}
	bp := queueCopies.Get().(*[]byte)
	*bp = append((*bp)[:0], data...)
	return *bp, bp
}

// releaseQueueCopy gives a copy's buffer back once the put is sent.
func releaseQueueCopy(bp *[]byte) {
	if bp != nil && cap(*bp) <= maxPooledCopy {
		queueCopies.Put(bp)
	}
}

// send publishes a batch from nextBatchLocked; a put that cannot be
// published fails (its done is called), and if that leaves nothing in
// flight, the next batch goes out.
//
// With roundAck, only the batch's last put asks for an acknowledgement;
// the others go out without a reply subject, and its answer settles them
// too. That is sound on a single replica: the server reads a
// connection's messages in order and the stream stores them in that
// order, one at a time (one inbound queue, one goroutine), so when the
// last is acknowledged every put before it has been stored or refused;
// and what refuses one record of a batch refuses the next as well (a
// sealed, closed or full stream, a full disk; not an inbound queue
// 100,000 messages deep, which one batch in flight at a time, bounded by
// maxBatchPuts and maxBatchBytes, cannot fill). A record too large for
// the connection fails in Publish, and is never the one that asks. An
// acknowledgement per record cost the server, the client's reader and
// this package ~7% of wispd's CPU under load (docs/rationale.md).
func (p *asyncPuts) send(batch []queuedPut) {
	for len(batch) > 0 {
		answerer := -1 // with roundAck, the put that asks for the batch
		if p.roundAck {
			answerer = lastSendable(batch, p.nc.MaxPayload())
			if answerer > 0 {
				p.mu.Lock()
				p.coverLocked(batch[:answerer], batch[answerer].id)
				p.mu.Unlock()
			}
		}
		var next []queuedPut
		for i, q := range batch {
			var err error
			if i < answerer {
				err = p.nc.Publish(q.subject, q.data)
			} else {
				err = p.nc.PublishRequest(q.subject, q.reply, q.data)
			}
			releaseQueueCopy(q.buf) // the connection has copied it, or failed
			if err == nil {
				continue
			}
			p.mu.Lock()
			var failed []pendingPut
			if put, ok := p.pending[q.id]; ok {
				failed = append(failed, put)
				// The puts it would have answered for: sent, but nothing
				// will tell whether they were stored.
				for _, id := range put.covers {
					if c, ok := p.pending[id]; ok {
						failed = append(failed, c)
					}
					if n := p.settleLocked(id, true); n != nil {
						next = n
					}
				}
			}
			if n := p.settleLocked(q.id, true); n != nil {
				next = n
			}
			p.mu.Unlock()
			for _, f := range failed {
				f.done(fmt.Errorf("store %s: %w", f.subject, err))
			}
		}
		clear(batch) // drop the sent values
		p.mu.Lock()
		if cap(batch) > cap(p.spareQueue) {
			p.spareQueue = batch[:0]
		}
		p.mu.Unlock()
		batch = next
	}
}

// lastSendable is the index of the last put of batch that the connection
// can carry (a record past maxPayload fails to publish, and must not be
// the one that answers for the others), or -1 when none can.
func lastSendable(batch []queuedPut, maxPayload int64) int {
	for i := len(batch) - 1; i >= 0; i-- {
		if int64(len(batch[i].data)) <= maxPayload {
			return i
		}
	}
	return -1
}

// coverLocked makes the put numbered answerer answer for those of
// unasked, which go out before it without a reply subject: their slots
// are free for other puts at once. p.mu is held.
func (p *asyncPuts) coverLocked(unasked []queuedPut, answerer uint64) {
	covers := make([]uint64, 0, len(unasked))
	for _, q := range unasked {
		put, ok := p.pending[q.id]
		if !ok {
			continue // settled meanwhile (the store closed): it goes out, unawaited
		}
		if put.slot != noSlot {
			p.slots[put.slot] = 0
			p.free = append(p.free, put.slot)
			put.slot = noSlot
			p.pending[q.id] = put
		}
		covers = append(covers, q.id)
	}
	if put, ok := p.pending[answerer]; ok {
		put.covers = covers
		p.pending[answerer] = put
	}
}

// answered handles JetStream's answer to one put.
func (p *asyncPuts) answered(m *nats.Msg) {
	slot, err := strconv.ParseUint(strings.TrimPrefix(m.Subject, p.prefix), 36, 32)
	if err != nil {
		return
	}
	p.mu.Lock()
	var id uint64
	if slot < uint64(len(p.slots)) {
		id = p.slots[slot]
	}
	put, ok := p.pending[id]
	next := p.settleLocked(id, true)
	answeredFor := p.answering[:0]
	if ok {
		answeredFor = append(answeredFor, put)
	}
	for _, c := range put.covers {
		if cp, ok := p.pending[c]; ok { // else timed out already
			answeredFor = append(answeredFor, cp)
		}
		if n := p.settleLocked(c, true); n != nil {
			next = n
		}
	}
	p.mu.Unlock()
	p.send(next)
	ackErr := ackError(m)
	for _, a := range answeredFor {
		if ackErr != nil {
			a.done(fmt.Errorf("store %s: %w", a.subject, ackErr))
			continue
		}
		a.done(nil)
	}
	clear(answeredFor) // drop the callbacks
	p.answering = answeredFor[:0]
}

// ackError is nil when m is JetStream's acknowledgement of a stored
// message, else what went wrong.
func ackError(m *nats.Msg) error {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return nats.ErrNoResponders
	}
	// {"stream":"KV_WISP_ACTIVATIONS","seq":12} (perhaps with a domain or
	// "duplicate"), or {"error":{"code":…,"err_code":…,"description":…}}.
	if !bytes.Contains(m.Data, []byte(`"error"`)) && bytes.Contains(m.Data, []byte(`"seq"`)) {
		return nil
	}
	var ack struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return fmt.Errorf("unexpected answer from JetStream: %q", m.Data)
	}
	if ack.Error != nil {
		return fmt.Errorf("JetStream refused it: %s (code %d, error code %d)", ack.Error.Description, ack.Error.Code, ack.Error.ErrCode)
	}
	if ack.Seq == 0 {
		return fmt.Errorf("unexpected answer from JetStream: %q", m.Data)
	}
	return nil
}

// sweep fails, each second, the puts unanswered for longer than timeout.
// With none pending it sleeps until one is sent: an idle daemon is not
// woken every second for nothing.
func (p *asyncPuts) sweep() {
	defer close(p.swept)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			if p.expire(now) {
				continue
			}
			t.Stop()
			select {
			case <-p.stop:
				return
			case <-p.busy:
			}
			t.Reset(time.Second)
		}
	}
}

// expire fails the puts sent before now minus the timeout, and reports
// whether any is still pending.
func (p *asyncPuts) expire(now time.Time) bool {
	var late []pendingPut
	var next []queuedPut
	p.mu.Lock()
	for id, put := range p.pending {
		// A queued put waits for the batch in flight, whose time-out
		// bounds that wait; its own runs once it is sent.
		if put.inFlight && now.Sub(put.sent) > p.timeout {
			late = append(late, put)
			if n := p.settleLocked(id, false); n != nil {
				next = n
			}
		}
	}
	left := len(p.pending)
	p.mu.Unlock()
	p.send(next)
	for _, put := range late {
		put.done(fmt.Errorf("store %s: %w: no acknowledgement from JetStream within %s", put.subject, nats.ErrTimeout, p.timeout))
	}
	return left > 0
}

// close stops the answers and the sweep, once the puts in flight were
// answered or closeWait passed; those still pending then fail.
func (p *asyncPuts) close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		batch := p.endGatheringLocked() // they are stored before the close, not in a window after it
		p.mu.Unlock()
		p.send(batch)
		for deadline := time.Now().Add(closeWait); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			p.mu.Lock()
			n := len(p.pending)
			p.mu.Unlock()
			if n == 0 {
				break
			}
		}
		_ = p.sub.Unsubscribe()
		close(p.stop)
		<-p.swept
		p.mu.Lock()
		pending := p.pending
		p.pending = map[uint64]pendingPut{}
		p.queued, p.queuedBytes, p.inFlight = nil, 0, 0
		clear(p.slots) // no answer comes after the unsubscription
		p.wakeWaitersLocked()
		p.mu.Unlock()
		for _, put := range pending {
			put.done(fmt.Errorf("store %s: the store closed before JetStream answered", put.subject))
		}
	})
}

// settled returns once every put sent before the call has been answered,
// failed or timed out, or when ctx ends. A read of the store calls it
// first: a caller may have been given an activation's result as soon as
// its record was sent, and must then be able to read the record.
func (p *asyncPuts) settled(ctx context.Context) error {
	p.mu.Lock()
	upTo := p.next
	if p.oldestPendingLocked() > upTo {
		p.mu.Unlock()
		return nil
	}
	w := putsWaiter{upTo: upTo, done: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	// The read needs the gathered puts now, not at the window's end.
	batch := p.endGatheringLocked()
	p.mu.Unlock()
	p.send(batch)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		p.waiters = slices.DeleteFunc(p.waiters, func(o putsWaiter) bool { return o.done == w.done })
		p.mu.Unlock()
		return fmt.Errorf("wait for the activation records being stored: %w", ctx.Err())
	}
}

// oldestPendingLocked is the lowest number of a put still pending, or the
// largest uint64 when none is. p.mu is held.
func (p *asyncPuts) oldestPendingLocked() uint64 {
	oldest := uint64(math.MaxUint64)
	for id := range p.pending {
		oldest = min(oldest, id)
	}
	return oldest
}

// wakeWaitersLocked releases the waiters whose puts have all been
// answered. p.mu is held. Reads are rare next to puts: with no waiter it
// costs a length check.
func (p *asyncPuts) wakeWaitersLocked() {
	if len(p.waiters) == 0 {
		return
	}
	oldest := p.oldestPendingLocked()
	p.waiters = slices.DeleteFunc(p.waiters, func(w putsWaiter) bool {
		if w.upTo < oldest {
			close(w.done)
			return true
		}
		return false
	})
}

// closeWait bounds how long close waits for the puts in flight.
const closeWait = 2 * time.Second

// GetActivation returns activation id of namespace ns, or a CodeNotFound
// error (also for an id that is malformed or has expired).
func (s *Store) GetActivation(ctx context.Context, ns, id string) (*core.Activation, error) {
	if !core.ValidActivationID(id) {
		return nil, core.NotFound()
	}
	if err := s.recordPuts.settled(ctx); err != nil {
		return nil, fmt.Errorf("read activation %s: %w", id, err)
	}
	entry, err := s.activations.Get(ctx, activationKey(ns, id))
	if isNotFound(err) {
		return nil, core.NotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("read activation %s: %w", id, err)
	}
	var a core.Activation
	if err := json.Unmarshal(entry.Value(), &a); err != nil {
		return nil, fmt.Errorf("decode activation %s: %w", id, err)
	}
	return &a, nil
}

// HasActivation reports whether a record for activation id exists.
func (s *Store) HasActivation(ctx context.Context, ns, id string) (bool, error) {
	if err := s.recordPuts.settled(ctx); err != nil {
		return false, fmt.Errorf("read activation %s: %w", id, err)
	}
	_, err := s.activations.Get(ctx, activationKey(ns, id))
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read activation %s: %w", id, err)
	}
	return true, nil
}

// activationEntity is "pkg/name" for an action in a package, else "name",
// read from the record's "path" annotation ("ns/pkg/name").
func activationEntity(a *core.Activation) string {
	raw, ok := a.Annotations.Get("path")
	if !ok {
		return a.Name
	}
	var path string
	if json.Unmarshal(raw, &path) != nil {
		return a.Name
	}
	_, rel, _ := strings.Cut(path, "/")
	return rel
}

// idTime is the Unix millisecond time encoded in an activation id's first
// 12 hex digits.
func idTime(id string) int64 {
	var b [8]byte
	if _, err := hex.Decode(b[2:], []byte(id[:12])); err != nil {
		return 0
	}
	var t int64
	for _, c := range b {
		t = t<<8 | int64(c)
	}
	return t
}
