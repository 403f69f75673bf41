package queue

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wispfaas/wisp/core"
)

// resultsRig is a broker with a consumer standing for an invoker and a
// stream standing for the record store.
type resultsRig struct {
	b       *Broker
	results *Results
	got     chan *Delivery
	cons    *Consumption
}

func newResultsRig(t *testing.T) *resultsRig {
	t.Helper()
	ctx := context.Background()
	b := open(t, t.TempDir())
	t.Cleanup(func() { b.Close() })
	if _, err := b.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "RECORDS", Subjects: []string{"rec.>"}}); err != nil {
		t.Fatal(err)
	}
	r := &resultsRig{b: b, got: make(chan *Delivery, 10)}
	var err error
	if r.cons, err = b.ConsumeInvocations(ctx, "inv1", 4, func(d *Delivery) { r.got <- d }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cons.Stop(ctx) })
	if r.results, err = b.OpenResults("gw1", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.results.Close() })
	return r
}

// invoke publishes a blocking activation and returns its delivery.
func (r *resultsRig) invoke(t *testing.T) (*Delivery, <-chan Outcome) {
	t.Helper()
	id := core.NewActivationID(time.Now())
	done := r.results.Wait(id)
	if err := r.b.PublishInvocationAsync("inv1", &core.Invocation{ActivationID: id, Namespace: "guest", ReplyTo: ReplySubject("gw1", id), Params: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return receive(t, r.got), done
}

// finish does what an invoker does for a waiting gateway: the record (its
// acknowledgement to the gateway) and the result, asking the gateway to
// acknowledge the activation.
func (r *resultsRig) finish(t *testing.T, d *Delivery, recordSubject string) {
	t.Helper()
	rec := &core.Activation{ActivationID: d.Invocation.ActivationID, Response: core.NewResponse(core.StatusSuccess, json.RawMessage(`{"ok":1}`))}
	msg, rs, re := rec.AppendJSON(AppendResultHeader(nil, d.AckSubject()))
	FinishResultMessage(msg, rec.StatusCode, rs, re)
	if err := r.b.Conn().PublishMsg(&nats.Msg{Subject: recordSubject, Reply: StoredSubject(d.Invocation.ReplyTo), Data: ResultRecord(msg)}); err != nil {
		t.Fatal(err)
	}
	if err := r.b.PublishResult(d.Invocation.ReplyTo, msg); err != nil {
		t.Fatal(err)
	}
}

func outcome(t *testing.T, done <-chan Outcome) Outcome {
	t.Helper()
	select {
	case out := <-done:
		return out
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome within 10s")
		return Outcome{}
	}
}

// acked waits until the consumer has no activation pending an ack.
func (r *resultsRig) acked(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	cons, err := r.b.JetStream().Consumer(ctx, InvokeStream, "invoker-inv1")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 && info.Delivered.Stream > 0 && info.AckFloor.Stream == info.Delivered.Stream {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("activations still unacknowledged: %+v", info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestResultsWaitForTheRecordThenAck(t *testing.T) {
	r := newResultsRig(t)
	d, done := r.invoke(t)
	// The result alone is not enough: the record is not stored yet.
	rec := &core.Activation{ActivationID: d.Invocation.ActivationID, Response: core.NewResponse(core.StatusSuccess, json.RawMessage(`{"ok":1}`))}
	msg, rs, re := rec.AppendJSON(AppendResultHeader(nil, d.AckSubject()))
	FinishResultMessage(msg, rec.StatusCode, rs, re)
	if err := r.b.PublishResult(d.Invocation.ReplyTo, msg); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-done:
		t.Fatalf("outcome before the record was stored: %+v", out)
	case <-time.After(200 * time.Millisecond):
	}
	if err := r.b.Conn().PublishMsg(&nats.Msg{Subject: "rec.x", Reply: StoredSubject(d.Invocation.ReplyTo), Data: ResultRecord(msg)}); err != nil {
		t.Fatal(err)
	}
	if out := outcome(t, done); out.Err != nil || string(out.Result.Value) != `{"ok":1}` || out.Result.StatusCode != core.StatusSuccess {
		t.Fatalf("outcome = %+v", out)
	}
	r.results.Leave(d.Invocation.ActivationID)
	r.acked(t)
}

func TestResultsAckWhenNobodyWaits(t *testing.T) {
	r := newResultsRig(t)
	d, _ := r.invoke(t)
	r.results.Leave(d.Invocation.ActivationID) // the caller went away
	r.finish(t, d, "rec.y")
	r.acked(t)
	r.results.mu.Lock()
	left := len(r.results.m)
	r.results.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d entries left", left)
	}
}

func TestResultsRecordRefused(t *testing.T) {
	r := newResultsRig(t)
	d, done := r.invoke(t)
	// No stream takes "norecord.>": the store's answer is a refusal, and the
	// caller still gets the result (as when an invoker cannot store).
	r.finish(t, d, "norecord.z")
	if out := outcome(t, done); out.Err != nil || string(out.Result.Value) != `{"ok":1}` {
		t.Fatalf("outcome = %+v", out)
	}
	r.acked(t)
}

func TestResultsNotQueued(t *testing.T) {
	r := newResultsRig(t)
	id := core.NewActivationID(time.Now())
	done := r.results.Wait(id)
	// No invoker subject of the stream matches: JetStream does not take it.
	m := &nats.Msg{Subject: "nostream.inv1", Reply: QueuedSubject(ReplySubject("gw1", id)), Data: []byte("x")}
	if err := r.b.Conn().PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if out := outcome(t, done); !errors.Is(out.Err, ErrNotQueued) {
		t.Fatalf("outcome = %+v, want ErrNotQueued", out)
	}
}
