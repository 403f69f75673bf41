// Package store keeps Wisp's entities (namespaces, actions) and activation
// records in JetStream KV buckets. Entities are mirrored in memory by KV
// watchers, so reads on the invoke path cost no round trip; activation
// records expire after a configurable retention age.
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wispfaas/wisp/core"
)

// Bucket names.
const (
	EntitiesBucket    = "WISP_ENTITIES"
	ActivationsBucket = "WISP_ACTIVATIONS"
	AuthBucket        = "WISP_AUTH"
)

// DefaultActivationRetention is how long activation records are kept.
const DefaultActivationRetention = 7 * 24 * time.Hour

// DefaultActivationBytes bounds the storage of activation records: about
// a million records of a kilobyte, whose index costs JetStream about
// 110 bytes of memory each (docs/rationale.md).
const DefaultActivationBytes = 1 << 30

// Config configures a Store. Immutable once passed to Open.
type Config struct {
	// ActivationRetention is the age after which activation records are
	// removed; 0 means DefaultActivationRetention.
	ActivationRetention time.Duration
	// ActivationBytes bounds the bytes of activation records kept: past
	// it the oldest are removed first, as if they had expired; 0 means
	// DefaultActivationBytes.
	ActivationBytes int64
	// Replicas of each bucket: 1 embedded, 3 on a cluster.
	Replicas int
	Logger   *slog.Logger
}

// Store reads and writes entities and activation records. Open builds it,
// Close stops its watchers. Safe for concurrent use.
type Store struct {
	entities    jetstream.KeyValue
	activations jetstream.KeyValue
	auth        jetstream.KeyValue
	nc          *nats.Conn
	recordPuts  *asyncPuts
	actions     *kvCache[core.Action]
	namespaces  *kvCache[core.Namespace]
	log         *slog.Logger
}

// Open creates the buckets when missing and loads the entity caches.
// An existing activations bucket has its retention and bound set to cfg's
// (a smaller bound removes the oldest records at once).
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.ActivationRetention == 0 {
		cfg.ActivationRetention = DefaultActivationRetention
	}
	if cfg.ActivationBytes == 0 {
		cfg.ActivationBytes = DefaultActivationBytes
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log}
	var err error
	open := func(c jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
		c.Replicas = cfg.Replicas
		c.Storage = jetstream.FileStorage
		kv, err := js.CreateOrUpdateKeyValue(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("open bucket %s: %w", c.Bucket, err)
		}
		return kv, nil
	}
	if s.entities, err = open(jetstream.KeyValueConfig{Bucket: EntitiesBucket, Description: "Wisp actions and other entities", History: 1}); err != nil {
		return nil, err
	}
	if s.auth, err = open(jetstream.KeyValueConfig{Bucket: AuthBucket, Description: "Wisp namespaces and their credentials", History: 1}); err != nil {
		return nil, err
	}
	if s.activations, err = open(jetstream.KeyValueConfig{Bucket: ActivationsBucket, Description: "Wisp activation records", History: 1, TTL: cfg.ActivationRetention, MaxBytes: cfg.ActivationBytes}); err != nil {
		return nil, err
	}
	if err := discardOldest(ctx, js, "KV_"+ActivationsBucket); err != nil {
		return nil, err
	}
	s.nc = js.Conn()
	if s.recordPuts, err = newAsyncPuts(s.nc); err != nil {
		return nil, err
	}
	if s.actions, err = watchKV[core.Action](ctx, s.entities, "actions.>", log); err != nil {
		return nil, err
	}
	if s.namespaces, err = watchKV[core.Namespace](ctx, s.auth, "ns.>", log); err != nil {
		s.actions.stop()
		return nil, err
	}
	return s, nil
}

// discardOldest makes the stream behind a bucket drop its oldest values
// when it is full, where a KV bucket refuses new ones: a full activations
// bucket must not fail activations, only forget the oldest records.
// nats.go sets DiscardNew on every create or update of a bucket.
func discardOldest(ctx context.Context, js jetstream.JetStream, stream string) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", stream, err)
	}
	c := st.CachedInfo().Config
	if c.Discard == jetstream.DiscardOld {
		return nil
	}
	c.Discard = jetstream.DiscardOld
	if _, err := js.UpdateStream(ctx, c); err != nil {
		return fmt.Errorf("let stream %s drop its oldest values when full: %w", stream, err)
	}
	return nil
}

// Close stops the watchers. The buckets stay as they are.
func (s *Store) Close() {
	s.actions.stop()
	s.namespaces.stop()
}

// enc makes any name safe as one token of a KV key.
func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
