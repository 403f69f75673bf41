package runtimes

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OpenWhisk's Node.js hello world, unchanged.
const nodeHello = `function main(params) {
  var name = params.name || 'World';
  return {payload:  'Hello, ' + name + '!'};
}
`

func nodeArgs(t testing.TB) []string {
	t.Helper()
	abs, err := filepath.Abs("nodejs/launcher.js")
	if err != nil {
		t.Fatal(err)
	}
	return []string{"/usr/bin/node", abs}
}

// nodeSDKPath makes a folder where require('@wispfaas/wisp') finds the
// SDK of this repository, as the runtime's global folder does.
func nodeSDKPath(t *testing.T) string {
	t.Helper()
	sdk, err := filepath.Abs("../sdk/nodejs")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "@wispfaas"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sdk, filepath.Join(dir, "@wispfaas", "wisp")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNodeLauncher(t *testing.T) {
	sdkPath := nodeSDKPath(t)
	cases := []loopCase{
		{
			name:  "OpenWhisk's hello world",
			files: map[string]string{"index.js": nodeHello},
			steps: []step{
				{msg: run(`{"name":"Ada"}`), reply: `{"payload":"Hello, Ada!"}`},
				{msg: run(`{}`), reply: `{"payload":"Hello, World!"}`},
			},
		},
		{
			name:  "exports.main",
			files: map[string]string{"index.js": "exports.main = (p) => ({ via: 'exports', n: p.n });\n"},
			steps: []step{{msg: run(`{"n":1}`), reply: `{"via":"exports","n":1}`}},
		},
		{
			name:  "module.exports.main and require",
			files: map[string]string{"index.js": "const path = require('path');\nmodule.exports.main = function () { return { base: path.basename(__filename) }; };\n"},
			steps: []step{{msg: run(`{}`), reply: `{"base":"index.js"}`}},
		},
		{
			name:  "a top-level const arrow function",
			files: map[string]string{"index.js": "'use strict';\nconst main = (p) => ({ strict: this === undefined || true, x: p.x });\n"},
			steps: []step{{msg: run(`{"x":2}`), reply: `{"strict":true,"x":2}`}},
		},
		{
			name:  "async functions and promises are awaited",
			files: map[string]string{"index.js": "async function main(p) {\n  await new Promise((r) => setTimeout(r, 5));\n  if (p.promise) return new Promise((r) => setTimeout(() => r({ via: 'promise' }), 5));\n  return { via: 'async' };\n}\n"},
			steps: []step{
				{msg: run(`{}`), reply: `{"via":"async"}`},
				{msg: run(`{"promise":true}`), reply: `{"via":"promise"}`},
			},
		},
		{
			name:  "another main name, init's env and the activation's",
			files: map[string]string{"index.js": "function hello() {\n  const o = {};\n  for (const k of ['SECRET', '__OW_ACTIVATION_ID', '__OW_NAMESPACE', '__OW_ACTION_NAME', '__OW_DEADLINE', '__OW_API_KEY']) o[k] = process.env[k] ?? null;\n  return o;\n}\n"},
			init:  map[string]any{"main": "hello", "env": map[string]string{"SECRET": "s3"}},
			steps: []step{
				{msg: run(`{}`), reply: `{"SECRET":"s3","__OW_ACTIVATION_ID":"0123abc","__OW_NAMESPACE":"guest","__OW_ACTION_NAME":"/guest/hello","__OW_DEADLINE":"4102444800000","__OW_API_KEY":"k:v"}`},
				{msg: `{"value":{},"activation_id":"2"}`, reply: `{"SECRET":"s3","__OW_ACTIVATION_ID":"2","__OW_NAMESPACE":null,"__OW_ACTION_NAME":null,"__OW_DEADLINE":null,"__OW_API_KEY":null}`},
			},
		},
		{
			name:  "a syntax error names the line",
			files: map[string]string{"index.js": "function main(params) {\n  return {\n}\nfunction other( {\n"},
			steps: []step{{msg: "INIT", replyHas: `syntax error in index.js line`, errs: "SyntaxError"}},
		},
		{
			name:  "no main",
			files: map[string]string{"index.js": "function hello() { return {}; }\n"},
			steps: []step{{msg: "INIT", reply: `{"error":"index.js has no function main: define function main(params) or set exports.main"}`}},
		},
		{
			name:  "main is not a function",
			files: map[string]string{"index.js": "var main = 3;\n"},
			steps: []step{{msg: "INIT", reply: `{"error":"index.js's main is a number, not a function"}`}},
		},
		{
			name:  "an exception at load",
			files: map[string]string{"index.js": "require('nosuchmodule');\nfunction main() { return {}; }\n"},
			steps: []step{{msg: "INIT", replyHas: `loading index.js failed: Error: Cannot find module 'nosuchmodule'`, errs: "Require stack"}},
		},
		{
			name: "results that are not objects",
			files: map[string]string{"index.js": `function main(p) {
  let deep = {};
  for (let i = 0; i < 100000; i++) deep = { d: deep };
  return { array: [1], nul: null, str: 'x', num: 3, undef: undefined, promise: Promise.resolve(7), big: { n: 10n }, deep }[p.kind];
}
`},
			steps: []step{
				{msg: run(`{"kind":"array"}`), reply: `{"error":"the action's main returned an array, not an object: an action's result must be a JSON object"}`},
				{msg: run(`{"kind":"nul"}`), reply: `{"error":"the action's main returned null, not an object: an action's result must be a JSON object"}`},
				{msg: run(`{"kind":"str"}`), replyHas: `returned string \"x\", not an object`},
				{msg: run(`{"kind":"promise"}`), replyHas: `returned number 7, not an object`},
				// As in OpenWhisk, no result is the empty one.
				{msg: run(`{"kind":"undef"}`), reply: `{}`},
				{msg: run(`{"kind":"big"}`), replyHas: `the action's result cannot be encoded as JSON: Do not know how to serialize a BigInt`},
				{msg: run(`{"kind":"deep"}`), replyHas: `the action's result cannot be encoded as JSON: Maximum call stack size exceeded`},
				{msg: run(`{"kind":"array"}`), replyHas: `returned an array`}, // and the loop goes on
			},
		},
		{
			name:  "thrown errors and rejections are error results with the stack in the logs",
			files: map[string]string{"index.js": "async function main(p) {\n  console.log('before');\n  if (p.reject) return Promise.reject(new RangeError('too far'));\n  if (p.str) throw 'just a string';\n  throw new Error('boom');\n}\n"},
			steps: []step{
				{msg: run(`{}`), reply: `{"error":"Error: boom"}`, out: "before\n", errs: "at main ("},
				{msg: run(`{"reject":true}`), reply: `{"error":"RangeError: too far"}`},
				{msg: run(`{"str":true}`), reply: `{"error":"just a string"}`},
			},
		},
		{
			name:  "output without a final newline keeps the sentinel on its own line",
			files: map[string]string{"index.js": "function main() {\n  process.stdout.write('no newline');\n  process.stderr.write('partial');\n  return {};\n}\n"},
			steps: []step{{msg: run(`{}`), reply: `{}`, out: "no newline\n", errs: "partial\n"}},
		},
		{
			name: "processes the action starts cannot write on the reply pipe",
			files: map[string]string{"index.js": `const { spawnSync } = require('child_process');
function main() {
  const r = spawnSync('/bin/sh', ['-c', 'echo "{\\"forged\\": true}" >&3']);
  return { child: r.status };
}
`},
			steps: []step{{msg: run(`{}`), reply: `{"child":2}`}},
		},
		{
			name: "a zip with package.json's main and node_modules",
			files: map[string]string{
				"package.json":                    `{"name":"a","main":"lib/entry.js"}`,
				"lib/entry.js":                    "const greet = require('greet');\nexports.main = (p) => ({ greeting: greet(p.name) });\n",
				"node_modules/greet/package.json": `{"name":"greet","main":"greet.js"}`,
				"node_modules/greet/greet.js":     "module.exports = (n) => 'Hi ' + n;\n",
			},
			init:  map[string]any{"binary": true},
			steps: []step{{msg: run(`{"name":"Ada"}`), reply: `{"greeting":"Hi Ada"}`}},
		},
		{
			name:  "a zip with index.js",
			files: map[string]string{"index.js": "exports.main = () => ({ zip: true });\n"},
			init:  map[string]any{"binary": true},
			steps: []step{{msg: run(`{}`), reply: `{"zip":true}`}},
		},
		{
			name: "a zip of an ES module",
			files: map[string]string{
				"package.json": `{"type":"module","main":"main.js"}`,
				"main.js":      "export async function main(p) { return { esm: true, n: p.n }; }\n",
			},
			init:  map[string]any{"binary": true},
			steps: []step{{msg: run(`{"n":3}`), reply: `{"esm":true,"n":3}`}},
		},
		{
			name:  "a zip without an entry",
			files: map[string]string{"main.js": "exports.main = () => ({});\n"},
			init:  map[string]any{"binary": true},
			steps: []step{{msg: "INIT", reply: `{"error":"the zip file has no index.js: give package.json a \"main\" or add index.js"}`}},
		},
		{
			name:  "a zip whose package.json is broken",
			files: map[string]string{"package.json": "{", "index.js": "exports.main = () => ({});\n"},
			init:  map[string]any{"binary": true},
			steps: []step{{msg: "INIT", replyHas: `package.json is not valid JSON`}},
		},
		{
			name:  "messages out of order or not JSON",
			files: map[string]string{"index.js": nodeHello},
			steps: []step{
				{msg: run(`{}`), reply: `{"error":"the action is not initialized: run came before init"}`},
				{msg: `{not json`, replyHas: `the launcher could not read its message`},
				{msg: `"str"`, replyHas: `a message must be a JSON object`},
				{msg: "INIT", reply: `{"ok":true}`},
				{msg: "INIT", reply: `{"error":"the action is already initialized: init came twice"}`},
				{msg: run(`{"name":"Bo"}`), reply: `{"payload":"Hello, Bo!"}`},
			},
		},
		{
			name:  "an action that exits ends the loop",
			files: map[string]string{"index.js": "function main() { process.exit(4); }\n"},
			steps: []step{{msg: run(`{}`), exit: 4}},
		},
		{
			name:  "the SDK's ActionError without wisp.action",
			files: map[string]string{"index.js": "const wisp = require('@wispfaas/wisp');\nfunction main() { throw new wisp.ActionError('not today', { retry: true }); }\n"},
			env:   []string{"NODE_PATH=" + sdkPath},
			steps: []step{{msg: run(`{}`), reply: `{"error":"not today","retry":true}`}},
		},
		{
			name:  "the SDK's example",
			files: map[string]string{"index.js": readFile(t, "../sdk/nodejs/examples/hello/index.js")},
			env:   []string{"NODE_PATH=" + sdkPath},
			steps: []step{
				{msg: run(`{"name":"Ada","times":2}`), reply: `{"greeting":"Hello Ada! Hello Ada!","activation":"0123abc"}`, errs: "INFO greeting Ada in activation 0123abc\n"},
				{msg: run(`{"name":"Ada","times":"2"}`), reply: `{"error":"parameter \"times\" must be an integer, not a string \"2\""}`},
				{msg: run(`{"name":"Ada","times":0}`), reply: `{"error":"times must be at least 1","times":0}`},
			},
		},
	}
	runLoopCases(t, nodeArgs(t), "index.js", cases)
}

// TestNodeHugeLogs writes 100 MiB of logs in one activation.
func TestNodeHugeLogs(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.js": `function main(p) {
  const block = ('x'.repeat(1023) + '\n').repeat(1024);
  for (let i = 0; i < p.mib; i++) process.stdout.write(block);
  console.log('last');
  return { done: true };
}
`})
	l := startLoop(t, nodeArgs(t), []string{"WISP_ACTION_DIR=" + dir})
	if r, _, _ := l.send(`{"init":{"main":"main","binary":false,"entry":"` + filepath.Join(dir, "index.js") + `","env":{}}}`); r != `{"ok":true}` {
		t.Fatalf("init: %s", r)
	}
	reply, out, _ := l.send(run(`{"mib":100}`))
	if reply != `{"done":true}` {
		t.Errorf("reply %s", reply)
	}
	if want := int64(100<<20 + len("last\n")); out.n != want {
		t.Errorf("stdout had %d bytes, want %d", out.n, want)
	}
	reply, out, _ = l.send(run(`{"mib":0}`))
	if reply != `{"done":true}` || out.text != "last\n" {
		t.Errorf("the next activation: reply %s, stdout %q", reply, out.text)
	}
}

// TestNodeLauncherReadsLines: the launcher reads stdin in 64 KiB blocks,
// so a message may span several reads (and split a character), and one
// read may hold several messages.
func TestNodeLauncherReadsLines(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.js": "function main(p) { return { n: p.s ? p.s.length : 0, last: p.s ? p.s.slice(-1) : '', tag: p.tag }; }\n"})
	l := startLoop(t, nodeArgs(t), []string{"WISP_ACTION_DIR=" + dir})
	init := `{"init":{"main":"main","binary":false,"entry":"` + filepath.Join(dir, "index.js") + `","env":{}}}`
	// Init and two runs in one write.
	if _, err := io.WriteString(l.stdin, init+"\n"+run(`{"tag":"one"}`)+"\n"+run(`{"tag":"two"}`)+"\n"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"ok":true}`, `{"n":0,"last":"","tag":"one"}`, `{"n":0,"last":"","tag":"two"}`} {
		if reply, _, _ := l.receive("the three messages"); reply != want {
			t.Errorf("reply %s, want %s", reply, want)
		}
	}
	// 150,000 two-byte characters: 300,000 bytes, read in five blocks,
	// the first boundary inside a character.
	big := strings.Repeat("é", 150000) + "!"
	if reply, _, _ := l.send(run(`{"s":"` + big + `","tag":"big"}`)); reply != `{"n":150001,"last":"!","tag":"big"}` {
		t.Errorf("reply %.200s", reply)
	}
}

// TestNodeLauncherNonBlockingStdin: a launcher whose stdin is
// non-blocking (Wisp's containers give a blocking pipe) reads it as a
// stream instead, from where it left off.
func TestNodeLauncherNonBlockingStdin(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.js": nodeHello})
	args := append([]string{"/usr/bin/python3", "-c", "import os, sys; os.set_blocking(0, False); os.execv(sys.argv[1], sys.argv[1:])"}, nodeArgs(t)...)
	l := startLoop(t, args, []string{"WISP_ACTION_DIR=" + dir})
	init := `{"init":{"main":"main","binary":false,"entry":"` + filepath.Join(dir, "index.js") + `","env":{}}}`
	if reply, _, _ := l.send(init); reply != `{"ok":true}` {
		t.Fatalf("init: %s", reply)
	}
	for _, name := range []string{"Ada", "Bo", "Cy"} {
		if reply, _, _ := l.send(run(`{"name":"` + name + `"}`)); reply != `{"payload":"Hello, `+name+`!"}` {
			t.Errorf("reply %s", reply)
		}
	}
}

// TestNodeLauncherEventLoopBetweenActivations: once the first run is
// answered, the launcher waits for the next message without blocking the
// event loop, so a timer an activation started fires before the next one
// (the first messages are read blocking, see lines in launcher.js).
func TestNodeLauncherEventLoopBetweenActivations(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.js": "let fired = 0;\nfunction main(p) {\n  if (p.arm) setTimeout(() => { fired++; }, 20);\n  return { fired };\n}\n"})
	l := startLoop(t, nodeArgs(t), []string{"WISP_ACTION_DIR=" + dir})
	init := `{"init":{"main":"main","binary":false,"entry":"` + filepath.Join(dir, "index.js") + `","env":{}}}`
	if reply, _, _ := l.send(init); reply != `{"ok":true}` {
		t.Fatalf("init: %s", reply)
	}
	if reply, _, _ := l.send(run(`{"arm":true}`)); reply != `{"fired":0}` {
		t.Fatalf("first run: %s", reply)
	}
	time.Sleep(500 * time.Millisecond) // the timer's 20 ms, with room for a slow machine
	if reply, _, _ := l.send(run(`{}`)); reply != `{"fired":1}` {
		t.Errorf("the next run: %s, want {\"fired\":1}: the timer did not fire between the activations", reply)
	}
}
