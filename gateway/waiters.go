package gateway

import "sync"

// waiters hands results arriving over NATS to the blocking invokes that
// wait for them. One subscription per gateway feeds it, so a blocking
// invoke costs a map insert, not a NATS subscription.
type waiters struct {
	mu sync.Mutex
	m  map[string]chan []byte
}

func newWaiters() *waiters { return &waiters{m: make(map[string]chan []byte)} }

// add registers a waiter for activation id; call remove when done.
func (w *waiters) add(id string) <-chan []byte {
	ch := make(chan []byte, 1)
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *waiters) remove(id string) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// deliver passes a result to its waiter, if one still waits. It never
// blocks: the channel has room for the one result.
func (w *waiters) deliver(id string, record []byte) {
	w.mu.Lock()
	ch := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ch != nil {
		ch <- record
	}
}
