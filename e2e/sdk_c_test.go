package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The C SDK (sdk/c, the header wisp.h) is tested here: its JSON reader and
// writer natively, by sdk/c/test/json_test.c and against encoding/json;
// its example (sdk/c/examples/hello) built with clang in both forms of
// docs/wasm-abi.md and run on wispd.

// sdkCDir is sdk/c of the main module.
func sdkCDir(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "sdk", "c")
}

// sdkCBuild compiles the example with the build lines of sdk/c/README.md
// (plus -Werror: the header must compile without a warning) into dir.
func sdkCBuild(t testing.TB, dir string, reactor bool) []byte {
	t.Helper()
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Fatal("clang not found: the C SDK needs Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 (scripts/deps.sh)")
	}
	sdk := sdkCDir(t)
	out := filepath.Join(dir, "hello.wasm")
	args := []string{"--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-Wall", "-Wextra", "-Werror", "-I", sdk}
	if reactor {
		out = filepath.Join(dir, "hello-reactor.wasm")
		args = append(args, "-DWISP_REACTOR", "-mexec-model=reactor")
	}
	args = append(args, "-o", out, filepath.Join(sdk, "examples", "hello", "hello.c"))
	if msg, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
		t.Fatalf("clang %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sdkCCreate creates action name from the module wasm.
func sdkCCreate(t testing.TB, a *api, name string, wasm []byte, extra map[string]any) {
	t.Helper()
	body := map[string]any{"exec": map[string]any{"kind": "wasm", "binary": true, "code": base64.StdEncoding.EncodeToString(wasm)}}
	for k, v := range extra {
		body[k] = v
	}
	a.do(t, "PUT", actionsPath+"/"+name, body).want(t, http.StatusOK)
}

// sdkCGreeting is what the example answers: see its source.
type sdkCGreeting struct {
	Greeting   string `json:"greeting"`
	Served     int    `json:"served"`
	Activation struct {
		ID        string `json:"id"`
		Namespace string `json:"namespace"`
		Action    string `json:"action"`
		Deadline  int64  `json:"deadline"`
	} `json:"activation"`
}

// sdkCResult decodes the example's result in rec, strictly.
func sdkCResult(t testing.TB, rec *activation) sdkCGreeting {
	t.Helper()
	var full struct {
		Response struct {
			Result json.RawMessage `json:"result"`
		} `json:"response"`
	}
	if err := json.Unmarshal(rec.Raw, &full); err != nil {
		t.Fatalf("decode %s: %v", rec.Raw, err)
	}
	var g sdkCGreeting
	dec := json.NewDecoder(bytes.NewReader(full.Response.Result))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil {
		t.Fatalf("the example's result %s: %v", excerptOf(full.Response.Result), err)
	}
	return g
}

func excerptOf(b []byte) string {
	if len(b) > 300 {
		return fmt.Sprintf("%s... (%d bytes)", b[:300], len(b))
	}
	return string(b)
}

// TestSDKCJSON builds sdk/c/test/json_test.c with the host's C compiler
// (with AddressSanitizer and UBSan when it has them, so that a read outside
// a buffer fails the test), runs its tables, and then compares its JSON
// reader with encoding/json on valid, truncated and mutated documents.
func TestSDKCJSON(t *testing.T) {
	t.Parallel()
	var cc string
	for _, name := range []string{"cc", "gcc", "clang"} {
		if p, err := exec.LookPath(name); err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Fatal("no C compiler (cc, gcc or clang) for the host")
	}
	sdk := sdkCDir(t)
	bin := filepath.Join(t.TempDir(), "json_test")
	base := []string{"-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-g", "-O1", "-I", sdk, "-o", bin, filepath.Join(sdk, "test", "json_test.c"), "-lm"}
	sanitize := []string{"-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"}
	if msg, err := exec.Command(cc, append(sanitize, base...)...).CombinedOutput(); err != nil {
		t.Logf("%s cannot build with sanitizers (%v); building without:\n%s", cc, err, msg)
		if msg, err := exec.Command(cc, base...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", cc, strings.Join(base, " "), err, msg)
		}
	}

	t.Run("tables", func(t *testing.T) {
		cmd := exec.Command(bin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "json_test: ok") {
			t.Fatalf("json_test: %v\n%s%s", err, stdout.String(), stderr.String())
		}
	})

	t.Run("differential", func(t *testing.T) {
		docs := sdkCJSONCorpus()
		var in bytes.Buffer
		for _, d := range docs {
			in.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(d))))
			in.Write(d)
		}
		file := filepath.Join(t.TempDir(), "docs")
		if err := os.WriteFile(file, in.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "--diff", file).Output()
		if err != nil {
			t.Fatalf("json_test --diff: %v", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 1<<20)
		i, bad := 0, 0
		for ; sc.Scan(); i++ {
			if i >= len(docs) {
				t.Fatalf("json_test answered more lines than the %d documents", len(docs))
			}
			got, want := sc.Text(), sdkCJSONWant(docs[i])
			if got != want {
				if bad++; bad <= 20 {
					t.Errorf("document %q: wisp.h says %q, encoding/json %q", docs[i], got, want)
				}
			}
		}
		if i != len(docs) {
			t.Fatalf("json_test answered %d lines for %d documents", i, len(docs))
		}
		if bad > 0 {
			t.Errorf("%d of %d documents differ", bad, len(docs))
		}
		t.Logf("%d documents agree", len(docs))
	})
}

// sdkCJSONWant is what json_test --diff should print for doc: whether it
// is valid JSON, and wisp_json_get's answer for key "a" (1 and the value's
// text, 0 when there is none, -1 when doc is not a valid object).
func sdkCJSONWant(doc []byte) string {
	valid := json.Valid(doc)
	v := 0
	if valid {
		v = 1
	}
	if !valid || bytes.TrimLeft(doc, " \t\r\n")[0] != '{' {
		return fmt.Sprintf("%d -1 -", v)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return fmt.Sprintf("%d -1 - (%v)", v, err)
	}
	raw, ok := m["a"]
	if !ok {
		return "1 0 -"
	}
	return "1 1 " + hex.EncodeToString(raw)
}

// sdkCJSONCorpus is valid documents, every prefix of them, and seeded
// random mutations of them.
func sdkCJSONCorpus() [][]byte {
	seeds := []string{
		`{"a":1}`,
		` { "a" : "x" } `,
		`{"a":"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00 é","b":[1,2.5e-3,-0,1E+2,true,false,null]}`,
		`{"b":{"a":2},"a":{"a":[{"a":{}}]},"c":[]}`,
		`{"x":["}","{","]","[",":",","],"a":"]"}`,
		`{"a":1,"a":[2]}`,
		`{"\u0061":3,"\u0062":4}`,
		`{"a":-12.5E+10,"n":0.0e0}`,
		`{"a\"":1,"a\\":2,"":3}`,
		`[{"a":1}]`,
		`"a"`,
		`{"nested":[[[[[[[[[[{"a":[[[[]]]]}]]]]]]]]]],"a":null}`,
		"{\"a\":\"\xff\xfe raw bytes\"}",
		`{}`,
	}
	const alphabet = "{}[]\":,\\u0123456789abcdefABCDEF.-+eE \t\n\rtnrl\x00\x01\x1f\x7f\x80\xff\xc3\xa9"
	rng := rand.New(rand.NewPCG(20261125, 1))
	var docs [][]byte
	for _, s := range seeds {
		docs = append(docs, []byte(s))
		for i := range len(s) {
			docs = append(docs, []byte(s[:i]))
		}
		for range 400 {
			b := []byte(s)
			for range 1 + rng.IntN(3) {
				at := rng.IntN(len(b) + 1)
				c := alphabet[rng.IntN(len(alphabet))]
				switch rng.IntN(3) {
				case 0:
					if at < len(b) {
						b[at] = c
					}
				case 1:
					if at < len(b) {
						b = append(b[:at], b[at+1:]...)
					}
				default:
					b = append(b[:at], append([]byte{c}, b[at:]...)...)
				}
			}
			docs = append(docs, b)
		}
	}
	return docs
}

// TestSDKCExample builds the example in both forms and runs it on wispd.
func TestSDKCExample(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	command, reactor := sdkCBuild(t, dir, false), sdkCBuild(t, dir, true)
	a := shared(t).namespace(t)
	const timeout = 30000 // ms
	limits := map[string]any{"limits": map[string]any{"timeout": timeout}}

	forms := []struct {
		name string
		wasm []byte
	}{{"command", command}, {"reactor", reactor}}
	for _, f := range forms {
		sdkCCreate(t, a, "hello-"+f.name, f.wasm, limits)
	}

	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			action := "hello-" + f.name
			// invoke runs the action with body (a JSON text) and wants status.
			invoke := func(t *testing.T, body string, status int) *activation {
				t.Helper()
				return a.invoke(t, action, "blocking=true", body).want(t, status).activation(t)
			}

			t.Run("greeting", func(t *testing.T) {
				// Quotes, a backslash, control characters, HTML and
				// Unicode beyond the BMP: the result is valid JSON, and
				// the name comes back as it went.
				name := "Ada \"the\" \\ Countess\t<b>&</b> Lovelace ünïcødé ☃ 😀 \u2028 end"
				body, _ := json.Marshal(map[string]any{"name": name})
				before := time.Now().UnixMilli()
				rec := invoke(t, string(body), http.StatusOK)
				g := sdkCResult(t, rec)
				if !rec.Response.Success || g.Greeting != "Hello, "+name+"!" {
					t.Errorf("greeting %q, want %q\n%s", g.Greeting, "Hello, "+name+"!", rec.Raw)
				}
				checkLogs(t, rec.Logs, "greeting "+name)
				// The activation's context, as the action saw it.
				if g.Activation.ID != rec.ActivationID || g.Activation.Namespace != a.ns || g.Activation.Action != "/"+a.ns+"/"+action {
					t.Errorf("the action saw activation %q of %q in %q; the record is %s of /%s/%s",
						g.Activation.ID, g.Activation.Action, g.Activation.Namespace, rec.ActivationID, a.ns, action)
				}
				if dl := g.Activation.Deadline; dl < before+timeout-1000 || dl > rec.End+timeout {
					t.Errorf("deadline %d, want about %d ms after the start %d", dl, timeout, rec.Start)
				}
			})

			t.Run("default", func(t *testing.T) {
				for _, body := range []string{`{}`, ``, `{"name":null}`, `{"name":42}`, `{"name":{"name":"inner"}}`, `{"Name":"x"}`} {
					rec := invoke(t, body, http.StatusOK)
					if g := sdkCResult(t, rec); g.Greeting != "Hello, world!" {
						t.Errorf("with %s: greeting %q, want the default", body, g.Greeting)
					}
				}
			})

			t.Run("application error", func(t *testing.T) {
				rec := invoke(t, `{"fail":true,"name":"Bob \"B\""}`, http.StatusBadGateway)
				if rec.StatusCode != 1 || rec.Response.StatusCode != 1 || rec.Response.Status != "application error" || rec.Response.Success {
					t.Errorf("application error record: %s", rec.Raw)
				}
				if msg := rec.Response.Result["error"]; msg != `no greeting for Bob "B" today` {
					t.Errorf("error %q", msg)
				}
				r := a.invoke(t, action, "blocking=true&result=true", `{"fail":true,"name":"x"}`).want(t, http.StatusBadGateway)
				if eq, _ := jsonEqual(r.Body, []byte(`{"error":"no greeting for x today"}`)); !eq {
					t.Errorf("application error with result=true: %s", r.Body)
				}
			})

			t.Run("hostile parameters", func(t *testing.T) {
				deep := strings.Repeat("[", 9000) + strings.Repeat("]", 9000)
				for _, tc := range []struct{ what, body, want string }{
					{"duplicate keys: the last wins", `{"name":"first","name":"last"}`, "last"},
					{"escapes", `{"name":"\"\\\/\b\f\n\r\t\u00e9\u00E9\ud83d\ude00"}`, "\"\\/\b\f\n\r\téé😀"},
					{"lone surrogates", `{"name":"\ud800 \udc00 \ud800\u0041"}`, "\uFFFD \uFFFD \uFFFDA"},
					{"an escaped NUL ends the C string", `{"name":"a\u0000b"}`, "a"},
					{"deep nesting before the name", `{"deep":` + deep + `,"name":"after"}`, "after"},
					{"the name deeply nested", `{"name":` + deep + `}`, "world"},
					{"a key with escapes", `{"n\u0061me":"escaped key"}`, "escaped key"},
					{"the name inside a string", `{"x":"\"name\":\"no\"","y":"}"}`, "world"},
				} {
					rec := invoke(t, tc.body, http.StatusOK)
					if g := sdkCResult(t, rec); g.Greeting != "Hello, "+tc.want+"!" {
						t.Errorf("%s: greeting %q, want %q", tc.what, g.Greeting, "Hello, "+tc.want+"!")
					}
				}
				// Bytes that are not UTF-8: wispd may refuse them; if it
				// passes them on, the action answers valid JSON.
				r := a.invoke(t, action, "blocking=true", "{\"name\":\"x\xff\xc3 y\"}")
				t.Logf("parameters with bytes that are not UTF-8: HTTP %d", r.Status)
				if r.Status != http.StatusBadRequest {
					rec := r.want(t, http.StatusOK).activation(t)
					if g := sdkCResult(t, rec); g.Greeting != "Hello, x\uFFFD\uFFFD y!" {
						t.Errorf("invalid UTF-8: greeting %q", g.Greeting)
					}
				}
			})

			t.Run("huge string", func(t *testing.T) {
				// 900 KB of name: the result, about as big, fits in the
				// 1 MB limit. It works, or it fails cleanly (a developer
				// error with a reason); either way the action keeps
				// working.
				name := strings.Repeat("wisp ", 900<<10/5)
				body, _ := json.Marshal(map[string]any{"name": name})
				r := a.invoke(t, action, "blocking=true", body)
				switch r.Status {
				case http.StatusOK:
					rec := r.activation(t)
					if g := sdkCResult(t, rec); g.Greeting != "Hello, "+name+"!" {
						t.Errorf("900 KB name: a greeting of %d bytes, want %d", len(g.Greeting), len(name)+8)
					}
				case http.StatusBadGateway:
					rec := r.activation(t)
					msg, _ := rec.Response.Result["error"].(string)
					if rec.StatusCode != 2 || msg == "" {
						t.Errorf("900 KB name failed, but not cleanly: %s", excerptOf(rec.Raw))
					}
					t.Logf("900 KB name: %s", msg)
				default:
					t.Errorf("900 KB name: %s", r)
				}
				rec := invoke(t, `{"name":"again"}`, http.StatusOK)
				if g := sdkCResult(t, rec); g.Greeting != "Hello, again!" {
					t.Errorf("after the huge name: %q", g.Greeting)
				}
			})
		})
	}

	// The example's static counter counts the activations its instance
	// served: it carries over between activations of one action in the
	// reactor form, never to another action with the same module, and the
	// command form starts afresh every time. (Creating an action prewarms
	// one reactor instance, which a first invoke may or may not find; so
	// initTime is checked as "an activation with initTime started its
	// instance, one on an instance that served before has none".)
	t.Run("state", func(t *testing.T) {
		t.Parallel()
		sdkCCreate(t, a, "counter", reactor, nil)
		sdkCCreate(t, a, "counter-twin", reactor, nil)
		sdkCCreate(t, a, "fresh", command, nil)
		call := func(action string) (served int, init bool) {
			t.Helper()
			rec := a.invoke(t, action, "blocking=true", `{"name":"Bo"}`).want(t, http.StatusOK).activation(t)
			var initMs int64
			served = sdkCResult(t, rec).Served
			init = rec.annotation(t, "initTime", &initMs)
			if served < 1 || init && served != 1 {
				t.Errorf("%s: served %d, initTime present %v: an activation with initTime is its instance's first\n%s", action, served, init, rec.Raw)
			}
			return served, init
		}
		first, _ := call("counter")
		if first != 1 {
			t.Errorf("counter's first activation is call %d of its instance, want 1", first)
		}
		reused := 0
		for range 6 {
			served, init := call("counter")
			if served >= 2 {
				if init {
					t.Errorf("counter: activation %d of an instance has initTime", served)
				}
				reused = max(reused, served)
			}
		}
		if reused < 3 {
			t.Errorf("counter: seven activations in a row, the most any instance served is %d", max(reused, 1))
		}
		// The twin's first activation did not get counter's instance.
		if served, _ := call("counter-twin"); served != 1 {
			t.Errorf("counter-twin's first activation is call %d of its instance, want 1", served)
		}
		for i := range 2 {
			if served, init := call("fresh"); served != 1 || !init {
				t.Errorf("command form, activation %d: served %d, initTime %v; want 1, true", i+1, served, init)
			}
		}
	})
}
