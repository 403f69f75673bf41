package wasmrt

import "sync"

// maxSpareBytes bounds the memory that spareMemories keeps for new
// reactor instances.
const maxSpareBytes = 64 << 20

// spareMemories keeps the linear memories of closed reactor instances
// for the next new ones: a replacement instance (after maxUses, an idle
// expiry, a discarded one) then starts and grows in memory that is already
// resident instead of asking the kernel for fresh pages. On the VMs Wisp is
// measured on a fresh page costs ~14 µs to touch, and a Go guest growing
// from 3 to 6 MiB (an 11 MiB allocation and a copy) took 18–98 ms;
// recycled, it grows in place. Each buffer is kept with its length set to
// the bytes the guest could write, and zeroed when it is taken, so that
// nothing of one instance reaches another (docs/rationale.md). Buffers
// larger than maxPooledMemory are not kept.
type spareMemories struct {
	mu    sync.Mutex
	bufs  [][]byte // most recently put last; len = bytes to zero, cap = the allocation
	bytes int      // sum of the caps
}

// put keeps buf, the memory of an instance that can no longer run, unless
// it is too large or the spares are full.
func (s *spareMemories) put(buf []byte) {
	c := cap(buf)
	if c == 0 || c > maxPooledMemory {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+c > maxSpareBytes {
		return
	}
	s.bufs = append(s.bufs, buf)
	s.bytes += c
}

// take returns a zeroed buffer of length 0 with room for at least min
// bytes, the most recently kept one that fits, or nil if none does.
func (s *spareMemories) take(min uint64) []byte {
	s.mu.Lock()
	var buf []byte
	for i := len(s.bufs) - 1; i >= 0; i-- {
		if uint64(cap(s.bufs[i])) >= min {
			buf = s.bufs[i]
			last := len(s.bufs) - 1
			copy(s.bufs[i:], s.bufs[i+1:])
			s.bufs[last] = nil // the instance owns it now: no stale reference here
			s.bufs = s.bufs[:last]
			s.bytes -= cap(buf)
			break
		}
	}
	s.mu.Unlock()
	if buf == nil {
		return nil
	}
	// Bytes past len were never written (linearMemory.Reallocate): zeroing
	// what the guest could write makes it all zero.
	clear(buf)
	return buf[:0]
}

// drop lets the kept buffers go.
func (s *spareMemories) drop() {
	s.mu.Lock()
	s.bufs, s.bytes = nil, 0
	s.mu.Unlock()
}
