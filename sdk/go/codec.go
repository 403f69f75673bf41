package wisp

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// A flatCodec decodes and encodes a flat struct type, one whose fields
// are of string, bool, integer and floating-point kinds, as encoding/json
// does, without encoding/json's reflection on every value. In a Wasm guest
// that machinery was a third of a warm activation of the Go example (22 µs
// a call in process with it, 14 µs without), and more once the guest's
// memory had gone cold between two requests (47 µs, 30 without).
//
// The codec does only what it can do exactly as encoding/json would: a
// string with an escape or a nested value for a field, a value of the
// wrong type for its field or anything that is not JSON makes decode
// report false (the values of keys the struct lacks, nested or not, are
// checked and skipped, as encoding/json does), and the handler's wrapper
// (typed) decodes with encoding/json instead, from a zero value, so
// results and error messages are encoding/json's. The tests compare both
// on fuzzed input.
type flatCodec struct {
	fields []flatField
	// canDecode and canEncode are false when the type or a field's type
	// has its own JSON or text methods, which encoding/json would call.
	canDecode, canEncode bool
}

// flatField is one field as encoding/json sees it.
type flatField struct {
	name   string // its JSON key
	key    []byte // `"name":`, as encoding/json writes it
	offset uintptr
	size   uintptr // in bytes
	kind   reflect.Kind
	// omit is omitempty or omitzero, the same test for these kinds (see
	// isZero).
	omit bool
}

var (
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	isZeroer        = reflect.TypeFor[interface{ IsZero() bool }]()
)

// newFlatCodec returns the codec of t, or nil when t is not a flat struct
// whose JSON form this codec knows exactly: embedded fields (encoding/json
// promotes theirs), fields of other kinds, the "string" option, names
// that are not ASCII or that two fields share up to case.
func newFlatCodec(t reflect.Type) *flatCodec {
	if t.Kind() != reflect.Struct {
		return nil
	}
	c := &flatCodec{canDecode: !decodesItself(t), canEncode: !encodesItself(t)}
	folded := make(map[string]bool)
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		if !plainKey(name) {
			return nil // encoding/json's fallback to the field name, or Unicode folding
		}
		up := upperASCII(name)
		if folded[up] {
			return nil // encoding/json's rules for fields that share a name
		}
		folded[up] = true
		f := flatField{name: name, offset: sf.Offset, size: sf.Type.Size(), kind: sf.Type.Kind()}
		switch f.kind {
		case reflect.String, reflect.Bool,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
		default:
			return nil
		}
		for opts != "" {
			var opt string
			opt, opts, _ = strings.Cut(opts, ",")
			switch opt {
			case "omitempty":
				f.omit = true
			case "omitzero":
				f.omit = true
				if sf.Type.Implements(isZeroer) || reflect.PointerTo(sf.Type).Implements(isZeroer) {
					c.canEncode = false // its IsZero decides
				}
			default:
				return nil // "string", or an option a later encoding/json may give a meaning
			}
		}
		if decodesItself(sf.Type) {
			c.canDecode = false
		}
		if encodesItself(sf.Type) {
			c.canEncode = false
		}
		f.key = append(appendString(nil, name), ':')
		c.fields = append(c.fields, f)
	}
	if !c.canDecode && !c.canEncode {
		return nil
	}
	return c
}

// decodesItself reports whether encoding/json would call a method of t
// (or *t) to decode it.
func decodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler)
}

// encodesItself reports whether encoding/json might call a method of t
// (or *t) to encode it.
func encodesItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
		pt.Implements(jsonMarshaler) || pt.Implements(textMarshaler)
}

// plainKey reports whether name is made of ASCII letters, digits and the
// punctuation encoding/json allows in a tag name (not the space).
func plainKey(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&()*+-./:;<=>?@[]^_{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// upperASCII upper-cases the ASCII letters of s, as encoding/json folds
// an ASCII key.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// field returns the field a key names: the one of that name, else the one
// whose name equals it up to the case of ASCII letters (encoding/json's
// order), else nil. ok is false for a key with other than ASCII bytes that
// names no field exactly: encoding/json folds Unicode (K, the Kelvin sign,
// is k), which the codec does not.
func (c *flatCodec) field(key []byte) (f *flatField, ok bool) {
	for i := range c.fields {
		if c.fields[i].name == string(key) {
			return &c.fields[i], true
		}
	}
	for _, b := range key {
		if b >= utf8.RuneSelf {
			return nil, false
		}
	}
	for i := range c.fields {
		if equalFoldASCII(c.fields[i].name, key) {
			return &c.fields[i], true
		}
	}
	return nil, true
}

// equalFoldASCII reports whether name and key are equal up to the case of
// ASCII letters.
func equalFoldASCII(name string, key []byte) bool {
	if len(name) != len(key) {
		return false
	}
	for i := 0; i < len(key); i++ {
		a, b := name[i], key[i]
		if 'a' <= a && a <= 'z' {
			a -= 'a' - 'A'
		}
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// decode sets the fields of the struct at p from b and reports whether b
// is a JSON object it decoded exactly as encoding/json would. On false the
// struct may be partly set: decode again from a zero value.
func (c *flatCodec) decode(b []byte, p unsafe.Pointer) bool {
	s := jsonScanner{b: b}
	if !s.objectStart() {
		return false
	}
	for more := !s.objectEnd(); more; more = s.nextMember() {
		key, ok := s.key()
		if !ok {
			return false
		}
		f, ok := c.field(key)
		if !ok || !s.value(f, p) {
			return false
		}
	}
	return s.ok()
}

// jsonScanner reads the JSON the SDK decodes itself, and nothing else.
// An object is read, without callbacks (which cost in a Wasm guest), as
//
//	if !s.objectStart() { … }
//	for more := !s.objectEnd(); more; more = s.nextMember() {
//		key, ok := s.key() // then read the value
//	}
//	return s.ok()
type jsonScanner struct {
	b   []byte
	i   int
	bad bool // the object did not end as JSON's grammar says
}

// objectStart reads the white space and the brace an object starts with.
func (s *jsonScanner) objectStart() bool {
	s.space()
	return s.consume('{')
}

// objectEnd reports whether the object ends here, with no members.
func (s *jsonScanner) objectEnd() bool {
	s.space()
	return s.consume('}')
}

// key reads a member's key, a plain string, and the colon after it.
func (s *jsonScanner) key() ([]byte, bool) {
	s.space()
	key, ok := s.plainString()
	if !ok {
		return nil, false
	}
	s.space()
	if !s.consume(':') {
		return nil, false
	}
	s.space()
	return key, true
}

// nextMember reads what follows a member's value: a comma (true: another
// member follows) or the closing brace (false); anything else is bad.
func (s *jsonScanner) nextMember() bool {
	s.space()
	if s.consume(',') {
		return true
	}
	if !s.consume('}') {
		s.bad = true
	}
	return false
}

// ok reports, once the object is read, whether it was well formed and
// nothing but white space follows.
func (s *jsonScanner) ok() bool {
	return !s.bad && s.end()
}

// space skips JSON's white space.
func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte, 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// consume skips c if it is next.
func (s *jsonScanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *jsonScanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// plainString reads a string without escapes or control characters, in
// valid UTF-8 (which encoding/json takes as it is), and returns its bytes.
func (s *jsonScanner) plainString() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < ' ':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return nil, false
}

// literal reads true, false or null.
func (s *jsonScanner) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// number reads a number in JSON's grammar and returns its text.
func (s *jsonScanner) number() (string, bool) {
	start := s.i
	if !s.skipNumber() {
		return "", false
	}
	return string(s.b[start:s.i]), true
}

// skipNumber reads a number in JSON's grammar.
func (s *jsonScanner) skipNumber() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	s.consume('-')
	switch {
	case s.consume('0'):
	case digits() == 0:
		return false
	}
	if s.consume('.') && digits() == 0 {
		return false
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// maxSkipDepth is how deep a value the codec skips may nest; deeper ones
// are left to encoding/json (which allows 10,000 levels).
const maxSkipDepth = 32

// skip reads one value of any kind, checked as encoding/json checks its
// input before decoding: a string may hold escapes and any bytes but
// control characters (invalid UTF-8 too: it is not decoded), objects and
// arrays are read to their end.
func (s *jsonScanner) skip(depth int) bool {
	switch c := s.peek(); {
	case c == '"':
		return s.skipString()
	case c == '{' || c == '[':
		if depth >= maxSkipDepth {
			return false
		}
		s.i++
		s.space()
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		if s.consume(end) {
			return true
		}
		for {
			s.space()
			if c == '{' {
				if !s.skipString() {
					return false
				}
				s.space()
				if !s.consume(':') {
					return false
				}
				s.space()
			}
			if !s.skip(depth + 1) {
				return false
			}
			s.space()
			if !s.consume(',') {
				return s.consume(end)
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.skipNumber()
	}
	return false
}

// skipString reads a string, escapes included, as JSON's grammar has it.
func (s *jsonScanner) skipString() bool {
	if !s.consume('"') {
		return false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		switch {
		case c == '"':
			return true
		case c < ' ':
			return false
		case c == '\\':
			switch s.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				s.i += 5
			default:
				return false
			}
		}
	}
	return false
}

// value reads one value and stores it in f of the struct at p (f nil: a
// key of no field, whose value, nested or not, is skipped as encoding/json
// skips it). It reports false for a value the codec leaves to
// encoding/json: for a field, an object or an array, a string with
// escapes, or a value that does not fit its kind (encoding/json says why);
// and anything that is not JSON.
func (s *jsonScanner) value(f *flatField, p unsafe.Pointer) bool {
	if f == nil {
		return s.skip(0)
	}
	switch c := s.peek(); {
	case c == '"':
		v, ok := s.plainString()
		if !ok {
			return false
		}
		if f.kind != reflect.String {
			return false
		}
		*(*string)(unsafe.Add(p, f.offset)) = string(v)
		return true
	case c == 'n':
		// null leaves a field of these kinds as it is.
		return s.literal("null")
	case c == 't' || c == 'f':
		v := c == 't'
		if !s.literal("true") && !s.literal("false") {
			return false
		}
		if f.kind != reflect.Bool {
			return false
		}
		*(*bool)(unsafe.Add(p, f.offset)) = v
		return true
	case c == '-' || '0' <= c && c <= '9':
		num, ok := s.number()
		if !ok {
			return false
		}
		return setNumber(f, unsafe.Add(p, f.offset), num)
	}
	return false
}

// setNumber stores num at fp, a field of f's kind, and reports false when
// encoding/json would refuse it there: a fraction or an exponent for an
// integer, a negative for an unsigned one, a value out of range, a number
// for a string or a bool.
func setNumber(f *flatField, fp unsafe.Pointer, num string) bool {
	switch f.kind {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(num, 10, int(8*f.size))
		if err != nil {
			return false
		}
		storeUint(fp, f.size, uint64(n)) // the low bytes of two's complement
		return true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(num, 10, int(8*f.size))
		if err != nil {
			return false
		}
		storeUint(fp, f.size, n)
		return true
	case reflect.Float32:
		n, err := strconv.ParseFloat(num, 32)
		if err != nil {
			return false
		}
		*(*float32)(fp) = float32(n)
		return true
	case reflect.Float64:
		n, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return false
		}
		*(*float64)(fp) = n
		return true
	}
	return false
}

// storeUint stores the low size bytes of n at fp.
func storeUint(fp unsafe.Pointer, size uintptr, n uint64) {
	switch size {
	case 1:
		*(*uint8)(fp) = uint8(n)
	case 2:
		*(*uint16)(fp) = uint16(n)
	case 4:
		*(*uint32)(fp) = uint32(n)
	default:
		*(*uint64)(fp) = n
	}
}

// loadUint reads an unsigned integer of size bytes at fp.
func loadUint(fp unsafe.Pointer, size uintptr) uint64 {
	switch size {
	case 1:
		return uint64(*(*uint8)(fp))
	case 2:
		return uint64(*(*uint16)(fp))
	case 4:
		return uint64(*(*uint32)(fp))
	}
	return *(*uint64)(fp)
}

// loadInt reads a signed integer of size bytes at fp: loadUint's bits,
// sign-extended.
func loadInt(fp unsafe.Pointer, size uintptr) int64 {
	shift := 64 - 8*size
	return int64(loadUint(fp, size)<<shift) >> shift
}

// encode writes the struct at p as json.Marshal would, over dst's bytes
// (from dst[:0]; a nil dst gets a new buffer). It reports false for a
// value json.Marshal refuses (a NaN or an infinity), for which it makes
// encoding/json say why.
func (c *flatCodec) encode(dst []byte, p unsafe.Pointer) ([]byte, bool) {
	b := dst[:0]
	if b == nil {
		b = make([]byte, 0, 128)
	}
	b = append(b, '{')
	for i := range c.fields {
		f := &c.fields[i]
		fp := unsafe.Add(p, f.offset)
		if f.omit && isZero(f, fp) {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		switch f.kind {
		case reflect.String:
			b = appendString(b, *(*string)(fp))
		case reflect.Bool:
			b = strconv.AppendBool(b, *(*bool)(fp))
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			b = strconv.AppendInt(b, loadInt(fp, f.size), 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			b = strconv.AppendUint(b, loadUint(fp, f.size), 10)
		case reflect.Float32:
			var ok bool
			if b, ok = appendFloat(b, float64(*(*float32)(fp)), 32); !ok {
				return nil, false
			}
		case reflect.Float64:
			var ok bool
			if b, ok = appendFloat(b, *(*float64)(fp), 64); !ok {
				return nil, false
			}
		}
	}
	return append(b, '}'), true
}

// isZero reports whether the field f at fp is zero as reflect.Value.IsZero
// says, which omitempty and omitzero use for these kinds: -0.0 is zero too.
func isZero(f *flatField, fp unsafe.Pointer) bool {
	switch f.kind {
	case reflect.String:
		return len(*(*string)(fp)) == 0
	case reflect.Float32:
		return *(*float32)(fp) == 0
	case reflect.Float64:
		return *(*float64)(fp) == 0
	}
	return loadUint(fp, f.size) == 0 // a bool or an integer: all bits zero
}

// appendFloat writes f as encoding/json does: as ECMAScript writes a
// number, with an exponent below 1e-6 and from 1e21. NaN and the
// infinities are not JSON.
func appendFloat(b []byte, f float64, bits int) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-09 is written e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// plainWord reports whether the eight bytes of w are all ASCII that
// json.Marshal writes as they are: from space up, but not ", \, <, > or &.
// One test of the word instead of a loop over its bytes, which a Go Wasm
// guest steps through several times slower (the bit tricks: see
// plainWithout).
func plainWord(w string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	has := func(c byte) uint64 { y := x ^ (ones * uint64(c)); return (y - ones) &^ y }
	return (x|(x-ones*' ')&^x|has('"')|has('\\')|has('<')|has('>')|has('&'))&highs == 0
}

// appendString writes s as a JSON string as json.Marshal does: <, > and &
// escaped for HTML, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plainWord(s[i:i+8]) {
			i += 8 // eight bytes written as they are: tested at once
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
