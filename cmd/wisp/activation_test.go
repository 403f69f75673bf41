package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wispfaas/wisp/client/clienttest"
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
	s := clienttest.NewServer(t)
	c := newCLI(t, s)
	c.ok("action", "create", "echo", writeFile(t, "e.wasm", wasmModule))
	c.ok("action", "create", "other", writeFile(t, "o.wasm", wasmModule))
	before := time.Now().UnixMilli()
	first := c.invokeID("echo", "-p", "n", "1")
	failed := c.invokeID("echo", "-p", "error", "boom")
	last := c.invokeID("other")

	out := c.ok("activation", "list")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || lines[0] != strings.TrimSuffix(fmt.Sprintf(activationRow, "Datetime", "Activation ID", "Kind", "Start", "Duration", "Status", "Entity"), "\n") {
		t.Fatalf("activation list =\n%s", out)
	}
	for i, want := range []struct{ id, start, status, entity string }{
		{last, "cold", "success", "guest/other:0.0.1"},
		{failed, "warm", "application error", "guest/echo:0.0.1"},
		{first, "cold", "success", "guest/echo:0.0.1"},
	} {
		f := strings.Fields(lines[i+1])
		// date, time, id, kind, start, duration, status (one or two words), entity
		if f[2] != want.id || f[3] != "wasm" || f[4] != want.start || !strings.HasSuffix(f[5], "ms") ||
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

	out = c.ok("activation", "get", failed)
	head, body, _ := strings.Cut(out, "\n")
	var rec map[string]any
	if head != "ok: got activation "+failed || json.Unmarshal([]byte(body), &rec) != nil || rec["activationId"] != failed {
		t.Fatalf("activation get = %q", out)
	}
	if out := c.ok("activation", "logs", first); out != "2024-01-01T00:00:00.000Z stdout: echo got 1 parameters\n" {
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

func TestActivationLastWithoutActivations(t *testing.T) {
	c := newCLI(t, clienttest.NewServer(t))
	if r := c.run("activation", "get", "--last"); r.code != 1 || r.stderr != "error: there are no activations yet\n" {
		t.Fatalf("%+v", r)
	}
}

// syncBuffer is a bytes.Buffer safe to read while poll writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestActivationPoll(t *testing.T) {
	s := clienttest.NewServer(t)
	c := newCLI(t, s)
	c.ok("action", "create", "echo", writeFile(t, "e.wasm", wasmModule))
	c.ok("action", "create", "other", writeFile(t, "o.wasm", wasmModule))
	old := c.invokeID("echo")         // before the poll: not shown
	time.Sleep(10 * time.Millisecond) // the poll's since has millisecond precision

	var out, errb syncBuffer
	done := make(chan int)
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
	time.Sleep(10 * time.Millisecond) // start after the poll's since
	id := c.invokeID("echo", "-p", "x", "1")
	other := c.invokeID("other")
	failedID := c.invokeID("echo", "-p", "error", "bad")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), failedID); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("poll did not print the activations:\n%s", out.String())
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("poll exited %d: %s", code, errb.String())
	}
	if d := time.Since(start); d < 2*time.Second || d > 4*time.Second {
		t.Fatalf("poll --exit 2 ran %v", d)
	}
	got := out.String()
	want := "Enter Ctrl-c to exit.\nPolling for activation logs\n" +
		"\nActivation: 'echo' (" + id + ")\n    2024-01-01T00:00:00.000Z stdout: echo got 1 parameters\n"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("poll printed:\n%s\nwant it to start with:\n%s", got, want)
	}
	if !strings.Contains(got, "Result (success, ") || !strings.Contains(got, `): {"x":1}`) || !strings.Contains(got, `Result (application error, `) ||
		strings.Count(got, "Activation:") != 2 || strings.Contains(got, old) || strings.Contains(got, other) {
		t.Fatalf("poll printed:\n%s", got)
	}
}
