package wasmrt

import (
	"bytes"
	"testing"
	"unsafe"
)

func TestSpareMemories(t *testing.T) {
	dirty := func(n, c int) []byte {
		b := make([]byte, n, c)
		for i := range b {
			b[i] = 0xff
		}
		return b
	}
	var s spareMemories
	if s.take(1) != nil {
		t.Fatal("take from empty spares returned a buffer")
	}
	small, large := dirty(1<<20, 2<<20), dirty(3<<20, 4<<20)
	s.put(small)
	s.put(large)
	s.put(nil)                                // nothing to keep
	s.put(make([]byte, 0, maxPooledMemory+1)) // too large
	if len(s.bufs) != 2 || s.bytes != 6<<20 {
		t.Fatalf("kept %d buffers, %d bytes; want 2, %d", len(s.bufs), s.bytes, 6<<20)
	}
	// The most recently kept one that fits, zeroed up to its capacity.
	b := s.take(1)
	if len(b) != 0 || cap(b) != 4<<20 || unsafe.SliceData(b) != unsafe.SliceData(large) {
		t.Fatalf("take(1): len %d cap %d, want the 4 MiB buffer", len(b), cap(b))
	}
	if !bytes.Equal(b[:cap(b)], make([]byte, cap(b))) {
		t.Fatal("a taken buffer is not all zero")
	}
	if s.take(3<<20) != nil {
		t.Fatal("take(3 MiB) returned the 2 MiB buffer")
	}
	if b := s.take(2 << 20); cap(b) != 2<<20 || !bytes.Equal(b[:cap(b)], make([]byte, cap(b))) {
		t.Fatalf("take(2 MiB): cap %d or not zeroed", cap(b))
	}
	if len(s.bufs) != 0 || s.bytes != 0 {
		t.Fatalf("after taking everything: %d buffers, %d bytes", len(s.bufs), s.bytes)
	}
	for i, b := range s.bufs[:cap(s.bufs)] {
		if b != nil {
			t.Fatalf("slot %d still refers to a taken buffer", i)
		}
	}
	// Bounded: past maxSpareBytes, buffers are not kept.
	for range maxSpareBytes/maxPooledMemory + 2 {
		s.put(make([]byte, 0, maxPooledMemory))
	}
	if s.bytes > maxSpareBytes {
		t.Fatalf("kept %d bytes, more than %d", s.bytes, maxSpareBytes)
	}
	s.drop()
	if len(s.bufs) != 0 || s.bytes != 0 || s.take(1) != nil {
		t.Fatal("drop kept buffers")
	}
}
