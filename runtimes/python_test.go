package runtimes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OpenWhisk's Python hello world, unchanged.
const pythonHello = `def main(args):
    name = args.get("name", "stranger")
    greeting = "Hello " + name + "!"
    print(greeting)
    return {"greeting": greeting}
`

func pythonArgs(t testing.TB) []string {
	t.Helper()
	abs, err := filepath.Abs("python/launcher.py")
	if err != nil {
		t.Fatal(err)
	}
	return []string{"/usr/bin/python3", "-S", "-u", abs}
}

func TestPythonLauncher(t *testing.T) {
	sdk, err := filepath.Abs("../sdk/python")
	if err != nil {
		t.Fatal(err)
	}
	example := readFile(t, "../sdk/python/examples/hello/__main__.py")
	cases := []loopCase{
		{
			name:  "OpenWhisk's hello world",
			files: map[string]string{"__main__.py": pythonHello},
			steps: []step{
				{msg: run(`{"name":"Ada"}`), reply: `{"greeting":"Hello Ada!"}`, out: "Hello Ada!\n"},
				{msg: run(`{}`), reply: `{"greeting":"Hello stranger!"}`, out: "Hello stranger!\n"},
			},
		},
		{
			name:  "a syntax error names the line",
			files: map[string]string{"__main__.py": "def main(args):\n    return {\n\ndef other(:\n"},
			steps: []step{{msg: "INIT", replyHas: `syntax error in __main__.py line`, errs: "SyntaxError"}},
		},
		{
			name:  "no main",
			files: map[string]string{"__main__.py": "def hello(args):\n    return {}\n"},
			steps: []step{{msg: "INIT", reply: `{"error":"__main__.py has no function main: define def main(args): ... returning a dict"}`}},
		},
		{
			name:  "main is not a function",
			files: map[string]string{"__main__.py": "main = 3\n"},
			steps: []step{{msg: "INIT", reply: `{"error":"__main__.py's main is a int, not a function"}`}},
		},
		{
			name:  "an exception at import",
			files: map[string]string{"__main__.py": "import nosuchmodule\n"},
			steps: []step{{msg: "INIT", replyHas: `loading __main__.py failed: ModuleNotFoundError: No module named 'nosuchmodule'`, errs: "Traceback"}},
		},
		{
			name:  "another main name, init's env and the activation's",
			files: map[string]string{"__main__.py": "import os\ndef hello(args):\n    return {k: os.environ.get(k) for k in ('SECRET', '__OW_ACTIVATION_ID', '__OW_NAMESPACE', '__OW_ACTION_NAME', '__OW_DEADLINE', '__OW_API_KEY')}\n"},
			init:  map[string]any{"main": "hello", "env": map[string]string{"SECRET": "s3"}},
			steps: []step{
				{msg: run(`{}`), reply: `{"SECRET":"s3","__OW_ACTIVATION_ID":"0123abc","__OW_NAMESPACE":"guest","__OW_ACTION_NAME":"/guest/hello","__OW_DEADLINE":"4102444800000","__OW_API_KEY":"k:v"}`},
				// Keys a message lacks are not left over from the previous one.
				{msg: `{"value":{},"activation_id":"2"}`, reply: `{"SECRET":"s3","__OW_ACTIVATION_ID":"2","__OW_NAMESPACE":null,"__OW_ACTION_NAME":null,"__OW_DEADLINE":null,"__OW_API_KEY":null}`},
			},
		},
		{
			name: "results that are not dicts",
			files: map[string]string{"__main__.py": `def main(args):
    deep = {}
    for _ in range(5000):
        deep = {"d": deep}
    return {"list": [1], "none": None, "str": "x", "nan": {"x": float("nan")}, "set": {"x": {1}},
            "surrogate": {"s": "\ud800 \u00e9"}, "deep": deep}[args["kind"]]
`},
			steps: []step{
				{msg: run(`{"kind":"list"}`), reply: `{"error":"the action's main returned list [1], not a dict: an action's result must be a JSON object"}`},
				{msg: run(`{"kind":"none"}`), reply: `{"error":"the action's main returned None, not a dict: an action's result must be a JSON object"}`},
				{msg: run(`{"kind":"str"}`), replyHas: `returned str 'x', not a dict`},
				{msg: run(`{"kind":"nan"}`), replyHas: `the action's result cannot be encoded as JSON: Out of range float values are not JSON compliant`},
				{msg: run(`{"kind":"set"}`), replyHas: `the action's result cannot be encoded as JSON: Object of type set is not JSON serializable`},
				{msg: run(`{"kind":"nan"}`), replyHas: `cannot be encoded`}, // and the loop goes on
				{msg: run(`{"kind":"surrogate"}`), reply: `{"s":"\ud800 é"}`},
				{msg: run(`{"kind":"deep"}`), replyHas: `cannot be encoded as JSON: maximum recursion depth exceeded`},
			},
		},
		{
			name:  "an exception is an error result with the traceback in the logs",
			files: map[string]string{"__main__.py": "def main(args):\n    print('before')\n    return {'x': 1 / args['d']}\n"},
			steps: []step{
				{msg: run(`{"d":0}`), reply: `{"error":"ZeroDivisionError: division by zero"}`, out: "before\n", errs: "Traceback (most recent call last)"},
				{msg: run(`{}`), reply: `{"error":"KeyError: 'd'"}`},
				{msg: run(`{"d":2}`), reply: `{"x":0.5}`},
			},
		},
		{
			name:  "async def main is run to its end",
			files: map[string]string{"__main__.py": "import asyncio\nasync def main(args):\n    await asyncio.sleep(0.01)\n    if args.get('fail'):\n        raise ValueError('no')\n    return {'async': True}\n"},
			steps: []step{
				{msg: run(`{}`), reply: `{"async":true}`},
				{msg: run(`{"fail":true}`), reply: `{"error":"ValueError: no"}`},
				{msg: run(`{}`), reply: `{"async":true}`},
			},
		},
		{
			name:  "output without a final newline keeps the sentinel on its own line",
			files: map[string]string{"__main__.py": "import sys\ndef main(args):\n    print('no newline', end='')\n    sys.stderr.write('partial')\n    return {}\n"},
			steps: []step{{msg: run(`{}`), reply: `{}`, out: "no newline\n", errs: "partial\n"}},
		},
		{
			name: "the action cannot write on the reply pipe",
			files: map[string]string{"__main__.py": `import os, subprocess
def main(args):
    out = {}
    try:
        os.write(3, b'{"forged": true}\n')
        out["write"] = "written"
    except OSError as e:
        out["write"] = e.strerror
    r = subprocess.run(["/bin/sh", "-c", "echo '{\"forged\": true}' >&3"], capture_output=True)
    out["child"] = r.returncode
    return out
`},
			steps: []step{{msg: run(`{}`), replyHas: `"child": 2`}},
		},
		{
			name:  "stdin is not the action's, nor its processes'",
			files: map[string]string{"__main__.py": "import os, subprocess, sys\ndef main(args):\n    cat = subprocess.run(['cat'], capture_output=True, timeout=60)\n    return {'read': sys.stdin.read(), 'fd0': os.read(0, 100).decode(), 'cat': cat.stdout.decode()}\n"},
			steps: []step{{msg: run(`{}`), reply: `{"read":"","fd0":"","cat":""}`}, {msg: run(`{}`), reply: `{"read":"","fd0":"","cat":""}`}},
		},
		{
			name: "a zip with a virtualenv and modules of its own",
			files: map[string]string{
				"__main__.py": "import helper, greetlib\ndef main(args):\n    return {'greeting': greetlib.greet(helper.name(args))}\n",
				"helper.py":   "def name(args):\n    return args.get('name', 'you')\n",
				"virtualenv/lib/python3.11/site-packages/greetlib/__init__.py": "def greet(n):\n    return 'Hi ' + n\n",
				"virtualenv/bin/activate":                                      "# not used by Wisp\n",
			},
			init:  map[string]any{"binary": true},
			steps: []step{{msg: run(`{"name":"Ada"}`), reply: `{"greeting":"Hi Ada"}`}},
		},
		{
			name:  "a zip without __main__.py",
			files: map[string]string{"main.py": "def main(args):\n    return {}\n"},
			init:  map[string]any{"binary": true},
			steps: []step{{msg: "INIT", reply: `{"error":"the zip file has no __main__.py at its top level"}`}},
		},
		{
			name:  "a local test block does not run",
			files: map[string]string{"__main__.py": "def main(args):\n    return {'name': __name__}\nif __name__ == '__main__':\n    raise SystemExit('ran')\n"},
			steps: []step{{msg: run(`{}`), reply: `{"name":"main__"}`}},
		},
		{
			name:  "messages out of order or not JSON",
			files: map[string]string{"__main__.py": pythonHello},
			steps: []step{
				{msg: run(`{}`), reply: `{"error":"the action is not initialized: run came before init"}`},
				{msg: `{not json`, replyHas: `the launcher could not read its message`},
				{msg: `[1]`, replyHas: `a message must be a JSON object`},
				{msg: "INIT", reply: `{"ok":true}`},
				{msg: "INIT", reply: `{"error":"the action is already initialized: init came twice"}`},
				{msg: run(`{"name":"Bo"}`), reply: `{"greeting":"Hello Bo!"}`},
			},
		},
		{
			name:  "an action that exits ends the loop",
			files: map[string]string{"__main__.py": "import sys\ndef main(args):\n    sys.exit(3)\n"},
			steps: []step{{msg: run(`{}`), exit: 3}},
		},
		{
			name:  "the SDK's ActionError without the decorator",
			files: map[string]string{"__main__.py": "import wisp\ndef main(args):\n    raise wisp.ActionError('not today', retry=True)\n"},
			env:   []string{"PYTHONPATH=" + sdk},
			steps: []step{{msg: run(`{}`), reply: `{"error":"not today","retry":true}`}},
		},
		{
			name:  "the SDK's example",
			files: map[string]string{"__main__.py": example},
			env:   []string{"PYTHONPATH=" + sdk},
			steps: []step{
				{msg: run(`{"name":"Ada","times":2}`), reply: `{"greeting":"Hello Ada! Hello Ada!","activation":"0123abc"}`, errs: "INFO greeting Ada in activation 0123abc\n"},
				{msg: run(`{"name":"Ada","times":"2"}`), reply: `{"error":"parameter 'times' must be an integer, not a string '2'"}`},
				{msg: run(`{"name":"Ada","times":0}`), reply: `{"error":"times must be at least 1","times":0}`},
			},
		},
	}
	runLoopCases(t, pythonArgs(t), "__main__.py", cases)
}

// TestPythonHugeLogs writes 100 MiB of logs in one activation: the launcher
// just writes them, and the reply and sentinels still come.
func TestPythonHugeLogs(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"__main__.py": `import sys
def main(args):
    block = ("x" * 1023 + "\n") * 1024
    for _ in range(args["mib"]):
        sys.stdout.write(block)
    print("last", end="")
    return {"done": True}
`})
	l := startLoop(t, pythonArgs(t), []string{"WISP_ACTION_DIR=" + dir})
	if r, _, _ := l.send(`{"init":{"main":"main","binary":false,"entry":"` + filepath.Join(dir, "__main__.py") + `","env":{}}}`); r != `{"ok": true}` && r != `{"ok":true}` {
		t.Fatalf("init: %s", r)
	}
	reply, out, _ := l.send(run(`{"mib":100}`))
	if reply != `{"done": true}` {
		t.Errorf("reply %s", reply)
	}
	if want := int64(100<<20 + len("last\n")); out.n != want {
		t.Errorf("stdout had %d bytes, want %d", out.n, want)
	}
	reply, out, _ = l.send(run(`{"mib":0}`))
	if reply != `{"done": true}` || out.text != "last\n" {
		t.Errorf("the next activation: reply %s, stdout %q", reply, out.text)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := readFileErr(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFileErr(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}

// TestPythonLauncherJSON checks the launcher's loads and dumps (json's C
// accelerator used directly, without importing json) against the json
// module, on valid and invalid text and on values json refuses.
func TestPythonLauncherJSON(t *testing.T) {
	dir, err := filepath.Abs("python")
	if err != nil {
		t.Fatal(err)
	}
	script := `
import sys
sys.path.insert(0, sys.argv[1])
import launcher
assert "json" not in sys.modules, "the launcher imported json"
texts = ['{}', ' {"a": [1, 2.5, -3e10, true, false, null, "\\u00e9\\ud83d\\ude00"]} ', '[1e400]',
         '{"n": NaN, "i": -Infinity}', '{"deep": ' * 50 + '1' + '}' * 50, '"just a string"', '12345678901234567890123',
         '{not json', '{"a": 1} trailing', '', '   ', '[1,]', '{"a" 1}', '"\\x"', '\t{"tab": 1}\n']
import json
for s in texts:
    try:
        want = ("ok", json.loads(s))
    except ValueError as e:
        want = ("error", str(e))
    try:
        got = ("ok", launcher.loads(s))
    except ValueError as e:
        got = ("error", str(e))
    if repr(got) != repr(want):
        print("loads(%r) = %r, json says %r" % (s, got, want))
class Odd: pass
circular = []
circular.append(circular)
values = [{}, {"a": [1, 2.5, None, True, "é😀"]}, {1: "int key"}, "str", 3, float("nan"), {"x": float("inf")},
          {"odd": Odd()}, circular, {"s": "\ud800"}, [[[[]]]], {"big": 10**30}]
for v in values:
    for ascii_, nan in ((True, True), (False, False)):
        try:
            want = ("ok", json.dumps(v, ensure_ascii=ascii_, allow_nan=nan))
        except (TypeError, ValueError) as e:
            want = (type(e).__name__, str(e))
        try:
            got = ("ok", launcher.dumps(v, ensure_ascii=ascii_, allow_nan=nan))
        except (TypeError, ValueError) as e:
            got = (type(e).__name__, str(e))
        if got != want:
            print("dumps(%r, %s, %s) = %r, json says %r" % (v, ascii_, nan, got, want))
`
	out, err := exec.Command("/usr/bin/python3", "-S", "-c", script, dir).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("%v\n%s", err, out)
	}
}
