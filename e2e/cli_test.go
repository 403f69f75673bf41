package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cli runs the built wisp binary with a properties file of its own.
type cli struct {
	env    []string
	config string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	if wispBuildErr != nil {
		t.Fatalf("the wisp CLI did not build: %v", wispBuildErr)
	}
	dir := t.TempDir()
	c := &cli{config: filepath.Join(dir, "wisprc")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WISP_") && !strings.HasPrefix(kv, "HOME=") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env, "HOME="+dir, "WISP_CONFIG_FILE="+c.config)
	return c
}

func (c *cli) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, wispBin, args...)
	cmd.Env = c.env
	return cmd
}

// run runs wisp with args and returns its output and exit code.
func (c *cli) run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := c.command(ctx, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("wisp %q: %v", args, err)
	}
	return o.String(), e.String(), code
}

// ok runs wisp with args, wants exit code 0, and returns its stdout.
func (c *cli) ok(t testing.TB, args ...string) string {
	t.Helper()
	stdout, stderr, code := c.run(t, args...)
	if code != 0 {
		t.Fatalf("wisp %s: exit code %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// fails runs wisp with args and wants exit code want and stderr naming
// each of says.
func (c *cli) fails(t testing.TB, want int, says []string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := c.run(t, args...)
	if code != want {
		t.Errorf("wisp %s: exit code %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	for _, s := range says {
		if !strings.Contains(strings.ToLower(stderr), strings.ToLower(s)) {
			t.Errorf("wisp %s: stderr does not mention %q: %s", strings.Join(args, " "), s, stderr)
		}
	}
	return stdout, stderr
}

// jsonIn decodes the JSON value that starts at the first '{' of out.
func jsonIn(t testing.TB, out string, v any) {
	t.Helper()
	i := strings.IndexByte(out, '{')
	if i < 0 {
		t.Fatalf("no JSON object in %q", out)
	}
	if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(v); err != nil {
		t.Fatalf("decode the JSON in %q: %v", out, err)
	}
}

var invokedRE = regexp.MustCompile(`with id ([0-9a-f]{32})`)

func TestCLI(t *testing.T) {
	t.Parallel()
	d := shared(t)
	a := d.namespace(t)
	c := newCLI(t)

	c.ok(t, "property", "set", "--apihost", d.url, "--auth", a.auth)
	props := c.ok(t, "property", "get")
	if !strings.Contains(props, d.url) || !strings.Contains(props, a.auth) {
		t.Errorf("property get after set: %s", props)
	}
	if _, err := os.Stat(c.config); err != nil {
		t.Errorf("property set wrote no %s: %v", c.config, err)
	}

	// Create: the kind comes from the file's extension.
	out := c.ok(t, "action", "create", "hello", wasmPath("hello"))
	if !strings.Contains(out, "hello") {
		t.Errorf("action create printed %q", out)
	}
	got := a.get(t, actionsPath+"/hello").want(t, http.StatusOK).object(t)
	if exec, _ := got["exec"].(map[string]any); exec["kind"] != "wasm" || exec["code"] != wasmBase64(t, "hello") {
		t.Errorf("the action created by the CLI: exec kind %v, code as uploaded: %v", exec["kind"], exec["code"] == wasmBase64(t, "hello"))
	}
	c.fails(t, 1, []string{"exists"}, "action", "create", "hello", wasmPath("hello"))

	// Invoke: --result, --blocking, and not waiting.
	var res map[string]any
	jsonIn(t, c.ok(t, "action", "invoke", "hello", "-p", "name", "Ann", "--result"), &res)
	if res["greeting"] != "Hello, Ann!" {
		t.Errorf("invoke --result: %v", res)
	}
	out = c.ok(t, "action", "invoke", "hello", "-p", "name", "Bea", "--blocking")
	var rec activation
	jsonIn(t, out, &rec)
	if rec.Response == nil || rec.Response.Result["greeting"] != "Hello, Bea!" || !activationIDRE.MatchString(rec.ActivationID) {
		t.Errorf("invoke --blocking printed %s", out)
	}
	out = c.ok(t, "action", "invoke", "hello", "-p", "name", "Cy")
	m := invokedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("invoke without waiting printed %q, want the activation id", out)
	}
	nb := a.record(t, m[1])
	if nb.Response.Result["greeting"] != "Hello, Cy!" {
		t.Errorf("the non-blocking invoke's record: %s", nb.Raw)
	}

	// Action list and get.
	if out := c.ok(t, "action", "list"); !strings.Contains(out, "/"+a.ns+"/hello") {
		t.Errorf("action list: %s", out)
	}
	var act map[string]any
	jsonIn(t, c.ok(t, "action", "get", "hello"), &act)
	if act["name"] != "hello" || act["namespace"] != a.ns || act["version"] != "0.0.1" {
		t.Errorf("action get: %v", act)
	}

	// Activations.
	out = c.ok(t, "activation", "list")
	for _, id := range []string{rec.ActivationID, nb.ActivationID} {
		if !strings.Contains(out, id) {
			t.Errorf("activation list does not show %s:\n%s", id, out)
		}
	}
	var got2 activation
	jsonIn(t, c.ok(t, "activation", "get", rec.ActivationID), &got2)
	if got2.ActivationID != rec.ActivationID || got2.Response.Result["greeting"] != "Hello, Bea!" {
		t.Errorf("activation get: %+v", got2)
	}
	logs := c.ok(t, "activation", "logs", rec.ActivationID)
	if !strings.Contains(logs, "hello: greeting Bea") {
		t.Errorf("activation logs: %q", logs)
	}
	jsonIn(t, c.ok(t, "activation", "result", rec.ActivationID), &res)
	if res["greeting"] != "Hello, Bea!" {
		t.Errorf("activation result: %v", res)
	}

	// Poll: an activation that starts while poll runs is printed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A window wide enough for a loaded machine (the invoke below must
	// start and finish inside it); polled often so it ends soon after.
	poll := c.command(ctx, "activation", "poll", "--exit", "8", "--interval", "200ms")
	pr, pw := io.Pipe()
	var pollOut bytes.Buffer
	poll.Stdout = io.MultiWriter(pw, &pollOut)
	var pollErr bytes.Buffer
	poll.Stderr = &pollErr
	if err := poll.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), "Polling") {
				seen = true
				started <- true
			}
		}
		if !seen {
			started <- false
		}
	}()
	if <-started {
		a.invoke(t, "hello", "blocking=true", map[string]any{"name": "Polled"}).want(t, http.StatusOK)
	}
	werr := poll.Wait()
	pw.Close()
	if werr != nil {
		t.Errorf("activation poll --exit 8: %v\nstdout: %s\nstderr: %s", werr, pollOut.String(), pollErr.String())
	}
	if !strings.Contains(pollOut.String(), "Hello, Polled!") {
		t.Errorf("activation poll did not print the activation that ran while it polled:\n%s\nstderr: %s", pollOut.String(), pollErr.String())
	}

	// Failures: non-zero exit codes with the reason on stderr.
	c.ok(t, "action", "create", "exit3", wasmPath("exit3"))
	out, _ = c.fails(t, 1, nil, "action", "invoke", "exit3", "--result")
	if !strings.Contains(out, "exited with code 3") {
		t.Errorf("a failing action's result was not printed: %q", out)
	}
	c.fails(t, 1, []string{"does not exist"}, "action", "invoke", "missing", "--result")
	c.fails(t, 1, []string{"does not exist"}, "activation", "get", strings.Repeat("0", 32))
	c.fails(t, 1, []string{"auth"}, "--auth", strings.SplitN(a.auth, ":", 2)[0]+":"+strings.Repeat("0", 64), "action", "list")
	c.fails(t, 1, nil, "--apihost", "http://127.0.0.1:1", "action", "list")
	c.fails(t, 2, nil, "action", "create", "only-a-name")
	c.fails(t, 1, nil, "action", "create", "bad", filepath.Join(t.TempDir(), "missing.wasm"))

	// Delete.
	c.ok(t, "action", "delete", "hello")
	a.get(t, actionsPath+"/hello").wantError(t, http.StatusNotFound)
	c.fails(t, 1, []string{"does not exist"}, "action", "get", "hello")
	c.fails(t, 1, []string{"does not exist"}, "action", "delete", "hello")
}
