package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/wispfaas/wisp/containerrt/image/imagetest"
	"github.com/wispfaas/wisp/internal/mounttest"
)

// Container actions through a built wispd, as a user drives them: the
// runtimes are those `wispd runtimes build` makes (TestMain builds what is
// missing), the containers real ones (the suite runs as root, as CI does).

// OpenWhisk's canonical hello worlds, pasted unchanged from its docs.
const (
	owHelloPython = `def main(args):
    name = args.get("name", "stranger")
    greeting = "Hello " + name + "!"
    print(greeting)
    return {"greeting": greeting}
`
	owHelloNode = `function main(params) {
  var name = params.name || 'World';
  return {payload:  'Hello, ' + name + '!'};
}
`
)

// codeExec is the exec of an action whose code is text of kind.
func codeExec(kind, code string) map[string]any {
	return map[string]any{"kind": kind, "code": code}
}

// binaryExec is the exec of an action whose code is bytes (a zip, an
// executable, an image).
func binaryExec(kind string, code []byte) map[string]any {
	return map[string]any{"kind": kind, "binary": true, "code": base64.StdEncoding.EncodeToString(code)}
}

// put creates (or replaces) action name with exec and further fields.
func (a *api) put(t testing.TB, name string, exec map[string]any, extra map[string]any) *reply {
	t.Helper()
	body := map[string]any{"exec": exec}
	for k, v := range extra {
		body[k] = v
	}
	return a.do(t, "PUT", actionsPath+"/"+name+"?overwrite=true", body)
}

// invokeRecord invokes name blocking and returns its record, whatever
// its status.
func (a *api) invokeRecord(t testing.TB, name string, params any) *activation {
	t.Helper()
	r := a.invoke(t, name, "blocking=true", params)
	if r.Status != http.StatusOK && r.Status != http.StatusBadGateway && r.Status != http.StatusInternalServerError {
		t.Fatalf("invoke %s: %s", name, r)
	}
	return r.activation(t)
}

// result returns the record's result, failing unless it succeeded.
func (act *activation) success(t testing.TB) map[string]any {
	t.Helper()
	if act.Response == nil || !act.Response.Success {
		t.Fatalf("activation %s did not succeed: %s", act.ActivationID, act.Raw)
	}
	return act.Response.Result
}

// wantFailure checks a record's status ("developer error", "application
// error", "whisk internal error") and that its error says each of parts.
func (act *activation) wantFailure(t testing.TB, status string, parts ...string) {
	t.Helper()
	if act.Response == nil || act.Response.Success || act.Response.Status != status {
		t.Fatalf("activation %s: want status %q, got %s", act.ActivationID, status, act.Raw)
	}
	msg := fmt.Sprint(act.Response.Result["error"])
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("activation %s: error %q does not say %q", act.ActivationID, msg, p)
		}
	}
}

// logsContain reports whether some log line contains s.
func logsContain(logs []string, s string) bool {
	for _, l := range logs {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func TestContainerHelloWorlds(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.put(t, "py", codeExec("python:3", owHelloPython), nil).want(t, http.StatusOK)
	a.put(t, "js", codeExec("nodejs:default", owHelloNode), nil).want(t, http.StatusOK)

	act := a.invokeRecord(t, "py", map[string]any{"name": "Ada"})
	if got := act.success(t)["greeting"]; got != "Hello Ada!" {
		t.Fatalf("python hello: %v", got)
	}
	if !logsContain(act.Logs, " stdout: Hello Ada!") {
		t.Errorf("python hello's print is not in its logs: %q", act.Logs)
	}
	var kind string
	if !act.annotation(t, "kind", &kind) || kind != "python:3" {
		t.Errorf("kind annotation %q", kind)
	}
	var wait int64
	if !act.annotation(t, "waitTime", &wait) {
		t.Errorf("no waitTime annotation: %s", act.Raw)
	}
	if got := a.invokeRecord(t, "py", nil).success(t)["greeting"]; got != "Hello stranger!" {
		t.Fatalf("python hello without a name: %v", got)
	}

	act = a.invokeRecord(t, "js", map[string]any{"name": "Grace"})
	if got := act.success(t)["payload"]; got != "Hello, Grace!" {
		t.Fatalf("node hello: %v", got)
	}
	if got := a.invokeRecord(t, "js", nil).success(t)["payload"]; got != "Hello, World!" {
		t.Fatalf("node hello without a name: %v", got)
	}
	// Node.js sizes its heap from the memory limit it reads in its
	// cgroups (runtime.json "cgroups"); without them it would size it for
	// the host and be OOM-killed instead of throwing.
	heap := "const v8 = require('v8');\nfunction main() { return {limit: v8.getHeapStatistics().heap_size_limit}; }\n"
	a.put(t, "heap", codeExec("nodejs:20", heap), map[string]any{"limits": map[string]any{"memory": 128}}).want(t, http.StatusOK)
	// (V8 does not go below about 259 MiB; sized for this host it is GBs.)
	if limit, _ := a.invokeRecord(t, "heap", nil).success(t)["limit"].(float64); limit <= 0 || limit > 512<<20 {
		t.Errorf("a 128 MB Node.js action's heap limit is %.0f bytes: it did not see its memory limit", limit)
	}
	// The Wisp CLI's view of one of them.
	r := a.get(t, actionsPath+"/js")
	if obj := r.want(t, http.StatusOK).object(t); obj["exec"].(map[string]any)["kind"] != "nodejs:20" {
		t.Errorf("stored kind: %v", obj["exec"])
	}
}

// makeZip builds a zip of files (name → content).
func makeZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestContainerZipActions(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	py := makeZip(t, map[string]string{
		"__main__.py": "import helper\nimport shout\n\ndef main(args):\n    return {\"msg\": shout.loud(helper.greet(args.get(\"name\", \"you\")))}\n",
		"helper.py":   "def greet(n):\n    return 'hi ' + n\n",
		// A dependency installed in the zip's virtualenv, as OpenWhisk's
		// python runtime finds it.
		"virtualenv/bin/activate_this.py":                    "",
		"virtualenv/lib/python3.11/site-packages/shout.py":   "def loud(s):\n    return s.upper() + '!'\n",
		"virtualenv/lib/python3.11/site-packages/README.txt": "deps",
	})
	a.put(t, "pyzip", binaryExec("python:3", py), nil).want(t, http.StatusOK)
	if got := a.invokeRecord(t, "pyzip", map[string]any{"name": "ada"}).success(t)["msg"]; got != "HI ADA!" {
		t.Fatalf("python zip: %v", got)
	}

	js := makeZip(t, map[string]string{
		"package.json":                      `{"name": "app", "main": "lib/app.js"}`,
		"lib/app.js":                        "const pad = require('leftpad');\nexports.handler = async (p) => ({padded: pad(String(p.n), 5)});\n",
		"node_modules/leftpad/package.json": `{"name": "leftpad", "main": "index.js"}`,
		"node_modules/leftpad/index.js":     "module.exports = (s, n) => s.padStart(n, '0');\n",
	})
	a.put(t, "jszip", map[string]any{"kind": "nodejs:20", "binary": true, "main": "handler", "code": base64.StdEncoding.EncodeToString(js)}, nil).want(t, http.StatusOK)
	if got := a.invokeRecord(t, "jszip", map[string]any{"n": 42}).success(t)["padded"]; got != "00042" {
		t.Fatalf("node zip: %v", got)
	}
}

// TestContainerNative builds the Go SDK's example as a static Linux
// executable and runs it as a native action.
func TestContainerNative(t *testing.T) {
	t.Parallel()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = filepath.Join(root, "sdk", "go", "examples", "hello")
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the native example: %v\n%s", err, out)
	}
	code, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	a := shared(t).namespace(t)
	a.put(t, "native", binaryExec("native", code), nil).want(t, http.StatusOK)
	act := a.invokeRecord(t, "native", map[string]any{"name": "Ada"})
	res := act.success(t)
	if g, _ := res["greeting"].(string); !strings.Contains(g, "Ada") {
		t.Fatalf("native hello: %v", res)
	}
	if res["activationId"] != act.ActivationID {
		t.Errorf("the native action saw activation %v, its record is %s", res["activationId"], act.ActivationID)
	}
	// A second activation is served by the same warm process.
	res = a.invokeRecord(t, "native", map[string]any{"name": "Bob"}).success(t)
	if calls, _ := res["calls"].(float64); calls < 2 {
		t.Errorf("the native process was not reused: calls=%v", res["calls"])
	}
}

// TestContainerBlackbox runs the user's own image: a docker save tarball
// of busybox and a shell action loop.
func TestContainerBlackbox(t *testing.T) {
	t.Parallel()
	var img bytes.Buffer
	if err := imagetest.WriteBusyboxDockerSave(&img); err != nil {
		t.Fatal(err)
	}
	a := shared(t).namespace(t)
	a.put(t, "box", binaryExec("blackbox", img.Bytes()), nil).want(t, http.StatusOK)
	act := a.invokeRecord(t, "box", map[string]any{"x": 1})
	res := act.success(t)
	if res["blackbox"] != true {
		t.Fatalf("blackbox result: %v", res)
	}
	if !logsContain(act.Logs, "blackbox: run on stderr") {
		t.Errorf("blackbox logs: %q", act.Logs)
	}
}

// TestContainerBadInput covers the bad input of issue 4: each gets its own
// clear record (or a 400 at create), and the action beside it keeps
// working.
func TestContainerBadInput(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.put(t, "good", codeExec("python:3", owHelloPython), nil).want(t, http.StatusOK)
	limits := func(timeoutMs, memoryMB, logsMB int) map[string]any {
		return map[string]any{"limits": map[string]any{"timeout": timeoutMs, "memory": memoryMB, "logs": logsMB}}
	}
	tests := []struct {
		name   string
		exec   map[string]any
		extra  map[string]any
		params any
		status string   // of the record
		parts  []string // in its error
		check  func(t *testing.T, act *activation)
	}{
		{name: "syntax error", exec: codeExec("python:3", "def main(args)\n    return {}\n"),
			status: "action developer error", parts: []string{"syntax error", "line 1"}},
		{name: "node syntax error", exec: codeExec("nodejs:20", "function main(p) { return {; }\n"),
			status: "action developer error", parts: []string{"syntax error", "line 1"}},
		{name: "no main", exec: codeExec("python:3", "def handler(args):\n    return {}\n"),
			status: "action developer error", parts: []string{"main"}},
		{name: "calls exit", exec: codeExec("python:3", "import os\ndef main(args):\n    os._exit(3)\n"),
			status: "action developer error", parts: []string{"exit"}},
		{name: "node calls exit", exec: codeExec("nodejs:20", "function main(p) { process.exit(4) }\n"),
			status: "action developer error", parts: []string{"exit"}},
		{name: "fork bomb", exec: codeExec("python:3", "import os\ndef main(args):\n    n = 0\n    try:\n        while True:\n            if os.fork() == 0:\n                import time\n                time.sleep(30)\n                os._exit(0)\n            n += 1\n    except OSError as e:\n        return {'forked': n, 'stopped': str(e)}\n"),
			extra: limits(20000, 256, 10),
			check: func(t *testing.T, act *activation) {
				// The pids limit stops it: the fork fails (a result saying
				// so), or the container is killed (a developer error).
				if act.Response.Success {
					if s, _ := act.Response.Result["stopped"].(string); !strings.Contains(s, "Resource temporarily unavailable") {
						t.Errorf("fork bomb result: %v", act.Response.Result)
					}
				} else if act.Response.Status != "action developer error" {
					t.Errorf("fork bomb: %s", act.Raw)
				}
			}},
		{name: "memory past the limit", exec: codeExec("python:3", "def main(args):\n    hog = []\n    while True:\n        hog.append(bytearray(16 << 20))\n"),
			extra: limits(60000, 128, 10), status: "action developer error", parts: []string{"memory", "128 MB"}},
		// An exception in main is the action's answer, as in OpenWhisk's
		// action-loop launchers: an application error with its message.
		{name: "write to the root", exec: codeExec("python:3", "def main(args):\n    open('/etc/evil', 'w').write('x')\n    return {}\n"),
			status: "application error", parts: []string{"Read-only file system"}},
		{name: "write to /tmp", exec: codeExec("python:3", "def main(args):\n    open('/tmp/ok', 'w').write('x')\n    return {'wrote': open('/tmp/ok').read()}\n"),
			check: func(t *testing.T, act *activation) {
				if !act.Response.Success || act.Response.Result["wrote"] != "x" {
					t.Errorf("/tmp is not writable: %s", act.Raw)
				}
			}},
		{name: "no network", exec: codeExec("python:3", "import socket\ndef main(args):\n    return {'ifaces': [n for _, n in socket.if_nameindex()]}\n"),
			check: func(t *testing.T, act *activation) {
				ifaces := fmt.Sprint(act.success(t)["ifaces"])
				if ifaces != "[lo]" && ifaces != "[]" {
					t.Errorf("a container without the network annotation sees interfaces %s", ifaces)
				}
			}},
		{name: "sleeps past the timeout", exec: codeExec("python:3", "import time\ndef main(args):\n    time.sleep(30)\n    return {}\n"),
			extra: limits(1000, 256, 10), status: "action developer error", parts: []string{"time limit", "1000 milliseconds"}},
		{name: "100 MB of logs", exec: codeExec("python:3", "import sys\ndef main(args):\n    line = 'x' * 1023 + '\\n'\n    for _ in range(100 * 1024):\n        sys.stdout.write(line)\n    return {'done': True}\n"),
			extra: limits(60000, 256, 1),
			check: func(t *testing.T, act *activation) {
				if !act.Response.Success {
					t.Errorf("logging a lot failed the action: %s", act.Raw)
				}
				if n := len(strings.Join(act.Logs, "\n")); n > 2<<20 {
					t.Errorf("logs kept %d bytes with a 1 MB limit", n)
				}
				if !logsContain(act.Logs, "limit") {
					t.Errorf("no note that the log limit was reached; last lines: %q", act.Logs[max(0, len(act.Logs)-2):])
				}
			}},
		{name: "result not an object", exec: codeExec("python:3", "def main(args):\n    return 42\n"),
			status: "application error", parts: []string{"JSON object"}},
		{name: "node result not an object", exec: codeExec("nodejs:20", "function main(p) { return 'hello' }\n"),
			status: "application error", parts: []string{"JSON object"}},
		{name: "throws", exec: codeExec("nodejs:20", "async function main(p) { throw new Error('boom') }\n"),
			status: "application error", parts: []string{"boom"}},
		{name: "application error", exec: codeExec("python:3", "def main(args):\n    return {'error': 'no such user'}\n"),
			status: "application error", parts: []string{"no such user"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := nsNameRE.ReplaceAllString(tt.name, "_")
			a.put(t, name, tt.exec, tt.extra).want(t, http.StatusOK)
			act := a.invokeRecord(t, name, tt.params)
			if tt.status != "" {
				act.wantFailure(t, tt.status, tt.parts...)
			}
			if tt.check != nil {
				tt.check(t, act)
			}
			// The action beside it is unharmed.
			if got := a.invokeRecord(t, "good", map[string]any{"name": "after"}).success(t)["greeting"]; got != "Hello after!" {
				t.Fatalf("after %s: %v", tt.name, got)
			}
		})
	}

	// Refused at create, naming the problem; nothing is stored.
	files, err := imagetest.Image{Cmd: []string{"/bin/sh"}, Layers: []imagetest.Layer{{Entries: []imagetest.Entry{imagetest.File("../../etc/passwd", "root::0:0::/:/bin/sh\n")}}}}.DockerSave()
	if err != nil {
		t.Fatal(err)
	}
	traversal, err := files.Tar()
	if err != nil {
		t.Fatal(err)
	}
	created := []struct {
		name  string
		exec  map[string]any
		parts []string
	}{
		{"corrupt zip", binaryExec("python:3", []byte("PK\x03\x04 this is no zip")), []string{"zip"}},
		{"zip without __main__.py", binaryExec("python:3", makeZip(t, map[string]string{"main.py": "x"})), []string{"__main__.py"}},
		{"zip escaping", binaryExec("nodejs:20", makeZip(t, map[string]string{"index.js": "", "../evil.js": "x"})), []string{"../evil.js"}},
		{"image with path traversal", binaryExec("blackbox", traversal), []string{"../../etc/passwd"}},
		{"image that is no image", binaryExec("blackbox", []byte("not a tarball")), nil},
		{"native not an executable", binaryExec("native", []byte("#!/bin/sh\necho hi\n")), []string{"ELF"}},
		{"empty python", codeExec("python:3", "  \n"), []string{"empty"}},
	}
	for _, tt := range created {
		t.Run(tt.name, func(t *testing.T) {
			a.put(t, "refused", tt.exec, nil).wantError(t, http.StatusBadRequest, tt.parts...)
			if r := a.get(t, actionsPath+"/refused"); r.Status != http.StatusNotFound {
				t.Fatalf("a refused action was stored: %s", r)
			}
		})
	}
}

// TestContainerConcurrency sends 50 activations of 3 actions at once to a
// wispd whose memory budget fits two containers: they queue, none is
// lost, each gets its own right result.
func TestContainerConcurrency(t *testing.T) {
	t.Parallel()
	d := startWispd(t, "--container-memory", "256", "--stem-cells", "none")
	a := d.guest(t)
	lim := map[string]any{"limits": map[string]any{"memory": 128, "timeout": 120000}}
	a.put(t, "p1", codeExec("python:3", "def main(a):\n    return {'who': 'p1', 'i': a['i']}\n"), lim).want(t, http.StatusOK)
	a.put(t, "p2", codeExec("python:3", "import time\ndef main(a):\n    time.sleep(0.05)\n    return {'who': 'p2', 'i': a['i']}\n"), lim).want(t, http.StatusOK)
	a.put(t, "n1", codeExec("nodejs:20", "function main(a) { return {who: 'n1', i: a.i} }\n"), lim).want(t, http.StatusOK)
	names := []string{"p1", "p2", "n1"}
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := names[i%3]
			r, err := a.send("POST", actionsPath+"/"+name+"?blocking=true", map[string]any{"i": i})
			if err != nil {
				errs <- err.Error()
				return
			}
			if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
				errs <- r.String()
				return
			}
			var act activation
			r.decode(t, &act)
			if r.Status == http.StatusAccepted { // still queued after the blocking wait: poll its record
				act = *a.record(t, act.ActivationID)
			}
			if act.Response == nil || !act.Response.Success || act.Response.Result["who"] != name || act.Response.Result["i"] != float64(i) {
				errs <- fmt.Sprintf("activation %d of %s: %s", i, name, act.Raw)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// Every activation has its record.
	var list []map[string]any
	waitFor(t, pollDeadline, "50 records", func() bool {
		list = nil
		a.get(t, activationsPath+"?limit=200").want(t, http.StatusOK).decode(t, &list)
		return len(list) >= 50
	})
	if len(list) != 50 {
		t.Fatalf("%d records, want 50", len(list))
	}
	// The metrics count the same: 34 Python and 16 Node.js activations,
	// some of which paid for a new container and some of which queued for
	// memory, on a budget of 256 MB.
	text := string((&api{url: d.url}).get(t, "/metrics").want(t, http.StatusOK).Body)
	for series, want := range map[string]float64{
		`wisp_activations_total{kind="python:3",status="success"}`:  34,
		`wisp_activations_total{kind="nodejs:20",status="success"}`: 16,
		`wisp_activation_wait_seconds_count{kind="python:3"}`:       34,
		`wisp_container_memory_budget_bytes`:                        256 << 20,
		`wisp_containers{status="running"}`:                         0,
	} {
		if got := metricValue(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{
		`wisp_activation_init_seconds_count{kind="python:3"}`,
		`wisp_container_events_total{event="cold_start"}`,
		`wisp_container_events_total{event="queued"}`,
	} {
		if got := metricValue(t, text, series); got < 1 {
			t.Errorf("%s = %v, want at least 1", series, got)
		}
	}
}

// metricValue is the value of one series in a GET /metrics answer.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in the metrics:\n%s", series, text)
	return 0
}

// TestContainerRestartLeftovers kills wispd with containers running and
// paused, and checks that the next start removes them and serves again.
func TestContainerRestartLeftovers(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	d, err := launch(data, addr, "--pause-grace", "100ms", "--stem-cells", "python:3=2")
	if err != nil {
		t.Fatal(err)
	}
	a := d.guest(t)
	a.put(t, "py", codeExec("python:3", owHelloPython), nil).want(t, http.StatusOK)
	a.put(t, "slow", codeExec("python:3", "import time\ndef main(a):\n    time.sleep(60)\n    return {}\n"), nil).want(t, http.StatusOK)
	a.invokeRecord(t, "py", nil).success(t)
	a.invoke(t, "slow", "", nil).want(t, http.StatusAccepted) // running when wispd dies
	state := filepath.Join(data, "containers")
	waitFor(t, pollDeadline, "containers in "+state, func() bool { return len(containerDirs(t, state)) >= 3 })
	before := containerDirs(t, state)
	if err := d.stopWith(syscall.SIGKILL); err == nil {
		t.Fatal("wispd killed with SIGKILL exited cleanly")
	}

	// The slow activation comes back to the new wispd, which then need
	// not wait for it to stop.
	d2 := startWispdOn(t, data, addr, "--stem-cells", "none", "--shutdown-grace", "1s")
	a = d2.guest(t)
	if got := a.invokeRecord(t, "py", map[string]any{"name": "again"}).success(t)["greeting"]; got != "Hello again!" {
		t.Fatalf("after the restart: %v", got)
	}
	after := containerDirs(t, state)
	for id := range before {
		if after[id] {
			t.Errorf("container %s of the killed wispd is still there", id)
		}
		if cg := leftoverCgroups(id); len(cg) > 0 {
			t.Errorf("cgroups of container %s are still there: %v", id, cg)
		}
	}
	if !strings.Contains(d2.output(), "leftover") {
		t.Logf("wispd did not log the leftovers it removed:\n%s", d2.output())
	}
	// The killed wispd's tmpfs of root filesystems in memory was
	// unmounted, not left under the new one's.
	if n := mounttest.SourcesAt(t, filepath.Join(state, "rootfs-mem")); len(n) > 1 {
		t.Errorf("%d file systems mounted at %s: the killed wispd's is still there", len(n), filepath.Join(state, "rootfs-mem"))
	}
	// Installed as "go tool task build" installs it (buildAll), wispd runs
	// the wispd-init beside it as its containers' init.
	if out := d2.output(); !strings.Contains(out, `msg="containers' init is the init helper"`) {
		t.Errorf("wispd did not take the wispd-init beside it as its containers' init:\n%s", out)
	}
}

// containerDirs lists the container ids libcontainer keeps state for
// under the runtime's state directory.
func containerDirs(t testing.TB, stateDir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	matches, _ := filepath.Glob(filepath.Join(stateDir, "*", "*", "state.json"))
	for _, m := range matches {
		out[filepath.Base(filepath.Dir(m))] = true
	}
	return out
}

// leftoverCgroups finds cgroup directories named after a container id.
func leftoverCgroups(id string) []string {
	var found []string
	for _, pattern := range []string{"/sys/fs/cgroup/*/*/" + id, "/sys/fs/cgroup/*/" + id, "/sys/fs/cgroup/*/*/*/" + id} {
		m, _ := filepath.Glob(pattern)
		found = append(found, m...)
	}
	return found
}
