package rewrite

import "fmt"

// rewriteCode copies a code section, inserting check (when not nil) at the
// entry of every function and after the block type of every loop, and
// renumbering functions as w says. It reports whether the code uses
// memory.init or data.drop, which name data segments by index.
//
// Every instruction is decoded to find where the next one starts, so an
// opcode this package does not know is an error rather than a guess.
func rewriteCode(code, check []byte, w walker, st *Stats) (out []byte, usesDataIdx bool, err error) {
	r := &reader{b: code}
	n := r.u32()
	if r.err != nil {
		return nil, false, fmt.Errorf("%w: code section: %v", ErrUnsupported, r.err)
	}
	out = make([]byte, 0, len(code)+len(code)/16+16)
	out = appendU32(out, n)
	var body []byte // reused for each function's new body
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		if r.err == nil && uint64(size) > uint64(len(r.b)-r.off) {
			r.fail("function body longer than the code section")
		}
		if r.err != nil {
			return nil, false, fmt.Errorf("%w: function %d: %v", ErrUnsupported, i, r.err)
		}
		f := &reader{b: r.b[r.off : r.off+int(size)]}
		r.off += int(size)
		w.usesDataIdx = false
		body, err = w.rewriteBody(body[:0], f, check, st)
		usesDataIdx = usesDataIdx || w.usesDataIdx
		if err != nil {
			return nil, false, fmt.Errorf("%w: function %d (of the module's own): %v", ErrUnsupported, i, err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
		st.Functions++
	}
	if r.off != len(r.b) {
		return nil, false, fmt.Errorf("%w: code section: %d bytes after the last function", ErrUnsupported, len(r.b)-r.off)
	}
	return out, usesDataIdx, nil
}

// walker decodes instructions, renumbering functions.
type walker struct {
	// globals is the number of globals the module has: an instruction
	// naming another is refused, so that no guest can reach the fuel
	// global, which comes next.
	globals uint32
	// Functions from firstShifted on move up by shift (an import was added
	// before them).
	firstShifted, shift uint32
	usesDataIdx         bool // memory.init or data.drop seen
}

// rewriteBody appends to dst the body read by f with check inserted.
func (w *walker) rewriteBody(dst []byte, f *reader, check []byte, st *Stats) ([]byte, error) {
	for groups := f.u32(); groups > 0 && f.err == nil; groups-- {
		f.u32()  // count
		f.byte() // value type
	}
	if f.err != nil {
		return nil, f.err
	}
	dst = append(dst, f.b[:f.off]...)
	if check != nil && loopFirst(*f) {
		st.LoopFirst++ // the first loop's check stands for the entry's
	} else {
		dst = append(dst, check...)
	}
	copied := f.off // f.b[copied:f.off] is still to be copied
	depth := 1      // the function's own block
	for depth > 0 {
		if f.off >= len(f.b) {
			return nil, fmt.Errorf("function body ends inside a block")
		}
		op := f.byte()
		switch {
		case op == 0x0b: // end
			depth--
		case op == 0x02 || op == 0x04: // block, if
			f.blockType()
			depth++
		case op == 0x03: // loop
			f.blockType()
			depth++
			if check != nil && f.err == nil {
				dst = append(dst, f.b[copied:f.off]...)
				dst = append(dst, check...)
				copied = f.off
				st.Loops++
			}
		case op == 0x10 || op == 0xd2: // call, ref.func
			at := f.off
			idx := f.u32()
			if w.shift != 0 && idx >= w.firstShifted && f.err == nil {
				dst = append(dst, f.b[copied:at]...)
				dst = appendU32(dst, idx+w.shift)
				copied = f.off
			}
		default:
			if err := w.skipImmediates(f, op); err != nil {
				return nil, err
			}
		}
		if f.err != nil {
			return nil, f.err
		}
	}
	if f.off != len(f.b) {
		return nil, fmt.Errorf("%d bytes after the end of the function body", len(f.b)-f.off)
	}
	return append(dst, f.b[copied:]...), nil
}

// loopFirst reports whether a body read from f (a copy: f is not
// advanced) enters a loop before it can call, branch or return: only
// blocks opened, locals, globals and nops come before its first loop. Each
// run of the function then passes that loop's fuel check before anything
// else, so the check at its entry would count it twice. Go's compiler
// starts nearly every function so (a loop around the points where a
// goroutine resumes), which made a Go guest pay two checks per call.
func loopFirst(f reader) bool {
	for f.err == nil && f.off < len(f.b) {
		switch op := f.byte(); op {
		case 0x03: // loop
			return f.err == nil
		case 0x01: // nop
		case 0x02: // block
			f.blockType()
		case 0x20, 0x21, 0x22, 0x23, 0x24: // local.get, local.set, local.tee, global.get, global.set
			f.u32()
		default:
			return false
		}
	}
	return false
}

// skipImmediates reads the immediates of instruction op (other than the
// block instructions and end). See the binary format of WebAssembly 2.0,
// section 5.4 (instructions).
func (w *walker) skipImmediates(f *reader, op byte) error {
	switch {
	case op <= 0x01, op == 0x05, op == 0x0f, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1:
		// unreachable, nop, else, return, drop, select, numeric, ref.is_null: none
	case op == 0x0c || op == 0x0d: // br, br_if
		f.u32()
	case op == 0x0e: // br_table
		for n := f.u32(); n > 0 && f.err == nil; n-- {
			f.u32()
		}
		f.u32()
	case op == 0x10: // call
		f.u32()
	case op == 0x11: // call_indirect: type, table
		f.u32()
		f.u32()
	case op == 0x1c: // select t*
		for n := f.u32(); n > 0 && f.err == nil; n-- {
			f.byte()
		}
	case op == 0x23 || op == 0x24: // global.get, global.set
		if idx := f.u32(); f.err == nil && idx >= w.globals {
			return fmt.Errorf("global index %d out of range (the module has %d globals)", idx, w.globals)
		}
	case op >= 0x20 && op <= 0x26: // local.*, table.get/set
		f.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
		f.memarg()
	case op == 0x3f || op == 0x40: // memory.size, memory.grow: memory index
		f.u32()
	case op == 0x41: // i32.const
		f.sleb(32)
	case op == 0x42: // i64.const
		f.sleb(64)
	case op == 0x43:
		f.skip(4)
	case op == 0x44:
		f.skip(8)
	case op == 0xd0: // ref.null t
		f.byte()
	case op == 0xd2: // ref.func
		f.u32()
	case op == 0xfc:
		return skipFC(f, &w.usesDataIdx)
	case op == 0xfd:
		return skipSIMD(f)
	default:
		return fmt.Errorf("unknown opcode %#02x at offset %d of the body", op, f.off-1)
	}
	return nil
}

// skipFC reads the rest of a 0xFC-prefixed instruction.
func skipFC(f *reader, usesDataIdx *bool) error {
	switch sub := f.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data, memory
		*usesDataIdx = true
		f.u32()
		f.u32()
	case sub == 9: // data.drop
		*usesDataIdx = true
		f.u32()
	case sub == 10: // memory.copy
		f.u32()
		f.u32()
	case sub == 11: // memory.fill
		f.u32()
	case sub == 12 || sub == 14: // table.init elem table, table.copy
		f.u32()
		f.u32()
	case sub == 13 || (sub >= 15 && sub <= 17): // elem.drop, table.grow/size/fill
		f.u32()
	default:
		if f.err == nil {
			return fmt.Errorf("unknown instruction 0xfc %d at offset %d of the body", sub, f.off)
		}
	}
	return nil
}

// skipSIMD reads the rest of a 0xFD-prefixed (128-bit SIMD) instruction.
func skipSIMD(f *reader) error {
	switch sub := f.u32(); {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		f.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		f.skip(16)
	case sub >= 21 && sub <= 34: // extract and replace lane
		f.byte()
	case sub >= 84 && sub <= 91: // load and store lane
		f.memarg()
		f.byte()
	case sub <= 255:
		// Every other SIMD instruction of WebAssembly 2.0 has no immediate;
		// numbers it leaves unused are refused by the compiler.
	default:
		if f.err == nil {
			return fmt.Errorf("unknown instruction 0xfd %d at offset %d of the body", sub, f.off)
		}
	}
	return nil
}
