package wasmrt

import "github.com/wispfaas/wisp/internal/wasmtest"

// A tiny assembler for hand-written test modules, so that edge cases need neither wat2wasm nor a
// C toolchain. Instructions are written as bytes with the op* constants below.

const (
	i32 = 0x7f

	opUnreachable = 0x00
	opBlockVoid   = 0x40 // block type of no results
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opBr          = 0x0c
	opCall        = 0x10
	opDrop        = 0x1a
	opLocalGet    = 0x20
	opLocalSet    = 0x21
	opLocalTee    = 0x22
	opI32Load     = 0x28
	opI32Store    = 0x36
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI32Eq       = 0x46
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
)

type rawType struct{ params, results []byte }

type rawImport struct {
	module, name string
	kind         byte   // externFunc or externMemory
	typ          uint32 // function type index
}

type rawFunc struct {
	typ    uint32
	locals []byte // value types, one per local
	body   []byte // without the final end
}

type rawExport struct {
	name string
	kind byte
	idx  uint32
}

type rawModule struct {
	types   []rawType
	imports []rawImport
	funcs   []rawFunc
	memory  *[2]uint32 // min, max pages (max 0 = none)
	table   *uint32    // a funcref table's minimum size, if any
	exports []rawExport
	start   *uint32
	data    []rawData
}

type rawData struct {
	offset uint32
	bytes  []byte
}

// uleb is the LEB128 encoding the modules here are written with.
var uleb = wasmtest.ULEB

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// i32c is "i32.const v".
func i32c(v int32) []byte { return append([]byte{opI32Const}, sleb(int64(v))...) }

func rawName(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func section(id byte, items int, body []byte) []byte {
	content := append(uleb(uint64(items)), body...)
	return append(append([]byte{id}, uleb(uint64(len(content)))...), content...)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func (m rawModule) encode() []byte {
	out := []byte{0x00, 'a', 's', 'm', 1, 0, 0, 0}
	if len(m.types) > 0 {
		var b []byte
		for _, t := range m.types {
			b = append(b, 0x60)
			b = append(b, uleb(uint64(len(t.params)))...)
			b = append(b, t.params...)
			b = append(b, uleb(uint64(len(t.results)))...)
			b = append(b, t.results...)
		}
		out = append(out, section(1, len(m.types), b)...)
	}
	if len(m.imports) > 0 {
		var b []byte
		for _, im := range m.imports {
			b = append(b, rawName(im.module)...)
			b = append(b, rawName(im.name)...)
			b = append(b, im.kind)
			if im.kind == externFunc {
				b = append(b, uleb(uint64(im.typ))...)
			} else { // memory of 1 page
				b = append(b, 0x00, 0x01)
			}
		}
		out = append(out, section(2, len(m.imports), b)...)
	}
	if len(m.funcs) > 0 {
		var b []byte
		for _, f := range m.funcs {
			b = append(b, uleb(uint64(f.typ))...)
		}
		out = append(out, section(3, len(m.funcs), b)...)
	}
	if m.table != nil {
		out = append(out, section(4, 1, cat([]byte{0x70, 0x00}, uleb(uint64(*m.table))))...)
	}
	if m.memory != nil {
		var b []byte
		if m.memory[1] == 0 {
			b = cat([]byte{0x00}, uleb(uint64(m.memory[0])))
		} else {
			b = cat([]byte{0x01}, uleb(uint64(m.memory[0])), uleb(uint64(m.memory[1])))
		}
		out = append(out, section(5, 1, b)...)
	}
	if len(m.exports) > 0 {
		var b []byte
		for _, e := range m.exports {
			b = append(b, rawName(e.name)...)
			b = append(b, e.kind)
			b = append(b, uleb(uint64(e.idx))...)
		}
		out = append(out, section(7, len(m.exports), b)...)
	}
	if m.start != nil {
		s := uleb(uint64(*m.start))
		out = append(out, append(append([]byte{8}, uleb(uint64(len(s)))...), s...)...)
	}
	if len(m.funcs) > 0 {
		var b []byte
		for _, f := range m.funcs {
			var body []byte
			if len(f.locals) == 0 {
				body = []byte{0}
			} else {
				body = uleb(uint64(len(f.locals)))
				for _, t := range f.locals {
					body = append(body, 1, t)
				}
			}
			body = append(body, f.body...)
			body = append(body, opEnd)
			b = append(b, uleb(uint64(len(body)))...)
			b = append(b, body...)
		}
		out = append(out, section(10, len(m.funcs), b)...)
	}
	if len(m.data) > 0 {
		var b []byte
		for _, d := range m.data {
			b = append(b, 0x00) // active, memory 0
			b = append(b, i32c(int32(d.offset))...)
			b = append(b, opEnd)
			b = append(b, uleb(uint64(len(d.bytes)))...)
			b = append(b, d.bytes...)
		}
		out = append(out, section(11, len(m.data), b)...)
	}
	return out
}

var (
	typeVoid   = rawType{}
	typeIOVec  = rawType{params: []byte{i32, i32, i32, i32}, results: []byte{i32}} // fd_read, fd_write
	importRead = rawImport{module: wasiModule, name: "fd_read", typ: 1}
	importWrit = rawImport{module: wasiModule, name: "fd_write", typ: 1}
	memExport  = rawExport{name: "memory", kind: externMemory}
)

func u32p(v uint32) *uint32 { return &v }

// command is a module with a _start of the given body, importing fd_write (function 0) so that
// _start is function 1, with a one-page memory, data at offset 16 and an iovec {16, len(data)} at 0.
func command(body []byte, data string) rawModule {
	m := rawModule{
		types:   []rawType{typeVoid, typeIOVec},
		imports: []rawImport{importWrit},
		funcs:   []rawFunc{{typ: 0, body: body}},
		memory:  &[2]uint32{1, 0},
		exports: []rawExport{{name: "_start", kind: externFunc, idx: 1}, memExport},
	}
	if data != "" {
		l := uint32(len(data))
		m.data = []rawData{
			{offset: 0, bytes: []byte{16, 0, 0, 0, byte(l), byte(l >> 8), byte(l >> 16), byte(l >> 24)}},
			{offset: 16, bytes: []byte(data)},
		}
	}
	return m
}

// writeData is the body that writes the iovec at 0 to stdout: fd_write(1, 0, 1, 8).
var writeData = cat(i32c(1), i32c(0), i32c(1), i32c(8), []byte{opCall, 0, opDrop})

// rawConst writes a constant result.
func rawConst(result string) []byte { return command(writeData, result).encode() }

// rawConstMem writes a constant result and declares a memory of minPages.
func rawConstMem(result string, minPages uint32) []byte {
	m := command(writeData, result)
	m.memory = &[2]uint32{minPages, 0}
	return m.encode()
}

// rawEcho copies stdin (up to 64 KiB) to stdout.
func rawEcho() []byte {
	const buf = 1024
	body := cat(
		[]byte{opLoop, opBlockVoid},
		// iov = {buf + n, 65536 - n}
		i32c(0), i32c(buf), []byte{opLocalGet, 0, opI32Add, opI32Store, 2, 0},
		i32c(4), i32c(65536), []byte{opLocalGet, 0, opI32Sub, opI32Store, 2, 0},
		// fd_read(0, 0, 1, 8)
		i32c(0), i32c(0), i32c(1), i32c(8), []byte{opCall, 0, opDrop},
		// if nread := load(8); nread != 0 { n += nread; continue }
		i32c(8), []byte{opI32Load, 2, 0, opLocalTee, 1},
		[]byte{opIf, opBlockVoid, opLocalGet, 0, opLocalGet, 1, opI32Add, opLocalSet, 0, opBr, 1, opEnd},
		[]byte{opEnd},
		// iov = {buf, n}; fd_write(1, 0, 1, 8)
		i32c(0), i32c(buf), []byte{opI32Store, 2, 0},
		i32c(4), []byte{opLocalGet, 0, opI32Store, 2, 0},
		i32c(1), i32c(0), i32c(1), i32c(8), []byte{opCall, 1, opDrop},
	)
	return rawModule{
		types:   []rawType{typeVoid, typeIOVec},
		imports: []rawImport{importRead, importWrit},
		funcs:   []rawFunc{{typ: 0, locals: []byte{i32, i32}, body: body}},
		memory:  &[2]uint32{2, 0},
		exports: []rawExport{{name: "_start", kind: externFunc, idx: 2}, memExport},
	}.encode()
}

// rawRecurse calls itself forever: function 1 is _start, calling function 2, calling itself.
func rawRecurse() []byte {
	m := command([]byte{opCall, 2}, "")
	m.funcs = append(m.funcs, rawFunc{typ: 0, body: []byte{opCall, 2}})
	return m.encode()
}

// rawStartTrap has a start function (function 2) that traps, and a _start that would succeed.
func rawStartTrap() []byte {
	m := command(writeData, `{}`)
	m.funcs = append(m.funcs, rawFunc{typ: 0, body: []byte{opUnreachable}})
	m.start = u32p(2)
	return m.encode()
}

// rawGrow grows its memory by pages and traps if that fails, then writes {"grown":true}.
func rawGrow(pages int32) []byte {
	body := cat(i32c(pages), []byte{opMemoryGrow, 0}, i32c(-1), []byte{opI32Eq, opIf, opBlockVoid, opUnreachable, opEnd}, writeData)
	return command(body, `{"grown":true}`).encode()
}

// rawDirty traps if the word at 100 or at 65536+100 (in a page it grows) is not zero, then writes
// there: an instance that sees a previous instance's memory traps.
func rawDirty() []byte {
	check := func(addr int32) []byte {
		return cat(i32c(addr), []byte{opI32Load, 2, 0, opIf, opBlockVoid, opUnreachable, opEnd},
			i32c(addr), i32c(0x12345678), []byte{opI32Store, 2, 0})
	}
	body := cat(check(100), i32c(1), []byte{opMemoryGrow, 0, opDrop}, check(65536+100), writeData)
	return command(body, `{"clean":true}`).encode()
}
