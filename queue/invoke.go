package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
		// An activation nobody ran in a day is dropped rather than run late.
		MaxAge: 24 * time.Hour,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", InvokeStream, err)
	}
	return nil
}

// PublishInvocation stores inv in the stream for invokerID and returns once
// JetStream has acknowledged it.
func (b *Broker) PublishInvocation(ctx context.Context, invokerID string, inv *core.Invocation) error {
	data, err := json.Marshal(inv)
	if err != nil {
		return fmt.Errorf("encode activation %s: %w", inv.ActivationID, err)
	}
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
	msg        jetstream.Msg
}

// Ack tells JetStream the activation is done; it will not be delivered again.
func (d *Delivery) Ack(ctx context.Context) error { return d.msg.DoubleAck(ctx) }

// InProgress resets the redelivery timer while a long activation runs.
func (d *Delivery) InProgress() error { return d.msg.InProgress() }

// Nak asks for the activation to be delivered again after delay.
func (d *Delivery) Nak(delay time.Duration) error { return d.msg.NakWithDelay(delay) }

// Redelivered reports whether this activation was handed out before (an
// invoker died or restarted while holding it).
func (d *Delivery) Redelivered() bool {
	md, err := d.msg.Metadata()
	return err == nil && md.NumDelivered > 1
}

// Consumption is a running subscription of an invoker to its activations.
type Consumption struct{ cc jetstream.ConsumeContext }

// Stop stops taking new activations and hands those already fetched into
// the client's buffer to the handler (which may Nak them), returning when
// the handler has seen them all or ctx ends. Without this, buffered
// activations would wait for the ack wait before anyone ran them.
func (c *Consumption) Stop(ctx context.Context) error {
	c.cc.Drain()
	select {
	case <-c.cc.Closed():
		return nil
	case <-ctx.Done():
		c.cc.Stop()
		return fmt.Errorf("drain the activation consumer: %w", ctx.Err())
	}
}

// ConsumeInvocations delivers the activations addressed to invokerID to
// handle, one call at a time, on a durable consumer so that unacknowledged
// activations survive a restart. A message that cannot be decoded is
// terminated (it can never succeed) and logged.
func (b *Broker) ConsumeInvocations(ctx context.Context, invokerID string, prefetch int, handle func(*Delivery)) (*Consumption, error) {
	name := "invoker-" + invokerID
	cons, err := b.js.CreateOrUpdateConsumer(ctx, InvokeStream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "Invoker " + invokerID,
		FilterSubject: InvokeSubject(invokerID),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.AckWait,
		MaxAckPending: 10_000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		d := &Delivery{msg: msg}
		if err := json.Unmarshal(msg.Data(), &d.Invocation); err != nil {
			b.log.Error("dropping an undecodable activation message", "subject", msg.Subject(), "err", err)
			_ = msg.Term()
			return
		}
		handle(d)
	}, jetstream.PullMaxMessages(prefetch), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			b.log.Debug("consume", "consumer", name, "err", err)
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", name, err)
	}
	return &Consumption{cc: cc}, nil
}

// PublishResult sends an activation record to the gateway waiting on
// subject. Nobody may be listening any more; that is not an error.
func (b *Broker) PublishResult(subject string, record []byte) error {
	if err := b.nc.Publish(subject, record); err != nil {
		return fmt.Errorf("publish result on %s: %w", subject, err)
	}
	return nil
}

// SubscribeResults calls deliver with the activation id and record of
// every result published for gatewayID. deliver runs on NATS's delivery
// goroutine and must not block.
func (b *Broker) SubscribeResults(gatewayID string, deliver func(activationID string, record []byte)) (unsubscribe func() error, err error) {
	prefix := donePrefix + gatewayID + "."
	sub, err := b.nc.Subscribe(prefix+"*", func(m *nats.Msg) {
		deliver(strings.TrimPrefix(m.Subject, prefix), m.Data)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to results for gateway %s: %w", gatewayID, err)
	}
	return sub.Unsubscribe, nil
}
