package wasmrt

import (
	"bytes"
	"strconv"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/wispfaas/wisp/internal/logline"
)

// Buffers larger than this are not kept in the pool, so that one large activation does not pin memory.
const maxPooledBuffer = 64 << 10

// Linear memories up to this size are kept for the next activation (zeroed), which saves allocating,
// zeroing and collecting them on every Run. A Go command uses a few MiB.
const maxPooledMemory = 16 << 20

var emptyParams = []byte("{}")

// activation is the per-call state of Run: the guest's stdio, its linear memory and its sleep. It is
// pooled with a ModuleConfig that points at it, so a warm Run builds no config (the environment is
// read from the call's context, see environ.go).
// It is used by one Run at a time, on that Run's goroutine (wazero calls the guest, and through it
// these writers, the allocator and nanosleep, on the goroutine that calls it).
type activation struct {
	cfg    wazero.ModuleConfig
	stdin  bytes.Reader
	stdout resultWriter
	stderr logWriter
	logs   logSink
	mem    linearMemory
	spare  []byte          // a zeroed buffer for the next linear memory, len 0
	done   <-chan struct{} // closed when the activation must stop
}

func newActivation(base wazero.ModuleConfig) *activation {
	a := &activation{}
	a.cfg = base.
		WithStdin(&a.stdin).
		WithStdout(&a.stdout).
		WithStderr(&a.stderr).
		WithNanosleep(a.nanosleep)
	return a
}

func (a *activation) reset(inv *Invocation, lim limits) {
	params := inv.Params
	if len(params) == 0 {
		params = emptyParams
	}
	a.stdin.Reset(params)
	a.stdout.buf = a.stdout.buf[:0]
	a.stdout.limit = lim.resultLimit
	a.stdout.over = false
	a.logs.reset(lim.logLimit)
	a.stderr.reset(&a.logs, "stderr")
	a.mem = linearMemory{limit: lim.memoryBytes}
}

// release drops what must not outlive the activation or stay pinned by the pool.
func (a *activation) release() {
	a.stdin.Reset(nil)
	if cap(a.stdout.buf) > maxPooledBuffer {
		a.stdout.buf = nil
	}
	a.stdout.cancel = nil
	a.logs.lines = nil
	if cap(a.stderr.partial) > maxPooledBuffer {
		a.stderr.partial = nil
	}
	if buf := a.mem.buf; cap(buf) > 0 && cap(buf) <= maxPooledMemory && cap(buf) > cap(a.spare) {
		// Bytes past len were never written: zeroing what the guest could write makes it all zero.
		clear(buf)
		a.spare = buf[:0]
	}
	a.mem = linearMemory{}
	a.done = nil
}

// nanosleep implements WASI's sleep (poll_oneoff on a clock) so that it ends when the activation must
// stop: a sleeping guest is stopped at its time limit like a spinning one.
func (a *activation) nanosleep(ns int64) { sleep(ns, a.done) }

// sleep waits ns nanoseconds, or until done is closed.
func sleep(ns int64, done <-chan struct{}) {
	if ns <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(ns))
	select {
	case <-t.C:
	case <-done:
	}
	t.Stop()
}

// Allocate implements experimental.MemoryAllocator: the instance's linear memory is a.mem, capped at
// the activation's memory limit and starting from the activation's spare buffer. wazero checks the
// module's own maximum before asking to grow.
func (a *activation) Allocate(_, _ uint64) experimental.LinearMemory {
	a.mem.buf, a.mem.allocated = a.spare, false
	a.spare = nil
	return &a.mem
}

// linearMemory is a guest's linear memory, refusing to grow past limit.
type linearMemory struct {
	buf       []byte
	limit     uint64
	refused   uint64 // the largest size asked for past limit, 0 if none
	allocated bool   // the minimum was allocated
}

// Reallocate implements experimental.LinearMemory. New bytes are zero: buf never shrinks, and the bytes
// between its length and capacity were zeroed by make and never written (the guest can only write
// below the length).
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit && m.allocated { // the first call is for the minimum, checked by Run beforehand
		m.refused = max(m.refused, size)
		return nil
	}
	m.allocated = true
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically (guests often grow a page at a time), never past the limit.
	c := max(size, min(2*uint64(cap(m.buf)), m.limit))
	nb := make([]byte, size, c)
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

// Free implements experimental.LinearMemory. It keeps the buffer: Run recycles it (activation.release)
// once the guest can no longer run, which Free does not guarantee (Runtime.Close frees the memory of
// instances still running).
func (m *linearMemory) Free() {}

// resultWriter keeps the guest's stdout up to limit bytes. Past it, it keeps nothing more, cancels the
// activation (so the guest stops at once) and pretends to write, so the guest does not react to an error.
type resultWriter struct {
	buf    []byte
	limit  int
	over   bool
	cancel func(error)
}

func (w *resultWriter) Write(p []byte) (int, error) {
	if w.over {
		return len(p), nil
	}
	if len(p) > w.limit-len(w.buf) {
		w.over = true
		w.buf = w.buf[:0]
		if w.cancel != nil {
			w.cancel(errResultLimit)
		}
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// logSink collects an activation's log lines, from one or two streams,
// keeping at most limit bytes of them.
type logSink struct {
	lines     []string
	kept      int64 // bytes kept so far, newlines included
	limit     int64
	truncated bool
}

func (s *logSink) reset(limit int64) {
	s.lines = nil
	s.kept = 0
	s.limit = limit
	s.truncated = false
}

func (s *logSink) truncate(now time.Time, stream string) {
	s.truncated = true
	s.lines = append(s.lines, logline.Format(now, stream,
		"Logs were truncated because the total bytes size exceeds the limit of "+strconv.FormatInt(s.limit, 10)+" bytes."))
}

// logWriter turns one of the guest's output streams into OpenWhisk log
// lines in its sink.
type logWriter struct {
	sink      *logSink
	stream    string    // "stderr" or "stdout"
	partial   []byte    // the line being written
	partialAt time.Time // when its first byte was written
}

func (w *logWriter) reset(sink *logSink, stream string) {
	w.sink, w.stream = sink, stream
	w.partial = w.partial[:0]
}

func (w *logWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.sink == nil || w.sink.truncated {
		return n, nil
	}
	now := time.Now()
	for len(p) > 0 {
		if len(w.partial) == 0 {
			w.partialAt = now
		}
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if w.sink.kept+int64(len(w.partial)+len(chunk))+1 > w.sink.limit { // this line does not fit
			w.partial = w.partial[:0]
			w.sink.truncate(now, w.stream)
			return n, nil
		}
		w.partial = append(w.partial, chunk...)
		if i < 0 {
			break
		}
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

// emit turns the partial line into a log line.
func (w *logWriter) emit() {
	w.sink.kept += int64(len(w.partial)) + 1
	line := w.partial
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	w.sink.lines = append(w.sink.lines, logline.Format(w.partialAt, w.stream, line))
	w.partial = w.partial[:0]
}

// flush emits a last line written without a newline.
func (w *logWriter) flush() {
	if w.sink != nil && len(w.partial) > 0 && !w.sink.truncated {
		w.emit()
	}
	w.partial = w.partial[:0]
}
