package containerrt

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/invoker"
	"github.com/wispfaas/wisp/runtimes"
)

// These tests run the real python:3 and nodejs:20 runtimes, built by package runtimes
// into its default directory (the same cache `wispd runtimes build`
// fills; a build is reused while its inputs are unchanged).

var (
	pythonOnce sync.Once
	pythonDir  string
	pythonErr  error
)

// pythonRuntimes builds the python3 runtime once per test binary and
// returns the runtimes directory holding it.
func pythonRuntimes(t testing.TB) string {
	t.Helper()
	pythonOnce.Do(func() {
		pythonDir, pythonErr = runtimes.DefaultDir()
		if pythonErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		pythonErr = runtimes.Build(ctx, pythonDir, []string{runtimes.Python3}, nil)
		fmt.Fprintf(os.Stderr, "python3 runtime ready in %s (%s)\n", pythonDir, time.Since(start).Round(time.Millisecond))
	})
	if pythonErr != nil {
		t.Fatalf("build the python3 runtime: %v", pythonErr)
	}
	return pythonDir
}

// helloPython is OpenWhisk's canonical Python hello world, unchanged.
const helloPython = `def main(args):
    name = args.get("name", "stranger")
    greeting = "Hello " + name + "!"
    print(greeting)
    return {"greeting": greeting}
`

// pyRequest is an activation of the python:3 action owner with code.
func pyRequest(owner, code, params string) invoker.RunRequest {
	req := request(owner, 128, params)
	req.Kind = "python:3"
	req.Binary = false
	req.Digest = "sha256/" + owner
	req.Load = func(context.Context) ([]byte, error) { return []byte(code), nil }
	req.Limits = core.Limits{Timeout: 30_000, Memory: 128, Logs: 1, Concurrency: 1}
	return req
}

func TestPythonHelloWorldFromStemCell(t *testing.T) {
	r := newRuntime(t, Config{RuntimesDir: pythonRuntimes(t), Stems: map[string]int{"python:3@128": 1}})
	if !strings.Contains(strings.Join(r.Kinds(), " "), "python:3") {
		t.Fatalf("Kinds() = %v, want python:3", r.Kinds())
	}
	waitFor(t, "a python stem cell", func() bool { return r.Stats().Stems["python:3@128"] == 1 })
	res := run(t, r, pyRequest("pyhello", helloPython, `{"name":"Ada"}`))
	if res.Err != nil {
		t.Fatalf("Run: %v (%s, logs %q)", res.Err, res.Result, res.Logs)
	}
	if string(res.Result) != `{"greeting": "Hello Ada!"}` && !jsonEqual(res.Result, `{"greeting":"Hello Ada!"}`) {
		t.Errorf("result %s", res.Result)
	}
	if !slicesContain(res.Logs, "stdout: Hello Ada!") {
		t.Errorf("logs %q lack the print", res.Logs)
	}
	if st := r.Stats(); st.StemStarts != 1 || res.InitTime <= 0 {
		t.Errorf("stem starts %d, InitTime %v", st.StemStarts, res.InitTime)
	}
	res = run(t, r, pyRequest("pyhello", helloPython, `{}`))
	if res.Err != nil || !jsonEqual(res.Result, `{"greeting":"Hello stranger!"}`) || res.InitTime != 0 {
		t.Errorf("warm run: %v, %s, InitTime %v", res.Err, res.Result, res.InitTime)
	}
}

func TestPythonStateSurvivesWarmAndPausedRuns(t *testing.T) {
	r := newRuntime(t, Config{RuntimesDir: pythonRuntimes(t), PauseGrace: 30 * time.Millisecond})
	code := "n = 0\ndef main(args):\n    global n\n    n += 1\n    return {\"count\": n}\n"
	req := pyRequest("pycount", code, `{}`)
	for want := 1; want <= 3; want++ {
		if want == 3 {
			waitFor(t, "the python container paused", func() bool { return r.Stats().ByStatus["paused"] == 1 })
		}
		res := run(t, r, req)
		if res.Err != nil || !jsonEqual(res.Result, fmt.Sprintf(`{"count":%d}`, want)) {
			t.Fatalf("run %d: %v, %s", want, res.Err, res.Result)
		}
	}
	if st := r.Stats(); st.Resumes != 1 {
		t.Errorf("resumes %d, want 1", st.Resumes)
	}
}

func TestPythonInitAndRunErrors(t *testing.T) {
	// The launcher reports an exception, and a result that is not a dict,
	// as an {"error": ...} result: the invoker records those as
	// application errors. Everything else is the action's fault
	// (developer error) and its container is removed.
	r := newRuntime(t, Config{RuntimesDir: pythonRuntimes(t)})
	cases := []struct {
		name, code, want string
		appError         bool
	}{
		{"syntax error", "def main(args)\n    return {}\n", "syntax error in __main__.py line 1", false},
		{"no main", "def other(args):\n    return {}\n", "has no function main", false},
		{"exception", "def main(args):\n    raise ValueError('bad input')\n", "ValueError: bad input", true},
		{"not a dict", "def main(args):\n    return [1, 2]\n", "not a dict", true},
		{"exit", "import sys\ndef main(args):\n    sys.exit(4)\n", "The action exited (status 4).", false},
		{"memory", "def main(args):\n    x = bytearray(512 << 20)\n    return {}\n", "The action ran out of memory (limit 128 MB).", false},
		{"timeout", "import time\ndef main(args):\n    time.sleep(60)\n", "The action exceeded its time limits of 500 milliseconds.", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := pyRequest("pyerr-"+strings.ReplaceAll(tc.name, " ", "-"), tc.code, `{}`)
			if tc.name == "timeout" {
				req.Limits.Timeout = 500
			}
			res := run(t, r, req)
			switch {
			case tc.appError && res.Err != nil:
				t.Fatalf("err %v; want an {\"error\": ...} result", res.Err)
			case !tc.appError && (res.Err == nil || !res.ActionFailed):
				t.Fatalf("err %v, ActionFailed %v; want a developer error", res.Err, res.ActionFailed)
			}
			var out struct{ Error string }
			if err := json.Unmarshal(res.Result, &out); err != nil || !strings.Contains(out.Error, tc.want) {
				t.Errorf("result %s does not say %q", res.Result, tc.want)
			}
			if kept := len(r.testMembers(req.Owner)); kept != 0 && !tc.appError {
				t.Errorf("the failed container was kept")
			}
		})
	}
}

func jsonEqual(got json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

var (
	nodeOnce sync.Once
	nodeErr  error
)

// nodeRuntimes builds the nodejs20 runtime once per test binary, beside
// python3, and returns the runtimes directory.
func nodeRuntimes(t *testing.T) string {
	t.Helper()
	dir := pythonRuntimes(t)
	nodeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		nodeErr = runtimes.Build(ctx, dir, []string{runtimes.NodeJS20}, nil)
	})
	if nodeErr != nil {
		t.Fatalf("build the nodejs20 runtime: %v", nodeErr)
	}
	return dir
}

// helloNode is OpenWhisk's canonical Node.js hello world, unchanged.
const helloNode = `function main(params) {
    var name = params.name || 'stranger';
    var greeting = 'Hello ' + name + '!';
    console.log(greeting);
    return {greeting: greeting};
}
`

func TestNodeHelloWorldFromStemCell(t *testing.T) {
	r := newRuntime(t, Config{RuntimesDir: nodeRuntimes(t), Stems: map[string]int{"nodejs:20@128": 1}})
	waitFor(t, "a nodejs stem cell", func() bool { return r.Stats().Stems["nodejs:20@128"] == 1 })
	req := pyRequest("nodehello", helloNode, `{"name":"Ada"}`)
	req.Kind = "nodejs:20"
	res := run(t, r, req)
	if res.Err != nil || !jsonEqual(res.Result, `{"greeting":"Hello Ada!"}`) {
		t.Fatalf("Run: %v, %s (logs %q)", res.Err, res.Result, res.Logs)
	}
	if !slicesContain(res.Logs, "stdout: Hello Ada!") {
		t.Errorf("logs %q lack the console.log line", res.Logs)
	}
	if st := r.Stats(); st.StemStarts != 1 {
		t.Errorf("stem starts %d, want 1", st.StemStarts)
	}
	res = run(t, r, req)
	if res.Err != nil || res.InitTime != 0 {
		t.Errorf("warm run: %v, InitTime %v", res.Err, res.InitTime)
	}
}
