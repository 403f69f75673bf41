package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// A blocking invoke hears three things on its gateway's subjects, all
// under ReplySubject(gateway, activation):
//
//	<reply>.q  JetStream's acknowledgement of the activation message
//	<reply>.s  JetStream's acknowledgement of the activation record
//	<reply>    the invoker's result message
//
// The invoker publishes the record (its acknowledgement addressed to the
// gateway) and the result at once, without waiting for the store; the
// gateway answers the caller once it has both, so that the record can be
// read as soon as the caller has the result, and then acknowledges the
// activation message on the invoker's behalf, so that an activation is
// acknowledged only once its record is stored. This takes a round trip
// through the store off the invoker's path (docs/rationale.md).
const (
	queuedSuffix = ".q"
	storedSuffix = ".s"
)

// QueuedSubject is where JetStream acknowledges the activation message of
// a blocking invoke whose results go to replyTo.
func QueuedSubject(replyTo string) string { return replyTo + queuedSuffix }

// StoredSubject is where JetStream acknowledges the record of an
// activation whose result goes to replyTo.
func StoredSubject(replyTo string) string { return replyTo + storedSuffix }

// unconfirmedAfter is how long a result waits for the confirmation that
// its record is stored (or the other way round) before Results gives up:
// the caller then gets the result and the activation is acknowledged
// anyway, as an invoker does when it cannot store a record.
const unconfirmedAfter = 10 * time.Second

// Outcome is what a caller waiting in Results receives, once.
type Outcome struct {
	Result Result
	// Err is set when the activation could not be queued (it will not
	// run) or its result was unreadable; Result is then empty.
	Err error
}

// ErrNotQueued wraps JetStream's refusal of an activation message.
var ErrNotQueued = errors.New("the activation was not queued")

// Results is a gateway's end of the results of blocking invokes: it pairs
// each result with the confirmation that its record is stored, hands it to
// the caller waiting for it, and acknowledges the activation. Open it with
// OpenResults; Close stops it. Safe for concurrent use.
type Results struct {
	b      *Broker
	prefix string // "done.<gateway>."
	sub    *nats.Subscription
	log    *slog.Logger

	mu sync.Mutex
	m  map[string]*waiter

	stop, stopped chan struct{}
}

// waiter is what is known of one activation: who waits, and what arrived.
type waiter struct {
	ch       chan Outcome // nil when nobody waits (any more)
	result   *Result
	stored   bool
	storeErr error
	since    time.Time // when the first of result and stored arrived
}

// OpenResults subscribes to the results addressed to gatewayID. Every
// gateway has its own id; log receives the records that could not be
// confirmed stored.
func (b *Broker) OpenResults(gatewayID string, log *slog.Logger) (*Results, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Results{b: b, prefix: donePrefix + gatewayID + ".", log: log, m: map[string]*waiter{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	sub, err := b.nc.Subscribe(r.prefix+">", r.handle)
	if err != nil {
		return nil, fmt.Errorf("subscribe to results for gateway %s: %w", gatewayID, err)
	}
	r.sub = sub
	go r.sweep()
	return r, nil
}

// Close unsubscribes. Activations not yet acknowledged come back to their
// invoker after the ack wait, which finds their records and acknowledges
// them.
func (r *Results) Close() error {
	close(r.stop)
	<-r.stopped
	return r.sub.Unsubscribe()
}

// Wait registers a caller for activation id; call it before publishing
// the activation, and Leave when done. The channel receives one Outcome.
func (r *Results) Wait(id string) <-chan Outcome {
	ch := make(chan Outcome, 1)
	r.mu.Lock()
	r.m[id] = &waiter{ch: ch}
	r.mu.Unlock()
	return ch
}

// Leave says the caller of Wait(id) no longer waits. The activation is
// still acknowledged when its result and record arrive.
func (r *Results) Leave(id string) {
	r.mu.Lock()
	if w := r.m[id]; w != nil {
		if w.result == nil && !w.stored {
			delete(r.m, id)
		} else {
			w.ch = nil
		}
	}
	r.mu.Unlock()
}

// handle runs on the subscription's goroutine, one message at a time.
func (r *Results) handle(m *nats.Msg) {
	rest := strings.TrimPrefix(m.Subject, r.prefix)
	id, suffix := rest, ""
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		id, suffix = rest[:i], rest[i:]
	}
	switch suffix {
	case "":
		res, err := DecodeResult(m.Data)
		if err != nil {
			r.fail(id, err)
			return
		}
		r.result(id, res)
	case storedSuffix:
		r.storedAck(id, pubAckError(m))
	case queuedSuffix:
		if err := pubAckError(m); err != nil {
			r.fail(id, fmt.Errorf("%w: %w", ErrNotQueued, err))
		}
	}
}

// fail hands err to whoever waits for id: nothing more will come.
func (r *Results) fail(id string, err error) {
	r.mu.Lock()
	w := r.m[id]
	delete(r.m, id)
	r.mu.Unlock()
	if w != nil && w.ch != nil {
		w.ch <- Outcome{Err: err}
	} else {
		r.log.Warn("activation failed with nobody waiting", "activation", id, "err", err)
	}
}

func (r *Results) result(id string, res Result) {
	r.mu.Lock()
	w := r.entry(id)
	w.result = &res
	if !w.stored && res.AckSubject != "" {
		r.mu.Unlock() // wait for the record's confirmation
		return
	}
	delete(r.m, id)
	r.mu.Unlock()
	r.complete(id, w)
}

func (r *Results) storedAck(id string, err error) {
	r.mu.Lock()
	w := r.entry(id)
	w.stored, w.storeErr = true, err
	if w.result == nil {
		r.mu.Unlock() // wait for the result
		return
	}
	delete(r.m, id)
	r.mu.Unlock()
	r.complete(id, w)
}

// entry returns the waiter of id, making one when nobody waits (any more).
// r.mu is held.
func (r *Results) entry(id string) *waiter {
	w := r.m[id]
	if w == nil {
		w = &waiter{}
		r.m[id] = w
	}
	if w.since.IsZero() {
		w.since = time.Now()
	}
	return w
}

// complete acknowledges the activation and hands its result over.
func (r *Results) complete(id string, w *waiter) {
	if w.storeErr != nil {
		r.log.Error("store activation record", "activation", id, "err", w.storeErr)
	} else if !w.stored && w.result.AckSubject != "" {
		r.log.Error("store activation record: no confirmation from JetStream", "activation", id, "waited", unconfirmedAfter)
	}
	if w.result.AckSubject != "" {
		if err := r.b.Ack(w.result.AckSubject); err != nil {
			r.log.Warn("acknowledge activation", "activation", id, "err", err)
		}
	}
	if w.ch != nil {
		w.ch <- Outcome{Result: *w.result}
	}
}

// sweep gives up on activations whose result or record confirmation has
// not come within unconfirmedAfter of the other.
func (r *Results) sweep() {
	defer close(r.stopped)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			var late []*waiter
			var ids []string
			r.mu.Lock()
			for id, w := range r.m {
				if !w.since.IsZero() && now.Sub(w.since) > unconfirmedAfter {
					delete(r.m, id)
					if w.result != nil {
						late, ids = append(late, w), append(ids, id)
					}
				}
			}
			r.mu.Unlock()
			for i, w := range late {
				r.complete(ids[i], w)
			}
		}
	}
}

// Ack acknowledges a delivered activation on its ack subject.
func (b *Broker) Ack(ackSubject string) error {
	if err := b.nc.Publish(ackSubject, ackPayload); err != nil {
		return fmt.Errorf("acknowledge on %s: %w", ackSubject, err)
	}
	return nil
}

// pubAckError reads JetStream's answer to a publish: nil when it stored
// the message, else why not.
func pubAckError(m *nats.Msg) error {
	if len(m.Data) == 0 {
		if st := m.Header.Get("Status"); st == "503" {
			return errors.New("no JetStream stream took the message")
		} else if st != "" {
			return fmt.Errorf("JetStream answered status %s %s", st, m.Header.Get("Description"))
		}
		return errors.New("empty answer from JetStream")
	}
	if !bytes.Contains(m.Data, []byte(`"error"`)) {
		return nil // {"stream":...,"seq":...}
	}
	var resp struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil || resp.Error == nil {
		return fmt.Errorf("unreadable answer from JetStream: %q", m.Data)
	}
	return fmt.Errorf("JetStream refused the message: %s (%d)", resp.Error.Description, resp.Error.ErrCode)
}
