package queue

import (
	"context"
	"fmt"
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
	// Acknowledged activations are purged from the stream; once all are,
	// the purger rests until another is delivered, and then purges again.
	stream, err := b.JetStream().Stream(ctx, InvokeStream)
	if err != nil {
		t.Fatal(err)
	}
	awaitPurged := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d acknowledged activations still in the stream", info.State.Msgs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	awaitPurged()
	time.Sleep(2 * purgeInterval) // it rests now
	later := &core.Invocation{ActivationID: core.NewActivationID(time.Now()), Namespace: "guest"}
	if err := b.PublishInvocation(ctx, "inv1", later); err != nil {
		t.Fatal(err)
	}
	if d := receive(t, got); d.Invocation.ActivationID != later.ActivationID {
		t.Fatalf("delivery = %+v, want %s", d.Invocation, later.ActivationID)
	} else if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	awaitPurged()
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

func TestAckMetadata(t *testing.T) {
	for _, c := range []struct {
		reply          string
		delivered, seq uint64
		ok             bool
	}{
		{"$JS.ACK.WISP_INVOKE.invoker-a.1.42.40.1764000000000000000.3", 1, 42, true},
		{"$JS.ACK.WISP_INVOKE.invoker-a.3.7.9.1764000000000000000.0", 3, 7, true},
		{"$JS.ACK.dom.ACCHASH.WISP_INVOKE.invoker-a.2.42.40.1764000000000000000.3.rnd", 2, 42, true},
		{"$JS.ACK.WISP_INVOKE.invoker-a.x.42.40.1.3", 0, 0, false},
		{"_INBOX.abc", 0, 0, false},
		{"", 0, 0, false},
	} {
		d, s, ok := ackMetadata(c.reply)
		if ok != c.ok || (ok && (d != c.delivered || s != c.seq)) {
			t.Errorf("ackMetadata(%q) = %d, %d, %v; want %d, %d, %v", c.reply, d, s, ok, c.delivered, c.seq, c.ok)
		}
	}
}

// Many more activations than the prefetch pass through, one request of
// messages after another, each handled once.
func TestConsumeManyWithSmallPrefetch(t *testing.T) {
	ctx := context.Background()
	b := open(t, t.TempDir())
	defer b.Close()
	const n = 500
	seen := make(chan string, n)
	c, err := b.ConsumeInvocations(ctx, "inv1", 3, func(d *Delivery) {
		seen <- d.Invocation.ActivationID
		if err := d.Ack(); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(ctx)
	for i := range n {
		id := fmt.Sprintf("%032x", i)
		if err := b.PublishInvocationAsync("inv1", &core.Invocation{ActivationID: id, ReplyTo: ReplySubject("gw", id)}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for len(got) < n {
		select {
		case id := <-seen:
			if got[id] {
				t.Fatalf("%s delivered twice", id)
			}
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d activations delivered", len(got), n)
		}
	}
}
