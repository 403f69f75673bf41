package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wispfaas/wisp/internal/wasmtest"
)

func TestJoinPairFlags(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"action", "invoke", "x", "-p", "a", "1", "--param", "b", "two words"}, []string{"action", "invoke", "x", "--param=a\x001", "--param=b\x00two words"}},
		{[]string{"-a", "k", "-p", "-p", "v"}, []string{"--annotation=k\x00-p", "-p", "v"}},
		{[]string{"x", "-p", "only"}, []string{"x", "-p", "only"}},
		{[]string{"x", "--", "-p", "a", "b"}, []string{"x", "--", "-p", "a", "b"}},
	}
	for _, tt := range tests {
		if got := joinPairFlags(tt.in); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("joinPairFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestParams checks that -p VALUE is JSON when it parses and a string
// otherwise, and that -p wins over -P, through an invocation that echoes
// its parameters.
func TestParams(t *testing.T) {
	c := newCLI(t, newNamespace(t))
	c.ok("action", "create", "echo", wasmFile(t, "echo", wasmtest.Action{}))
	tests := []struct {
		value string
		want  string // the parameter as compact JSON
	}{
		{"5", `5`},
		{"-2.5", `-2.5`},
		{"true", `true`},
		{"null", `null`},
		{"hello", `"hello"`},
		{"two words", `"two words"`},
		{`"quoted"`, `"quoted"`},
		{`{"a": [1, 2]}`, `{"a":[1,2]}`},
		{`[1,`, `"[1,"`},
		{"", `""`},
		{"007", `"007"`},
	}
	for _, tt := range tests {
		out := c.ok("action", "invoke", "echo", "-p", "v", tt.value, "--result")
		var got map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("-p v %q: output %q", tt.value, out)
		}
		if g := compactJSON(got["v"]); g != tt.want {
			t.Errorf("-p v %q sent %s, want %s", tt.value, g, tt.want)
		}
	}

	file := writeFile(t, "params.json", []byte(`{"a": 1, "b": "file"}`))
	out := c.ok("--json", "action", "invoke", "echo", "-P", file, "-p", "b", "flag", "--result")
	if compactJSON(json.RawMessage(out)) != `{"a":1,"b":"flag"}` {
		t.Fatalf("-P with -p over it: %s", out)
	}
	for _, bad := range []string{`[1]`, `{"a":`} {
		r := c.run("action", "invoke", "echo", "-P", writeFile(t, "bad.json", []byte(bad)))
		if r.code != 1 || !strings.Contains(r.stderr, "not a JSON object") {
			t.Errorf("-P with %s: %+v", bad, r)
		}
	}
	if r := c.run("action", "invoke", "echo", "-p", "only-a-key"); r.code != 2 || !strings.Contains(r.stderr, "needs a KEY and a VALUE") {
		t.Fatalf("-p with one word: %+v", r)
	}
}
