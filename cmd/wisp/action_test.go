package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wispfaas/wisp/internal/wasmtest"
)

func TestReadActionExec(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"hello.wasm": wasmModule,
		"hello.py":   []byte("def main(args):\n    return args\n"),
		"hello.js":   []byte("function main(p) { return p }"),
		"app.zip":    []byte("PK\x03\x04\xff\xfe"),
		"main.go":    []byte("package main"),
		"fake.wasm":  []byte("not wasm"),
		"server":     []byte("\x7fELF\xff\xfe"),
		"empty.py":   nil,
	}
	for name, data := range files {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	os.Mkdir(filepath.Join(dir, "dir.py"), 0o755)
	b64 := func(name string) string { return base64.StdEncoding.EncodeToString(files[name]) }
	tests := []struct {
		file, kind string
		wantKind   string
		binary     bool
		code       string
		err        string
	}{
		{file: "hello.wasm", wantKind: "wasm", binary: true, code: b64("hello.wasm")},
		{file: "hello.py", wantKind: "python:default", code: string(files["hello.py"])},
		{file: "hello.js", wantKind: "nodejs:default", code: string(files["hello.js"])},
		{file: "hello.js", kind: "nodejs:20", wantKind: "nodejs:20", code: string(files["hello.js"])},
		{file: "app.zip", kind: "python:3", wantKind: "python:3", binary: true, code: b64("app.zip")},
		{file: "server", kind: "native", wantKind: "native", binary: true, code: b64("server")},
		{file: "app.zip", err: "give its kind with --kind"},
		{file: "main.go", err: "cannot tell the kind of " + filepath.Join(dir, "main.go") + " from the extension .go: give --kind"},
		{file: "server", err: "give --kind"},
		{file: "missing.wasm", err: "does not exist"},
		{file: "fake.wasm", err: "is not a WebAssembly binary module"},
		{file: "empty.py", err: "is empty"},
		{file: "dir.py", err: "is a directory: zip it"},
	}
	for _, tt := range tests {
		exec, err := readActionExec(filepath.Join(dir, tt.file), tt.kind, "")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s --kind %q: error %v, want %q", tt.file, tt.kind, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s --kind %q: %v", tt.file, tt.kind, err)
			continue
		}
		if exec.Kind != tt.wantKind || exec.Binary != tt.binary || exec.Code != tt.code {
			t.Errorf("%s --kind %q: %+v", tt.file, tt.kind, exec)
		}
	}
}

// TestReadActionExecLarge checks that a file above the upload threshold is
// not read into the exec (it is uploaded from the file) but still checked.
func TestReadActionExecLarge(t *testing.T) {
	dir := t.TempDir()
	big := append(append([]byte(nil), wasmModule...), make([]byte, uploadThreshold)...)
	os.WriteFile(filepath.Join(dir, "big.wasm"), big, 0o644)
	os.WriteFile(filepath.Join(dir, "bigfake.wasm"), make([]byte, uploadThreshold+1), 0o644)
	os.WriteFile(filepath.Join(dir, "big.zip"), make([]byte, uploadThreshold+1), 0o644)
	exec, err := readActionExec(filepath.Join(dir, "big.wasm"), "", "")
	if err != nil || exec.Code != "" || exec.Size != int64(len(big)) || !exec.Binary || exec.Kind != "wasm" || !needsUpload(exec) {
		t.Errorf("big.wasm: %+v, %v", exec, err)
	}
	if _, err := readActionExec(filepath.Join(dir, "bigfake.wasm"), "", ""); err == nil || !strings.Contains(err.Error(), "is not a WebAssembly binary module") {
		t.Errorf("bigfake.wasm: %v", err)
	}
	exec, err = readActionExec(filepath.Join(dir, "big.zip"), "python:3", "")
	if err != nil || exec.Code != "" || !exec.Binary || !needsUpload(exec) {
		t.Errorf("big.zip: %+v, %v", exec, err)
	}
}

func TestActionCreateUpdate(t *testing.T) {
	ns := newNamespace(t)
	c := newCLI(t, ns)
	api := ns.client(t)
	ctx := context.Background()
	module := wasmtest.Action{Logs: []string{"hello"}}.Wasm()
	file := writeFile(t, "hello.wasm", module)
	if out := c.ok("action", "create", "hello", file, "-p", "name", "world", "-a", "description", "says hello",
		"--timeout", "5000", "--memory", "64", "--logsize", "1", "--main", "run"); !regexp.MustCompile(`^ok: created action hello \(compiled in [0-9.]+(µs|ms|s)\)\n$`).MatchString(out) {
		t.Fatalf("create printed %q", out)
	}
	a, err := api.GetAction(ctx, "hello", true)
	if err != nil {
		t.Fatalf("the action was not created: %v", err)
	}
	if a.Exec.Kind != "wasm" || !a.Exec.Binary || a.Exec.Code != base64.StdEncoding.EncodeToString(module) || a.Exec.Main != "run" {
		t.Fatalf("exec stored: %+v", a.Exec)
	}
	if v, _ := a.Parameters.Get("name"); string(v) != `"world"` {
		t.Fatalf("parameters: %s", v)
	}
	if v, _ := a.Annotations.Get("description"); string(v) != `"says hello"` {
		t.Fatalf("annotations: %s", v)
	}
	if a.Limits.Timeout != 5000 || a.Limits.Memory != 64 || a.Limits.Logs != 1 {
		t.Fatalf("limits: %+v", a.Limits)
	}

	r := c.run("action", "create", "hello", file)
	if r.code != 1 || !regexp.MustCompile(`^error: create action hello: resource already exists \(409, code [0-9a-f]+\)\n$`).MatchString(r.stderr) {
		t.Fatalf("second create: %+v", r)
	}
	if out := c.ok("action", "update", "hello", "--timeout", "1000"); out != "ok: updated action hello\n" {
		t.Fatalf("update printed %q", out)
	}
	a, err = api.GetAction(ctx, "hello", false)
	if err != nil || a.Limits.Timeout != 1000 || a.Limits.Memory != 64 || a.Exec.Kind != "wasm" || a.Version != "0.0.2" {
		t.Fatalf("after update: %+v, %v", a, err)
	}
	if out := c.ok("action", "update", "new", wasmFile(t, "new", wasmtest.Action{})); !strings.HasPrefix(out, "ok: updated action new (compiled in ") {
		t.Fatalf("update creating: %q", out)
	}
	// Code of a container kind is checked at create time, not compiled.
	if out := c.ok("action", "create", "py", writeFile(t, "py.py", []byte("def main(args):\n    return args\n"))); !regexp.MustCompile(`^ok: created action py( \(checked in [0-9.]+(µs|ms|s)\))?\n$`).MatchString(out) {
		t.Fatalf("create of a Python action printed %q", out)
	}
	if a, err := api.GetAction(ctx, "new", false); err != nil || a.Version != "0.0.1" {
		t.Fatalf("update did not create: %+v, %v", a, err)
	}
	out := c.ok("--json", "action", "update", "hello", file)
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["name"] != "hello" || got["version"] != "0.0.3" {
		t.Fatalf("update --json printed %q", out)
	}

	// The kind inferred from the extension reaches the server.
	for file, kind := range map[string]string{
		writeFile(t, "py.py", []byte("def main(a): return a")):         "python:3",
		writeFile(t, "js.js", []byte("function main(a) { return a }")): "nodejs:20",
	} {
		c.ok("action", "update", "k", file)
		if a, err := api.GetAction(ctx, "k", false); err != nil || a.Exec.Kind != kind {
			t.Fatalf("%s: stored %+v, %v; want kind %s", file, a, err, kind)
		}
	}
	// The server says what it cannot run; so does a module that is no
	// WASI command.
	for _, tt := range []struct {
		file, kind, err string
	}{
		{file: writeFile(t, "x.json", []byte(`{"components": []}`)), kind: "sequence", err: `error: update action x: The kind "sequence" is not supported by this Wisp build yet.`},
		{file: writeFile(t, "x.wasm", wasmModule), err: `error: update action x: The action's code was refused: module has no "_start" export`},
	} {
		args := []string{"action", "update", "x", tt.file}
		if tt.kind != "" {
			args = append(args, "--kind", tt.kind)
		}
		if r := c.run(args...); r.code != 1 || !strings.HasPrefix(r.stderr, tt.err) || !strings.Contains(r.stderr, "(400, code ") {
			t.Errorf("wisp %s: %+v, want exit 1 and %q", strings.Join(args, " "), r, tt.err)
		}
	}
}

// TestActionCreateFailsBeforeRequest checks that mistakes in files are
// reported without a request: the API host is a closed port, so any
// request would fail as "not reachable" instead.
func TestActionCreateFailsBeforeRequest(t *testing.T) {
	c := newCLI(t, nil)
	c.env["WISP_APIHOST"], c.env["WISP_AUTH"] = closedHost(t), "a:b"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.rb"), []byte("puts 1"), 0o644)
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{"action", "create", "x", filepath.Join(dir, "missing.wasm")}, "does not exist"},
		{[]string{"action", "create", "x", filepath.Join(dir, "x.rb")}, "from the extension .rb: give --kind"},
		{[]string{"action", "create", "x", filepath.Join(dir, "x.rb"), "--kind", "wasm"}, "not a WebAssembly binary module"},
		{[]string{"action", "update", "x", "-P", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"action", "invoke", "x", "-P", filepath.Join(dir, "missing.json")}, "missing.json"},
	}
	for _, tt := range tests {
		r := c.run(tt.args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, tt.err) {
			t.Errorf("wisp %s: %+v, want exit 1 and %q", strings.Join(tt.args, " "), r, tt.err)
		}
	}
	// The host is indeed closed.
	if r := c.run("action", "list"); r.code != 1 || !strings.Contains(r.stderr, "is not reachable") {
		t.Fatalf("action list: %+v", r)
	}
}

func TestActionGetListDelete(t *testing.T) {
	ns := newNamespace(t)
	c := newCLI(t, ns)
	module := wasmtest.Action{Logs: []string{"hello"}}.Wasm()
	c.ok("action", "create", "hello", writeFile(t, "h.wasm", module), "-p", "a", "1", "-p", "b", "2", "-a", "description", "Says hello")
	// The list shows the most recently updated first, and actions updated
	// in the same millisecond by name.
	nextMillisecond()
	c.ok("action", "create", "my pkg/x y", wasmFile(t, "xy", wasmtest.Action{}))

	out := c.ok("action", "get", "hello")
	head, body, _ := strings.Cut(out, "\n")
	var a map[string]any
	if head != "ok: got action hello" || json.Unmarshal([]byte(body), &a) != nil || a["name"] != "hello" || !strings.Contains(body, "\n    \"exec\": {") {
		t.Fatalf("action get printed %q", out)
	}
	if strings.Contains(body, `"code"`) {
		t.Fatal("action get printed the code without --code")
	}
	if out := c.ok("action", "get", "hello", "--code"); !strings.Contains(out, `"code": "`+base64.StdEncoding.EncodeToString(module)+`"`) {
		t.Fatalf("action get --code: %q", out)
	}
	want := "action /" + ns.name + "/hello: Says hello\n   (parameters: a, b)\n   (kind: wasm, version: 0.0.1, timeout: 60000 ms, memory: 256 MB, logs: 10 MB)\n"
	if out := c.ok("action", "get", "hello", "--summary"); out != want {
		t.Fatalf("action get --summary = %q, want %q", out, want)
	}
	url := ns.host + "/api/v1/namespaces/" + ns.name + "/actions/my%20pkg/x%20y"
	if out := c.ok("action", "get", "my pkg/x y", "--url"); out != "ok: got action my pkg/x y\n"+url+"\n" {
		t.Fatalf("action get --url = %q", out)
	}
	// The URL is the action's: POSTing to it invokes the action.
	req, _ := http.NewRequest(http.MethodPost, url+"?blocking=true&result=true", strings.NewReader(`{"via":"url"}`))
	user, key, _ := strings.Cut(ns.auth, ":")
	req.SetBasicAuth(user, key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || compactJSON(respBody) != `{"via":"url"}` {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, respBody)
	}

	want = "actions\n" +
		fmt.Sprintf("%-70s private wasm\n", "/"+ns.name+"/my pkg/x y") +
		fmt.Sprintf("%-70s private wasm\n", "/"+ns.name+"/hello")
	if out := c.ok("action", "list"); out != want {
		t.Fatalf("action list =\n%q\nwant\n%q", out, want)
	}
	if out := c.ok("action", "list", "--limit", "1", "--skip", "1"); !strings.Contains(out, "hello") || strings.Contains(out, "x y") {
		t.Fatalf("action list --limit 1 --skip 1 = %q", out)
	}
	if out := c.ok("--json", "action", "list"); !strings.HasPrefix(out, "[\n    {") {
		t.Fatalf("action list --json = %q", out)
	}

	if out := c.ok("action", "delete", "hello"); out != "ok: deleted action hello\n" {
		t.Fatalf("delete printed %q", out)
	}
	r := c.run("action", "get", "hello")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: get action hello: The requested resource does not exist. (404, code ") {
		t.Fatalf("get after delete: %+v", r)
	}
	if out := c.ok("--json", "action", "delete", "my pkg/x y"); !strings.Contains(out, `"name": "x y"`) {
		t.Fatalf("delete --json printed %q", out)
	}
	if out := c.ok("action", "list"); out != "actions\n" {
		t.Fatalf("action list after the deletes = %q", out)
	}
}

// nextMillisecond waits until the clock has passed the current
// millisecond, so that what is done next is stamped later than what was
// done before.
func nextMillisecond() {
	for now := time.Now().UnixMilli(); time.Now().UnixMilli() == now; {
		time.Sleep(100 * time.Microsecond)
	}
}

func TestInvokeOutput(t *testing.T) {
	c := newCLI(t, newNamespace(t))
	c.ok("action", "create", "echo", wasmFile(t, "echo", wasmtest.Action{}))
	okLine := regexp.MustCompile(`^ok: invoked /_/echo with id ([0-9a-f]{32})\n`)

	out := c.ok("action", "invoke", "echo", "-p", "a", "1")
	if !okLine.MatchString(out) || len(out) != len("ok: invoked /_/echo with id \n")+32 {
		t.Fatalf("non-blocking: %q", out)
	}

	out = c.ok("action", "invoke", "echo", "-p", "a", "1", "--blocking")
	m := okLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("blocking: %q", out)
	}
	var act struct {
		ActivationID string `json:"activationId"`
		Response     struct {
			Result map[string]any `json:"result"`
		} `json:"response"`
		Logs []string `json:"logs"`
	}
	rest := out[len(m[0]):]
	if err := json.Unmarshal([]byte(rest), &act); err != nil || act.ActivationID != m[1] || act.Response.Result["a"] != 1.0 ||
		len(act.Logs) != 1 || !strings.HasSuffix(act.Logs[0], echoLog) {
		t.Fatalf("blocking record: %q (%v)", rest, err)
	}
	if !strings.HasPrefix(rest, "{\n    \"namespace\"") {
		t.Fatalf("the record is not indented like wsk's: %q", rest)
	}

	if out := c.ok("action", "invoke", "echo", "-p", "a", "1", "-r"); out != "{\n    \"a\": 1\n}\n" {
		t.Fatalf("--result: %q", out)
	}
	if out := c.ok("--json", "action", "invoke", "echo"); !regexp.MustCompile(`^\{\n    "activationId": "[0-9a-f]{32}"\n\}\n$`).MatchString(out) {
		t.Fatalf("--json non-blocking: %q", out)
	}

	// A failed action prints its record or result and exits 1.
	r := c.run("action", "invoke", "echo", "-p", "error", "boom", "-b")
	if r.code != 1 || !strings.Contains(r.stdout, `"status": "application error"`) ||
		!regexp.MustCompile(`^error: action /_/echo failed with id [0-9a-f]{32}: application error\n$`).MatchString(r.stderr) {
		t.Fatalf("blocking failure: %+v", r)
	}
	r = c.run("action", "invoke", "echo", "-p", "error", "boom", "--result")
	if r.code != 1 || r.stdout != "{\n    \"error\": \"boom\"\n}\n" || !strings.Contains(r.stderr, "error: action /_/echo failed") {
		t.Fatalf("result failure: %+v", r)
	}
	c.ok("action", "create", "exit3", wasmFile(t, "exit3", wasmtest.Action{Exit: 3}))
	r = c.run("action", "invoke", "exit3", "-b")
	if r.code != 1 || !strings.Contains(r.stdout, `"error": "the action exited with code 3"`) ||
		!regexp.MustCompile(`^error: action /_/exit3 failed with id [0-9a-f]{32}: developer error\n$`).MatchString(r.stderr) {
		t.Fatalf("developer error: %+v", r)
	}

	// A blocking wait that runs out says so, with the id.
	c.ok("action", "create", "slow", wasmFile(t, "slow", wasmtest.Action{Sleep: time.Second}))
	out = c.ok("action", "invoke", "slow", "-b", "--timeout", "10")
	if !regexp.MustCompile(`^ok: invoked /_/slow, but the request has not yet finished, with id [0-9a-f]{32}\n$`).MatchString(out) {
		t.Fatalf("blocking wait ran out: %q", out)
	}
	r = c.run("action", "invoke", "missing", "-r")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "error: invoke action missing: The requested resource does not exist. (404") {
		t.Fatalf("invoke missing: %+v", r)
	}
}
