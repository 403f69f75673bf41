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
	// RecordGather is how long activation records are gathered before
	// they are sent to JetStream together (a round's window opens with
	// its first record); 0 means DefaultRecordGather, a negative value
	// sends a record at once when none is in flight. Reads of the records
	// never wait for it: they send what is gathered.
	RecordGather time.Duration
	Logger       *slog.Logger
}

// Store reads and writes entities and activation records. Open builds it,
// Close stops its watchers. Safe for concurrent use.
type Store struct {
	entities    jetstream.KeyValue
	activations jetstream.KeyValue
	records     jetstream.Stream // the activations bucket's stream
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
	if cfg.RecordGather == 0 {
		cfg.RecordGather = DefaultRecordGather
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
	if s.activations, s.records, err = openRecords(ctx, js, cfg); err != nil {
		return nil, err
	}
	s.nc = js.Conn()
	if s.recordPuts, err = newAsyncPuts(s.nc, asyncPutTimeout, max(cfg.RecordGather, 0), cfg.Replicas == 1); err != nil {
		return nil, err
	}
	if s.actions, err = watchKV[core.Action](ctx, s.entities, "actions.>", log, nil); err != nil {
		return nil, err
	}
	if s.namespaces, err = watchKV[core.Namespace](ctx, s.auth, "ns.>", log, namespaceUUID); err != nil {
		s.actions.stop()
		return nil, err
	}
	return s, nil
}

// recordsStream is the stream behind the activations bucket.
const recordsStream = "KV_" + ActivationsBucket

// openRecords opens the activation records' bucket, creating it when
// missing. Its stream is written here, in the shape nats.go gives a KV
// bucket, for two settings a KeyValueConfig cannot carry:
//   - DiscardOld: a full bucket drops its oldest records, where a KV
//     bucket refuses new ones; a full store must not fail activations.
//   - AsyncPersistMode, on a single replica: the stream acknowledges a
//     record once it is in the server's write buffer, written to its file
//     within milliseconds, rather than after a write of its own. The
//     server reads back from that buffer, so a record can be read at once;
//     only a crash of the process in those milliseconds loses it
//     (docs/rationale.md). A replicated stream is already written in
//     batches behind its Raft log and refuses the setting.
//
// The persist mode can only be chosen when a stream is created; a bucket
// made before keeps its own.
func openRecords(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, jetstream.Stream, error) {
	want := jetstream.StreamConfig{
		Name:              recordsStream,
		Description:       "Wisp activation records",
		Subjects:          []string{"$KV." + ActivationsBucket + ".>"},
		MaxMsgsPerSubject: 1,
		MaxBytes:          cfg.ActivationBytes,
		MaxAge:            cfg.ActivationRetention,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
		AllowRollup:       true,
		DenyDelete:        true,
		AllowDirect:       true,
		Duplicates:        min(2*time.Minute, cfg.ActivationRetention),
		Discard:           jetstream.DiscardOld,
	}
	if cfg.Replicas == 1 {
		want.PersistMode = jetstream.AsyncPersistMode
	}
	st, err := js.Stream(ctx, recordsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another node made it meanwhile: update it as below.
			st, err = js.Stream(ctx, recordsStream)
		} else if err != nil {
			return nil, nil, fmt.Errorf("create bucket %s: %w", ActivationsBucket, err)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open bucket %s: %w", ActivationsBucket, err)
	}
	if st != nil {
		have := st.CachedInfo().Config
		want.PersistMode = have.PersistMode
		if _, err := js.UpdateStream(ctx, want); err != nil {
			return nil, nil, fmt.Errorf("update bucket %s to a retention of %s and a bound of %d bytes: %w", ActivationsBucket, cfg.ActivationRetention, cfg.ActivationBytes, err)
		}
	}
	kv, err := js.KeyValue(ctx, ActivationsBucket)
	if err != nil {
		return nil, nil, fmt.Errorf("open bucket %s: %w", ActivationsBucket, err)
	}
	if st, err = js.Stream(ctx, recordsStream); err != nil {
		return nil, nil, fmt.Errorf("open bucket %s: %w", ActivationsBucket, err)
	}
	return kv, st, nil
}

// Close stops the watchers. The buckets stay as they are.
func (s *Store) Close() {
	s.actions.stop()
	s.namespaces.stop()
	s.recordPuts.close()
}

// enc makes any name safe as one token of a KV key.
func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
}

func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
