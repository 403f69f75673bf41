package rewrite

import (
	"errors"
	"fmt"
)

// reader decodes the binary format. The first error sticks: later reads
// return zero values, so a caller checks err once after a sequence.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("unexpected end of the module")

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format+" (at offset %d)", append(args, r.off)...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = errTruncated
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) skip(n int) {
	if r.err != nil {
		return
	}
	if n > len(r.b)-r.off {
		r.err = errTruncated
		return
	}
	r.off += n
}

// u32 reads an unsigned LEB128 value of at most 32 bits.
func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift == 28 && c&0x70 != 0 {
			r.fail("integer too large")
			return 0
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("integer too long")
	return 0
}

// sleb reads a signed LEB128 value of at most bits bits (32, 33 or 64).
func (r *reader) sleb(bits int) int64 {
	var v int64
	shift := 0
	for {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits { // more bytes than the width allows
			r.fail("integer too long")
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

// name reads a name.
func (r *reader) name() string {
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(r.b)-r.off) {
		r.err = errTruncated
	}
	if r.err != nil {
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// skipName skips a name (a length and that many bytes).
func (r *reader) skipName() {
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(r.b)-r.off) {
		r.err = errTruncated
		return
	}
	r.off += int(n)
}

// limits reads a limits type and returns its minimum.
func (r *reader) limits() uint32 {
	flags := r.byte()
	if flags&^0x03 != 0 {
		r.fail("unsupported limits flags %#x", flags)
		return 0
	}
	lo := r.u32()
	if flags&1 != 0 {
		r.u32()
	}
	return lo
}

// memarg skips a memory argument: alignment and offset.
func (r *reader) memarg() {
	r.u32()
	r.u32()
}

// blockType skips a block type: empty (0x40), a value type, or a type index
// (a signed 33-bit LEB128 value).
func (r *reader) blockType() {
	if r.err != nil {
		return
	}
	if r.off >= len(r.b) {
		r.err = errTruncated
		return
	}
	switch r.b[r.off] {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.off++
		return
	}
	if v := r.sleb(33); r.err == nil && v < 0 {
		r.fail("unknown block type %d", v)
	}
}

func appendU32(dst []byte, v uint32) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendS32(dst []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}
