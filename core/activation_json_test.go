package core

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestActivationAppendJSONMatchesMarshal(t *testing.T) {
	base := func() *Activation {
		return &Activation{
			Namespace: "guest", Name: "hello", Version: "0.0.1", Subject: "guest",
			ActivationID: "0123456789abcdef0123456789abcdef", Start: 1700000000123, End: 1700000000125, Duration: 2,
			Response: NewResponse(StatusSuccess, json.RawMessage(`{"greeting":"Hello, world!"}`)),
			Logs:     []string{"2026-11-25T18:00:00.123456Z stderr: hi"},
			Annotations: KeyValues{}.Set("path", "guest/hello").Set("waitTime", 3).Set("kind", "wasm").
				Set("limits", DefaultLimits()),
		}
	}
	tests := []struct {
		name string
		edit func(a *Activation)
	}{
		{"plain", func(*Activation) {}},
		{"no result", func(a *Activation) { a.Response.Result = nil }},
		{"nil logs", func(a *Activation) { a.Logs = nil }},
		{"empty logs", func(a *Activation) { a.Logs = []string{} }},
		{"nil annotations", func(a *Activation) { a.Annotations = nil }},
		{"package", func(a *Activation) { a.Namespace = "guest/pkg"; a.Publish = true }},
		{"escapes in logs", func(a *Activation) {
			a.Logs = []string{"tab\there", `quote " and \ back`, "<b>&amp;</b>", "ünïcødé ✓", "bad \xff utf8", "ctl \x01\x1f \b\f", "sep \u2028\u2029", ""}
		}},
		{"escapes in names", func(a *Activation) { a.Name = "my action@1"; a.Subject = "sübject<>" }},
		{"pretty result", func(a *Activation) {
			a.Response.Result = json.RawMessage("{\n  \"a\": [1, 2],\n\t\"b\" : \"x y\"\r\n}")
		}},
		{"html in result", func(a *Activation) { a.Response.Result = json.RawMessage(`{"h":"<p>a&b</p>"}`) }},
		{"separators in result", func(a *Activation) { a.Response.Result = json.RawMessage("{\"s\":\"\u2028\"}") }},
		{"escaped quotes in result", func(a *Activation) { a.Response.Result = json.RawMessage(`{"q":"a \" b \\","n":null,"t":true}`) }},
		{"error result", func(a *Activation) {
			a.Response = NewResponse(StatusDeveloperError, ErrorResult("the action exited with code 3: <oops>"))
			a.StatusCode = StatusDeveloperError
		}},
		{"negative numbers", func(a *Activation) { a.Start, a.End, a.Duration = -1, 0, -5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base()
			tt.edit(a)
			want, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			got, rs, re := a.AppendJSON([]byte("prefix"))
			if !bytes.Equal(got[len("prefix"):], want) {
				t.Fatalf("AppendJSON:\n got %s\nwant %s", got[len("prefix"):], want)
			}
			var back struct {
				Response struct {
					Result json.RawMessage `json:"result"`
				} `json:"response"`
			}
			if err := json.Unmarshal(want, &back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[rs:re], back.Response.Result) {
				t.Fatalf("result at [%d:%d] = %s, want %s", rs, re, got[rs:re], back.Response.Result)
			}
		})
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b", "<&>", "\xff", "\u2028", "\x00\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
		raw := json.RawMessage(`{"k":` + string(want) + `, "l": [ ` + string(want) + ` ]}`)
		wantRaw, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendRawJSON(nil, raw); !bytes.Equal(got, wantRaw) {
			t.Fatalf("appendRawJSON(%s) = %s, want %s", raw, got, wantRaw)
		}
	})
}

func BenchmarkActivationJSON(b *testing.B) {
	a := &Activation{
		Namespace: "guest", Name: "hello", Version: "0.0.1", Subject: "guest",
		ActivationID: "0123456789abcdef0123456789abcdef", Start: 1700000000123, End: 1700000000125, Duration: 2,
		Response: NewResponse(StatusSuccess, json.RawMessage(`{"greeting":"Hello, world!"}`)),
		Logs:     []string{},
		Annotations: KeyValues{}.Set("path", "guest/hello").Set("waitTime", 3).Set("kind", "wasm").
			Set("limits", DefaultLimits()),
	}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _, _ = a.AppendJSON(buf[:0])
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(a)
		}
	})
}

// needsCompactByteByByte is needsCompact as it was before its table: one
// byte at a time, the escape carried in a flag. FuzzNeedsCompact holds the
// two to the same answers, for any bytes, JSON or not.
func needsCompactByteByByte(v []byte) bool {
	inString, escaped := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '<' || c == '>' || c == '&':
			return true
		case c == 0xE2 && i+2 < len(v) && v[i+1] == 0x80 && (v[i+2] == 0xA8 || v[i+2] == 0xA9):
			return true
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return true
		}
	}
	return false
}

func FuzzNeedsCompact(f *testing.F) {
	for _, s := range []string{``, `{"a":1}`, `{"a": 1}`, `{"a":"b c"}`, `{"a":"<"}`, `"\"`, `"\\"`, `"\" "`, `"a\`,
		"\"\\\u2028\"", "\"\u2029\"", "\xe2\x80", `"\ "`, `\ `, `{"a":"x\"y", "b":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if got, want := needsCompact(v), needsCompactByteByByte(v); got != want {
			t.Fatalf("needsCompact(%q) = %v, byte by byte %v", v, got, want)
		}
	})
}
