package core

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the record as JSON to dst and returns the extended
// slice, with the offsets in it of response.result (start == end when the
// record has no result). The bytes are those json.Marshal writes for a: it
// is the invoker's encoder for every record, without reflection; values
// that need escaping or compacting take encoding/json's own path.
func (a *Activation) AppendJSON(dst []byte) (out []byte, resultStart, resultEnd int) {
	dst = append(dst, `{"namespace":`...)
	dst = appendJSONString(dst, a.Namespace)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, a.Name)
	dst = append(dst, `,"version":`...)
	dst = appendJSONString(dst, a.Version)
	dst = append(dst, `,"subject":`...)
	dst = appendJSONString(dst, a.Subject)
	dst = append(dst, `,"activationId":`...)
	dst = appendJSONString(dst, a.ActivationID)
	dst = append(dst, `,"start":`...)
	dst = strconv.AppendInt(dst, a.Start, 10)
	dst = append(dst, `,"end":`...)
	dst = strconv.AppendInt(dst, a.End, 10)
	dst = append(dst, `,"duration":`...)
	dst = strconv.AppendInt(dst, a.Duration, 10)
	dst = append(dst, `,"statusCode":`...)
	dst = strconv.AppendInt(dst, int64(a.StatusCode), 10)
	dst = append(dst, `,"response":{"status":`...)
	dst = appendJSONString(dst, a.Response.Status)
	dst = append(dst, `,"statusCode":`...)
	dst = strconv.AppendInt(dst, int64(a.Response.StatusCode), 10)
	dst = append(dst, `,"success":`...)
	dst = strconv.AppendBool(dst, a.Response.Success)
	resultStart, resultEnd = len(dst), len(dst)
	if len(a.Response.Result) > 0 {
		dst = append(dst, `,"result":`...)
		resultStart = len(dst)
		dst = appendRawJSON(dst, a.Response.Result)
		resultEnd = len(dst)
	}
	dst = append(dst, `},"logs":`...)
	if a.Logs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, l := range a.Logs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, l)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"annotations":[`...)
	for i, kv := range a.Annotations {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendJSONString(dst, kv.Key)
		dst = append(dst, `,"value":`...)
		dst = appendRawJSON(dst, kv.Value)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"publish":`...)
	dst = strconv.AppendBool(dst, a.Publish)
	dst = append(dst, '}')
	return dst, resultStart, resultEnd
}

// appendJSONString appends s as a JSON string, as encoding/json writes it.
// Plain printable ASCII (the common case: names, ids, most log lines) is
// copied; anything else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendRawJSON appends a JSON value as json.Marshal writes a
// json.RawMessage: compacted, with <, >, &, U+2028 and U+2029 escaped.
// Values that need neither (what the platform and most actions write) are
// copied. An empty value is written as null, as encoding/json does.
func appendRawJSON(dst []byte, v json.RawMessage) []byte {
	if len(v) == 0 {
		return append(dst, "null"...)
	}
	if !needsCompact(v) {
		return append(dst, v...)
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Not JSON: what the caller had would have failed json.Marshal too;
		// keep the record valid instead.
		b, _ = json.Marshal(string(v))
	}
	return append(dst, b...)
}

// needsCompact reports whether encoding/json would change v when writing
// it as a json.RawMessage: white space outside strings, or characters it
// escapes (<, >, &, U+2028, U+2029). Bytes that matter to neither are
// skipped through a table: a record's result is mostly such bytes, and
// this ran on every record (0.8% of wispd's CPU under load).
func needsCompact(v []byte) bool {
	inString := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !compactSpecial[c] {
			continue
		}
		switch c {
		case '<', '>', '&':
			return true
		case 0xE2:
			if isLineSeparator(v, i) {
				return true
			}
		case '"':
			inString = !inString
		case '\\':
			// An escaped quote or backslash ends nothing; any other
			// escaped byte means what it means alone.
			if inString && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\') {
				i++
			}
		default: // white space
			if !inString {
				return true
			}
		}
	}
	return false
}

// compactSpecial marks the bytes needsCompact looks at.
var compactSpecial = [256]bool{'<': true, '>': true, '&': true, 0xE2: true, '"': true, '\\': true, ' ': true, '\t': true, '\n': true, '\r': true}

// isLineSeparator reports whether v[i:] begins with U+2028 or U+2029.
func isLineSeparator(v []byte, i int) bool {
	return i+2 < len(v) && v[i+1] == 0x80 && (v[i+2] == 0xA8 || v[i+2] == 0xA9)
}
