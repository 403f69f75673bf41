// Package wasmtest assembles tiny Wasm actions, byte by byte, for the
// tests of packages that need real actions on a real Wisp node (the client
// and the CLI) without a toolchain.
//
// Each module is a WASI preview 1 command of a few hundred bytes: wazero
// compiles it in well under a millisecond, where a module built by Go for
// wasip1 (about 3 MB) takes a second, and twenty under the race detector.
// A test may therefore make as many distinct actions as it likes.
//
// The assembler is a minimal copy of the one in wasmrt's tests, which
// covers far more of the format; this one emits only what Action needs.
package wasmtest

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Action describes a test action. Its module does, in each activation:
//
//  1. write each of Logs to stderr as one line (one log line of the
//     activation each);
//  2. sleep for Sleep, when it is positive;
//  3. exit with code Exit when it is not 0 (a developer error), or else
//     copy its stdin to stdout: the result is the parameters, as one JSON
//     object. Parameters with a top-level "error" key therefore make an
//     application error whose result is those parameters.
//
// The parameters are echoed up to 128 KiB; past that the result is cut
// and is not JSON. Logs must fit in 60 KiB together.
type Action struct {
	Logs  []string
	Sleep time.Duration
	Exit  uint32
}

// Wasm returns the module's bytes. Equal Actions give equal bytes (hence
// one digest, compiled once by a node); distinct ones give distinct bytes.
// It panics when Logs are larger than the module leaves room for, or
// contain a newline or a NUL.
func (a Action) Wasm() []byte {
	var logs []byte
	for _, l := range a.Logs {
		if strings.ContainsAny(l, "\n\x00") {
			panic(fmt.Sprintf("wasmtest: log line %q contains a newline or a NUL", l))
		}
		logs = append(append(logs, l...), '\n')
	}
	if len(logs) > logsMax {
		panic(fmt.Sprintf("wasmtest: %d bytes of log lines; at most %d fit", len(logs), logsMax))
	}

	var body []byte
	var data []dataSegment
	if len(logs) > 0 {
		data = append(data, dataSegment{logsAt, logs})
		body = cat(body, store32(iovAt, logsAt), store32(iovAt+4, int32(len(logs))),
			call(fnFdWrite, i32c(2), i32c(iovAt), i32c(1), i32c(resultAt)), []byte{opDrop})
	}
	if a.Sleep > 0 {
		// One subscription: a relative timeout on the monotonic clock.
		// Userdata 0, tag 0 (clock), precision 0 and flags 0 (relative)
		// are the zero bytes.
		sub := make([]byte, 48)
		binary.LittleEndian.PutUint32(sub[16:], 1)               // clock id: monotonic
		binary.LittleEndian.PutUint64(sub[24:], uint64(a.Sleep)) // timeout in ns
		data = append(data, dataSegment{subscriptionAt, sub})
		body = cat(body, call(fnPollOneoff, i32c(subscriptionAt), i32c(eventAt), i32c(1), i32c(resultAt)), []byte{opDrop})
	}
	if a.Exit != 0 {
		body = cat(body, call(fnProcExit, i32c(int32(a.Exit))), []byte{opUnreachable})
	} else {
		body = cat(body, echo)
	}

	out := []byte{0x00, 'a', 's', 'm', 1, 0, 0, 0}
	out = append(out, section(secType, 3, cat(
		[]byte{0x60, 0, 0},                          // 0: () -> ()
		[]byte{0x60, 4, i32, i32, i32, i32, 1, i32}, // 1: (i32 i32 i32 i32) -> i32
		[]byte{0x60, 1, i32, 0},                     // 2: (i32) -> ()
	))...)
	out = append(out, section(secImport, 4, cat(
		wasiImport("fd_read", 1),
		wasiImport("fd_write", 1),
		wasiImport("proc_exit", 2),
		wasiImport("poll_oneoff", 1),
	))...)
	out = append(out, section(secFunction, 1, []byte{0})...)
	out = append(out, section(secMemory, 1, cat([]byte{0x00}, ULEB(memPages)))...)
	out = append(out, section(secExport, 2, cat(
		name("_start"), []byte{externFunc}, ULEB(fnStart),
		name("memory"), []byte{externMemory, 0},
	))...)
	code := cat(ULEB(1), ULEB(2), []byte{i32}, body, []byte{opEnd}) // locals: two i32, n and nread
	out = append(out, section(secCode, 1, cat(ULEB(uint64(len(code))), code))...)
	if len(data) > 0 {
		var segs []byte
		for _, d := range data {
			segs = cat(segs, []byte{0x00}, i32c(d.offset), []byte{opEnd}, ULEB(uint64(len(d.bytes))), d.bytes)
		}
		out = append(out, section(secData, len(data), segs)...)
	}
	return out
}

// Memory layout: page 0 holds the scratch words, the sleep subscription
// and the log text; pages 1 and 2 the parameters read from stdin.
const (
	iovAt          = 0   // an iovec {ptr, len}
	resultAt       = 8   // nread, nwritten or nevents
	subscriptionAt = 64  // 48 bytes
	eventAt        = 128 // 32 bytes
	logsAt         = 256
	logsMax        = 60 << 10
	bufAt          = 1 << 16
	bufLen         = 2 << 16
	memPages       = 3
)

// Function indices: the four imports, then _start.
const (
	fnFdRead = iota
	fnFdWrite
	fnProcExit
	fnPollOneoff
	fnStart
)

// echo copies stdin into the buffer until fd_read reads nothing, then
// writes the buffer to stdout. Local 0 is the number of bytes read so
// far, local 1 what the last fd_read read.
var echo = cat(
	[]byte{opLoop, opBlockVoid},
	// iov = {buf + n, bufLen - n}; the word fd_read fills is cleared so that
	// a failed read ends the loop.
	i32c(iovAt), i32c(bufAt), []byte{opLocalGet, 0, opI32Add, opI32Store, 2, 0},
	i32c(iovAt+4), i32c(bufLen), []byte{opLocalGet, 0, opI32Sub, opI32Store, 2, 0},
	store32(resultAt, 0),
	call(fnFdRead, i32c(0), i32c(iovAt), i32c(1), i32c(resultAt)), []byte{opDrop},
	// if nread := load(resultAt); nread != 0 { n += nread; continue }
	i32c(resultAt), []byte{opI32Load, 2, 0, opLocalTee, 1},
	[]byte{opIf, opBlockVoid, opLocalGet, 0, opLocalGet, 1, opI32Add, opLocalSet, 0, opBr, 1, opEnd},
	[]byte{opEnd},
	// iov = {buf, n}; fd_write(1, iov, 1, &nwritten)
	store32(iovAt, bufAt),
	i32c(iovAt+4), []byte{opLocalGet, 0, opI32Store, 2, 0},
	call(fnFdWrite, i32c(1), i32c(iovAt), i32c(1), i32c(resultAt)), []byte{opDrop},
)

const (
	i32 = 0x7f

	externFunc   = 0x00
	externMemory = 0x02

	secType     = 1
	secImport   = 2
	secFunction = 3
	secMemory   = 5
	secExport   = 7
	secCode     = 10
	secData     = 11

	opUnreachable = 0x00
	opBlockVoid   = 0x40 // the block type of no results
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
	opI32Const    = 0x41
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
)

type dataSegment struct {
	offset int32
	bytes  []byte
}

func wasiImport(fn string, typ uint64) []byte {
	return cat(name("wasi_snapshot_preview1"), name(fn), []byte{externFunc}, ULEB(typ))
}

// call pushes args and calls function fn.
func call(fn uint64, args ...[]byte) []byte {
	return cat(cat(args...), []byte{opCall}, ULEB(fn))
}

// store32 stores the constant v at the constant address addr.
func store32(addr, v int32) []byte {
	return cat(i32c(addr), i32c(v), []byte{opI32Store, 2, 0})
}

// i32c is "i32.const v".
func i32c(v int32) []byte { return append([]byte{opI32Const}, sleb(int64(v))...) }

// ULEB is v in the unsigned LEB128 encoding of the Wasm binary format.
func ULEB(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

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

func name(s string) []byte { return append(ULEB(uint64(len(s))), s...) }

func section(id byte, items int, body []byte) []byte {
	content := append(ULEB(uint64(items)), body...)
	return cat([]byte{id}, ULEB(uint64(len(content))), content)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// WithCustomSection returns wasm with a custom section named name holding
// payload appended. Runtimes ignore custom sections: the module runs as
// before, but its bytes, and so its digest and size, differ.
func WithCustomSection(wasm []byte, name string, payload []byte) []byte {
	body := append(ULEB(uint64(len(name))), name...)
	body = append(body, payload...)
	out := make([]byte, 0, len(wasm)+len(body)+6)
	out = append(out, wasm...)
	out = append(out, 0) // custom section
	out = append(out, ULEB(uint64(len(body)))...)
	return append(out, body...)
}

// MinimalCommand is (module (func (export "_start"))): the smallest WASI command.
var MinimalCommand = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: () -> ()
	0x03, 0x02, 0x01, 0x00, // functions: one of type 0
	0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export "_start"
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: an empty body
}
