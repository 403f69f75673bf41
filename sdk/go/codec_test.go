package wisp

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"
)

// label is a named string, which the codec takes as a string.
type label string

// flat has a field of every kind the codec handles, with the tags and
// options it takes.
type flat struct {
	S    string  `json:"s"`
	B    bool    `json:"b,omitempty"`
	I    int     `json:"i"`
	I8   int8    `json:",omitzero"`
	I16  int16   `json:"i16"`
	I32  int32   `json:"i32,omitempty,omitzero"`
	I64  int64   `json:"i64,omitempty"`
	U    uint    `json:"u"`
	U8   uint8   `json:"u8"`
	U16  uint16  `json:"u16,omitempty"`
	U32  uint32  `json:"u32"`
	U64  uint64  `json:"u64"`
	F32  float32 `json:"f32,omitempty"`
	F64  float64 `json:"f64"`
	L    label   `json:"label"`
	Dash string  `json:"-,"`
	Skip string  `json:"-"`
	P    string  `json:"a<b>&c.$"`
	hid  string
}

// flatCodecOf is the codec of flat, which must have one that decodes and
// encodes: the differential tests below would pass vacuously otherwise.
func flatCodecOf(t testing.TB) *flatCodec {
	c := newFlatCodec(reflect.TypeFor[flat]())
	if c == nil || !c.canDecode || !c.canEncode {
		t.Fatalf("flat has no codec that decodes and encodes: %+v", c)
	}
	return c
}

// level decodes and encodes itself as text.
type level int

func (l level) MarshalText() ([]byte, error)  { return []byte("L"), nil }
func (l *level) UnmarshalText(b []byte) error { *l = 1; return nil }

// stamp decides itself when it is zero.
type stamp int64

func (s stamp) IsZero() bool { return s < 0 }

// encodesOnly has a MarshalJSON but no UnmarshalJSON.
type encodesOnly string

func (encodesOnly) MarshalJSON() ([]byte, error) { return []byte(`"x"`), nil }

func TestNewFlatCodec(t *testing.T) {
	for _, tc := range []struct {
		name             string
		typ              reflect.Type
		decode, encode   bool // false, false: no codec
		fields           []string
		checkFieldsNamed bool
	}{
		{"flat", reflect.TypeFor[flat](), true, true, []string{"s", "b", "i", "I8", "i16", "i32", "i64", "u", "u8", "u16", "u32", "u64", "f32", "f64", "label", "-", "a<b>&c.$"}, true},
		{"empty struct", reflect.TypeFor[struct{}](), true, true, nil, true},
		{"the SDK's test params", reflect.TypeFor[in](), true, true, []string{"name", "times"}, true},
		{"a pointer", reflect.TypeFor[*flat](), false, false, nil, false},
		{"a map", reflect.TypeFor[map[string]any](), false, false, nil, false},
		{"raw JSON", reflect.TypeFor[json.RawMessage](), false, false, nil, false},
		{"an embedded field", reflect.TypeFor[struct{ in }](), false, false, nil, false},
		{"a nested struct", reflect.TypeFor[struct{ T time.Time }](), false, false, nil, false},
		{"a slice", reflect.TypeFor[struct{ A []string }](), false, false, nil, false},
		{"an interface", reflect.TypeFor[struct{ A any }](), false, false, nil, false},
		{"a pointer field", reflect.TypeFor[struct{ A *string }](), false, false, nil, false},
		{"uintptr", reflect.TypeFor[struct{ A uintptr }](), false, false, nil, false},
		{"the string option", reflect.TypeFor[struct {
			A int `json:"a,string"`
		}](), false, false, nil, false},
		{"an unknown option", reflect.TypeFor[struct {
			A int `json:"a,inline"`
		}](), false, false, nil, false},
		{"names equal up to case", reflect.TypeFor[struct {
			A int
			B int `json:"a"`
		}](), false, false, nil, false},
		{"a tag encoding/json ignores", reflect.TypeFor[struct {
			A int `json:"a\\b"`
		}](), false, false, nil, false},
		{"a name with a space", reflect.TypeFor[struct {
			A int `json:"a b"`
		}](), false, false, nil, false},
		{"a name not in ASCII", reflect.TypeFor[struct {
			A int `json:"é"`
		}](), false, false, nil, false},
		{"text methods", reflect.TypeFor[struct{ L level }](), false, false, nil, false},
		{"a MarshalJSON only", reflect.TypeFor[struct{ E encodesOnly }](), true, false, []string{"E"}, true},
		{"omitzero with IsZero", reflect.TypeFor[struct {
			S stamp `json:"s,omitzero"`
		}](), true, false, []string{"s"}, true},
		{"omitempty with IsZero", reflect.TypeFor[struct {
			S stamp `json:"s,omitempty"`
		}](), true, true, []string{"s"}, true},
		{"the type's own methods", reflect.TypeFor[time.Duration](), false, false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFlatCodec(tc.typ)
			if !tc.decode && !tc.encode {
				if c != nil {
					t.Fatalf("a codec for %v: %+v", tc.typ, c)
				}
				return
			}
			if c == nil {
				t.Fatalf("no codec for %v", tc.typ)
			}
			if c.canDecode != tc.decode || c.canEncode != tc.encode {
				t.Errorf("decode %v encode %v, want %v %v", c.canDecode, c.canEncode, tc.decode, tc.encode)
			}
			var names []string
			for _, f := range c.fields {
				names = append(names, f.name)
			}
			if tc.checkFieldsNamed && strings.Join(names, " ") != strings.Join(tc.fields, " ") {
				t.Errorf("fields %q, want %q", names, tc.fields)
			}
		})
	}
}

// decodeInputs are JSON texts for flat: those the codec must decode, then
// those it must leave to encoding/json.
var decodeInputs = struct{ taken, left []string }{
	taken: []string{
		`{}`,
		" \t\r\n{ } \n",
		`{"s":"Ada","b":true,"i":-7,"I8":127,"i16":-32768,"i32":2147483647,"i64":-9223372036854775808}`,
		`{"u":0,"u8":255,"u16":65535,"u32":4294967295,"u64":18446744073709551615}`,
		`{"f32":3.4e38,"f64":-1.5E-300,"label":"x","-":"dash","a<b>&c.$":"p"}`,
		`{"S":"upper","I":1,"i8":2,"LABEL":"l"}`,                  // case-insensitive keys
		`{"s":"first","s":"second"}`,                              // the last wins
		`{"s":null,"b":null,"i":null,"f64":null}`,                 // null leaves a field
		`{"unknown":"x","n":12.5e-3,"t":true,"f":false,"z":null}`, // skipped
		"{\"s\":\"héllo, 世界 \u2028\"}",                            // UTF-8 as it is
		`{"f64":0,"i":-0,"f32":1e-50}`,                            // -0 into an int; an underflow
		`{"f64":123456789012345678901234567890}`,
		`{"Skip":"x","hid":"y"}`, // keys of fields encoding/json does not set
		`{"s":"<&>"}`,
		`{"f64":1E+2,"f32":-0.0}`,
		`{"x":{},"y":[],"s":"after"}`, // nested values of unknown keys are skipped
		`{"headers":{"accept":"*/*","x-n":[1,2.5e3,{"d":null}],"e":"\u00e9\n\"q\" \\ \/"},"s":"x","list":[[[]],true,false,null]}`,
		"{\"x\":\"\xff\xfe bytes encoding/json does not check\",\"s\":\"y\"}",
		strings.Repeat(`{"x":`, maxSkipDepth) + `1` + strings.Repeat(`}`, maxSkipDepth),
	},
	left: []string{
		``, `null`, `[]`, `"s"`, `{`, `{"s":"x"`, `{"s":"x",}`, `{"s" "x"}`, `{s:"x"}`,
		`{} {}`, `{}x`, `{"s":"x"}}`, `{,}`,
		`{"s":"a\"b"}`, `{"s":"a\u0041"}`, "{\"s\":\"tab\there\"}", // escapes, a control character
		"{\"s\":\"\xff\"}",                         // invalid UTF-8
		"{\"\xc3\xa9\":1}", "{\"\xe2\x84\xaa\":1}", // keys not in ASCII (K folds to k)
		`{"s":1}`, `{"s":true}`, `{"b":"true"}`, `{"b":1}`, `{"i":"1"}`, `{"i":true}`,
		`{"i":1.0}`, `{"i":1e2}`, `{"i":9223372036854775808}`, `{"I8":128}`, `{"i16":-32769}`,
		`{"u":-1}`, `{"u":-0}`, `{"u8":256}`, `{"f32":3.5e38}`, `{"f64":1e400}`,
		`{"i":01}`, `{"i":+1}`, `{"f64":.5}`, `{"f64":1.}`, `{"f64":1e}`, `{"f64":-}`, `{"f64":0x10}`,
		`{"f64":NaN}`, `{"f64":Infinity}`, `{"b":tru}`, `{"b":True}`, `{"s":nul}`,
		`{"s":{"a":1}}`, `{"s":["a"]}`, `{"i":[1]}`, // a nested value for a field
		`{"x":{"a":1,}}`, `{"x":[1,]}`, `{"x":[1 2]}`, `{"x":{"a"}}`, `{"x":{1:2}}`, `{"x":[}`, `{"x":{]}`, // not JSON, nested
		`{"x":"\u12"}`, `{"x":"\u12g4"}`, `{"x":"\q"}`, "{\"x\":[\"a\tb\"]}", `{"x":"\`, // bad strings, nested
		strings.Repeat(`{"x":`, maxSkipDepth+2) + `1` + strings.Repeat(`}`, maxSkipDepth+2), // deeper than the codec skips
	},
}

func TestFlatCodecDecode(t *testing.T) {
	c := flatCodecOf(t)
	for _, s := range decodeInputs.taken {
		var got flat
		if !c.decode([]byte(s), unsafe.Pointer(&got)) {
			t.Errorf("%s: left to encoding/json", s)
			continue
		}
		checkDecode(t, s, got)
	}
	for _, s := range decodeInputs.left {
		var got flat
		if c.decode([]byte(s), unsafe.Pointer(&got)) {
			t.Errorf("%s: decoded (%+v); encoding/json should have", s, got)
		}
	}
}

// checkDecode checks that encoding/json decodes s into got, no error.
func checkDecode(t *testing.T, s string, got flat) {
	t.Helper()
	var want flat
	if err := json.Unmarshal([]byte(s), &want); err != nil {
		t.Errorf("%s: decoded, but encoding/json says %v", s, err)
		return
	}
	if got != want && !(math.IsNaN(got.F64) && math.IsNaN(want.F64)) {
		t.Errorf("%s: decoded %+v, encoding/json %+v", s, got, want)
	}
}

func FuzzFlatCodecDecode(f *testing.F) {
	for _, s := range append(decodeInputs.taken, decodeInputs.left...) {
		f.Add(s)
	}
	c := flatCodecOf(f)
	f.Fuzz(func(t *testing.T, s string) {
		var got flat
		if c.decode([]byte(s), unsafe.Pointer(&got)) {
			checkDecode(t, s, got)
		}
	})
}

// encodeValues are values of flat to encode.
var encodeValues = []flat{
	{},
	{S: "Ada", B: true, I: -1, I8: -128, I16: 1, I32: -1, I64: math.MinInt64, U: 1, U8: 255, U16: 1, U32: 1, U64: math.MaxUint64, F32: 1.5, F64: 2.5, L: "l", Dash: "d", Skip: "never", P: "p", hid: "never"},
	{S: "<a href=\"x\">&amp;</a>\\ \b\f\n\r\t\x00\x1f\x7f é \u2028\u2029 \xff\xfe end"},
	{F64: 1e21, F32: 1e21},
	{F64: 1e-6, F32: 1e-6},
	{F64: 9.99e-7, F32: 9.99e-7},
	{F64: 123456789.123456789, F32: 123456.789},
	{F64: math.Copysign(0, -1), F32: float32(math.Copysign(0, -1))}, // -0 is empty too
	{F64: 1e-9, F32: 5e-324},
	{F64: math.MaxFloat64, F32: math.MaxFloat32},
	{F64: math.SmallestNonzeroFloat64, F32: math.SmallestNonzeroFloat32},
}

func TestFlatCodecEncode(t *testing.T) {
	c := flatCodecOf(t)
	for _, v := range encodeValues {
		checkEncode(t, c, v)
	}
	for _, bad := range []flat{{F64: math.NaN()}, {F64: math.Inf(1)}, {F32: float32(math.Inf(-1))}} {
		if b, ok := c.encode(nil, unsafe.Pointer(&bad)); ok {
			t.Errorf("%+v: encoded as %s; json.Marshal refuses it", bad, b)
		}
	}
}

// checkEncode checks that the codec writes v as json.Marshal does.
func checkEncode(t *testing.T, c *flatCodec, v flat) {
	t.Helper()
	got, ok := c.encode(nil, unsafe.Pointer(&v))
	want, err := json.Marshal(v)
	if err != nil {
		if ok {
			t.Errorf("%+v: encoded as %s; json.Marshal says %v", v, got, err)
		}
		return
	}
	if !ok || string(got) != string(want) {
		t.Errorf("%+v:\n got %s (%v)\nwant %s", v, got, ok, want)
	}
}

func FuzzFlatCodecEncode(f *testing.F) {
	for _, v := range encodeValues {
		f.Add(v.S, v.B, v.I64, v.U64, v.F64, v.F32)
	}
	c := flatCodecOf(f)
	f.Fuzz(func(t *testing.T, s string, b bool, i int64, u uint64, f64 float64, f32 float32) {
		checkEncode(t, c, flat{
			S: s, B: b, I: int(i), I8: int8(i), I16: int16(i), I32: int32(i), I64: i,
			U: uint(u), U8: uint8(u), U16: uint16(u), U32: uint32(u), U64: u,
			F32: f32, F64: f64, L: label(s), P: s,
		})
	})
}

// TestTypedFlatCodec checks that a handler of flat structs answers as it
// would through encoding/json alone, on the codec's path and off it.
func TestTypedFlatCodec(t *testing.T) {
	echo := typed(func(_ context.Context, p flat) (flat, error) { return p, nil })
	for _, s := range append(decodeInputs.taken, decodeInputs.left...) {
		if strings.TrimSpace(s) == "" {
			continue // typed makes it {}
		}
		got, err := echo(context.Background(), []byte(s), nil)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		var p flat
		var want []byte
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			want = errorResult("the parameters do not fit wisp.flat: " + err.Error())
		} else if want, err = json.Marshal(p); err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", s, got, want)
		}
	}
}

// TestPlainWord tries every byte at every place of a word.
func TestPlainWord(t *testing.T) {
	for c := range 256 {
		want := c >= ' ' && c < utf8.RuneSelf && !strings.ContainsRune(`"\<>&`, rune(c))
		for at := range 8 {
			w := []byte("aaaaaaaa")
			w[at] = byte(c)
			if got := plainWord(string(w)); got != want {
				t.Errorf("plainWord(%q) = %v, want %v", w, got, want)
			}
		}
	}
}
