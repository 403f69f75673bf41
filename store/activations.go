package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
// PutActivationAsync returns an error, done is not called.
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
// one's done when JetStream answers.
type asyncPuts struct {
	js      jetstream.JetStream
	mu      sync.Mutex
	pending map[*nats.Msg]func(error)
}

func newAsyncPuts(nc *nats.Conn) (*asyncPuts, error) {
	p := &asyncPuts{pending: map[*nats.Msg]func(error){}}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { p.finish(m, nil) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { p.finish(m, err) }),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("open JetStream for records: %w", err)
	}
	p.js = js
	return p, nil
}

func (p *asyncPuts) publish(subject string, data []byte, done func(error)) error {
	m := &nats.Msg{Subject: subject, Data: data}
	p.mu.Lock()
	p.pending[m] = done
	p.mu.Unlock()
	if _, err := p.js.PublishMsgAsync(m); err != nil {
		p.mu.Lock()
		delete(p.pending, m)
		p.mu.Unlock()
		return fmt.Errorf("store %s: %w", subject, err)
	}
	return nil
}

func (p *asyncPuts) finish(m *nats.Msg, err error) {
	p.mu.Lock()
	done := p.pending[m]
	delete(p.pending, m)
	p.mu.Unlock()
	if done == nil {
		return
	}
	if err != nil {
		err = fmt.Errorf("store %s: %w", m.Subject, err)
	}
	done(err)
}

// GetActivation returns activation id of namespace ns, or a CodeNotFound
// error (also for an id that is malformed or has expired).
func (s *Store) GetActivation(ctx context.Context, ns, id string) (*core.Activation, error) {
	if !core.ValidActivationID(id) {
		return nil, core.NotFound()
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
	_, err := s.activations.Get(ctx, activationKey(ns, id))
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read activation %s: %w", id, err)
	}
	return true, nil
}

// ActivationFilter selects activations to list.
type ActivationFilter struct {
	// Name keeps only activations of this action ("name" or "pkg/name").
	Name string
	// Since and Upto bound the start time (Unix milliseconds, inclusive);
	// 0 means unbounded.
	Since, Upto int64
	Limit, Skip int
}

// ListActivations returns the activations of namespace ns that match f,
// newest first. Activation ids begin with their creation time, so the
// keys sort by age without reading the records; only as many records as
// the page needs are read.
func (s *Store) ListActivations(ctx context.Context, ns string, f ActivationFilter) ([]*core.Activation, error) {
	prefix := enc(ns) + "."
	lister, err := s.activations.ListKeysFiltered(ctx, prefix+"*")
	if err != nil {
		return nil, fmt.Errorf("list activations of %s: %w", ns, err)
	}
	var ids []string
	for key := range lister.Keys() {
		ids = append(ids, strings.TrimPrefix(key, prefix))
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))

	out := []*core.Activation{}
	skipped := 0
	for _, id := range ids {
		if f.Limit > 0 && len(out) >= f.Limit {
			break
		}
		// The id's time is when the activation was queued, never after
		// it started: ids newer than Upto cannot match.
		if f.Upto > 0 && idTime(id) > f.Upto {
			continue
		}
		a, err := s.GetActivation(ctx, ns, id)
		if err != nil {
			if core.ErrorCodeOf(err) == core.CodeNotFound {
				continue // expired between listing and reading
			}
			return nil, err
		}
		if f.Name != "" && activationEntity(a) != f.Name && a.Name != f.Name {
			continue
		}
		if (f.Since > 0 && a.Start < f.Since) || (f.Upto > 0 && a.Start > f.Upto) {
			continue
		}
		if skipped < f.Skip {
			skipped++
			continue
		}
		out = append(out, a)
	}
	return out, nil
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
