package container

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispfaas/wisp/internal/logline"
)

// Sentinel closes each activation's output on stdout and on stderr.
const Sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// DefaultLogLimit applies when Init or Run is given a log limit ≤ 0
// (OpenWhisk's default limits.logs of 10 MB).
const DefaultLogLimit = 10 << 20

// logLine is one line as read, before formatting.
type logLine struct {
	at     time.Time
	stream string
	text   string
}

// segment is one stream's output between two sentinels.
type segment struct {
	stream    string
	lines     []logLine
	bytes     int64     // kept, newlines included
	truncated bool      // a line did not fit the limit; the rest was dropped
	truncAt   time.Time // when
	eof       bool      // the stream ended instead of a sentinel
}

// stream reads one of the action loop's output pipes, cuts it at sentinels
// and keeps at most limit bytes per segment. Completed segments go to segs
// in order; the one being filled can be snapshotted (after a time-out).
type stream struct {
	name  string
	limit atomic.Int64
	segs  chan segment
	quit  <-chan struct{} // closed when the container is destroyed

	mu  sync.Mutex
	cur segment
}

func newStream(name string, quit <-chan struct{}) *stream {
	s := &stream{name: name, segs: make(chan segment, 4), quit: quit}
	s.limit.Store(DefaultLogLimit)
	return s
}

// snapshot returns a copy of the segment being filled.
func (s *stream) snapshot() segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cur
	c.lines, c.stream = slices.Clone(c.lines), s.name
	return c
}

// add keeps one complete line, or marks the segment truncated.
func (s *stream) add(at time.Time, text []byte, dropped bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.truncated {
		return
	}
	n := int64(len(text)) + 1
	if dropped || s.cur.bytes+n > s.limit.Load() {
		s.cur.truncated, s.cur.truncAt = true, at
		return
	}
	s.cur.bytes += n
	s.cur.lines = append(s.cur.lines, logLine{at: at, stream: s.name, text: string(text)})
}

// cut completes the current segment.
func (s *stream) cut(eof bool) segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	seg := s.cur
	seg.eof, seg.stream = eof, s.name
	s.cur = segment{}
	return seg
}

// run reads f until EOF or until f is closed. A line longer than the limit
// is never held whole: its bytes are counted and dropped.
func (s *stream) run(f *os.File) {
	defer close(s.segs)
	br := bufio.NewReaderSize(f, 16<<10)
	var (
		partial   []byte
		partialAt time.Time
		dropped   bool // the current line outgrew the limit
		midLine   bool
	)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if !midLine {
				partialAt, midLine = time.Now(), true
			}
			complete := chunk[len(chunk)-1] == '\n'
			if complete {
				chunk = chunk[:len(chunk)-1]
			}
			if !dropped {
				if int64(len(partial)+len(chunk)) > s.limit.Load() {
					dropped, partial = true, partial[:0]
				} else {
					partial = append(partial, chunk...)
				}
			}
			if complete {
				line := bytes.TrimSuffix(partial, []byte{'\r'})
				if !dropped && string(line) == Sentinel {
					if !s.send(s.cut(false)) {
						return
					}
				} else {
					s.add(partialAt, line, dropped)
				}
				partial, dropped, midLine = partial[:0], false, false
			}
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if midLine { // a last line without a newline
				s.add(partialAt, partial, dropped)
			}
			s.send(s.cut(true))
			return
		}
	}
}

// send hands a completed segment over, unless the container is gone.
func (s *stream) send(seg segment) bool {
	select {
	case s.segs <- seg:
		return true
	case <-s.quit:
		return false
	}
}

// mergeLogs interleaves the two streams' segments by time and applies the
// activation's log limit to both together, ending with a note when
// anything was dropped.
func mergeLogs(limit int64, segs ...segment) []string {
	var all []logLine
	truncated := false
	var truncAt time.Time
	for _, sg := range segs {
		all = append(all, sg.lines...)
		if sg.truncated {
			truncated = true
			if sg.truncAt.After(truncAt) {
				truncAt = sg.truncAt
			}
		}
	}
	slices.SortStableFunc(all, func(a, b logLine) int { return a.at.Compare(b.at) })
	out := make([]string, 0, len(all)+1)
	var kept int64
	for _, l := range all {
		n := int64(len(l.text)) + 1
		if kept+n > limit {
			truncated = true
			if l.at.After(truncAt) {
				truncAt = l.at
			}
			break
		}
		kept += n
		out = append(out, logline.Format(l.at, l.stream, l.text))
	}
	if truncated {
		if truncAt.IsZero() {
			truncAt = time.Now()
		}
		out = append(out, logline.Format(truncAt, "stderr",
			"Logs were truncated because the total bytes size exceeds the limit of "+strconv.FormatInt(limit, 10)+" bytes."))
	}
	return out
}

// reply is one line read from fd 3, or why reading stopped.
type reply struct {
	line []byte
	err  error
}

// MaxReply is the result cap: a reply line longer than this (without its
// newline) is a ProtocolError.
const MaxReply = 1 << 20

// readReplies reads fd 3 one line at a time into out, refusing a line
// longer than MaxReply (and stopping there), until EOF or quit.
func readReplies(f *os.File, out chan<- reply, quit <-chan struct{}) {
	defer close(out)
	send := func(r reply) bool {
		select {
		case out <- r:
			return true
		case <-quit:
			return false
		}
	}
	br := bufio.NewReaderSize(f, 16<<10)
	for {
		var line []byte
		for {
			chunk, err := br.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line) > MaxReply+1 {
				send(reply{err: &ProtocolError{Reason: "a reply longer than the result limit of " + strconv.Itoa(MaxReply) + " bytes"}})
				return
			}
			if err == nil {
				break
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				if len(line) > 0 {
					send(reply{err: &ProtocolError{Reason: "fd 3 closed in the middle of a reply"}})
				} else {
					send(reply{err: io.EOF})
				}
				return
			}
			send(reply{err: err})
			return
		}
		if !send(reply{line: bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})}) {
			return
		}
	}
}
