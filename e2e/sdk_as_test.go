package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The AssemblyScript SDK (sdk/assemblyscript) is tested here from its
// sources: npm installs the pinned compiler, asc builds the example action
// (examples/hello) and the SDK's test action (tests/assembly/jsontest.ts),
// and the tests check the modules' shape, drive the JSON reader and writer
// through the reactor ABI in wazero, and run the example on a real wispd.

// asModules are the built AssemblyScript modules, by name.
type asModules struct {
	hello, jsontest string // paths of the .wasm files
}

var (
	asOnce  sync.Once
	asBuilt asModules
	asErr   error
)

// buildAS builds the SDK's modules once for the test binary. It fails the
// test (it does not skip) when node or npm is missing.
func buildAS(t *testing.T) asModules {
	t.Helper()
	asOnce.Do(func() { asBuilt, asErr = buildASModules() })
	if asErr != nil {
		t.Fatal(asErr)
	}
	return asBuilt
}

func buildASModules() (asModules, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return asModules{}, fmt.Errorf("node is not installed: run scripts/deps.sh (go tool task test does)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return asModules{}, fmt.Errorf("npm is not installed: run scripts/deps.sh (go tool task test does)")
	}
	root, err := moduleRoot()
	if err != nil {
		return asModules{}, err
	}
	sdk := filepath.Join(root, "sdk", "assemblyscript")
	example := filepath.Join(sdk, "examples", "hello")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	run := func(dir, name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s in %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, err, out)
		}
		return nil
	}
	// npm ci installs exactly the locked compiler; skipped when node_modules
	// already holds what the lock says.
	for _, dir := range []string{sdk, example} {
		if !installed(dir) {
			if err := run(dir, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"); err != nil {
				return asModules{}, err
			}
		}
	}
	m := asModules{hello: filepath.Join(binDir, "as-hello.wasm"), jsontest: filepath.Join(binDir, "as-jsontest.wasm")}
	start := time.Now()
	// The example is built as its README says (npm run build), into the
	// test's directory instead of build/; the test action beside it (two
	// compilers, one per core).
	asc := filepath.Join(sdk, "node_modules", "assemblyscript", "bin", "asc.js")
	errs := make(chan error, 2)
	go func() { errs <- run(example, npm, "run", "--silent", "build", "--", "--outFile", m.hello) }()
	go func() {
		errs <- run(sdk, node, asc, "tests/assembly/jsontest.ts", "--config", "tests/asconfig.json", "--target", "release", "--outFile", m.jsontest)
	}()
	for range 2 {
		if err := <-errs; err != nil {
			return asModules{}, err
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: built the AssemblyScript modules in %s\n", time.Since(start).Round(time.Millisecond))
	return m, nil
}

// TestSDKASModuleShape checks that asc made Wisp reactors: the ABI's
// exports with their signatures, no _start, and imports of
// wasi_snapshot_preview1 only (no env.abort, env.trace, env.seed).
func TestSDKASModuleShape(t *testing.T) {
	t.Parallel()
	m := buildAS(t)
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	for _, path := range []string{m.hello, m.jsontest} {
		wasm, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cm, err := r.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatalf("compile %s: %v", filepath.Base(path), err)
		}
		var imports []string
		for _, fn := range cm.ImportedFunctions() {
			mod, name, _ := fn.Import()
			imports = append(imports, mod+"."+name+signatureText(fn))
			if mod != "wasi_snapshot_preview1" {
				t.Errorf("%s imports %s.%s: only wasi_snapshot_preview1 is allowed", filepath.Base(path), mod, name)
			}
		}
		if n := len(cm.ImportedMemories()); n > 0 {
			t.Errorf("%s imports its memory", filepath.Base(path))
		}
		exports := cm.ExportedFunctions()
		var names []string
		for name, fn := range exports {
			names = append(names, name+signatureText(fn))
		}
		sort.Strings(names)
		if _, ok := exports["_start"]; ok {
			t.Errorf("%s exports _start: it would run as a command, not as a reactor", filepath.Base(path))
		}
		i32, i64 := wapi.ValueTypeI32, wapi.ValueTypeI64
		for _, w := range []struct {
			name           string
			params, result []wapi.ValueType
		}{
			{"wisp_alloc", []wapi.ValueType{i32}, []wapi.ValueType{i32}},
			{"wisp_invoke", []wapi.ValueType{i32, i32, i32, i32}, []wapi.ValueType{i64}},
			{"_initialize", nil, nil},
		} {
			fn, ok := exports[w.name]
			if !ok {
				t.Errorf("%s does not export %s", filepath.Base(path), w.name)
				continue
			}
			if !slices.Equal(fn.ParamTypes(), w.params) || !slices.Equal(fn.ResultTypes(), w.result) {
				t.Errorf("%s exports %s%s", filepath.Base(path), w.name, signatureText(fn))
			}
		}
		if _, ok := cm.ExportedMemories()["memory"]; !ok {
			t.Errorf("%s does not export its memory", filepath.Base(path))
		}
		t.Logf("%s (%d bytes): imports %v; exports memory and %v", filepath.Base(path), len(wasm), imports, names)
	}
}

func signatureText(fn wapi.FunctionDefinition) string {
	names := func(ts []wapi.ValueType) string {
		var s []string
		for _, t := range ts {
			s = append(s, wapi.ValueTypeName(t))
		}
		return strings.Join(s, ",")
	}
	return "(" + names(fn.ParamTypes()) + ")->(" + names(fn.ResultTypes()) + ")"
}

// asReactor is an instance of an AssemblyScript reactor driven directly
// through the ABI, as wasmrt does, without a wispd.
type asReactor struct {
	mod            wapi.Module
	alloc, invoke  wapi.Function
	stdout, stderr bytes.Buffer
}

func newASReactor(t *testing.T, path string) *asReactor {
	t.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	a := &asReactor{}
	cfg := wazero.NewModuleConfig().
		WithStdout(&a.stdout).WithStderr(&a.stderr).
		WithSysWalltime().WithSysNanotime().WithRandSource(rand.Reader).
		WithStartFunctions("_initialize")
	a.mod, err = r.InstantiateWithConfig(ctx, wasm, cfg)
	if err != nil {
		t.Fatalf("instantiate %s: %v", filepath.Base(path), err)
	}
	a.alloc, a.invoke = a.mod.ExportedFunction("wisp_alloc"), a.mod.ExportedFunction("wisp_invoke")
	return a
}

func (a *asReactor) pass(b []byte) (uint32, error) {
	res, err := a.alloc.Call(context.Background(), uint64(len(b)))
	if err != nil {
		return 0, err
	}
	ptr := uint32(res[0])
	if ptr == 0 || !a.mod.Memory().Write(ptr, b) {
		return 0, fmt.Errorf("wisp_alloc(%d) returned %d", len(b), ptr)
	}
	return ptr, nil
}

// call runs one activation with raw params and context bytes and returns
// a copy of the result.
func (a *asReactor) call(params, actx []byte) ([]byte, error) {
	p, err := a.pass(params)
	if err != nil {
		return nil, err
	}
	c, err := a.pass(actx)
	if err != nil {
		return nil, err
	}
	res, err := a.invoke.Call(context.Background(), uint64(p), uint64(len(params)), uint64(c), uint64(len(actx)))
	if err != nil {
		return nil, err
	}
	buf, ok := a.mod.Memory().Read(uint32(res[0]>>32), uint32(res[0]))
	if !ok {
		return nil, fmt.Errorf("result %#x is outside memory", res[0])
	}
	return bytes.Clone(buf), nil
}

// callJSON runs an activation with params marshalled from v and decodes
// the result, which must be a JSON object.
func (a *asReactor) callJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	params, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.call(params, []byte(`{}`))
	if err != nil {
		t.Fatalf("invoke %s: %v\nstderr: %s", params, err, a.stderr.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("invoke %s: result %q is not a JSON object: %v", params, out, err)
	}
	return m
}

// TestSDKASJSON drives the SDK's JSON reader and writer over tricky input
// through the test action's "parse" operation and its echo.
func TestSDKASJSON(t *testing.T) {
	t.Parallel()
	a := newASReactor(t, buildAS(t).jsontest)

	valid := []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `1`, `-1`, `0.5`, `1e3`, `1E-3`, `-12.5e+2`,
		`9007199254740993`, `9223372036854775807`, `-9223372036854775808`, `18446744073709551616`,
		`5e-324`, `2.2250738585072014e-308`, `1.7976931348623157e308`,
		`""`, `"plain"`, `"\"\\\/\b\f\n\r\t"`, `"\u0000\u001f\u007f"`, `"\u00e9\u00E9"`,
		`"\ud83d\ude80"`, `"\uD83D\uDE80 rocket"`, `"Zoë — 日本 🚀"`, "\"\u2028\u2029\"",
		" \t\r\n{ \"a\" : [ 1 , { } , [ ] , \"x\" ] } \n",
		`{"a":1,"a":2,"b":3}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k3":"again"}`,
		`[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]`,
		strings.Repeat("[", 512) + strings.Repeat("]", 512),
	}
	for _, text := range valid {
		r := a.callJSON(t, map[string]any{"op": "parse", "text": text})
		if r["ok"] != true {
			t.Errorf("parse %q: %v", excerptText(text), r)
			continue
		}
		// The value came back through the writer: it must be what Go reads.
		js, _ := r["json"].(string)
		if eq, err := jsonEqual([]byte(js), []byte(text)); err != nil || !eq {
			t.Errorf("parse %q: rewritten as %q", excerptText(text), excerptText(js))
		}
		var want any
		_ = json.Unmarshal([]byte(text), &want)
		if s, ok := want.(string); ok {
			if units := len(utf16Units(s)); r["units"] != float64(units) {
				t.Errorf("parse %q: %v UTF-16 units, want %d", text, r["units"], units)
			}
		}
	}
	// Numbers: the double and the exact integer.
	for _, tc := range []struct {
		text string
		num  float64
		int  string // "" when not a whole i64
	}{
		{`9007199254740993`, 9007199254740992, "9007199254740993"},
		{`-9223372036854775808`, -9223372036854775808, "-9223372036854775808"},
		{`9223372036854775808`, 9223372036854775808, ""},
		{`1e3`, 1000, "1000"},
		{`2.5`, 2.5, ""},
		{`-0`, 0, "0"},
		{`0.1`, 0.1, ""},
		{`123456789.125e-3`, 123456.789125, ""},
	} {
		r := a.callJSON(t, map[string]any{"op": "parse", "text": tc.text})
		if r["num"] != tc.num {
			t.Errorf("parse %s: number %v, want %v", tc.text, r["num"], tc.num)
		}
		got, _ := r["int"].(string)
		if got != tc.int {
			t.Errorf("parse %s: int %q, want %q", tc.text, got, tc.int)
		}
	}
	// Out of the range of a double: the literal is kept, the number is
	// infinite (written as null).
	out, err := a.call([]byte(`{"op":"parse","text":"-1e400"}`), []byte(`{}`))
	if want := `{"ok":true,"value":-1e400,"kind":2,"json":"-1e400","num":null}`; err != nil || string(out) != want {
		t.Errorf("parse -1e400: %s (%v), want %s", out, err, want)
	}
	// Invalid UTF-8 in a string becomes U+FFFD, as in Go. (Raw bytes: Go's
	// encoder would repair them before they reach the module.)
	out, err = a.call([]byte("{\"s\":\"a\xffb\xe2\x82\",\"t\":\"\xf0\x9f\x9a\x80\xc0\xaf\xed\xa0\x80\"}"), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"echo\":{\"s\":\"a\ufffdb\ufffd\ufffd\",\"t\":\"\U0001F680\ufffd\ufffd\ufffd\ufffd\ufffd\"},\"calls\":"; !strings.HasPrefix(string(out), want) {
		t.Errorf("invalid UTF-8: %s, want %s...", out, want)
	}

	invalid := []struct{ text, says string }{
		{``, "end of input"},
		{` `, "end of input"},
		{`{`, "unterminated object"},
		{`{"a"}`, "':'"},
		{`{"a":1,}`, "string key"},
		{`{a:1}`, "string key"},
		{`[1,]`, "unexpected ']'"},
		{`[1 2]`, "expected ',' or ']'"},
		{`[`, "end of input"},
		{`"abc`, "unterminated string"},
		{`"a\x"`, "invalid escape"},
		{`"\u12"`, `\u escape`},
		{`"\u12G4"`, `\u escape`},
		{"\"a\nb\"", "control character"},
		{"\"a\x00b\"", "control character"},
		{`01`, "after the JSON value"},
		{`1.`, "decimal point"},
		{`.5`, "unexpected '.'"},
		{`1e`, "exponent"},
		{`-`, "invalid number"},
		{`+1`, "unexpected '+'"},
		{`NaN`, "unexpected 'N'"},
		{`Infinity`, "unexpected 'I'"},
		{`tru`, "invalid literal"},
		{`nul`, "invalid literal"},
		{`truex`, "after the JSON value"},
		{`{} {}`, "after the JSON value"},
		{`// comment`, "unexpected '/'"},
		{`'single'`, "unexpected '''"},
		{strings.Repeat("[", 513) + strings.Repeat("]", 513), "nested more than 512"},
		{strings.Repeat("[", 100000), "nested more than 512"},
		{strings.Repeat(`{"a":`, 100000), "nested more than 512"},
	}
	for _, tc := range invalid {
		r := a.callJSON(t, map[string]any{"op": "parse", "text": tc.text})
		msg, _ := r["error"].(string)
		if r["ok"] != false || !strings.Contains(msg, tc.says) || !strings.Contains(msg, "at byte") {
			t.Errorf("parse %q: %v, want an error mentioning %q", excerptText(tc.text), r, tc.says)
		}
	}

	// The writer, byte for byte: escapes, lone surrogates, numbers, order.
	out, err = a.call([]byte(`{"op":"build"}`), []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"quote":"a\"b\\c/d","ctl":"\u0000\u0001\b\f\n\r\t\u001f` + "\x7f" + `",` +
		`"lone":"\ud800x\udc00\udbff","pair":"` + "\U0001F680" + `","uni":"Zo` + "\u00eb \u2014 \u65e5\u672c \u2028" + `",` +
		`"nan":null,"inf":null,"max":9223372036854775807,"min":-9223372036854775808,"neg0":0,"half":0.5,"whole":3,` +
		`"tiny":5e-324,"huge":1e+300,"arr":[1,"two",null,true,false,{"k":[]},null],"dup":2,` +
		`"many":{"k0":0,"k1":1,"k2":2,"k3":"three","k4":4,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11},` +
		`"hasK3":true,"hasK5":false,"k3":"three","k11":11,"wrongKind":"default"}`
	if string(out) != want {
		t.Errorf("build wrote\n%s\nwant\n%s", out, want)
	}
	if !json.Valid(out) {
		t.Errorf("build wrote invalid JSON: %s", out)
	}

	// Parameters that are not a JSON object give an error result, not a trap.
	for _, params := range []string{``, `nope`, `[1,2]`, `"s"`, `{"a":}`, "{\"a\":\"\x01\"}"} {
		out, err := a.call([]byte(params), []byte(`{}`))
		if err != nil {
			t.Fatalf("params %q: %v", params, err)
		}
		var m map[string]string
		if json.Unmarshal(out, &m) != nil || !strings.Contains(m["error"], "the parameters are not a JSON object") {
			t.Errorf("params %q: result %s", params, out)
		}
	}

	// The echo: parameters read and written back unchanged.
	params := map[string]any{
		"name":  "Zoë \"the\" \\ coder\n\t🚀 \u2028 \x00",
		"big":   json.Number("12345678901234567890123"),
		"float": 0.1,
		"list":  []any{1, "2", nil, true, map[string]any{"x": []any{}}},
		"obj":   map[string]any{"": "", "ключ": "значение"},
	}
	raw, _ := json.Marshal(params)
	out, err = a.call(raw, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Echo json.RawMessage `json:"echo"`
		Keys int             `json:"keys"`
	}
	if err := json.Unmarshal(out, &echo); err != nil {
		t.Fatalf("echo: %v: %s", err, out)
	}
	if eq, _ := jsonEqual(echo.Echo, raw); !eq || echo.Keys != len(params) {
		t.Errorf("echo of %s is %s", raw, out)
	}
	if !bytes.Contains(echo.Echo, []byte(`12345678901234567890123`)) {
		t.Errorf("echo lost the digits of a big number: %s", echo.Echo)
	}
}

// TestSDKASRuntime checks the reactor's memory rules and WASI glue: input
// buffers survive the garbage collections that other allocations cause,
// reachable data survives many activations, memory stays bounded, and
// logs, console, trace, Math.random, Date.now, the context and abort
// reach WASI.
func TestSDKASRuntime(t *testing.T) {
	t.Parallel()
	a := newASReactor(t, buildAS(t).jsontest)

	// Large parameters: allocating the second buffer and parsing collect
	// garbage while the first is still to be read.
	big := strings.Repeat("x", 1<<20)
	for i := 1; i <= 30; i++ {
		params, _ := json.Marshal(map[string]any{"op": "garbage", "n": 2000, "pad": big})
		out, err := a.call(params, []byte(`{"activationId":"`+big[:1000]+`"}`))
		if err != nil {
			t.Fatalf("call %d: %v\nstderr: %s", i, err, a.stderr.String())
		}
		var r struct {
			Kept   int  `json:"kept"`
			OK     bool `json:"ok"`
			Memory int  `json:"memory"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("call %d: %s", i, out)
		}
		if r.Kept != i || !r.OK {
			t.Fatalf("call %d: kept %d, ok %v: data kept between activations was lost", i, r.Kept, r.OK)
		}
		if i == 30 {
			t.Logf("memory after 30 activations with 1 MiB parameters: %d MiB", r.Memory>>20)
			if r.Memory > 32<<20 {
				t.Errorf("memory grew to %d MiB: garbage is not collected", r.Memory>>20)
			}
		}
	}

	// The context object, as wasmrt renders it.
	deadline := time.Now().Add(time.Minute).UnixMilli()
	actx, _ := json.Marshal(map[string]string{
		"activationId": "0123456789abcdef0123456789abcdef", "namespace": "ns", "actionName": "/ns/pkg/act",
		"actionVersion": "0.0.2", "apiHost": "http://127.0.0.1:3233", "deadline": fmt.Sprint(deadline),
	})
	out, err := a.call([]byte(`{"op":"context"}`), actx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"activationId":"0123456789abcdef0123456789abcdef","namespace":"ns","actionName":"/ns/pkg/act","actionVersion":"0.0.2","apiHost":"http://127.0.0.1:3233","deadline":%d}`, deadline)
	if string(out) != want {
		t.Errorf("context: %s, want %s", out, want)
	}

	a.stdout.Reset()
	a.stderr.Reset()
	before := time.Now().UnixMilli()
	out, err = a.call([]byte(`{"op":"io"}`), actx)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Random       float64 `json:"random"`
		Now          int64   `json:"now"`
		DeadlineLeft int64   `json:"deadlineLeft"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("io: %s", out)
	}
	if got.Random < 0 || got.Random >= 1 {
		t.Errorf("Math.random() = %v", got.Random)
	}
	if got.Now < before-1000 || got.Now > time.Now().UnixMilli()+1000 {
		t.Errorf("Date.now() = %d, want about %d", got.Now, before)
	}
	if got.DeadlineLeft <= 0 || got.DeadlineLeft > 60_000 {
		t.Errorf("remainingMs() = %d, want in (0, 60000]", got.DeadlineLeft)
	}
	if got := a.stdout.String(); got != "console.log line\n" {
		t.Errorf("stdout %q", got)
	}
	if got, w := a.stderr.String(), "log line 32\nconsole.error line\ntrace: trace line 1.5 2.0\n"; got != w {
		t.Errorf("stderr %q, want %q", got, w)
	}

	// The SDK reads Wisp's flat context object directly, reusing the
	// strings that did not change since the last activation, and leaves
	// anything else to its JSON parser: both must read the same. Each case
	// follows the one before in the same instance.
	for _, tc := range []struct{ name, actx, want string }{
		{"the next activation: a new id and deadline",
			`{"activationId":"fedcba9876543210fedcba9876543210","namespace":"ns","actionName":"/ns/pkg/act","actionVersion":"0.0.2","apiHost":"http://127.0.0.1:3233","deadline":"1795651200123"}`,
			`{"activationId":"fedcba9876543210fedcba9876543210","namespace":"ns","actionName":"/ns/pkg/act","actionVersion":"0.0.2","apiHost":"http://127.0.0.1:3233","deadline":1795651200123}`},
		{"white space, a number deadline, an unknown key, a field left out",
			" {\n \"namespace\" : \"ns2\" , \"other\":\"x\", \"deadline\": 1795651200124 }\t",
			`{"activationId":"","namespace":"ns2","actionName":"","actionVersion":"","apiHost":"","deadline":1795651200124}`},
		{"an escape (the parser's turn)",
			`{"activationId":"a\"b","namespace":"ns2"}`,
			`{"activationId":"a\"b","namespace":"ns2","actionName":"","actionVersion":"","apiHost":"","deadline":0}`},
		{"non-ASCII (the parser's turn)",
			`{"activationId":"id","namespace":"nś"}`,
			`{"activationId":"id","namespace":"nś","actionName":"","actionVersion":"","apiHost":"","deadline":0}`},
		{"a number where a string belongs; a fraction for the deadline",
			`{"activationId":7,"namespace":"ns","deadline":1.5}`,
			`{"activationId":"","namespace":"ns","actionName":"","actionVersion":"","apiHost":"","deadline":0}`},
		{"a deadline that is not digits",
			`{"activationId":"id","deadline":"soon"}`,
			`{"activationId":"id","namespace":"","actionName":"","actionVersion":"","apiHost":"","deadline":0}`},
		{"a leading zero: not JSON", `{"activationId":"id","deadline":0123}`,
			`{"activationId":"","namespace":"","actionName":"","actionVersion":"","apiHost":"","deadline":0}`},
		{"cut short: not JSON", `{"activationId":"id"`,
			`{"activationId":"","namespace":"","actionName":"","actionVersion":"","apiHost":"","deadline":0}`},
		{"empty", `{}`,
			`{"activationId":"","namespace":"","actionName":"","actionVersion":"","apiHost":"","deadline":0}`},
		{"the same as the first, after all that", string(actx), want},
	} {
		out, err := a.call([]byte(`{"op":"context"}`), []byte(tc.actx))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(out) != tc.want {
			t.Errorf("context, %s: %s, want %s", tc.name, out, tc.want)
		}
	}

	// A warm call of the example, in-process: what the SDK costs per
	// activation without wispd around it.
	h := newASReactor(t, buildAS(t).hello)
	hp, hc := []byte(`{"name":"warm"}`), []byte(`{"activationId":"0123456789abcdef0123456789abcdef","deadline":"1"}`)
	const calls = 2000
	start := time.Now()
	for i := 0; i < calls; i++ {
		if out, err := h.call(hp, hc); err != nil || !bytes.Contains(out, []byte(`"Hello, warm!"`)) {
			t.Fatalf("warm call %d: %s %v", i, out, err)
		}
	}
	t.Logf("warm call of the example in wazero (wisp_alloc x2, copy in, wisp_invoke, copy out): %s on average over %d",
		(time.Since(start) / calls).Round(100*time.Nanosecond), calls)

	// throw aborts: a message on stderr, then a trap.
	a.stderr.Reset()
	if out, err := a.call([]byte(`{"op":"abort"}`), actx); err == nil {
		t.Errorf("abort returned %s, want a trap", out)
	} else if !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("abort: %v, want a trap (unreachable)", err)
	}
	if got := a.stderr.String(); !strings.HasPrefix(got, "abort: deliberate failure in tests/assembly/jsontest.ts(") {
		t.Errorf("abort wrote %q to stderr", got)
	}
}

// TestSDKASHello runs the SDK's example on wispd: parameters, default,
// logs, context, an application error, warm state within an action and
// not across actions, and initTime on an instance's first activation only.
//
// Creating an action prewarms one instance (the create answers once it is
// ready, within a bound), so the first activation usually finds it and has
// no initTime: the test checks that an activation with initTime is its
// instance's first and that later ones have none. TestSDKASAbort sees
// initTime on the activation that must start a new instance.
func TestSDKASHello(t *testing.T) {
	t.Parallel()
	m := buildAS(t)
	a := shared(t).namespace(t)
	code, err := os.ReadFile(m.hello)
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string) {
		body := map[string]any{"exec": map[string]any{"kind": "wasm", "binary": true, "code": base64.StdEncoding.EncodeToString(code)}}
		a.do(t, "PUT", actionsPath+"/"+name, body).want(t, http.StatusOK)
	}
	create("as-hello")
	create("as-hello-2")

	type result struct {
		Greeting     string `json:"greeting"`
		Calls        int    `json:"calls"`
		ActivationID string `json:"activationId"`
		ActionName   string `json:"actionName"`
		Deadline     int64  `json:"deadline"`
	}
	invoke := func(action string, params any, status int) (*activation, result) {
		t.Helper()
		rec := a.invoke(t, action, "blocking=true", params).want(t, status).activation(t)
		var res result
		if rec.Response != nil && rec.Response.Result != nil {
			b, _ := json.Marshal(rec.Response.Result)
			_ = json.Unmarshal(b, &res)
		}
		return rec, res
	}
	hasInit := func(rec *activation) bool {
		var ms int64
		return rec.annotation(t, "initTime", &ms)
	}

	// 1. A name with quotes, a backslash and non-ASCII text.
	name := `Zoë "the" \ coder 🚀 日本`
	rec, res := invoke("as-hello", map[string]any{"name": name}, http.StatusOK)
	if rec.StatusCode != 0 || rec.Response == nil || !rec.Response.Success {
		t.Fatalf("want success, got %s", rec.Raw)
	}
	if want := "Hello, " + name + "!"; res.Greeting != want {
		t.Errorf("greeting %q, want %q", res.Greeting, want)
	}
	if res.Calls != 1 {
		t.Errorf("first activation: calls %d, want 1", res.Calls)
	}
	t.Logf("first activation: initTime present %v (absent when the create's prewarm started the instance)", hasInit(rec))
	if res.ActivationID != rec.ActivationID {
		t.Errorf("context activationId %q, record %q", res.ActivationID, rec.ActivationID)
	}
	if !strings.HasSuffix(res.ActionName, "/as-hello") || !strings.Contains(res.ActionName, a.ns) {
		t.Errorf("context actionName %q, want /%s/as-hello", res.ActionName, a.ns)
	}
	if res.Deadline <= rec.Start || res.Deadline > rec.Start+10*60*1000 {
		t.Errorf("context deadline %d, activation started at %d", res.Deadline, rec.Start)
	}
	checkLogs(t, rec.Logs, "hi "+name)
	if len(rec.Logs) != 1 {
		t.Errorf("logs %q, want one line", rec.Logs)
	}

	// 2. The default parameter, in the same warm instance.
	rec, res = invoke("as-hello", nil, http.StatusOK)
	if res.Greeting != "Hello, world!" || res.Calls != 2 || hasInit(rec) {
		t.Errorf("second activation: greeting %q, calls %d, initTime %v; want the default, 2, no initTime", res.Greeting, res.Calls, hasInit(rec))
	}

	// 3. An application error: 502, statusCode 1, the instance kept.
	rec, _ = invoke("as-hello", map[string]any{"fail": true, "name": "Bob"}, http.StatusBadGateway)
	if rec.StatusCode != 1 || rec.Response == nil || rec.Response.Status != "application error" || rec.Response.Success {
		t.Errorf("want an application error (statusCode 1), got %s", rec.Raw)
	} else if e, _ := rec.Response.Result["error"].(string); e != "failing as asked, Bob" {
		t.Errorf("error %q", e)
	}
	rec, res = invoke("as-hello", map[string]any{"name": "again"}, http.StatusOK)
	if res.Calls != 4 || hasInit(rec) {
		t.Errorf("after the application error: calls %d, initTime %v; want 4 from the same instance", res.Calls, hasInit(rec))
	}

	// 4. Another action with the same code has an instance of its own.
	rec, res = invoke("as-hello-2", map[string]any{"name": "other"}, http.StatusOK)
	if res.Calls != 1 || res.Greeting != "Hello, other!" || !strings.HasSuffix(res.ActionName, "/as-hello-2") || res.ActivationID != rec.ActivationID {
		t.Errorf("second action: calls %d, greeting %q, action %q, activation %q (record %q); want 1 (an instance of its own), Hello, other!, /…/as-hello-2, the record's",
			res.Calls, res.Greeting, res.ActionName, res.ActivationID, rec.ActivationID)
	}
	rec, res = invoke("as-hello-2", nil, http.StatusOK)
	if res.Calls != 2 || hasInit(rec) {
		t.Errorf("second action, again: calls %d, initTime %v; want 2, none", res.Calls, hasInit(rec))
	}

	// result=true answers the result alone.
	rr := a.invoke(t, "as-hello", "blocking=true&result=true", map[string]any{"name": "R"}).want(t, http.StatusOK).object(t)
	if rr["greeting"] != "Hello, R!" {
		t.Errorf("result=true: %v", rr)
	}

	// Warm activations: the action's own duration and the round trip.
	const n = 20
	var durations, trips []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		rec, _ := invoke("as-hello", map[string]any{"name": "warm"}, http.StatusOK)
		trips = append(trips, time.Since(start))
		durations = append(durations, time.Duration(rec.Duration)*time.Millisecond)
	}
	slices.Sort(durations)
	slices.Sort(trips)
	t.Logf("warm activations of as-hello (%d): median duration %s, median blocking round trip %s (max %s)",
		n, durations[n/2], trips[n/2].Round(10*time.Microsecond), trips[n-1].Round(10*time.Microsecond))
}

// TestSDKASAbort runs a module whose handler throws on wispd: an action
// developer error whose logs hold the abort message.
func TestSDKASAbort(t *testing.T) {
	t.Parallel()
	m := buildAS(t)
	a := shared(t).namespace(t)
	code, err := os.ReadFile(m.jsontest)
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"exec": map[string]any{"kind": "wasm", "binary": true, "code": base64.StdEncoding.EncodeToString(code)}}
	a.do(t, "PUT", actionsPath+"/as-abort", body).want(t, http.StatusOK)
	rec := a.invoke(t, "as-abort", "blocking=true", map[string]any{"op": "abort"}).want(t, http.StatusBadGateway).activation(t)
	if rec.StatusCode != 2 || rec.Response == nil || rec.Response.Status != "action developer error" {
		t.Fatalf("want an action developer error (statusCode 2), got %s", rec.Raw)
	}
	checkLogs(t, rec.Logs, "abort: deliberate failure in tests/assembly/jsontest.ts(")
	// The trapped instance was thrown away: the next activation starts a
	// new one and pays for it (initTime); the one after reuses it.
	var initMs int64
	rec = a.invoke(t, "as-abort", "blocking=true", map[string]any{"x": 1}).want(t, http.StatusOK).activation(t)
	if calls, _ := rec.Response.Result["calls"].(float64); calls != 1 || !rec.annotation(t, "initTime", &initMs) {
		t.Errorf("after the abort: %s, want a new instance (calls 1) and initTime", rec.Raw)
	}
	rec = a.invoke(t, "as-abort", "blocking=true", map[string]any{"x": 2}).want(t, http.StatusOK).activation(t)
	if calls, _ := rec.Response.Result["calls"].(float64); calls != 2 || rec.annotation(t, "initTime", &initMs) {
		t.Errorf("the activation after: %s, want calls 2 and no initTime", rec.Raw)
	}
}

func utf16Units(s string) []uint16 {
	var u []uint16
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			u = append(u, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
		} else {
			u = append(u, uint16(r))
		}
	}
	return u
}

func excerptText(s string) string {
	if len(s) > 60 {
		return s[:60] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}
