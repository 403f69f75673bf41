// Package rewrite transforms a WebAssembly core module before wasmrt compiles
// it, so that the compiled code is cheaper to stop and to instantiate. It
// does two things, each optional:
//
//   - Fuel checks: it adds a mutable i32 global (the fuel) and an imported
//     host function (the yield), and at the entry of every function and the
//     header of every loop a few instructions that count the fuel down and,
//     when it is out, call the yield, which returns fresh fuel or stops the
//     guest. The host thus regains control every few thousand loop
//     iterations or calls: to stop the guest at its deadline, and so that Go's
//     scheduler and garbage collector, which cannot preempt compiled Wasm,
//     are never held up for long. wazero's own mechanism
//     (WithCloseOnContextDone) leaves the compiled code for Go on every loop
//     iteration, which made SDK activations ten times slower.
//   - Data coalescing: it merges active data segments that follow one another
//     in memory into fewer segments, filling small gaps with zeros. A Go
//     module has tens of thousands of small segments, each applied on every
//     instantiation; the memory an instance starts with is the same.
//
// The rewritten module is a new byte slice; the input is never modified. The
// package understands the binary format of WebAssembly 2.0 (what wazero
// enables by default); a module using anything else is refused with an error
// saying what was not understood, and a caller should then let its compiler
// report what is wrong with the module.
package rewrite

import (
	"errors"
	"fmt"
)

// Options says what Module does. The zero value changes nothing but for
// dropping custom sections.
type Options struct {
	// YieldModule and YieldName, when not empty, are the import the fuel
	// checks call: a host function () -> i32 that returns the fuel to go on
	// with (positive) or stops the guest (by failing). It is added as the
	// module's last imported function; the module must not import it itself.
	YieldModule, YieldName string
	// Fuel is how many function entries and loop iterations run between two
	// calls of the yield function; it must be positive when YieldModule is
	// set. An instance starts with this much.
	Fuel int32
	// Coalesce enables data coalescing: active data segments of memory 0
	// at most CoalesceGap bytes apart are merged.
	Coalesce    bool
	CoalesceGap int
	// MaxTableEntries, when positive, bounds the entries of all the
	// module's tables together, initial sizes and growth alike: each table
	// gets a maximum (its share of the bound, or its own maximum if
	// lower), so that table.grow fails past it. A module whose tables
	// start larger is refused with ErrTooLarge. Table elements live
	// outside linear memory, so its limit does not cover them.
	MaxTableEntries uint32
}

// ErrTooLarge marks a module that asks for more than Options allows.
var ErrTooLarge = errors.New("rewrite: module too large")

// Stats describes what Module did.
type Stats struct {
	Functions int // function bodies
	Loops     int // loop headers given a fuel check
	// LoopFirst counts the bodies without an entry check: they enter a
	// loop, whose check counts the call, before anything else (loopFirst).
	LoopFirst      int
	SegmentsBefore int // data segments in the input
	SegmentsAfter  int // data segments in the output
	// CoalesceSkipped says why data segments were left as they were, if
	// coalescing was asked for and not done ("" otherwise).
	CoalesceSkipped string
}

// ErrUnsupported marks a module the package cannot rewrite because it uses
// an encoding it does not understand (a later proposal, or bytes that are
// not WebAssembly at all).
var ErrUnsupported = errors.New("rewrite: module not understood")

// maxFill is, beyond the size of the data section, how many zero bytes
// coalescing may add in all.
const maxFill = 4 << 20

// Section ids of the binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// order is the position a known section must have among the others.
var order = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secGlobal: 6,
	secExport: 7, secStart: 8, secElement: 9, secDataCount: 10, secCode: 11, secData: 12,
}

type section struct {
	id      byte
	payload []byte
}

// Module returns wasm rewritten as opts say, and what was done. wasm must
// start with the header of a version 1 module. Custom sections (names,
// debugging information) are dropped: function indices move, and the
// compiler needs none of them. Errors match ErrUnsupported when the module
// could not be understood; the caller may then compile the module as it is to
// learn what is wrong with it.
func Module(wasm []byte, opts Options) ([]byte, Stats, error) {
	var st Stats
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || string(wasm[4:8]) != "\x01\x00\x00\x00" {
		return nil, st, fmt.Errorf("%w: not a version 1 WebAssembly module", ErrUnsupported)
	}
	yield := opts.YieldModule != ""
	if yield && opts.Fuel <= 0 {
		return nil, st, errors.New("rewrite: Fuel must be positive")
	}
	secs, err := splitSections(wasm)
	if err != nil {
		return nil, st, err
	}
	m := moduleInfo{dataCount: -1, yieldType: -1}
	for _, s := range secs {
		if err := m.read(s, opts); err != nil {
			return nil, st, fmt.Errorf("%w: section %d: %v", ErrUnsupported, s.id, err)
		}
	}
	if m.importsYield {
		return nil, st, fmt.Errorf("rewrite: the module imports %q.%q, a function reserved for the host", opts.YieldModule, opts.YieldName)
	}
	w := walker{globals: m.importedGlobals + m.definedGlobals}
	fuelIdx := w.globals
	if yield {
		w.firstShifted, w.shift = m.funcImports, 1
	}
	var check []byte
	if yield {
		check = fuelCheck(fuelIdx, m.funcImports)
	}

	// The code: fuel checks, functions renumbered, and whether it refers to
	// data segments by index.
	var newCode []byte
	var usesDataIdx bool
	if m.code != nil {
		newCode, usesDataIdx, err = rewriteCode(m.code, check, w, &st)
		if err != nil {
			return nil, st, err
		}
	}

	// The tables: bounded.
	var newTable []byte
	if opts.MaxTableEntries > 0 && m.table != nil {
		if newTable, err = boundTables(m.table, opts.MaxTableEntries); err != nil {
			return nil, st, err
		}
	}

	// The data.
	var newData []byte
	newCount := -1 // the data count to write, -1 to keep
	if m.data != nil {
		segs, err := readData(m.data)
		if err != nil {
			return nil, st, fmt.Errorf("%w: data section: %v", ErrUnsupported, err)
		}
		st.SegmentsBefore, st.SegmentsAfter = len(segs), len(segs)
		if opts.Coalesce {
			if why := coalescible(segs, usesDataIdx, m.dataCount); why != "" {
				st.CoalesceSkipped = why
			} else {
				merged := coalesce(segs, opts.CoalesceGap, maxFill+uint64(len(m.data)))
				st.SegmentsAfter = len(merged)
				if len(merged) != len(segs) {
					newData = encodeData(merged)
					newCount = len(merged)
				}
			}
		}
	}

	// Write the module: known sections in their order, those the yield
	// import needs created where they belong if the module has none.
	out := make([]byte, 0, len(wasm)+len(wasm)/32+64)
	out = append(out, wasm[:8]...)
	wrote := map[byte]bool{}
	emitMissing := func(before byte) {
		if !yield {
			return
		}
		for _, id := range []byte{secType, secImport, secGlobal} {
			if !wrote[id] && order[before] > order[id] {
				var p []byte
				switch id {
				case secType:
					p = appendYieldType(appendU32(nil, 1))
				case secImport:
					p = appendYieldImport(appendU32(nil, 1), opts, m.yieldTypeIndex())
				case secGlobal:
					p = appendFuelGlobal(appendU32(nil, 1), opts.Fuel)
				}
				out = appendSection(out, id, p)
				wrote[id] = true
			}
		}
	}
	for _, s := range secs {
		if s.id == secCustom {
			continue
		}
		emitMissing(s.id)
		wrote[s.id] = true
		var p []byte
		switch {
		case yield && s.id == secType:
			p = s.payload
			if m.yieldType < 0 {
				p = appendYieldType(appendVecCount(nil, s.payload, 1))
			}
		case yield && s.id == secImport:
			p = appendYieldImport(appendVecCount(nil, s.payload, 1), opts, m.yieldTypeIndex())
		case yield && s.id == secGlobal:
			p, err = w.rewriteGlobals(s.payload, opts.Fuel)
		case yield && s.id == secExport:
			p, err = w.rewriteExports(s.payload)
		case yield && s.id == secStart:
			r := &reader{b: s.payload}
			p = appendU32(nil, w.fn(r.u32()))
			err = r.err
		case yield && s.id == secElement:
			p, err = w.rewriteElements(s.payload)
		case s.id == secTable && newTable != nil:
			p = newTable
		case s.id == secCode && newCode != nil:
			p = newCode
		case s.id == secData && newData != nil:
			p = newData
		case s.id == secDataCount && newCount >= 0:
			p = appendU32(nil, uint32(newCount))
		default:
			p = s.payload
		}
		if err != nil {
			return nil, st, fmt.Errorf("%w: section %d: %v", ErrUnsupported, s.id, err)
		}
		out = appendSection(out, s.id, p)
	}
	emitMissing(255) // after everything known
	return out, st, nil
}

// moduleInfo is what Module learns of a module before rewriting it.
type moduleInfo struct {
	types           uint32
	yieldType       int // index of a type () -> (i32), -1 if none
	funcImports     uint32
	importedGlobals uint32
	definedGlobals  uint32
	importsYield    bool
	dataCount       int // -1 without a data count section
	code, data      []byte
	table           []byte // the table section's payload, nil without one
}

func (m *moduleInfo) yieldTypeIndex() uint32 {
	if m.yieldType >= 0 {
		return uint32(m.yieldType)
	}
	return m.types // appended
}

// read learns what Module needs of one section.
func (m *moduleInfo) read(s section, opts Options) error {
	r := &reader{b: s.payload}
	switch s.id {
	case secType:
		m.types = r.u32()
		for i := uint32(0); i < m.types && r.err == nil; i++ {
			start := r.off
			if form := r.byte(); form != 0x60 && r.err == nil {
				r.fail("unknown type form %#x", form)
			}
			r.skip(int(r.u32())) // parameters: one byte each in WebAssembly 2.0
			r.skip(int(r.u32())) // results
			if r.err == nil && m.yieldType < 0 && string(r.b[start:r.off]) == "\x60\x00\x01\x7f" {
				m.yieldType = int(i)
			}
		}
	case secImport:
		for n := r.u32(); n > 0 && r.err == nil; n-- {
			mod, name := r.name(), r.name()
			switch kind := r.byte(); kind {
			case 0: // function
				r.u32()
				m.funcImports++
				if mod == opts.YieldModule && name == opts.YieldName {
					m.importsYield = true
				}
			case 1: // table
				r.byte()
				r.limits()
			case 2: // memory
				r.limits()
			case 3: // global
				r.byte()
				r.byte()
				m.importedGlobals++
			default:
				r.fail("unknown import kind %#x", kind)
			}
		}
	case secTable:
		m.table = s.payload
	case secGlobal:
		m.definedGlobals = r.u32()
	case secDataCount:
		m.dataCount = int(r.u32())
	case secCode:
		m.code = s.payload
	case secData:
		m.data = s.payload
	}
	return r.err
}

// fuelCheck is what runs at every function entry and loop header:
//
//	global.get $fuel; i32.eqz
//	if; call $yield; global.set $fuel; end
//	global.get $fuel; i32.const 1; i32.sub; global.set $fuel
func fuelCheck(fuel, yield uint32) []byte {
	b := appendU32([]byte{0x23}, fuel)
	b = append(b, 0x45, 0x04, 0x40, 0x10)
	b = appendU32(b, yield)
	b = appendU32(append(b, 0x24), fuel)
	b = append(b, 0x0b)
	b = appendU32(append(b, 0x23), fuel)
	b = append(b, 0x41, 0x01, 0x6b, 0x24)
	return appendU32(b, fuel)
}

// appendVecCount appends the count of the vector payload starts with, plus
// add, and the rest of payload (the entries).
func appendVecCount(dst, payload []byte, add uint32) []byte {
	r := &reader{b: payload}
	n := r.u32()
	return append(appendU32(dst, n+add), payload[r.off:]...)
}

func appendYieldType(dst []byte) []byte { return append(dst, 0x60, 0x00, 0x01, 0x7f) }

func appendYieldImport(dst []byte, opts Options, typ uint32) []byte {
	dst = append(appendU32(dst, uint32(len(opts.YieldModule))), opts.YieldModule...)
	dst = append(appendU32(dst, uint32(len(opts.YieldName))), opts.YieldName...)
	return appendU32(append(dst, 0x00), typ)
}

// appendFuelGlobal appends "i32 mut = i32.const fuel".
func appendFuelGlobal(dst []byte, fuel int32) []byte {
	dst = append(dst, 0x7f, 0x01, 0x41)
	return append(appendS32(dst, fuel), 0x0b)
}

// fn is the new index of function idx.
func (w *walker) fn(idx uint32) uint32 {
	if idx >= w.firstShifted {
		return idx + w.shift
	}
	return idx
}

// rewriteGlobals renumbers the functions a global section's initialisers
// name and appends the fuel global.
func (w *walker) rewriteGlobals(payload []byte, fuel int32) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(payload)+8), n+1)
	for ; n > 0 && r.err == nil; n-- {
		out = append(out, r.byte(), r.byte()) // type, mutability
		var err error
		if out, err = w.rewriteExpr(out, r); err != nil {
			return nil, err
		}
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("bytes after the last global")
	}
	return appendFuelGlobal(out, fuel), r.err
}

// rewriteExports renumbers the functions an export section names.
func (w *walker) rewriteExports(payload []byte) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(payload)+8), n)
	for ; n > 0 && r.err == nil; n-- {
		start := r.off
		r.skipName()
		kind := r.byte()
		out = append(out, r.b[start:r.off]...)
		idx := r.u32()
		if kind == 0 {
			idx = w.fn(idx)
		}
		out = appendU32(out, idx)
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("bytes after the last export")
	}
	return out, r.err
}

// rewriteElements renumbers the functions an element section names.
func (w *walker) rewriteElements(payload []byte) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	out := appendU32(make([]byte, 0, len(payload)+16), n)
	var err error
	for ; n > 0 && r.err == nil && err == nil; n-- {
		flags := r.u32()
		out = appendU32(out, flags)
		if flags > 7 {
			r.fail("unknown element segment kind %d", flags)
			break
		}
		if flags == 2 || flags == 6 { // table index
			out = appendU32(out, r.u32())
		}
		if flags&1 == 0 { // active: offset
			if out, err = w.rewriteExpr(out, r); err != nil {
				break
			}
		}
		if flags&3 != 0 { // element kind or reference type
			out = append(out, r.byte())
		}
		count := r.u32()
		out = appendU32(out, count)
		for ; count > 0 && r.err == nil && err == nil; count-- {
			if flags&4 == 0 {
				out = appendU32(out, w.fn(r.u32()))
			} else {
				out, err = w.rewriteExpr(out, r)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("bytes after the last element segment")
	}
	return out, r.err
}

// rewriteExpr copies a constant expression, end included, renumbering the
// functions it names (ref.func).
func (w *walker) rewriteExpr(dst []byte, r *reader) ([]byte, error) {
	inner := walker{globals: ^uint32(0)} // wazero checks what a constant expression may name
	for r.err == nil {
		op := r.byte()
		dst = append(dst, op)
		if op == 0x0b {
			return dst, r.err
		}
		start := r.off
		if op == 0xd2 {
			dst = appendU32(dst, w.fn(r.u32()))
			continue
		}
		if err := inner.skipImmediates(r, op); err != nil {
			return nil, err
		}
		dst = append(dst, r.b[start:r.off]...)
	}
	return nil, r.err
}

func appendSection(dst []byte, id byte, payload []byte) []byte {
	dst = append(dst, id)
	dst = appendU32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// splitSections cuts a module into its sections, checking that each fits
// and that known sections come once and in order.
func splitSections(wasm []byte) ([]section, error) {
	var secs []section
	r := &reader{b: wasm, off: 8}
	last := 0
	for r.off < len(r.b) {
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupported, r.err)
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			return nil, fmt.Errorf("%w: section %d is longer than the module", ErrUnsupported, id)
		}
		if id != secCustom {
			pos, ok := order[id]
			if !ok {
				return nil, fmt.Errorf("%w: unknown section id %d", ErrUnsupported, id)
			}
			if pos <= last {
				return nil, fmt.Errorf("%w: section %d out of order or repeated", ErrUnsupported, id)
			}
			last = pos
		}
		secs = append(secs, section{id: id, payload: r.b[r.off : r.off+int(size)]})
		r.off += int(size)
	}
	return secs, nil
}

// boundTables rewrites a table section so that its tables together never
// hold more than max entries: each gets the maximum of max / (number of
// tables), or its own if lower. Tables with an initialiser expression (the
// 0x40 form) are not understood.
func boundTables(payload []byte, max uint32) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("%w: table section: %v", ErrUnsupported, r.err)
	}
	if n == 0 {
		return payload, nil
	}
	share := max / n
	out := appendU32(nil, n)
	var total uint64
	for i := uint32(0); i < n; i++ {
		ref := r.byte()
		if r.err == nil && ref != 0x70 && ref != 0x6f {
			r.fail("table %d: element type %#x", i, ref)
		}
		flags := r.byte()
		if r.err == nil && flags > 1 {
			r.fail("table %d: limits flags %#x", i, flags)
		}
		lo := r.u32()
		hi := share
		if flags == 1 {
			hi = min(r.u32(), share)
		}
		if r.err != nil {
			return nil, fmt.Errorf("%w: table section: %v", ErrUnsupported, r.err)
		}
		total += uint64(lo)
		if lo > share || total > uint64(max) {
			return nil, fmt.Errorf("%w: table %d starts with %d entries; at most %d are allowed in all of a module's tables (%d per table for its %d)", ErrTooLarge, i, lo, max, share, n)
		}
		out = append(out, ref, 1)
		out = appendU32(appendU32(out, lo), hi)
	}
	if r.off != len(payload) {
		return nil, fmt.Errorf("%w: table section: %d bytes after the last table", ErrUnsupported, len(payload)-r.off)
	}
	return out, nil
}
