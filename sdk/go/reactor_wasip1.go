//go:build wasip1

package wisp

import (
	"fmt"
	"os"
	"unsafe"
)

// The reactor form's exports (docs/wasm-abi.md). Go exports them from
// every wasip1 build; Wisp calls them only in a module without _start
// (-buildmode=c-shared), where package initialisers have run and main
// never does. The host calls into an instance one call at a time, so the
// state below needs no lock.
var (
	// inputs are the buffers wisp_alloc handed out that wisp_invoke has
	// not taken yet. Referencing them here keeps the garbage collector
	// (which does not move objects) from freeing them while only the host
	// knows their address.
	inputs [][]byte
	// result is the last result, referenced so that it stays valid until
	// the next call into the instance.
	result []byte
	// spares are input buffers that wisp_invoke has taken and finished
	// with, and resultBuf the last result's buffer once the host has read
	// it: the next activation writes into them. Memory used again is
	// still in the caches when the guest's calls follow one another, and
	// each allocation avoided is a few microseconds in a Wasm guest.
	// Neither is kept past maxKeptBuffer.
	spares    [][]byte
	resultBuf []byte
)

// maxKeptBuffer bounds the buffers kept for the next activation: a large
// input or result is left to the garbage collector.
const maxKeptBuffer = 64 << 10

// wispAlloc returns the address of n new bytes for the host to write. The
// previous result is released: the host has read it by now. An allocation
// Go cannot satisfy is fatal (the Go runtime exits), not a 0.
//
//go:wasmexport wisp_alloc
func wispAlloc(n uint32) uint32 {
	if result != nil {
		if cap(result) <= maxKeptBuffer {
			resultBuf = result[:0]
		}
		result = nil
	}
	buf := spare(int(n))
	if buf == nil {
		buf = make([]byte, max(n, 1)) // a distinct address also for n == 0
	}
	inputs = append(inputs, buf)
	return addr(buf)
}

// spare takes a spare buffer of at least n bytes (and at least one: its
// address is its own), sized to n; nil when there is none.
func spare(n int) []byte {
	for i, b := range spares {
		if cap(b) >= max(n, 1) {
			// The last spare takes its place: no copy of the slice,
			// whose code (with a write barrier per buffer) would be one
			// more piece of the runtime to run per call.
			end := len(spares) - 1
			spares[i], spares[end] = spares[end], nil
			spares = spares[:end]
			return b[:max(n, 1)]
		}
	}
	return nil
}

// keepSpare keeps b, an input buffer the activation is done with, for
// the next one. The decoders copy what they keep of their input (strings
// are copied out of it), so nothing refers to b any more.
func keepSpare(b []byte) {
	if cap(b) <= maxKeptBuffer && len(spares) < 2 {
		spares = append(spares, b[:0])
	}
}

// wispInvoke runs one activation on the parameters and context the host
// wrote into buffers of wispAlloc, and returns (address << 32) | length of
// the result. A developer error is logged to stderr and ends the instance
// with exit status 1; a panic of the handler is not recovered.
//
//go:wasmexport wisp_invoke
func wispInvoke(params, paramsLen, actx, actxLen uint32) uint64 {
	p, okP := take(params, paramsLen)
	c, okC := take(actx, actxLen)
	clear(inputs)
	inputs = inputs[:0]
	if !okP || !okC {
		fatal(fmt.Errorf("wisp_invoke(%d, %d, %d, %d) was given memory that wisp_alloc did not return", params, paramsLen, actx, actxLen))
	}
	res, err := invokeReactor(p, c, resultBuf)
	if err != nil {
		fatal(err)
	}
	keepSpare(p)
	keepSpare(c)
	resultBuf = nil // res may be in it: it is result now
	result = res
	return uint64(addr(res))<<32 | uint64(len(res))
}

// take returns the first n bytes of the pending input at address ptr.
func take(ptr, n uint32) ([]byte, bool) {
	for _, buf := range inputs {
		if addr(buf) == ptr && uint32(len(buf)) >= n {
			return buf[:n], true
		}
	}
	return nil, false
}

// addr is the address of b's first byte in linear memory.
func addr(b []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// fatal ends the instance on a developer error: Wisp records the exit as
// one and discards the instance.
func fatal(err error) {
	fmt.Fprintf(os.Stderr, "wisp: %v\n", err)
	os.Exit(1)
}
