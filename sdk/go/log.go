package wisp

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// logOutput is where Log writes; nil means os.Stderr (as it is when Log is called).
var logOutput io.Writer

// Log writes a log line of the activation to stderr: its operands formatted
// as by fmt.Sprintln (spaces between them, one newline at the end). Wisp
// stamps each line with its time, so Log adds no prefix; a message with
// newlines makes several lines. Log is safe for concurrent use in that each
// call makes one write.
func Log(args ...any) {
	writeLog(fmt.Sprintln(args...))
}

// Logf is Log with a format, as fmt.Sprintf; a final newline is added if
// missing.
func Logf(format string, args ...any) {
	writeLog(fmt.Sprintf(format, args...))
}

func writeLog(s string) {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	w := logOutput
	if w == nil {
		w = os.Stderr
	}
	_, _ = io.WriteString(w, s)
}
