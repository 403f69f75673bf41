//go:build linux

package wisp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// ActionLoopEnv is the environment variable Wisp's native runtime sets
// (to "1") when it starts an action's executable: with it, Main serves the
// container protocol instead of running one activation from stdin.
const ActionLoopEnv = "WISP_ACTION_LOOP"

// sentinel closes each activation's logs on stdout and stderr.
const sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX\n"

// serveActionLoop serves the container protocol when the native runtime
// started the process, and then exits; it reports false otherwise.
func serveActionLoop() bool {
	if os.Getenv(ActionLoopEnv) == "" {
		return false
	}
	os.Unsetenv(ActionLoopEnv) // not inherited by what the handler starts
	reply := os.NewFile(3, "reply")
	if reply == nil {
		fmt.Fprintln(os.Stderr, "wisp: file descriptor 3 (the reply pipe) is not open")
		os.Exit(1)
	}
	os.Exit(actionLoop(os.Stdin, reply, os.Stdout, os.Stderr, os.Setenv, os.Unsetenv))
	return true
}

// actionLoop reads run messages from in, one JSON object per line, calls
// the handler for each, writes the result as one line to reply and then
// the sentinel to stdout and stderr. It returns the exit status: 0 when in
// ends, 1 after a developer error (no handler, a result that is not a JSON
// object), which it writes to stderr; Wisp records the exit and discards
// the container. An init message (when the executable is a blackbox
// image's entrypoint, with no launcher before it) is answered {"ok":true}.
func actionLoop(in io.Reader, reply, stdout, stderr io.Writer, setenv func(k, v string) error, unsetenv func(k string) error) int {
	r := bufio.NewReaderSize(in, 64<<10)
	var envKeys []string
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var msg map[string]json.RawMessage
			if jerr := json.Unmarshal(line, &msg); jerr != nil {
				fmt.Fprintf(stderr, "wisp: the message is not a JSON object: %v\n", jerr)
				return 1
			}
			var res []byte
			if _, ok := msg["init"]; ok {
				res = []byte(`{"ok":true}`)
			} else {
				envKeys = setRunEnv(msg, envKeys, setenv, unsetenv)
				params := msg["value"]
				if len(params) == 0 || string(params) == "null" {
					params = []byte("{}")
				}
				var cerr error
				res, cerr = call(activationFromEnv(os.Getenv), params, nil)
				if cerr != nil {
					fmt.Fprintf(stderr, "wisp: %v\n", cerr)
					return 1
				}
			}
			if _, werr := reply.Write(append(res, '\n')); werr != nil {
				fmt.Fprintf(stderr, "wisp: write the result: %v\n", werr)
				return 1
			}
			io.WriteString(stdout, sentinel)
			io.WriteString(stderr, sentinel)
		}
		if err == io.EOF {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "wisp: read the next message: %v\n", err)
			return 1
		}
	}
}

// setRunEnv sets __OW_<KEY> for every key of a run message but value (a
// string as it is, anything else as JSON), unsets those of the previous
// message that this one lacks, and returns the keys set.
func setRunEnv(msg map[string]json.RawMessage, prev []string, setenv func(k, v string) error, unsetenv func(k string) error) []string {
	keys := make([]string, 0, len(msg))
	for k, raw := range msg {
		if k == "value" {
			continue
		}
		v := string(raw)
		var s string
		if json.Unmarshal(raw, &s) == nil {
			v = s
		}
		key := "__OW_" + strings.ToUpper(k)
		_ = setenv(key, v)
		keys = append(keys, key)
	}
	for _, p := range prev {
		found := false
		for _, k := range keys {
			found = found || k == p
		}
		if !found {
			_ = unsetenv(p)
		}
	}
	return keys
}
