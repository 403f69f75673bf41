package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/internal/syncbuf"
	"github.com/wispfaas/wisp/internal/wasmtest"
)

// invokeID invokes name blocking with args and returns the activation id.
func (c *cli) invokeID(name string, args ...string) string {
	c.t.Helper()
	r := c.run(append([]string{"action", "invoke", name, "-b"}, args...)...)
	id := idRE.FindString(r.stdout)
	if id == "" {
		c.t.Fatalf("invoke %s: %+v", name, r)
	}
	return id
}

func TestActivationCommands(t *testing.T) {
	ns := newNamespace(t)
	c := newCLI(t, ns)
	c.ok("action", "create", "echo", wasmFile(t, "echo", wasmtest.Action{}))
	c.ok("action", "create", "other", wasmFile(t, "other", wasmtest.Action{}))
	before := time.Now().UnixMilli()
	first := c.invokeID("echo", "-p", "n", "1")
	nextMillisecond() // activations of one millisecond list in any order
	failed := c.invokeID("echo", "-p", "error", "boom")
	nextMillisecond()
	last := c.invokeID("other")

	out := c.ok("activation", "list")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || lines[0] != strings.TrimSuffix(fmt.Sprintf(activationRow, "Datetime", "Activation ID", "Kind", "Start", "Duration", "Status", "Entity"), "\n") {
		t.Fatalf("activation list =\n%s", out)
	}
	for i, want := range []struct{ id, status, entity string }{
		{last, "success", ns.name + "/other:0.0.1"},
		{failed, "application error", ns.name + "/echo:0.0.1"},
		{first, "success", ns.name + "/echo:0.0.1"},
	} {
		f := strings.Fields(lines[i+1])
		// date, time, id, kind, start, duration, status (one or two words), entity
		if len(f) < 8 || f[2] != want.id || f[3] != "wasm" || (f[4] != "cold" && f[4] != "warm") || !strings.HasSuffix(f[5], "ms") ||
			!strings.Contains(lines[i+1], " "+want.status+" ") || f[len(f)-1] != want.entity {
			t.Errorf("row %d = %q, want %+v", i, lines[i+1], want)
		}
	}
	if out := c.ok("activation", "list", "echo", "--limit", "1"); !strings.Contains(out, failed) || strings.Contains(out, first) {
		t.Fatalf("activation list echo --limit 1 =\n%s", out)
	}
	if out := c.ok("activation", "list", "--skip", "2", "--since", fmt.Sprint(before)); !strings.Contains(out, first) || strings.Count(out, "\n") != 2 {
		t.Fatalf("activation list --skip 2 =\n%s", out)
	}
	if out := c.ok("activation", "list", "--upto", fmt.Sprint(before-1)); strings.Count(out, "\n") != 1 {
		t.Fatalf("activation list --upto before =\n%s", out)
	}
	var full []map[string]any
	if out := c.ok("activation", "list", "--full"); json.Unmarshal([]byte(out), &full) != nil || len(full) != 3 || full[0]["logs"] == nil {
		t.Fatalf("activation list --full = %s", out)
	}
	var sums []map[string]any
	if out := c.ok("--json", "activation", "list"); json.Unmarshal([]byte(out), &sums) != nil || len(sums) != 3 || sums[0]["logs"] != nil || sums[0]["activationId"] != last {
		t.Fatalf("activation list --json = %s", out)
	}

	out = c.ok("activation", "get", failed)
	head, body, _ := strings.Cut(out, "\n")
	var rec map[string]any
	if head != "ok: got activation "+failed || json.Unmarshal([]byte(body), &rec) != nil || rec["activationId"] != failed {
		t.Fatalf("activation get = %q", out)
	}
	if out := c.ok("activation", "logs", first); !logLine.MatchString(out) || !strings.HasSuffix(out, " stderr: "+echoLog+"\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("activation logs = %q", out)
	}
	if out := c.ok("activation", "result", failed); out != "{\n    \"error\": \"boom\"\n}\n" {
		t.Fatalf("activation result = %q", out)
	}
	if out := c.ok("--json", "activation", "result", first); !strings.Contains(out, `"status": "success"`) || !strings.Contains(out, `"n": 1`) {
		t.Fatalf("activation result --json = %q", out)
	}
	if out := c.ok("activation", "get", "--last"); !strings.HasPrefix(out, "ok: got activation "+last+"\n") {
		t.Fatalf("activation get --last = %q", out)
	}
	if out := c.ok("activation", "result", "-l"); out != "{}\n" {
		t.Fatalf("activation result --last = %q", out)
	}
	if r := c.run("activation", "logs", "--last", first); r.code != 2 {
		t.Fatalf("--last with an id: %+v", r)
	}
}

// TestPrintActivationList checks the table's columns for records of every
// kind, including what a node in one process never shows: a cold start
// (its gateway compiles a module when the action is created) and the
// statuses of failures of the platform.
func TestPrintActivationList(t *testing.T) {
	start := time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local).UnixMilli()
	rec := func(id string, status int, annots core.KeyValues) core.Activation {
		return core.Activation{Namespace: "guest", Name: "echo", Version: "0.0.2", ActivationID: strings.Repeat(id, 32),
			Start: start, Duration: 42, StatusCode: status, Annotations: annots}
	}
	acts := []core.Activation{
		rec("a", core.StatusSuccess, core.KeyValues{}.Set("kind", "wasm").Set("path", "guest/pkg/echo").Set("initTime", 17)),
		rec("b", core.StatusDeveloperError, core.KeyValues{}.Set("kind", "wasm").Set("initTime", 0)),
		rec("c", core.StatusInternalError, nil),
		rec("d", 7, nil),
	}
	acts[0].Response = core.NewResponse(core.StatusApplicationError, nil) // the response wins over the summary's code
	var out bytes.Buffer
	printActivationList(&out, acts)
	want := []string{
		"Datetime            Activation ID                    Kind           Start Duration  Status            Entity",
		"2024-05-06 07:08:09 " + strings.Repeat("a", 32) + " wasm           cold  42ms      application error guest/pkg/echo:0.0.2",
		"2024-05-06 07:08:09 " + strings.Repeat("b", 32) + " wasm           warm  42ms      developer error   guest/echo:0.0.2",
		"2024-05-06 07:08:09 " + strings.Repeat("c", 32) + "                warm  42ms      internal error    guest/echo:0.0.2",
		"2024-05-06 07:08:09 " + strings.Repeat("d", 32) + "                warm  42ms      status 7          guest/echo:0.0.2",
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("printActivationList:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestActivationLastWithoutActivations(t *testing.T) {
	c := newCLI(t, newNamespace(t))
	if r := c.run("activation", "get", "--last"); r.code != 1 || r.stderr != "error: there are no activations yet\n" {
		t.Fatalf("%+v", r)
	}
}

func TestActivationPoll(t *testing.T) {
	c := newCLI(t, newNamespace(t))
	c.ok("action", "create", "echo", wasmFile(t, "echo", wasmtest.Action{}))
	c.ok("action", "create", "other", wasmFile(t, "other", wasmtest.Action{}))
	old := c.invokeID("echo") // before the poll: not shown
	nextMillisecond()         // the poll's since has millisecond precision

	var out, errb syncbuf.Buffer
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- runContext(context.Background(), []string{"activation", "poll", "echo", "--exit", "2", "--interval", "20ms"},
			func(k string) string { return c.env[k] }, &out, &errb)
	}()
	// Wait for the poll to start, then make activations for it to find.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "Polling"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("poll did not start")
		}
	}
	// The poll takes its since just after it prints "Polling".
	time.Sleep(10 * time.Millisecond)
	nextMillisecond()
	id := c.invokeID("echo", "-p", "x", "1")
	other := c.invokeID("other")
	nextMillisecond() // the poll prints in the order of the listing
	failedID := c.invokeID("echo", "-p", "error", "bad")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), failedID); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("poll did not print the activations:\n%s", out.String())
		}
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("poll exited %d: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("poll --exit 2 did not exit")
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("poll --exit 2 exited after %v", d)
	}
	got := out.String()
	want := regexp.MustCompile(`^Enter Ctrl-c to exit.\nPolling for activation logs\n` +
		`\nActivation: 'echo' \(` + id + `\)\n    \S+ stderr: ` + regexp.QuoteMeta(echoLog) + `\n` +
		`Result \(success, \d+ms\): \{"x":1\}\n` +
		`\nActivation: 'echo' \(` + failedID + `\)\n    \S+ stderr: ` + regexp.QuoteMeta(echoLog) + `\n` +
		`Result \(application error, \d+ms\): \{"error":"bad"\}\n$`)
	if !want.MatchString(got) || strings.Contains(got, old) || strings.Contains(got, other) {
		t.Fatalf("poll printed:\n%s\nwant it to match:\n%s", got, want)
	}
}
