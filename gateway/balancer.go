package gateway

import (
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/queue"
)

// balancer picks the invoker for an activation: the action's home invoker
// by rendezvous hashing over the live invokers (so compiled modules and
// warm sandboxes stay where they are), or the least busy one when home is
// full.
type balancer struct{ dir InvokerDirectory }

func newBalancer(dir InvokerDirectory) *balancer { return &balancer{dir: dir} }

// pick chooses among the live invokers that run kind.
func (b *balancer) pick(actionKey, kind string) (string, error) {
	live := b.dir.Live()
	if len(live) == 0 {
		return "", core.Errorf(core.CodeUnavailable, "No invoker is available to run the action; try again shortly.")
	}
	var home *queue.InvokerStatus
	var best uint64
	for i := range live {
		if !live[i].Runs(kind) {
			continue
		}
		if w := weight(actionKey, live[i].ID); home == nil || w > best {
			home, best = &live[i], w
		}
	}
	if home == nil {
		return "", core.Errorf(core.CodeUnavailable, "No invoker can run actions of kind %s: its container runtime is not built or not usable on the invokers. Build it with `wispd runtimes build` and restart wispd (its log says why a runtime is unusable).", kind)
	}
	if home.Capacity == 0 || home.Busy < home.Capacity {
		return home.ID, nil
	}
	least := home
	for i := range live {
		if live[i].Runs(kind) && free(&live[i]) > free(least) {
			least = &live[i]
		}
	}
	return least.ID, nil
}

func free(st *queue.InvokerStatus) int { return st.Capacity - st.Busy }

// weight is FNV-1a (64 bits) of key, a zero byte and invoker, computed
// without allocating.
func weight(key, invoker string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * prime
	}
	h *= prime // the zero byte: h ^ 0 == h
	for i := 0; i < len(invoker); i++ {
		h = (h ^ uint64(invoker[i])) * prime
	}
	return h
}
