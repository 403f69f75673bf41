package blobs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

// pipelinedVerifier is a verifying reader that hashes on another
// goroutine: SHA-256 of a large blob costs about as much CPU as fetching
// it from a server on loopback, so hashing in line would nearly double a
// cold fetch, while on a second core it overlaps the transfer. Bytes are
// copied into buffers of verifyChunk bytes; at most verifyDepth of them
// wait, which bounds the memory it holds. At EOF it waits for the hash
// and fails with ErrCorrupt on a mismatch, as verifyingReader does.
type pipelinedVerifier struct {
	r      io.ReadCloser
	digest string
	buf    []byte
	ch     chan []byte
	done   chan struct{}
	h      hash.Hash
	closed bool
	err    error
}

const (
	verifyChunk = 256 << 10
	verifyDepth = 16
)

var verifyBufs = sync.Pool{New: func() any { b := make([]byte, 0, verifyChunk); return &b }}

func newPipelinedVerifier(r io.ReadCloser, digest string) *pipelinedVerifier {
	v := &pipelinedVerifier{r: r, digest: digest, ch: make(chan []byte, verifyDepth), done: make(chan struct{}), h: sha256.New()}
	v.buf = (*verifyBufs.Get().(*[]byte))[:0]
	go func() {
		defer close(v.done)
		for b := range v.ch {
			v.h.Write(b)
			b = b[:0]
			verifyBufs.Put(&b)
		}
	}()
	return v
}

func (v *pipelinedVerifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		k := copy(v.buf[len(v.buf):cap(v.buf)], rest)
		v.buf = v.buf[:len(v.buf)+k]
		rest = rest[k:]
		if len(v.buf) == cap(v.buf) {
			v.ch <- v.buf
			v.buf = (*verifyBufs.Get().(*[]byte))[:0]
		}
	}
	if err == io.EOF {
		v.finish()
		if got := "sha256:" + hex.EncodeToString(v.h.Sum(nil)); got != v.digest {
			v.err = fmt.Errorf("%w: %s read as %s", ErrCorrupt, v.digest, got)
			return n, v.err
		}
		v.err = io.EOF
	}
	return n, err
}

// finish hands over the last buffer and waits for the hasher.
func (v *pipelinedVerifier) finish() {
	if v.closed {
		return
	}
	v.closed = true
	if len(v.buf) > 0 {
		v.ch <- v.buf
		v.buf = nil
	}
	close(v.ch)
	<-v.done
}

func (v *pipelinedVerifier) Close() error {
	v.finish()
	return v.r.Close()
}
