package wisp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"
)

// logOutput is where Log writes; nil means os.Stderr (as it is when Log is called).
var logOutput io.Writer

// Log writes a log line of the activation to stderr: its operands formatted
// as by fmt.Sprintln (spaces between them, one newline at the end). Wisp
// stamps each line with its time, so Log adds no prefix; a message with
// newlines makes several lines. Log is safe for concurrent use in that each
// call makes one write.
func Log(args ...any) {
	// The line is built in a buffer on the stack: writeLine does not let
	// it escape.
	var buf [128]byte
	if line, ok := plainLine(buf[:0], args); ok {
		writeLine(line)
		return
	}
	writeLog(fmt.Sprintln(args...))
}

// plainLine is fmt.Sprintln(args...) for operands of the types a log line
// is mostly made of (string, bool and the integers: not types of their
// own, whose String or Error method fmt would call), without fmt's
// machinery, which in a Wasm guest costs more than the write itself. It
// reports false for any other operand. The line is appended to b.
func plainLine(b []byte, args []any) ([]byte, bool) {
	for i, a := range args {
		if i > 0 {
			b = append(b, ' ')
		}
		switch v := a.(type) {
		case string:
			b = append(b, v...)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int32:
			b = strconv.AppendInt(b, int64(v), 10)
		case uint:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint64:
			b = strconv.AppendUint(b, v, 10)
		case uint32:
			b = strconv.AppendUint(b, uint64(v), 10)
		case bool:
			b = strconv.AppendBool(b, v)
		default:
			return nil, false
		}
	}
	return append(b, '\n'), true
}

// Logf is Log with a format, as fmt.Sprintf; a final newline is added if
// missing.
func Logf(format string, args ...any) {
	writeLog(fmt.Sprintf(format, args...))
}

// writeLog writes s, with a final newline, as writeLine does.
func writeLog(s string) {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	writeLine(unsafe.Slice(unsafe.StringData(s), len(s))) // read only, as writeLine does
}

// writeLine writes line, which ends with a newline, to logOutput or else
// to stderr: straight to file descriptor 2 when it can (writeStderr),
// else through os.Stderr. It does not keep line: the caller's buffer may
// be on its stack.
func writeLine(line []byte) {
	if logOutput == nil && writeStderr(unsafe.String(unsafe.SliceData(line), len(line))) {
		return
	}
	w := logOutput
	if w == nil {
		w = os.Stderr
	}
	_, _ = w.Write(bytes.Clone(line)) // a copy: a Writer is an interface, which line would escape through
}
