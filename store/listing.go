package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wispfaas/wisp/core"
)

// ActivationFilter selects activations to list.
type ActivationFilter struct {
	// Name keeps only activations of this action ("name" or "pkg/name").
	Name string
	// Since and Upto bound the start time (Unix milliseconds, inclusive);
	// 0 means unbounded.
	Since, Upto int64
	Limit, Skip int
}

// needsRecords reports whether telling a match from a non-match takes
// reading the record (its action or its start), not only its id.
func (f ActivationFilter) needsRecords() bool { return f.Name != "" || f.Since > 0 || f.Upto > 0 }

// clockSkew is how far apart the clocks of the nodes of a cluster may be:
// the time a record was stored comes from the stream's server, the start
// and the id's time from the invoker's and the gateway's.
const clockSkew = 500 * time.Millisecond

// listWindows are the spans of the most recent records that a newest-first
// page is looked for in, one after the other, until one holds the whole
// page; the last, 0, looks at every record. A page of a busy namespace is
// found among the last two seconds' records, and a quiet one costs a few
// small reads of nearly nothing.
var listWindows = []time.Duration{2 * time.Second, 10 * time.Second, time.Minute, 10 * time.Minute, time.Hour, 24 * time.Hour, 0}

// ListActivations returns the activations of namespace ns that match f,
// newest first (by id: an id begins with the time its activation was
// queued).
//
// It does not read every record of the namespace, nor list every key:
// the records' stream keeps them in the order they were stored, which a
// consumer can start at a time. With f.Since, only the records stored
// since then are looked at (a record is stored after its activation
// started): a `wisp activation poll` reads the records of its last
// minutes, not all those kept. Without it, a page is looked for among
// the records stored in the last two seconds, then ten seconds, and so on
// (listWindows): a window holds the page when the page is full and its
// oldest id is newer than the window, because a record stored before the
// window was queued before it too. Only the records the page needs are
// read.
func (s *Store) ListActivations(ctx context.Context, ns string, f ActivationFilter) ([]*core.Activation, error) {
	if err := s.recordPuts.settled(ctx); err != nil {
		return nil, fmt.Errorf("list activations of %s: %w", ns, err)
	}
	switch {
	case f.Since > 0:
		return s.listFrom(ctx, ns, f, time.UnixMilli(f.Since).Add(-clockSkew))
	case f.Limit <= 0:
		return s.listFrom(ctx, ns, f, time.Time{}) // every match: look at everything
	}
	now := time.Now()
	for _, w := range listWindows[:len(listWindows)-1] {
		from := now.Add(-w)
		page, err := s.listFrom(ctx, ns, f, from)
		if err != nil {
			return nil, err
		}
		if len(page) == f.Limit && idTime(page[len(page)-1].ActivationID) > from.Add(clockSkew).UnixMilli() {
			return page, nil
		}
	}
	return s.listFrom(ctx, ns, f, time.Time{}) // the last window: every record
}

// listFrom is the page of f among the records of ns stored at or after
// from (every record when from is zero).
func (s *Store) listFrom(ctx context.Context, ns string, f ActivationFilter, from time.Time) ([]*core.Activation, error) {
	ids, err := s.recordIDs(ctx, ns, from)
	if err != nil {
		return nil, fmt.Errorf("list activations of %s: %w", ns, err)
	}
	page, err := s.pageOf(ctx, ns, ids, f)
	if err != nil {
		return nil, fmt.Errorf("list activations of %s: %w", ns, err)
	}
	return page, nil
}

// CountActivations is how many activations of namespace ns match f (its
// Limit and Skip aside). Without a filter that needs the records, it
// counts their keys and reads none.
func (s *Store) CountActivations(ctx context.Context, ns string, f ActivationFilter) (int, error) {
	f.Limit, f.Skip = 0, 0
	if err := s.recordPuts.settled(ctx); err != nil {
		return 0, fmt.Errorf("count activations of %s: %w", ns, err)
	}
	if f.needsRecords() {
		list, err := s.ListActivations(ctx, ns, f)
		return len(list), err
	}
	ids, err := s.recordIDs(ctx, ns, time.Time{})
	if err != nil {
		return 0, fmt.Errorf("count activations of %s: %w", ns, err)
	}
	return len(ids), nil
}

// pageOf reads, newest first, the records of ids that match f, skipping
// f.Skip matches and stopping at f.Limit (none when 0).
func (s *Store) pageOf(ctx context.Context, ns string, ids []string, f ActivationFilter) ([]*core.Activation, error) {
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(b, a) })
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
		if !f.needsRecords() && skipped < f.Skip {
			skipped++ // every id matches: no need to read what is skipped
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

// recordIDs returns the ids of the records of namespace ns stored at or
// after from (every record when from is zero), in no particular order.
// It reads their subjects only, through a consumer of the records' stream
// that lives for this call, starting at from: the server finds where that
// is without reading what comes before.
func (s *Store) recordIDs(ctx context.Context, ns string, from time.Time) ([]string, error) {
	prefix := activationsSubjectPrefix + enc(ns) + "."
	cfg := jetstream.ConsumerConfig{
		FilterSubject:     prefix + "*",
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       true,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // should the delete below not reach the server
	}
	if !from.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = &from
	}
	cons, err := s.records.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open a consumer of the records: %w", err)
	}
	info := cons.CachedInfo()
	defer func() {
		// Not ctx: a cancelled request must not leave the consumer behind.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.records.DeleteConsumer(dctx, info.Name)
	}()
	// What is pending at the consumer's creation is what there is to read;
	// records stored since then are not waited for.
	pending := int(info.NumPending)
	ids := make([]string, 0, pending)
	for read := 0; read < pending; {
		if err := ctx.Err(); err != nil {
			return nil, err // the caller has gone: stop reading
		}
		batch, err := cons.FetchNoWait(min(pending-read, 4096))
		if err != nil {
			return nil, fmt.Errorf("read the records' keys: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				continue
			}
			if id, ok := strings.CutPrefix(m.Subject(), prefix); ok && core.ValidActivationID(id) {
				ids = append(ids, id)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read the records' keys: %w", err)
		}
		if n == 0 {
			break // the rest expired meanwhile
		}
		read += n
	}
	return ids, nil
}
