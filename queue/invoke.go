package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wispfaas/wisp/core"
)

// Names of the invocation stream and its subjects.
const (
	// InvokeStream is the work-queue stream that holds activations until an
	// invoker acknowledges them.
	InvokeStream = "WISP_INVOKE"
	invokePrefix = "invoke."
	donePrefix   = "done."
	// DefaultAckWait is how long an invoker may hold an activation without
	// a sign of life before JetStream hands it out again. Invokers signal
	// progress every third of it while an activation runs, so long
	// activations are not redelivered while their invoker lives.
	DefaultAckWait = 30 * time.Second
)

// InvokeSubject is the subject of activations for one invoker.
func InvokeSubject(invokerID string) string { return invokePrefix + invokerID }

// ReplySubject is where the result of activation id is published for the
// gateway gatewayID. Each gateway subscribes once to its own prefix.
func ReplySubject(gatewayID, activationID string) string {
	return donePrefix + gatewayID + "." + activationID
}

func (b *Broker) ensureInvokeStream(ctx context.Context) error {
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        InvokeStream,
		Description: "Activations waiting for an invoker",
		Subjects:    []string{invokePrefix + ">"},
		// Limits retention, not work-queue: a work queue deletes each
		// message on its ack, and with one message in flight that empties
		// the store's block, which the file store then replaces with a new
		// file, on every activation (a third of the CPU of an invoke).
		// Acked messages are purged in bulk below each consumer's ack
		// floor instead (Consumption.purge).
		Retention: jetstream.LimitsPolicy,
		Storage:   jetstream.FileStorage,
		Replicas:  b.cfg.Replicas,
		// An activation nobody ran in a day is dropped rather than run late.
		MaxAge: 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", InvokeStream, err)
	}
	return nil
}

// PublishInvocationAsync sends inv to the stream for invokerID without
// waiting for JetStream's acknowledgement, which goes to the gateway's
// Results (QueuedSubject of inv.ReplyTo): a refusal reaches the caller
// waiting there. A blocking invoke waits for the result instead, which
// cannot come before the message is stored. inv.ReplyTo must be set.
//
// It publishes with core NATS rather than jetstream.PublishAsync, whose
// per-message bookkeeping (a future, a map entry, a decoded
// acknowledgement) the gateway does not need: Results already receives
// every message about the activation.
func (b *Broker) PublishInvocationAsync(invokerID string, inv *core.Invocation) error {
	if inv.ReplyTo == "" {
		return fmt.Errorf("publish activation %s: no reply subject", inv.ActivationID)
	}
	// Without a message id (PublishInvocation sets one): nothing publishes
	// a blocking activation twice, and the header cost the path ~9% of its
	// CPU (encoded, parsed by the server, kept in its duplicate window, and
	// parsed again by the invoker's client; docs/rationale.md).
	m := &nats.Msg{Subject: InvokeSubject(invokerID), Reply: QueuedSubject(inv.ReplyTo), Data: EncodeInvocation(inv)}
	if err := b.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("publish activation %s to invoker %s: %w", inv.ActivationID, invokerID, err)
	}
	return nil
}

// PublishInvocation stores inv in the stream for invokerID and returns once
// JetStream has acknowledged it.
func (b *Broker) PublishInvocation(ctx context.Context, invokerID string, inv *core.Invocation) error {
	data := EncodeInvocation(inv)
	// The message id lets JetStream drop a duplicate publish of the same
	// activation (a retried publish after a lost ack).
	if _, err := b.js.Publish(ctx, InvokeSubject(invokerID), data, jetstream.WithMsgID(inv.ActivationID)); err != nil {
		return fmt.Errorf("publish activation %s to invoker %s: %w", inv.ActivationID, invokerID, err)
	}
	return nil
}

// AckWait is the redelivery timeout of unacknowledged activations.
func (b *Broker) AckWait() time.Duration { return b.cfg.AckWait }

// Delivery is one activation handed to an invoker. The invoker must call
// Ack once the record is stored, or Nak to have it delivered again.
type Delivery struct {
	Invocation core.Invocation
	msg        *nats.Msg
	// seenBefore is the last stream sequence an earlier consumer of this
	// invoker handed out: messages up to it may have run already.
	seenBefore uint64
}

// Acknowledgement payloads of JetStream.
var (
	ackPayload        = []byte("+ACK") // AckExplicit
	inProgressPayload = []byte("+WPI")
	nakPayload        = []byte("-NAK")
	termPayload       = []byte("+TERM")
)

// Ack tells JetStream the activation is done. It does not wait for the
// server's confirmation: should the ack be lost, the activation comes back
// after the ack wait, and the invoker finds its record and acks again.
func (d *Delivery) Ack() error { return d.msg.Respond(ackPayload) }

// AckSubject is the subject that acknowledges the activation, for a
// gateway to acknowledge it on the invoker's behalf (see Results).
func (d *Delivery) AckSubject() string { return d.msg.Reply }

// InProgress resets the redelivery timer while a long activation runs.
func (d *Delivery) InProgress() error { return d.msg.Respond(inProgressPayload) }

// Nak asks for the activation to be delivered again after delay.
func (d *Delivery) Nak(delay time.Duration) error {
	if delay <= 0 {
		return d.msg.Respond(nakPayload)
	}
	return d.msg.Respond(fmt.Appendf(nil, `-NAK {"delay": %d}`, delay.Nanoseconds()))
}

// term tells JetStream never to deliver the activation again.
func (d *Delivery) term() error { return d.msg.Respond(termPayload) }

// Redelivered reports whether this activation may have been handed out
// before (an invoker died or restarted while holding it), so that the
// invoker must check whether it already ran.
func (d *Delivery) Redelivered() bool {
	delivered, seq, ok := ackMetadata(d.msg.Reply)
	return !ok || delivered > 1 || seq <= d.seenBefore
}

// ackMetadata reads the delivery count and the stream sequence from a
// JetStream ack subject, without allocating: "$JS.ACK.<stream>.<consumer>.
// <delivered>.<stream seq>.<consumer seq>.<time>.<pending>", or the form
// with a domain and an account hash after "$JS.ACK." (and a random token
// at the end). ok is false for anything else.
func ackMetadata(reply string) (delivered, streamSeq uint64, ok bool) {
	const prefix = "$JS.ACK."
	if !strings.HasPrefix(reply, prefix) {
		return 0, 0, false
	}
	first := 2 // index of the delivery count among the tokens after the prefix
	switch n := strings.Count(reply, "."); {
	case n == 8:
	case n >= 11:
		first = 4
	default:
		return 0, 0, false
	}
	rest := reply[len(prefix):]
	var tok [6]string
	for i := range first + 2 {
		var found bool
		tok[i], rest, found = strings.Cut(rest, ".")
		if !found {
			return 0, 0, false
		}
	}
	var err1, err2 error
	delivered, err1 = strconv.ParseUint(tok[first], 10, 64)
	streamSeq, err2 = strconv.ParseUint(tok[first+1], 10, 64)
	return delivered, streamSeq, err1 == nil && err2 == nil
}

// Consumption is a running subscription of an invoker to its activations.
type Consumption struct {
	p          *puller
	stopPurge  chan struct{}
	purgeEnded chan struct{}
}

// purgeInterval is how often acknowledged activations are removed from
// the stream.
const purgeInterval = time.Second

// Stop stops taking new activations and hands those already fetched into
// the client's buffer to the handler (which may Nak them), returning when
// the handler has seen them all or ctx ends. Without this, buffered
// activations would wait for the ack wait before anyone ran them.
func (c *Consumption) Stop(ctx context.Context) error {
	close(c.stopPurge)
	<-c.purgeEnded
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	return c.p.drain(timeout)
}

// ConsumeInvocations delivers the activations addressed to invokerID to
// handle, one call at a time, on a durable consumer so that unacknowledged
// activations survive a restart. A message that cannot be decoded is
// terminated (it can never succeed) and logged.
func (b *Broker) ConsumeInvocations(ctx context.Context, invokerID string, prefetch int, handle func(*Delivery)) (*Consumption, error) {
	name := "invoker-" + invokerID
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "Invoker " + invokerID,
		FilterSubject: InvokeSubject(invokerID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.AckWait,
		MaxAckPending: 10_000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	// A consumer left by an earlier run of this invoker holds activations
	// it handed out and never saw acknowledged (the invoker crashed, or
	// they were in flight when it stopped); JetStream would hand them out
	// again only after the ack wait, behind newer work. Instead, start
	// afresh from the old consumer's ack floor: everything not known to be
	// done comes first, at once. Those the old run may have finished are
	// marked, and the invoker checks their records before running them.
	var seen uint64
	if old, err := b.js.Consumer(ctx, InvokeStream, name); err == nil {
		info := old.CachedInfo()
		seen = info.Delivered.Stream
		if floor := info.AckFloor.Stream; floor > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		}
		if err := b.js.DeleteConsumer(ctx, InvokeStream, name); err != nil {
			return nil, fmt.Errorf("replace consumer %s: %w", name, err)
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("look up consumer %s: %w", name, err)
	}
	cons, err := b.js.CreateConsumer(ctx, InvokeStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	var delivered atomic.Uint64
	p, err := startPuller(b.nc, InvokeStream, name, prefetch, func(msg *nats.Msg) {
		delivered.Add(1)
		d := &Delivery{msg: msg, seenBefore: seen}
		if err := DecodeInvocation(msg.Data, &d.Invocation); err != nil {
			b.log.Error("dropping an undecodable activation message", "subject", msg.Subject, "err", err)
			_ = d.term()
			return
		}
		handle(d)
	}, b.log)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", name, err)
	}
	c := &Consumption{p: p, stopPurge: make(chan struct{}), purgeEnded: make(chan struct{})}
	go c.purge(cons, InvokeSubject(invokerID), b, &delivered)
	return c, nil
}

// purge removes, every purgeInterval, the activations of subject that
// the consumer has acknowledged (those below its ack floor). Once every
// activation delivered is acknowledged and purged, it asks the server
// nothing more until another is delivered (counted in delivered): an idle
// invoker then wakes for nothing but its ticker.
func (c *Consumption) purge(cons jetstream.Consumer, subject string, b *Broker, delivered *atomic.Uint64) {
	defer close(c.purgeEnded)
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	var purged uint64
	idleAt := ^uint64(0) // deliveries counted when nothing was left to purge
	for {
		select {
		case <-c.stopPurge:
			return
		case <-t.C:
		}
		n := delivered.Load()
		if n == idleAt {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), purgeInterval)
		info, err := cons.Info(ctx)
		if err == nil && info.AckFloor.Stream > purged {
			var stream jetstream.Stream
			if stream, err = b.js.Stream(ctx, InvokeStream); err == nil {
				err = stream.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(info.AckFloor.Stream+1))
			}
			if err == nil {
				purged = info.AckFloor.Stream
			}
		}
		if err == nil && info.NumAckPending == 0 && info.NumPending == 0 {
			idleAt = n
		}
		cancel()
		if err != nil {
			b.log.Debug("purge acknowledged activations", "subject", subject, "err", err)
		}
	}
}

// PublishResult sends an activation record to the gateway waiting on
// subject. Nobody may be listening any more; that is not an error.
func (b *Broker) PublishResult(subject string, record []byte) error {
	if err := b.nc.Publish(subject, record); err != nil {
		return fmt.Errorf("publish result on %s: %w", subject, err)
	}
	return nil
}

// prewarmPrefix is the subject prefix of prewarm requests to invokers.
const prewarmPrefix = "prewarm."

// RequestPrewarm asks invokerID to get action ready for its first
// activation (compile its code, start a sandbox) and waits until it has, or
// ctx ends. It is a hint: a failure only means a slower first activation.
func (b *Broker) RequestPrewarm(ctx context.Context, invokerID string, action *core.Action) error {
	data, err := json.Marshal(action)
	if err != nil {
		return fmt.Errorf("encode prewarm of %s: %w", action.Name, err)
	}
	reply, err := b.nc.RequestWithContext(ctx, prewarmPrefix+invokerID, data)
	if err != nil {
		return fmt.Errorf("prewarm on invoker %s: %w", invokerID, err)
	}
	if len(reply.Data) > 0 {
		return fmt.Errorf("prewarm on invoker %s: %s", invokerID, reply.Data)
	}
	return nil
}

// SubscribePrewarm calls prewarm, on a goroutine of its own, for every
// prewarm request to invokerID, and answers with its error, if any.
func (b *Broker) SubscribePrewarm(invokerID string, prewarm func(*core.Action) error) (unsubscribe func() error, err error) {
	sub, err := b.nc.Subscribe(prewarmPrefix+invokerID, func(m *nats.Msg) {
		var a core.Action
		if err := json.Unmarshal(m.Data, &a); err != nil {
			_ = m.Respond([]byte("undecodable prewarm request: " + err.Error()))
			return
		}
		go func() {
			var reply []byte
			if err := prewarm(&a); err != nil {
				reply = []byte(err.Error())
			}
			_ = m.Respond(reply)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to prewarm requests for invoker %s: %w", invokerID, err)
	}
	return sub.Unsubscribe, nil
}
