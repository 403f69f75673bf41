package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/wispfaas/wisp/core"
)

func namespaceKey(name string) string { return "ns." + enc(name) }

// CreateNamespace creates namespace name with the given credentials, or
// fresh ones when auth is "". It fails with CodeConflict when the namespace
// exists or the UUID is taken, and CodeInvalid for a bad name or auth.
func (s *Store) CreateNamespace(ctx context.Context, name, auth string) (*core.Namespace, error) {
	if err := core.ValidateName("namespace name", name); err != nil {
		return nil, err
	}
	if name == core.DefaultNamespace {
		return nil, core.Errorf(core.CodeInvalid, "The namespace name %q is reserved.", name)
	}
	ns := &core.Namespace{Name: name, Created: time.Now().UnixMilli()}
	if auth == "" {
		ns.UUID, ns.Key = core.NewCredentials()
	} else {
		var err error
		if ns.UUID, ns.Key, err = core.ParseAuth(auth); err != nil {
			return nil, err
		}
	}
	if other := s.namespaceByUUID(ns.UUID); other != nil {
		return nil, core.Errorf(core.CodeConflict, "The UUID %s already belongs to namespace %q.", ns.UUID, other.Name)
	}
	data, err := json.Marshal(ns)
	if err != nil {
		return nil, fmt.Errorf("encode namespace %s: %w", name, err)
	}
	rev, err := s.auth.Create(ctx, namespaceKey(name), data)
	if isConflict(err) {
		return nil, core.Errorf(core.CodeConflict, "The namespace %q already exists.", name)
	}
	if err != nil {
		return nil, fmt.Errorf("store namespace %s: %w", name, err)
	}
	s.namespaces.set(namespaceKey(name), ns, rev)
	return ns, nil
}

// GetNamespace returns namespace name, or a CodeNotFound error.
func (s *Store) GetNamespace(_ context.Context, name string) (*core.Namespace, error) {
	ns, _ := s.namespaces.get(namespaceKey(name))
	if ns == nil {
		return nil, core.Errorf(core.CodeNotFound, "The namespace %q does not exist.", name)
	}
	return ns, nil
}

// ListNamespaces returns every namespace, sorted by name.
func (s *Store) ListNamespaces(_ context.Context) []*core.Namespace {
	var out []*core.Namespace
	s.namespaces.each(func(_ string, ns *core.Namespace) { out = append(out, ns) })
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DeleteNamespace removes namespace name and so revokes its key. Its
// actions and activations stay, reachable again if the namespace is
// created anew. It fails with CodeNotFound when there is no such namespace.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	key := namespaceKey(name)
	ns, rev := s.namespaces.get(key)
	if ns == nil {
		return core.Errorf(core.CodeNotFound, "The namespace %q does not exist.", name)
	}
	if err := s.auth.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	s.namespaces.set(key, nil, rev+1)
	return nil
}

// Authenticate returns the namespace whose credentials are uuid and key,
// or a CodeUnauthorized error. It reads only memory.
func (s *Store) Authenticate(uuid, key string) (*core.Namespace, error) {
	ns := s.namespaceByUUID(uuid)
	if ns == nil || !ns.Matches(key) {
		return nil, &core.Error{Code: core.CodeUnauthorized, Message: core.MsgUnauthorized}
	}
	return ns, nil
}

// namespaceByUUID is the namespace whose credentials have uuid, or nil:
// a map read, however many namespaces there are (every authenticated
// request asks).
func (s *Store) namespaceByUUID(uuid string) *core.Namespace { return s.namespaces.lookup(uuid) }

// namespaceUUID is what the namespaces' cache indexes them by.
func namespaceUUID(ns *core.Namespace) string { return ns.UUID }
