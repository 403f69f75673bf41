package queue

import (
	"context"
	"testing"
	"time"

	"github.com/wispfaas/wisp/core"
)

func open(t *testing.T, dir string) *Broker {
	t.Helper()
	b, err := Open(context.Background(), Config{StoreDir: dir, AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func receive(t *testing.T, ch <-chan *Delivery) *Delivery {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
		return nil
	}
}

func TestInvocationRoundTripAndResults(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir())
	defer b.Close()
	got := make(chan *Delivery, 10)
	c, err := b.ConsumeInvocations(ctx, "inv1", 4, func(d *Delivery) { got <- d })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	results, err := b.OpenResults("gw1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()

	inv := &core.Invocation{ActivationID: core.NewActivationID(time.Now()), Namespace: "guest", ReplyTo: ReplySubject("gw1", "x")}
	if err := b.PublishInvocation(ctx, "inv1", inv); err != nil {
		t.Fatal(err)
	}
	// A retried publish of the same activation is dropped by its message id.
	if err := b.PublishInvocation(ctx, "inv1", inv); err != nil {
		t.Fatal(err)
	}
	d := receive(t, got)
	if d.Invocation.ActivationID != inv.ActivationID || d.Redelivered() {
		t.Fatalf("delivery = %+v redelivered=%v", d.Invocation, d.Redelivered())
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	select {
	case extra := <-got:
		t.Fatalf("duplicate publish delivered: %+v", extra.Invocation)
	case <-time.After(300 * time.Millisecond):
	}
	// Acknowledged activations are purged from the stream.
	stream, err := b.JetStream().Stream(ctx, InvokeStream)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged activations still in the stream", info.State.Msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	done := results.Wait("x")
	if err := b.PublishResult(d.Invocation.ReplyTo, []byte(`{"response":{"statusCode":0,"result":{"ok":true}}}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-done:
		if out.Err != nil || string(out.Result.Value) != `{"ok":true}` {
			t.Fatalf("result = %+v", out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no result")
	}
}

func TestUnackedInvocationSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := open(t, dir)
	got := make(chan *Delivery, 10)
	c, err := b.ConsumeInvocations(ctx, "inv1", 4, func(d *Delivery) { got <- d })
	if err != nil {
		t.Fatal(err)
	}
	id := core.NewActivationID(time.Now())
	if err := b.PublishInvocation(ctx, "inv1", &core.Invocation{ActivationID: id}); err != nil {
		t.Fatal(err)
	}
	receive(t, got) // taken, never acked: the invoker "dies"
	_ = c.Stop(ctx)
	b.Close()

	b = open(t, dir)
	defer b.Close()
	got2 := make(chan *Delivery, 10)
	c, err = b.ConsumeInvocations(ctx, "inv1", 4, func(d *Delivery) { got2 <- d })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	d := receive(t, got2)
	if d.Invocation.ActivationID != id || !d.Redelivered() {
		t.Fatalf("after restart got %s redelivered=%v, want %s redelivered", d.Invocation.ActivationID, d.Redelivered(), id)
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir())
	defer b.Close()
	r, err := b.OpenRegistry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Live()) != 0 {
		t.Fatal("live invokers before any heartbeat")
	}
	if err := r.Beat(ctx, InvokerStatus{ID: "a", Capacity: 4}); err != nil {
		t.Fatal(err)
	}
	if live := r.Live(); len(live) != 1 || live[0].ID != "a" || live[0].Capacity != 4 {
		t.Fatalf("live = %+v", live)
	}
	if err := r.Leave(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.Live()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("invoker still live after Leave")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
