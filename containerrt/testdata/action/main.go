// Command action is the containerrt tests' native action: a static
// executable that speaks the action-loop protocol (docs/container-protocol.md)
// after the test runtime's launcher has answered init. What each run does
// is chosen by its parameters:
//
//	{"mode": "count"}            increments /tmp/count and returns it (a warm container keeps it)
//	{"mode": "echo", ...}        returns the parameters and the activation id
//	{"mode": "sleep", "ms": N}   sleeps N ms, then counts
//	{"mode": "exit", "code": N}  exits with status N
//	{"mode": "oom", "mb": N}     allocates and touches N MB
//	{"mode": "array"}            replies a JSON array, not an object
//	{"mode": "log", "lines": N}  writes N lines to stdout and stderr, then counts
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

const sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

type run struct {
	Value struct {
		Mode  string          `json:"mode"`
		MS    int             `json:"ms"`
		Code  int             `json:"code"`
		MB    int             `json:"mb"`
		Lines int             `json:"lines"`
		Tag   json.RawMessage `json:"tag"`
	} `json:"value"`
	ActivationID string `json:"activation_id"`
}

var keep [][]byte

func main() {
	reply := os.NewFile(3, "reply")
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			return
		}
		var r run
		if err := json.Unmarshal(line, &r); err != nil {
			fmt.Fprintf(reply, "{\"error\": %q}\n", err.Error())
			end()
			continue
		}
		v := r.Value
		var out any
		switch v.Mode {
		case "echo":
			out = map[string]any{"tag": v.Tag, "activation": r.ActivationID, "pid": os.Getpid()}
		case "exit":
			os.Exit(v.Code)
		case "oom":
			for i := 0; i < v.MB; i++ {
				b := make([]byte, 1<<20)
				for j := range b {
					b[j] = 1
				}
				keep = append(keep, b)
			}
			out = map[string]any{"allocated": v.MB}
		case "array":
			fmt.Fprintln(reply, "[1, 2, 3]")
			end()
			continue
		case "sleep":
			time.Sleep(time.Duration(v.MS) * time.Millisecond)
			out = map[string]any{"count": count(), "tag": v.Tag}
		case "log":
			for i := 0; i < v.Lines; i++ {
				fmt.Printf("out %d\n", i)
				fmt.Fprintf(os.Stderr, "err %d\n", i)
			}
			out = map[string]any{"count": count()}
		default:
			out = map[string]any{"count": count(), "tag": v.Tag, "pid": os.Getpid()}
		}
		b, _ := json.Marshal(out)
		reply.Write(append(b, '\n'))
		end()
	}
}

// count increments the counter in /tmp, which lives as long as the container.
func count() int {
	b, _ := os.ReadFile("/tmp/count")
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	n++
	os.WriteFile("/tmp/count", []byte(strconv.Itoa(n)), 0o644)
	return n
}

func end() {
	fmt.Println(sentinel)
	fmt.Fprintln(os.Stderr, sentinel)
}
