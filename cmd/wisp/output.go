package main

// Output and error helpers: every command prints through these, so that
// the CLI speaks in one voice.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
)

// usageError is a command line that does not fit the command: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// argsUsage returns a cobra.PositionalArgs accepting min to max arguments
// (max < 0 for any number), described as names in the error
// ("NAME [FILE]").
func argsUsage(min, max int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			if names == "" {
				return usagef("%s takes no arguments, got %d", cmd.CommandPath(), len(args))
			}
			return usagef("%s takes %s, got %d argument(s)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

// ok prints an "ok: ..." line, unless --json asked for JSON only.
func (a *app) ok(format string, args ...any) {
	if !a.json {
		fmt.Fprintf(a.stdout, "ok: "+format+"\n", args...)
	}
}

// progressThreshold is the size of code from which create and update show
// the upload's progress.
const progressThreshold = 1 << 20

// uploadProgress returns a progress reporter that draws one status line on
// stderr: "uploading FILE: 45% of 3.3 MB", then "compiling…" once the
// last byte is sent. It redraws at most every 100 ms.
func (a *app) uploadProgress(file string) func(sent, total int64) {
	var last time.Time
	return func(sent, total int64) {
		if sent < total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		fmt.Fprintf(a.stderr, "\ruploading %s: %3d%% of %s", file, sent*100/max(total, 1), humanBytes(total))
		if sent >= total {
			fmt.Fprintf(a.stderr, "; compiling on the server…\n")
		}
	}
}

// humanBytes writes n as "512 B", "3.3 MB".
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// roundDuration keeps three significant digits: 1.23s, 45.6ms, 789µs.
func roundDuration(d time.Duration) time.Duration {
	for _, unit := range []time.Duration{time.Second, time.Millisecond, time.Microsecond} {
		if d >= unit {
			return d.Round(unit / 100)
		}
	}
	return d
}

// printJSON prints v as indented JSON (4 spaces, as wsk), with < > &
// unescaped. A json.RawMessage is printed as it is, indented.
func printJSON(w io.Writer, v any) error {
	var raw []byte
	if r, ok := v.(json.RawMessage); ok {
		raw = r
	} else {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("print JSON: %w", err)
		}
		raw = buf.Bytes()
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	var out bytes.Buffer
	if json.Indent(&out, raw, "", "    ") != nil {
		// Not JSON after all (a proxy's answer): print it as it came.
		out.Reset()
		out.Write(raw)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// compactJSONValue renders v as JSON on one line, with < > & unescaped.
func compactJSONValue(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return strings.TrimSpace(b.String())
}

// compactJSON renders raw on one line ({} when empty).
func compactJSON(raw json.RawMessage) string {
	if len(bytes.TrimSpace(raw)) == 0 {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// cliError is a failed operation, worded for a person.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// failed words the error of the operation op ("get action hello") for a
// person: what to check when the server cannot be reached or refuses the
// key, and the server's own message otherwise.
func failed(host, op string, err error) error {
	var (
		ae  *client.APIError
		oe  *net.OpError
		ue  *url.Error
		msg string
	)
	switch {
	case errors.As(err, &ae) && ae.Status == 401:
		msg = fmt.Sprintf("the auth key was refused: check `wisp property get --auth` (%s)", ae)
	case errors.As(err, &ae):
		msg = op + ": " + ae.Error()
	case errors.Is(err, context.Canceled):
		msg = op + ": interrupted"
	case errors.As(err, &oe) && oe.Op == "dial":
		msg = fmt.Sprintf("the server at %s is not reachable: %v", host, oe.Err)
	case errors.As(err, &ue):
		msg = fmt.Sprintf("%s: talking to the server at %s failed: %v", op, host, ue.Err)
	default:
		msg = op + ": " + err.Error()
	}
	return &cliError{msg: msg, err: err}
}

// qualifiedName is how the CLI shows an entity name given on the command
// line: "/_/name" unless it is already fully qualified.
func qualifiedName(name string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	return "/_/" + name
}

// printActionList prints actions as wsk's table: a header line, then
// "/ns/name" padded to 70, "private" or "shared", and the kind.
func printActionList(w io.Writer, actions []core.Action) {
	fmt.Fprintln(w, "actions")
	for _, act := range actions {
		publish := "private"
		if act.Publish {
			publish = "shared"
		}
		fmt.Fprintf(w, "%-70s %s %s\n", "/"+act.Namespace+"/"+act.Name, publish, act.Exec.Kind)
	}
}

// activationRow is the column layout of the activation list.
const activationRow = "%-19s %-32s %-14s %-5s %-9s %-17s %s\n"

// printActivationList prints activations as wsk's table.
func printActivationList(w io.Writer, acts []core.Activation) {
	fmt.Fprintf(w, activationRow, "Datetime", "Activation ID", "Kind", "Start", "Duration", "Status", "Entity")
	for _, act := range acts {
		start := "warm"
		if n, ok := annotationInt(act.Annotations, "initTime"); ok && n > 0 {
			start = "cold"
		}
		kind, _ := annotationString(act.Annotations, "kind")
		entity, ok := annotationString(act.Annotations, "path")
		if !ok {
			entity = act.Namespace + "/" + act.Name
		}
		fmt.Fprintf(w, activationRow,
			time.UnixMilli(act.Start).Format(time.DateTime), act.ActivationID, kind, start,
			fmt.Sprintf("%dms", act.Duration), activationStatus(act), entity+":"+act.Version)
	}
}

// statusNames are the short names of activation status codes the CLI
// shows, as wsk's activation list does.
var statusNames = map[int]string{
	core.StatusSuccess:          "success",
	core.StatusApplicationError: "application error",
	core.StatusDeveloperError:   "developer error",
	core.StatusInternalError:    "internal error",
}

// activationStatus names the outcome of an activation, from its response
// when the record has one, else from its status code (a summary).
func activationStatus(act core.Activation) string {
	code := act.StatusCode
	if act.Response.Status != "" {
		code = act.Response.StatusCode
	}
	if name, ok := statusNames[code]; ok {
		return name
	}
	return fmt.Sprintf("status %d", code)
}

func annotationString(kvs core.KeyValues, key string) (string, bool) {
	raw, ok := kvs.Get(key)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return compactJSON(raw), true
	}
	return s, true
}

func annotationInt(kvs core.KeyValues, key string) (int64, bool) {
	raw, ok := kvs.Get(key)
	if !ok {
		return 0, false
	}
	var n float64
	if json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	return int64(n), true
}
