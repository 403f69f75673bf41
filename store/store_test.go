package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/queue"
)

// openStore opens a Store on a real embedded JetStream in dir.
func openStore(t *testing.T, dir string) (*Store, func()) {
	t.Helper()
	ctx := context.Background()
	b, err := queue.Open(ctx, queue.Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, b.JetStream(), Config{ActivationRetention: time.Hour})
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	return s, func() { s.Close(); b.Close() }
}

func action(p core.EntityPath, digest string) func(old *core.Action) (*core.Action, error) {
	return func(old *core.Action) (*core.Action, error) {
		a := &core.Action{Namespace: p.Qualified(), Name: p.Name, Version: "0.0.1", Exec: core.Exec{Kind: "wasm", Digest: digest}, Limits: core.DefaultLimits(), Updated: time.Now().UnixNano()}
		if old != nil {
			a.Version = core.NextVersion(old.Version)
		}
		return a, nil
	}
}

func TestActionsLifecycleAndRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, closeStore := openStore(t, dir)
	p := core.EntityPath{Namespace: "guest", Name: "hello world@v1"}
	if _, err := s.GetAction(ctx, p); core.ErrorCodeOf(err) != core.CodeNotFound {
		t.Fatalf("missing action: %v", err)
	}
	if _, err := s.PutAction(ctx, p, false, action(p, "sha256:a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutAction(ctx, p, false, action(p, "sha256:b")); core.ErrorCodeOf(err) != core.CodeConflict {
		t.Fatalf("create over existing: %v", err)
	}
	a, err := s.PutAction(ctx, p, true, action(p, "sha256:b"))
	if err != nil || a.Version != "0.0.2" {
		t.Fatalf("overwrite: %+v %v", a, err)
	}
	got, err := s.GetAction(ctx, p)
	if err != nil || got.Exec.Digest != "sha256:b" {
		t.Fatalf("read after write: %+v %v", got, err)
	}
	// A build error stores nothing.
	if _, err := s.PutAction(ctx, p, true, func(*core.Action) (*core.Action, error) { return nil, core.Errorf(core.CodeInvalid, "no") }); core.ErrorCodeOf(err) != core.CodeInvalid {
		t.Fatalf("build error: %v", err)
	}
	pkg := core.EntityPath{Namespace: "guest", Package: "utils", Name: "x"}
	if _, err := s.PutAction(ctx, pkg, false, action(pkg, "sha256:c")); err != nil {
		t.Fatal(err)
	}
	other := core.EntityPath{Namespace: "other", Name: "y"}
	if _, err := s.PutAction(ctx, other, false, action(other, "sha256:d")); err != nil {
		t.Fatal(err)
	}
	if list := s.ListActions(ctx, "guest", 30, 0); len(list) != 2 {
		t.Fatalf("list guest = %d actions, want 2", len(list))
	}
	if list := s.ListActions(ctx, "guest", 1, 1); len(list) != 1 {
		t.Fatalf("paged list = %d actions, want 1", len(list))
	}
	if list := s.ListActions(ctx, "guest", 30, 5); len(list) != 0 {
		t.Fatalf("skip past end = %d actions", len(list))
	}
	if _, err := s.DeleteAction(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteAction(ctx, other); core.ErrorCodeOf(err) != core.CodeNotFound {
		t.Fatalf("delete twice: %v", err)
	}
	closeStore()

	s, closeStore = openStore(t, dir)
	defer closeStore()
	got, err = s.GetAction(ctx, p)
	if err != nil || got.Version != "0.0.2" || got.Exec.Digest != "sha256:b" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	if _, err := s.GetAction(ctx, other); core.ErrorCodeOf(err) != core.CodeNotFound {
		t.Fatalf("deleted action back after restart: %v", err)
	}
}

func TestCacheSeesOtherWriters(t *testing.T) {
	ctx := context.Background()
	s1, s2 := twoStores(t)
	p := core.EntityPath{Namespace: "guest", Name: "shared"}
	if _, err := s1.PutAction(ctx, p, false, action(p, "sha256:1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { a, _ := s2.GetAction(ctx, p); return a != nil })
	if _, err := s1.DeleteAction(ctx, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { a, _ := s2.GetAction(ctx, p); return a == nil })
}

// succeeded takes n answers from dones, each of which must be a success,
// within 10 s; what names the puts in the failures.
func succeeded(t *testing.T, dones chan error, n int, what string) {
	t.Helper()
	for range n {
		select {
		case err := <-dones:
			if err != nil {
				t.Errorf("a %s: %v", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d %ss were never answered", n, what)
		}
	}
}

// testBroker is an embedded NATS server with JetStream in a temporary
// directory, closed when the test ends.
func testBroker(t *testing.T) *queue.Broker {
	t.Helper()
	b, err := queue.Open(context.Background(), queue.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// twoStores opens two stores on one embedded JetStream, as two nodes of
// a cluster share their buckets.
func twoStores(t *testing.T) (*Store, *Store) {
	t.Helper()
	ctx := context.Background()
	b := testBroker(t)
	var stores [2]*Store
	for i := range stores {
		var err error
		if stores[i], err = Open(ctx, b.JetStream(), Config{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stores[i].Close)
	}
	return stores[0], stores[1]
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestActivations(t *testing.T) {
	ctx := context.Background()
	s, closeStore := openStore(t, t.TempDir())
	defer closeStore()
	base := time.UnixMilli(1_790_000_000_000)
	var ids []string
	for i := 0; i < 6; i++ {
		start := base.Add(time.Duration(i) * time.Second)
		name := "a"
		if i%2 == 1 {
			name = "b"
		}
		a := &core.Activation{Namespace: "guest", Name: name, ActivationID: idAt(start, i), Start: start.UnixMilli(),
			Annotations: core.KeyValues{}.Set("path", "guest/"+name), Response: core.NewResponse(0, json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))}
		if err := s.PutActivation(ctx, a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ActivationID)
	}
	if err := s.PutActivation(ctx, &core.Activation{Namespace: "other", ActivationID: core.NewActivationID(base), Name: "a"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetActivation(ctx, "guest", ids[2])
	if err != nil || string(got.Response.Result) != `{"i":2}` {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetActivation(ctx, "other", ids[2]); core.ErrorCodeOf(err) != core.CodeNotFound {
		t.Fatalf("another namespace's activation: %v", err)
	}
	if _, err := s.GetActivation(ctx, "guest", "../../etc"); core.ErrorCodeOf(err) != core.CodeNotFound {
		t.Fatalf("malformed id: %v", err)
	}
	tests := []struct {
		f    ActivationFilter
		want []int
	}{
		{ActivationFilter{Limit: 30}, []int{5, 4, 3, 2, 1, 0}},
		{ActivationFilter{Limit: 2, Skip: 1}, []int{4, 3}},
		{ActivationFilter{Limit: 30, Name: "b"}, []int{5, 3, 1}},
		{ActivationFilter{Limit: 30, Since: base.Add(2 * time.Second).UnixMilli(), Upto: base.Add(4 * time.Second).UnixMilli()}, []int{4, 3, 2}},
		{ActivationFilter{Limit: 1, Name: "a", Skip: 1}, []int{2}},
	}
	for _, tt := range tests {
		list, err := s.ListActivations(ctx, "guest", tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, a := range list {
			var r struct{ I int }
			_ = json.Unmarshal(a.Response.Result, &r)
			got = append(got, r.I)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ListActivations(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}
}

func TestNamespaces(t *testing.T) {
	ctx := context.Background()
	s, closeStore := openStore(t, t.TempDir())
	defer closeStore()
	ns, err := s.CreateNamespace(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Authenticate(ns.UUID, ns.Key); err != nil || got.Name != "alice" {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if _, err := s.Authenticate(ns.UUID, ns.Key+"x"); core.ErrorCodeOf(err) != core.CodeUnauthorized {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := s.CreateNamespace(ctx, "alice", ""); core.ErrorCodeOf(err) != core.CodeConflict {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := s.CreateNamespace(ctx, "bob", ns.Auth()); core.ErrorCodeOf(err) != core.CodeConflict {
		t.Fatalf("duplicate uuid: %v", err)
	}
	for _, bad := range []string{"_", "bad/name", ""} {
		if _, err := s.CreateNamespace(ctx, bad, ""); core.ErrorCodeOf(err) != core.CodeInvalid {
			t.Errorf("CreateNamespace(%q): %v", bad, err)
		}
	}
	if _, err := s.CreateNamespace(ctx, "carol", "not-an-auth"); core.ErrorCodeOf(err) != core.CodeInvalid {
		t.Fatalf("bad auth: %v", err)
	}
	if n := len(s.ListNamespaces(ctx)); n != 1 {
		t.Fatalf("list = %d namespaces, want 1", n)
	}
	if err := s.DeleteNamespace(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ns.UUID, ns.Key); core.ErrorCodeOf(err) != core.CodeUnauthorized {
		t.Fatalf("deleted namespace still authenticates: %v", err)
	}
	if err := s.DeleteNamespace(ctx, "alice"); core.ErrorCodeOf(err) != core.CodeNotFound {
		t.Fatalf("delete twice: %v", err)
	}
}

// TestNamespacesByUUID checks that authentication finds a namespace by its
// UUID among many, and follows what other writers do to the namespaces:
// a new UUID for one, a second namespace given a taken UUID (two nodes
// creating namespaces at once), and the deletion of either of those two.
func TestNamespacesByUUID(t *testing.T) {
	ctx := context.Background()
	s, other := twoStores(t) // other: another node's store
	authenticates := func(ns *core.Namespace) bool {
		got, err := s.Authenticate(ns.UUID, ns.Key)
		return err == nil && got.Name == ns.Name
	}

	var all []*core.Namespace
	for i := range 300 {
		ns, err := other.CreateNamespace(ctx, fmt.Sprintf("ns%d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ns)
	}
	waitFor(t, func() bool { return authenticates(all[len(all)-1]) })
	for _, ns := range all {
		if !authenticates(ns) {
			t.Errorf("namespace %s does not authenticate", ns.Name)
		}
		if _, err := s.Authenticate(ns.UUID, all[0].Key+"x"); core.ErrorCodeOf(err) != core.CodeUnauthorized {
			t.Errorf("namespace %s with a wrong key: %v", ns.Name, err)
		}
	}

	// put writes ns as another node would, past CreateNamespace's checks,
	// and waits for other's own cache to hold it: other deletes it later,
	// and its watcher may see the write after s's does.
	put := func(ns *core.Namespace) {
		t.Helper()
		data, err := json.Marshal(ns)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.auth.Put(ctx, namespaceKey(ns.Name), data); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			got, err := other.GetNamespace(ctx, ns.Name)
			return err == nil && got.UUID == ns.UUID && got.Key == ns.Key
		})
	}
	// New credentials for ns0: the old UUID no longer authenticates.
	renewed := *all[0]
	renewed.UUID, renewed.Key = core.NewCredentials()
	put(&renewed)
	waitFor(t, func() bool { return authenticates(&renewed) })
	if _, err := s.Authenticate(all[0].UUID, all[0].Key); core.ErrorCodeOf(err) != core.CodeUnauthorized {
		t.Errorf("the replaced credentials of ns0: %v", err)
	}

	// twin has ns1's UUID (and a key of its own).
	twin := &core.Namespace{Name: "twin", UUID: all[1].UUID, Key: strings.Repeat("k", 64), Created: 1}
	put(twin)
	waitFor(t, func() bool { return authenticates(twin) })
	if err := other.DeleteNamespace(ctx, "twin"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !authenticates(twin) })
	if !authenticates(all[1]) {
		t.Error("deleting a namespace that shared ns1's UUID hid ns1")
	}
	put(twin)
	waitFor(t, func() bool { return authenticates(twin) })
	if err := other.DeleteNamespace(ctx, "ns1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !authenticates(all[1]) })
	if !authenticates(twin) {
		t.Error("deleting ns1 hid the namespace that shares its UUID")
	}
}

// TestActivationsBounded: past the bound of the records' storage, the
// oldest records go first; the newest stay readable, and storing goes on.
func TestActivationsBounded(t *testing.T) {
	ctx := context.Background()
	b := testBroker(t)
	const bound = 64 << 10
	s, err := Open(ctx, b.JetStream(), Config{ActivationBytes: bound})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []string
	start := time.Now()
	for i := range 500 { // about 200 KB of records: three times the bound
		id := core.NewActivationID(start.Add(time.Duration(i) * time.Millisecond))
		ids = append(ids, id)
		a := &core.Activation{Namespace: "guest", Name: "a", Version: "0.0.1", Subject: "guest", ActivationID: id,
			Response: core.NewResponse(core.StatusSuccess, json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":"%0300d"}`, i, 0)))}
		if err := s.PutActivation(ctx, a); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if _, err := s.GetActivation(ctx, "guest", ids[0]); core.ErrorCodeOf(err) != core.CodeNotFound {
		t.Fatalf("the oldest record past the bound: %v, want not found", err)
	}
	last, err := s.GetActivation(ctx, "guest", ids[len(ids)-1])
	if err != nil || last.ActivationID != ids[len(ids)-1] {
		t.Fatalf("the newest record: %+v, %v", last, err)
	}
	info, err := s.activations.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes() > bound {
		t.Fatalf("the records take %d bytes, past the bound of %d", info.Bytes(), bound)
	}
}

// TestRecordsStream checks the stream behind the records bucket: made
// with the settings a KV config cannot carry, records readable as soon as
// they are stored and still there after a restart, and a bucket made
// before (by nats.go, with its defaults) opened without losing a record.
func TestRecordsStream(t *testing.T) {
	ctx := context.Background()
	record := func(i int) *core.Activation {
		id := core.NewActivationID(time.Now())
		return &core.Activation{Namespace: "guest", Name: "a", ActivationID: id, Response: core.NewResponse(core.StatusSuccess, json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))}
	}
	streamConfig := func(t *testing.T, b *queue.Broker) jetstream.StreamConfig {
		t.Helper()
		st, err := b.JetStream().Stream(ctx, recordsStream)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config
	}
	tests := []struct {
		name string
		// before makes the bucket as an earlier Wisp did, or not at all.
		before      func(t *testing.T, js jetstream.JetStream)
		wantPersist jetstream.PersistModeType
	}{
		{name: "new", wantPersist: jetstream.AsyncPersistMode},
		{name: "made by nats.go", wantPersist: jetstream.DefaultPersistMode, before: func(t *testing.T, js jetstream.JetStream) {
			kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ActivationsBucket, History: 1, TTL: time.Hour, Storage: jetstream.FileStorage})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(ctx, "guest.old", []byte(`{"activationId":"old"}`)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			b, err := queue.Open(ctx, queue.Config{StoreDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if tt.before != nil {
				tt.before(t, b.JetStream())
			}
			s, err := Open(ctx, b.JetStream(), Config{ActivationRetention: time.Hour, ActivationBytes: 8 << 20})
			if err != nil {
				b.Close()
				t.Fatal(err)
			}
			c := streamConfig(t, b)
			if c.PersistMode != tt.wantPersist || c.Discard != jetstream.DiscardOld || c.MaxAge != time.Hour || c.MaxBytes != 8<<20 || c.MaxMsgsPerSubject != 1 || !c.AllowDirect {
				t.Errorf("records stream: persist %v, discard %v, max age %v, max bytes %d, per subject %d, direct %v", c.PersistMode, c.Discard, c.MaxAge, c.MaxBytes, c.MaxMsgsPerSubject, c.AllowDirect)
			}
			var ids []string
			for i := range 20 {
				a := record(i)
				if err := s.PutActivation(ctx, a); err != nil {
					t.Fatal(err)
				}
				// Read at once: a stored record is readable before the
				// server has written it to its file.
				got, err := s.GetActivation(ctx, "guest", a.ActivationID)
				if err != nil || got.ActivationID != a.ActivationID {
					t.Fatalf("record %d right after storing it: %+v, %v", i, got, err)
				}
				ids = append(ids, a.ActivationID)
			}
			s.Close()
			b.Close()

			// After a restart, with another bound: every record is there,
			// the bound changed and the persist mode did not.
			b, err = queue.Open(ctx, queue.Config{StoreDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			s, err = Open(ctx, b.JetStream(), Config{ActivationRetention: 2 * time.Hour, ActivationBytes: 16 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i, id := range ids {
				got, err := s.GetActivation(ctx, "guest", id)
				if err != nil || string(got.Response.Result) != fmt.Sprintf(`{"i":%d}`, i) {
					t.Fatalf("record %d after a restart: %+v, %v", i, got, err)
				}
			}
			if tt.before != nil {
				if _, err := s.activations.Get(ctx, "guest.old"); err != nil {
					t.Fatalf("the record stored before: %v", err)
				}
			}
			c = streamConfig(t, b)
			if c.PersistMode != tt.wantPersist || c.MaxAge != 2*time.Hour || c.MaxBytes != 16<<20 {
				t.Errorf("records stream after a restart: persist %v, max age %v, max bytes %d", c.PersistMode, c.MaxAge, c.MaxBytes)
			}
		})
	}
}

// TestAsyncPuts checks PutActivationAsync's answers from a real embedded
// JetStream: each record's done is called once, with nil when the record
// is stored (and readable), with what went wrong when JetStream refuses it,
// when nothing listens on the subject, and when no answer comes in time;
// and a put after Close is refused at once.
func TestAsyncPuts(t *testing.T) {
	ctx := context.Background()
	b := testBroker(t)
	s, err := Open(ctx, b.JetStream(), Config{ActivationRetention: time.Hour, ActivationBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	// A subscriber that never answers: puts on its subject time out.
	silent, err := s.nc.Subscribe("silent.>", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Unsubscribe()
	quick, err := newAsyncPuts(s.nc, 50*time.Millisecond, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer quick.close()

	put := func(p *asyncPuts, subject string, data []byte) chan error {
		done := make(chan error, 2)
		if err := p.publish(subject, data, func(err error) { done <- err }); err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
		return done
	}
	wait := func(done chan error, once bool) error {
		select {
		case err := <-done:
			if once {
				select {
				case again := <-done:
					t.Errorf("done called twice: %v, then %v", err, again)
				case <-time.After(20 * time.Millisecond):
				}
			}
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("done was not called")
			return nil
		}
	}

	// Stored: many in flight at once, each readable once done.
	var ids []string
	var dones []chan error
	for i := range 200 {
		id := core.NewActivationID(time.Now())
		rec := fmt.Sprintf(`{"namespace":"guest","name":"a","activationId":%q,"response":{"status":"success","statusCode":0,"success":true,"result":{"i":%d}}}`, id, i)
		ids = append(ids, id)
		dones = append(dones, put(s.recordPuts, activationsSubjectPrefix+activationKey("guest", id), []byte(rec)))
	}
	for i, done := range dones {
		if err := wait(done, i == 0); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if a, err := s.GetActivation(ctx, "guest", ids[i]); err != nil || a.ActivationID != ids[i] {
			t.Fatalf("record %d after done: %+v, %v", i, a, err)
		}
	}

	failures := []struct {
		name    string
		p       *asyncPuts
		subject string
		data    []byte
		want    string
	}{
		{"no stream on the subject", s.recordPuts, "nostream.x", []byte(`{}`), "no responders"},
		{"no answer in time", quick, "silent.x", []byte(`{}`), "no acknowledgement from JetStream within 50ms"},
	}
	for _, f := range failures {
		err := wait(put(f.p, f.subject, f.data), true)
		if err == nil || !strings.Contains(err.Error(), f.want) || !strings.Contains(err.Error(), f.subject) {
			t.Errorf("%s: done(%v), want an error naming %s and saying %q", f.name, err, f.subject, f.want)
		}
	}

	// JetStream's own answers, read by ackError: a refusal (a put that
	// expects another last sequence of its subject) and a stored message.
	for _, tc := range []struct {
		expect string
		want   string // "" for no error
	}{
		{"999", "JetStream refused it: wrong last sequence"},
		{"0", ""},
	} {
		m := nats.NewMsg(activationsSubjectPrefix + activationKey("guest", "expect"+tc.expect))
		m.Data = []byte(`{}`)
		m.Header.Set("Nats-Expected-Last-Subject-Sequence", tc.expect)
		reply, err := s.nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		err = ackError(reply)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("JetStream answered %s to a put expecting sequence %s: ackError = %v, want %q", reply.Data, tc.expect, err, tc.want)
		}
	}

	s.Close()
	if err := s.PutActivationAsync("guest", "after", []byte(`{}`), func(error) { t.Error("done called for a refused put") }); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("put after Close: %v, want a refusal", err)
	}
}

// TestReadsWaitForPuts checks that every read of the records waits for
// the puts sent before it: an invoke answers its caller once the record is
// sent, and the caller may read it at once. A put that JetStream never
// answers (a silent subscriber on its subject) holds reads until it times
// out; a read whose context ends first says so and leaves no waiter
// behind; a record read straight after its put is there.
func TestReadsWaitForPuts(t *testing.T) {
	ctx := context.Background()
	s := storeWithQuickPuts(t, 100*time.Millisecond)

	// Stored records are readable at once, done or not.
	for i := range 100 {
		id := core.NewActivationID(time.Now())
		rec := fmt.Sprintf(`{"namespace":"guest","name":"a","activationId":%q,"response":{"status":"success","statusCode":0,"success":true,"result":{"i":%d}}}`, id, i)
		if err := s.PutActivationAsync("guest", id, []byte(rec), func(error) {}); err != nil {
			t.Fatal(err)
		}
		if a, err := s.GetActivation(ctx, "guest", id); err != nil || a.ActivationID != id {
			t.Fatalf("record %d read straight after its put: %+v, %v", i, a, err)
		}
	}

	reads := []struct {
		name string
		read func(context.Context) error
	}{
		{"GetActivation", func(ctx context.Context) error {
			_, err := s.GetActivation(ctx, "guest", core.NewActivationID(time.Now()))
			if core.ErrorCodeOf(err) == core.CodeNotFound {
				return nil
			}
			return err
		}},
		{"HasActivation", func(ctx context.Context) error {
			_, err := s.HasActivation(ctx, "guest", "x")
			return err
		}},
		{"ListActivations", func(ctx context.Context) error {
			_, err := s.ListActivations(ctx, "guest", ActivationFilter{Limit: 5})
			return err
		}},
		{"CountActivations", func(ctx context.Context) error {
			_, err := s.CountActivations(ctx, "guest", ActivationFilter{})
			return err
		}},
	}
	for _, r := range reads {
		// A put nobody answers, sent before the read: it fails once it
		// is older than the puts' time-out, not before.
		answered := make(chan struct{})
		sent := time.Now()
		if err := s.recordPuts.publish("silent.x", []byte(`{}`), func(error) { close(answered) }); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		err := r.read(short)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with a put pending and a context that ends first: %v, want the context's error", r.name, err)
		}
		if err := r.read(ctx); err != nil {
			t.Errorf("%s: %v", r.name, err)
		}
		if since := time.Since(sent); since < s.recordPuts.timeout {
			t.Errorf("%s returned %v after a put sent before it, which cannot have timed out yet (%v)", r.name, since, s.recordPuts.timeout)
		}
		select {
		case <-answered:
		case <-time.After(10 * time.Second):
			t.Fatalf("the silent put's done was not called")
		}
		s.recordPuts.mu.Lock()
		if n := len(s.recordPuts.waiters); n != 0 {
			t.Errorf("%s left %d waiters", r.name, n)
		}
		s.recordPuts.mu.Unlock()
	}
}

// TestAsyncPutsBatches checks that puts made while one is in flight wait
// for it and then go out together, and that a put JetStream never answers
// holds them only until it times out: they are stored, and readable, all
// the same.
func TestAsyncPutsBatches(t *testing.T) {
	ctx := context.Background()
	s := storeWithQuickPuts(t, 100*time.Millisecond)
	p := s.recordPuts

	silentDone := make(chan error, 1)
	if err := p.publish("silent.x", []byte(`{}`), func(err error) { silentDone <- err }); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var ids []string
	dones := make(chan error, n)
	buf := make([]byte, 0, 512)
	for i := range n {
		id := core.NewActivationID(time.Now())
		ids = append(ids, id)
		buf = fmt.Appendf(buf[:0], `{"namespace":"guest","name":"a","activationId":%q,"response":{"status":"success","statusCode":0,"success":true,"result":{"i":%d}}}`, id, i)
		if err := s.PutActivationAsync("guest", id, buf, func(err error) { dones <- err }); err != nil {
			t.Fatal(err)
		}
		// The caller's buffer is reused at once: a queued put keeps a copy.
		copy(buf, bytes.Repeat([]byte("x"), len(buf)))
	}
	p.mu.Lock()
	queued, inFlight := len(p.queued), p.inFlight
	p.mu.Unlock()
	if queued != n || inFlight != 1 {
		t.Errorf("with one put in flight: %d queued and %d in flight, want %d and 1", queued, inFlight, n)
	}
	if err := <-silentDone; err == nil || !strings.Contains(err.Error(), "no acknowledgement") {
		t.Errorf("the silent put: %v, want a time-out", err)
	}
	succeeded(t, dones, n, "put queued behind the silent one")
	for i, id := range ids {
		a, err := s.GetActivation(ctx, "guest", id)
		if err != nil || a.ActivationID != id || string(a.Response.Result) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Errorf("record %d: %+v, %v", i, a, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queued) != 0 || p.inFlight != 0 || len(p.pending) != 0 {
		t.Errorf("after every answer: %d queued, %d in flight, %d pending; want none", len(p.queued), p.inFlight, len(p.pending))
	}
	// The silent put took the first reply slot, and timed out: the slot is
	// retired. The others are free again.
	if len(p.slots) != n+1 || len(p.free) != n || slices.Contains(p.free, 0) {
		t.Errorf("after a time-out and %d answers: %d slots, %d free (%v); want %d, %d, without slot 0", n, len(p.slots), len(p.free), p.free, n+1, n)
	}
}

// TestAsyncPutsReplySlots checks that puts answered one after another
// share one reply subject, and that a late answer on the subject of a put
// that timed out settles no other put.
func TestAsyncPutsReplySlots(t *testing.T) {
	s := storeWithQuickPuts(t, 100*time.Millisecond)
	p := s.recordPuts
	for i := range 30 {
		id := core.NewActivationID(time.Now())
		done := make(chan error, 1)
		rec := fmt.Appendf(nil, `{"namespace":"guest","name":"a","activationId":%q,"response":{"status":"success","statusCode":0,"success":true,"result":{"i":%d}}}`, id, i)
		if err := s.PutActivationAsync("guest", id, rec, func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	p.mu.Lock()
	slots := len(p.slots)
	p.mu.Unlock()
	if slots != 1 {
		t.Errorf("30 puts one after another used %d reply slots, want 1", slots)
	}

	// A put that times out keeps its slot out of use.
	timedOut := make(chan error, 1)
	if err := p.publish("silent.a", []byte(`{}`), func(err error) { timedOut <- err }); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	retired := p.replies[p.pending[p.next].slot]
	p.mu.Unlock()
	if err := <-timedOut; err == nil {
		t.Fatal("a put nobody answers succeeded")
	}
	waiting := make(chan error, 1)
	if err := p.publish("silent.b", []byte(`{}`), func(err error) { waiting <- err }); err != nil {
		t.Fatal(err)
	}
	// JetStream's answer to the first put, late: it must not settle the
	// second, which must time out on its own.
	if err := s.nc.Publish(retired, []byte(`{"stream":"KV_WISP_ACTIVATIONS","seq":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err == nil || !strings.Contains(err.Error(), "no acknowledgement") {
		t.Errorf("a put after a late answer to another: %v, want its own time-out", err)
	}
}

// storeWithQuickPuts is a store on a real embedded JetStream whose record
// puts time out after timeout, and on whose connection something
// subscribes to "silent.>" and never answers: a put there waits until it
// times out.
func storeWithQuickPuts(t *testing.T, timeout time.Duration) *Store {
	t.Helper()
	return storeWithPuts(t, timeout, 0, true)
}

// storeWithPuts is storeWithQuickPuts with puts that gather for gather
// when nothing is in flight, and whose batches ask for one
// acknowledgement when roundAck is set (as on a single replica).
func storeWithPuts(t *testing.T, timeout, gather time.Duration, roundAck bool) *Store {
	t.Helper()
	ctx := context.Background()
	b := testBroker(t)
	s, err := Open(ctx, b.JetStream(), Config{ActivationRetention: time.Hour, ActivationBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	silent, err := s.nc.Subscribe("silent.>", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Unsubscribe() })
	s.recordPuts.close()
	if s.recordPuts, err = newAsyncPuts(s.nc, timeout, gather, roundAck); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAsyncPutsGather checks that a put made with nothing in flight waits
// for others, and that the gathered puts go out together: at the end of
// the window, at once when a read needs them, when they add up to
// maxGatherBytes, and when the store closes. The windows here are an hour
// long except the last, so that only the event under test can send them.
func TestAsyncPutsGather(t *testing.T) {
	ctx := context.Background()
	record := func(id string, i int, pad int) []byte {
		return fmt.Appendf(nil, `{"namespace":"guest","name":"a","activationId":%q,"response":{"status":"success","statusCode":0,"success":true,"result":{"i":%d,"pad":%q}}}`, id, i, strings.Repeat("p", pad))
	}
	// putAll puts n records of about size bytes and returns their ids and
	// a channel of their answers.
	putAll := func(t *testing.T, s *Store, n, size int) ([]string, chan error) {
		t.Helper()
		dones := make(chan error, n)
		var ids []string
		for i := range n {
			id := core.NewActivationID(time.Now())
			ids = append(ids, id)
			if err := s.PutActivationAsync("guest", id, record(id, i, size), func(err error) { dones <- err }); err != nil {
				t.Fatal(err)
			}
		}
		return ids, dones
	}
	gathering := func(p *asyncPuts) (bool, int, int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.gathering, len(p.queued), p.inFlight
	}

	t.Run("a read sends them", func(t *testing.T) {
		s := storeWithPuts(t, time.Minute, time.Hour, true)
		ids, dones := putAll(t, s, 5, 10)
		if on, queued, inFlight := gathering(s.recordPuts); !on || queued != 5 || inFlight != 0 {
			t.Fatalf("5 puts in an hour's window: gathering %v, %d queued, %d in flight; want true, 5, 0", on, queued, inFlight)
		}
		select {
		case err := <-dones:
			t.Fatalf("a put was answered (%v) while its window was open and nothing read", err)
		default:
		}
		// A read that waited for the window would give up here.
		readCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		for i, id := range ids {
			a, err := s.GetActivation(readCtx, "guest", id)
			if err != nil || a.ActivationID != id || !strings.Contains(string(a.Response.Result), fmt.Sprintf(`"i":%d`, i)) {
				t.Errorf("record %d read during its window: %+v, %v", i, a, err)
			}
		}
		succeeded(t, dones, 5, "gathered put")
		if on, queued, inFlight := gathering(s.recordPuts); on || queued != 0 || inFlight != 0 {
			t.Errorf("after the read: gathering %v, %d queued, %d in flight; want none", on, queued, inFlight)
		}
	})

	t.Run("a full window sends them", func(t *testing.T) {
		s := storeWithPuts(t, time.Minute, time.Hour, true)
		const size = 40 << 10
		n := maxGatherBytes/size + 1
		ids, dones := putAll(t, s, n, size)
		succeeded(t, dones, n, "gathered put")
		// Read straight from the bucket, not through GetActivation, which
		// would send them itself.
		for i, id := range ids {
			if _, err := s.activations.Get(ctx, activationKey("guest", id)); err != nil {
				t.Errorf("record %d of a full window: %v", i, err)
			}
		}
	})

	t.Run("close sends them", func(t *testing.T) {
		s := storeWithPuts(t, time.Minute, time.Hour, true)
		ids, dones := putAll(t, s, 3, 10)
		s.recordPuts.close()
		succeeded(t, dones, 3, "gathered put")
		for i, id := range ids {
			if _, err := s.activations.Get(ctx, activationKey("guest", id)); err != nil {
				t.Errorf("record %d gathered when the store closed: %v", i, err)
			}
		}
	})

	t.Run("the window's end sends them", func(t *testing.T) {
		s := storeWithPuts(t, time.Minute, 20*time.Millisecond, true)
		ids, dones := putAll(t, s, 3, 10)
		succeeded(t, dones, 3, "gathered put")
		for i, id := range ids {
			if _, err := s.activations.Get(ctx, activationKey("guest", id)); err != nil {
				t.Errorf("record %d after its window: %v", i, err)
			}
		}
		// A second window, and a third, begin with the next put.
		for round := range 2 {
			ids, dones := putAll(t, s, 2, 10)
			succeeded(t, dones, 2, "gathered put")
			if _, err := s.activations.Get(ctx, activationKey("guest", ids[1])); err != nil {
				t.Errorf("window %d: %v", round+2, err)
			}
		}
	})

	t.Run("configured", func(t *testing.T) {
		b := testBroker(t)
		for _, tc := range []struct {
			gather, want time.Duration
		}{{0, DefaultRecordGather}, {-1, 0}, {time.Second, time.Second}} {
			s, err := Open(ctx, b.JetStream(), Config{RecordGather: tc.gather})
			if err != nil {
				t.Fatal(err)
			}
			if s.recordPuts.gather != tc.want {
				t.Errorf("RecordGather %v: a window of %v, want %v", tc.gather, s.recordPuts.gather, tc.want)
			}
			s.Close()
		}
	})
}

// TestAsyncPutsRoundAck checks that, on a single replica, a batch of puts
// asks JetStream for one acknowledgement, on its last put, whose answer
// settles every put of the batch: stored, refused, or unanswered.
func TestAsyncPutsRoundAck(t *testing.T) {
	ctx := context.Background()
	record := func(id string, i int) []byte {
		return fmt.Appendf(nil, `{"namespace":"guest","name":"a","activationId":%q,"response":{"status":"success","statusCode":0,"success":true,"result":{"i":%d}}}`, id, i)
	}
	// put queues a record, or data on subject when subject is set, and
	// returns the channel of its answer.
	put := func(t *testing.T, s *Store, subject string, data []byte) chan error {
		t.Helper()
		done := make(chan error, 1)
		var err error
		if subject == "" {
			id := core.NewActivationID(time.Now())
			err = s.PutActivationAsync("guest", id, record(id, 0), func(err error) { done <- err })
		} else {
			err = s.recordPuts.publish(subject, data, func(err error) { done <- err })
		}
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	// send ends the round's window and waits for its answers.
	send := func(t *testing.T, s *Store) {
		t.Helper()
		if err := s.recordPuts.settled(ctx); err != nil {
			t.Fatal(err)
		}
	}
	answers := func(p *asyncPuts) int64 {
		n, err := p.sub.Delivered()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, tc := range []struct {
		roundAck bool
		want     int64
	}{{true, 1}, {false, 10}} {
		t.Run(fmt.Sprintf("acknowledgements of a batch of 10, roundAck %v", tc.roundAck), func(t *testing.T) {
			s := storeWithPuts(t, time.Minute, time.Hour, tc.roundAck)
			var ids []string
			var dones []chan error
			for i := range 10 {
				id := core.NewActivationID(time.Now())
				ids = append(ids, id)
				done := make(chan error, 1)
				if err := s.PutActivationAsync("guest", id, record(id, i), func(err error) { done <- err }); err != nil {
					t.Fatal(err)
				}
				dones = append(dones, done)
			}
			send(t, s)
			for i, done := range dones {
				if err := <-done; err != nil {
					t.Errorf("put %d: %v", i, err)
				}
			}
			if n := answers(s.recordPuts); n != tc.want {
				t.Errorf("JetStream answered %d times, want %d", n, tc.want)
			}
			for i, id := range ids {
				a, err := s.GetActivation(ctx, "guest", id)
				if err != nil || string(a.Response.Result) != fmt.Sprintf(`{"i":%d}`, i) {
					t.Errorf("record %d: %+v, %v", i, a, err)
				}
			}
			p := s.recordPuts
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.pending) != 0 || p.inFlight != 0 || len(p.free) != len(p.slots) {
				t.Errorf("after the batch: %d pending, %d in flight, %d of %d slots free; want 0, 0, all", len(p.pending), p.inFlight, len(p.free), len(p.slots))
			}
		})
	}

	// The first two puts of each batch here are stored, but the answer
	// that would say so refuses, or never comes: nothing tells, and a
	// record is never said stored when it may not be.
	for _, tc := range []struct {
		name, last, want string
		timeout          time.Duration
	}{
		{"a refused last put fails the batch", "refuse.x", "refused by the test", time.Minute},
		{"an unanswered last put times the batch out", "silent.x", "no acknowledgement", 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := storeWithPuts(t, tc.timeout, time.Hour, true)
			refuse, err := s.nc.Subscribe("refuse.>", func(m *nats.Msg) {
				_ = m.Respond([]byte(`{"error":{"code":503,"err_code":10077,"description":"refused by the test"}}`))
			})
			if err != nil {
				t.Fatal(err)
			}
			defer refuse.Unsubscribe()
			dones := []chan error{put(t, s, "", nil), put(t, s, "", nil), put(t, s, tc.last, []byte(`{}`))}
			send(t, s)
			for i, done := range dones {
				if err := <-done; err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("put %d: %v, want %q", i, err, tc.want)
				}
			}
		})
	}

	// Puts queued behind one nobody answers go out once it times out,
	// in batches no larger than maxBatchPuts and maxBatchBytes.
	for _, tc := range []struct {
		name    string
		n, size int
	}{
		{"a batch holds at most maxBatchPuts", maxBatchPuts + 5, 100},
		{"a batch holds at most maxBatchBytes", 3, 7 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Long enough for JetStream to store a batch of 10,000 on a
			// busy machine; the silent put holds the others as long.
			s := storeWithPuts(t, 2*time.Second, 0, true)
			silent := put(t, s, "silent.x", []byte(`{}`))
			var dones []chan error
			for i := range tc.n {
				dones = append(dones, put(t, s, fmt.Sprintf("%sbatch.%d", activationsSubjectPrefix, i), bytes.Repeat([]byte("x"), tc.size)))
			}
			if err := <-silent; err == nil {
				t.Fatal("a put nobody answers succeeded")
			}
			for i, done := range dones {
				if err := <-done; err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
			}
			if n := answers(s.recordPuts); n != 2 {
				t.Errorf("JetStream answered %d times, want 2 (two batches)", n)
			}
		})
	}

	t.Run("a record too large for the connection fails alone", func(t *testing.T) {
		// A put nobody answers holds the others in a batch behind it
		// until it times out (without a window: a large record would
		// close it early).
		s := storeWithPuts(t, 200*time.Millisecond, 0, true)
		silent := put(t, s, "silent.x", []byte(`{}`))
		huge := make([]byte, s.nc.MaxPayload()+1)
		// Too large in the middle, and last: the put before it asks.
		dones := []chan error{put(t, s, "", nil), put(t, s, activationsSubjectPrefix+"huge.a", huge), put(t, s, "", nil), put(t, s, activationsSubjectPrefix+"huge.b", huge)}
		if err := <-silent; err == nil {
			t.Fatal("a put nobody answers succeeded")
		}
		for i, done := range dones {
			err := <-done
			if tooLarge := i == 1 || i == 3; tooLarge != errors.Is(err, nats.ErrMaxPayload) || (!tooLarge && err != nil) {
				t.Errorf("put %d: %v", i, err)
			}
		}
		if n := answers(s.recordPuts); n != 1 {
			t.Errorf("JetStream answered %d times, want 1", n)
		}
	})
}
