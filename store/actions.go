package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/wispfaas/wisp/core"
)

func actionKey(p core.EntityPath) string {
	return "actions." + enc(p.Namespace) + "." + enc(p.Relative())
}

// GetAction returns the action at p, or a CodeNotFound error. It reads
// only memory.
func (s *Store) GetAction(_ context.Context, p core.EntityPath) (*core.Action, error) {
	a, _ := s.actions.get(actionKey(p))
	if a == nil {
		return nil, core.NotFound()
	}
	return a, nil
}

// PutAction creates or replaces the action at p. build receives the
// current action (nil when there is none) and returns the one to store;
// its error is returned as is. Without overwrite an existing action is a
// CodeConflict error. Concurrent writers are serialised by the KV revision:
// build may run again if another writer got there first.
func (s *Store) PutAction(ctx context.Context, p core.EntityPath, overwrite bool, build func(old *core.Action) (*core.Action, error)) (*core.Action, error) {
	key := actionKey(p)
	for attempt := 0; attempt < 5; attempt++ {
		var old *core.Action
		var rev uint64
		entry, err := s.entities.Get(ctx, key)
		switch {
		case err == nil:
			old = new(core.Action)
			if err := json.Unmarshal(entry.Value(), old); err != nil {
				return nil, fmt.Errorf("decode stored action %s: %w", p, err)
			}
			rev = entry.Revision()
		case isNotFound(err):
		default:
			return nil, fmt.Errorf("read action %s: %w", p, err)
		}
		if old != nil && !overwrite {
			return nil, core.Errorf(core.CodeConflict, core.MsgConflict)
		}
		a, err := build(old)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("encode action %s: %w", p, err)
		}
		var newRev uint64
		if old == nil {
			newRev, err = s.entities.Create(ctx, key, data)
		} else {
			newRev, err = s.entities.Update(ctx, key, data, rev)
		}
		if isConflict(err) {
			continue // someone else wrote it meanwhile: decide again
		}
		if err != nil {
			return nil, fmt.Errorf("store action %s: %w", p, err)
		}
		s.actions.set(key, a, newRev)
		return a, nil
	}
	return nil, core.Errorf(core.CodeConflict, "The action %s is being changed by others at the same time; try again.", p)
}

// DeleteAction removes the action at p and returns what it was, or a
// CodeNotFound error.
func (s *Store) DeleteAction(ctx context.Context, p core.EntityPath) (*core.Action, error) {
	key := actionKey(p)
	entry, err := s.entities.Get(ctx, key)
	if isNotFound(err) {
		return nil, core.NotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("read action %s: %w", p, err)
	}
	var a core.Action
	if err := json.Unmarshal(entry.Value(), &a); err != nil {
		return nil, fmt.Errorf("decode stored action %s: %w", p, err)
	}
	if err := s.entities.Delete(ctx, key); err != nil {
		return nil, fmt.Errorf("delete action %s: %w", p, err)
	}
	s.actions.set(key, nil, entry.Revision()+1)
	return &a, nil
}

// ListActions returns the actions of namespace ns, most recently updated
// first, after skipping skip of them and returning at most limit.
func (s *Store) ListActions(_ context.Context, ns string, limit, skip int) []*core.Action {
	prefix := "actions." + enc(ns) + "."
	var all []*core.Action
	s.actions.each(func(key string, a *core.Action) {
		if len(key) > len(prefix) && key[:len(prefix)] == prefix {
			all = append(all, a)
		}
	})
	sort.Slice(all, func(i, j int) bool {
		if all[i].Updated != all[j].Updated {
			return all[i].Updated > all[j].Updated
		}
		return all[i].Name < all[j].Name
	})
	return page(all, limit, skip)
}

// NamespaceUsesDigest reports whether an action of namespace ns has the
// blob digest as its code: the namespace has had the bytes, so it may
// create actions from that digest without uploading them again.
func (s *Store) NamespaceUsesDigest(ns, digest string) bool {
	prefix := "actions." + enc(ns) + "."
	used := false
	s.actions.each(func(key string, a *core.Action) {
		if !used && a.Exec.Digest == digest && len(key) > len(prefix) && key[:len(prefix)] == prefix {
			used = true
		}
	})
	return used
}

// ActionsUsingDigest reports whether any action's code is the blob digest.
func (s *Store) ActionsUsingDigest(digest string) bool {
	used := false
	s.actions.each(func(_ string, a *core.Action) {
		if a.Exec.Digest == digest {
			used = true
		}
	})
	return used
}

func page[T any](all []T, limit, skip int) []T {
	if skip >= len(all) {
		return []T{}
	}
	all = all[skip:]
	if limit > 0 && limit < len(all) {
		all = all[:limit]
	}
	return all
}
