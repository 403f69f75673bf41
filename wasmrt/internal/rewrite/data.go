package rewrite

import (
	"fmt"
	"math"
	"sort"
)

// segment is one data segment of the data section.
type segment struct {
	flags  uint32 // 0: active, memory 0; 1: passive; 2: active, explicit memory
	memory uint32
	// offset is the constant offset of an active segment whose offset
	// expression is "i32.const n"; constOffset says whether it is one.
	offset      uint32
	constOffset bool
	expr        []byte // the offset expression, end included (active segments)
	init        []byte
}

func (s segment) end() uint64 { return uint64(s.offset) + uint64(len(s.init)) }

// readData reads a data section.
func readData(payload []byte) ([]segment, error) {
	r := &reader{b: payload}
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(payload)) { // each segment takes at least a byte
		r.fail("%d segments cannot fit in %d bytes", n, len(payload))
	}
	if r.err != nil {
		return nil, r.err
	}
	segs := make([]segment, 0, n)
	for ; n > 0 && r.err == nil; n-- {
		s := segment{flags: r.u32()}
		switch s.flags {
		case 0, 2:
			if s.flags == 2 {
				s.memory = r.u32()
			}
			start := r.off
			if r.off < len(r.b) && r.b[r.off] == 0x41 { // i32.const n end
				r.off++
				v := r.sleb(32)
				if r.off < len(r.b) && r.b[r.off] == 0x0b {
					r.off++
					s.offset, s.constOffset = uint32(int32(v)), true
				}
			}
			if !s.constOffset { // another constant expression: find its end
				r.off = start
				if err := skipConstExpr(r); err != nil {
					return nil, err
				}
			}
			s.expr = r.b[start:r.off]
		case 1:
		default:
			r.fail("unknown data segment kind %d", s.flags)
		}
		l := r.u32()
		if r.err == nil && uint64(l) > uint64(len(r.b)-r.off) {
			r.fail("data segment longer than the section")
		}
		if r.err != nil {
			break
		}
		s.init = r.b[r.off : r.off+int(l)]
		r.off += int(l)
		segs = append(segs, s)
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d bytes after the last segment", len(r.b)-r.off)
	}
	return segs, r.err
}

// skipConstExpr reads a constant expression up to and including its end.
func skipConstExpr(r *reader) error {
	w := walker{globals: ^uint32(0)} // wazero checks what a constant expression may name
	for r.err == nil {
		op := r.byte()
		if op == 0x0b {
			return nil
		}
		if err := w.skipImmediates(r, op); err != nil {
			return err
		}
	}
	return r.err
}

// coalescible says why segs may not be merged, or "" if they may: all must
// be active segments of memory 0 at constant offsets, and the code must not
// name segments by index (memory.init, data.drop), which merging renumbers.
func coalescible(segs []segment, usesDataIdx bool, dataCount int) string {
	if usesDataIdx {
		return "the code uses memory.init or data.drop"
	}
	if dataCount >= 0 && dataCount != len(segs) {
		return "the data count section does not match the data section"
	}
	for i, s := range segs {
		if s.flags == 1 {
			return fmt.Sprintf("segment %d is passive", i)
		}
		if s.memory != 0 {
			return fmt.Sprintf("segment %d initialises memory %d", i, s.memory)
		}
		if !s.constOffset {
			return fmt.Sprintf("segment %d has an offset that is not a constant", i)
		}
	}
	return ""
}

// coalesce merges runs of consecutive segments, each starting at or after
// the end of the one before it and at most gap bytes further, into one
// segment whose bytes are theirs with zeros in between.
//
// Instantiation applies active segments in order, later ones over earlier
// ones, into a memory that starts as zeros. Merging two segments that touch
// changes nothing. Filling a gap with zeros changes nothing either, as long
// as no earlier segment wrote into the gap: a gap is filled only if it does
// not meet what the segments before the run cover (Go's linker, for one,
// emits its sections out of address order). A segment out of bounds makes
// the merged one out of bounds too, so instantiation fails where it failed
// before.
//
// The zeros added are bounded by fill bytes in all (gaps past it are not
// filled), so that a module of many empty segments spread out cannot make
// the rewrite allocate gigabytes.
func coalesce(segs []segment, gap int, fill uint64) []segment {
	if len(segs) < 2 {
		return segs
	}
	maxGap := uint64(max(gap, 0))
	filled := uint64(0)
	var covered intervals // what the segments before the current run write
	var out []segment
	for i := 0; i < len(segs); {
		start, end := uint64(segs[i].offset), segs[i].end()
		j := i + 1
		for ; j < len(segs); j++ {
			off := uint64(segs[j].offset)
			if off < end || off-end > maxGap || filled+(off-end) > fill || segs[j].end()-start > math.MaxInt32 ||
				(off > end && covered.meets(end, off)) {
				break
			}
			filled += off - end
			end = segs[j].end()
		}
		covered.add(start, end)
		if j == i+1 {
			out = append(out, segs[i])
			i = j
			continue
		}
		buf := make([]byte, end-start)
		for _, s := range segs[i:j] {
			copy(buf[uint64(s.offset)-start:], s.init)
		}
		m := segs[i]
		m.init = buf
		m.expr = nil // written from offset
		out = append(out, m)
		i = j
	}
	return out
}

// intervals is a set of byte ranges [start, end), kept sorted and disjoint.
type intervals []interval

type interval struct{ start, end uint64 }

// meets reports whether [start, end) shares a byte with the set.
func (s intervals) meets(start, end uint64) bool {
	k := sort.Search(len(s), func(k int) bool { return s[k].end > start })
	return k < len(s) && s[k].start < end
}

// add puts [start, end) in the set, merging what it touches.
func (s *intervals) add(start, end uint64) {
	if start >= end {
		return
	}
	v := *s
	if n := len(v); n == 0 || v[n-1].end < start { // the common case: past the end
		*s = append(v, interval{start, end})
		return
	}
	lo := sort.Search(len(v), func(k int) bool { return v[k].end >= start })
	hi := lo
	for hi < len(v) && v[hi].start <= end {
		start, end = min(start, v[hi].start), max(end, v[hi].end)
		hi++
	}
	*s = append(v[:lo], append([]interval{{start, end}}, v[hi:]...)...)
}

// encodeData writes a data section of segs.
func encodeData(segs []segment) []byte {
	size := 8
	for _, s := range segs {
		size += len(s.init) + len(s.expr) + 16
	}
	b := make([]byte, 0, size)
	b = appendU32(b, uint32(len(segs)))
	for _, s := range segs {
		b = appendU32(b, s.flags)
		if s.flags == 2 {
			b = appendU32(b, s.memory)
		}
		if s.flags != 1 {
			if s.expr != nil {
				b = append(b, s.expr...)
			} else {
				b = append(b, 0x41)
				b = appendS32(b, int32(s.offset))
				b = append(b, 0x0b)
			}
		}
		b = appendU32(b, uint32(len(s.init)))
		b = append(b, s.init...)
	}
	return b
}
