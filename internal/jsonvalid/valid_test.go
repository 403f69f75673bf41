package jsonvalid

import (
	"encoding/json"
	"strings"
	"testing"
)

var cases = []string{
	``, ` `, `{}`, ` {} `, `[]`, `[ ]`, `{ }`, `"x"`, `1`, `-0`, `-`, `01`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.5e-3`,
	`true`, `false`, `null`, `tru`, `nul`, `nulll`, `True`,
	`{"a":1}`, `{"a":1,}`, `{"a" : 1 , "b" : [1, 2, {"c": null}]}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`, `{,}`, `[1,]`, `[,1]`, `[1 2]`,
	`"\u00e9\n\t\"\\\/\b\f\r"`, `"\u00g0"`, `"\u12"`, `"\x"`, `"a` + "\x01" + `"`, `"` + "\xff\xfe" + `"`, `"unterminated`, `"\`,
	`{"a":1}}`, `[[]]]`, `{"a":[}`, `[{]`, `{} {}`, `[] x`, "\t\r\n[1]\n", `{"greeting":"Hello, wisp!","served":1}`,
}

func TestValidTable(t *testing.T) {
	for _, c := range cases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

// TestValidDepth checks encoding/json's bound on nesting, empty innermost
// containers included.
func TestValidDepth(t *testing.T) {
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		for _, inner := range []string{"", "1"} {
			arr := strings.Repeat("[", depth) + inner + strings.Repeat("]", depth)
			obj := strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
			for _, c := range []string{arr, obj} {
				if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
					t.Errorf("depth %d (%.10s…): Valid = %v, encoding/json says %v", depth, c, got, want)
				}
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

// result is an SDK example's result, as Wisp checks every one.
var result = []byte(`{"greeting":"Hello, wisp!","served":1,"activation":{"id":"01a21ab12fc38ee5999adfdad68aeaf2","namespace":"guest","action":"/guest/sdkc","deadline":1795744209443}}`)

func BenchmarkValid(b *testing.B) {
	b.Run("jsonvalid", func(b *testing.B) {
		for b.Loop() {
			Valid(result)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Valid(result)
		}
	})
}
