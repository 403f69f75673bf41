package main

// Parameters and annotations: wsk's "-p KEY VALUE" takes two words, which
// flag parsers do not support, so joinPairFlags joins them into one before
// cobra sees the command line.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wispfaas/wisp/core"
)

// pairSep joins KEY and VALUE in one argument. No command-line argument can
// contain a NUL byte, so it cannot clash with what a user types.
const pairSep = "\x00"

// pairFlags are the flags that take KEY VALUE.
var pairFlags = map[string]string{"-p": "--param", "--param": "--param", "-a": "--annotation", "--annotation": "--annotation"}

// joinPairFlags rewrites "-p KEY VALUE" as "--param=KEY<NUL>VALUE" (and -a
// likewise), up to a "--". A -p without two words after it is left alone,
// and the flag then reports the mistake.
func joinPairFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(out, args[i:]...)
		}
		if long, ok := pairFlags[arg]; ok && i+2 < len(args) {
			out = append(out, long+"="+args[i+1]+pairSep+args[i+2])
			i += 2
			continue
		}
		out = append(out, arg)
	}
	return out
}

// keyValueFlag collects repeated KEY VALUE flags in order. A VALUE that
// parses as JSON is taken as that JSON value; otherwise it is a string, as
// wsk does ("-p n 5" is the number 5, "-p s hello" the string "hello").
type keyValueFlag struct {
	kvs core.KeyValues
}

var _ pflag.Value = (*keyValueFlag)(nil)

func (f *keyValueFlag) String() string { return "" }
func (f *keyValueFlag) Type() string   { return "KEY VALUE" }

func (f *keyValueFlag) Set(s string) error {
	key, value, ok := strings.Cut(s, pairSep)
	if !ok {
		return errors.New("needs a KEY and a VALUE, as in -p name world")
	}
	if key == "" {
		return errors.New("the KEY is empty")
	}
	f.kvs = f.kvs.Set(key, jsonOrString(value))
	return nil
}

// jsonOrString returns value as JSON if it is valid JSON, else as a JSON
// string.
func jsonOrString(value string) json.RawMessage {
	var b bytes.Buffer
	if json.Valid([]byte(value)) && json.Compact(&b, []byte(value)) == nil {
		return b.Bytes()
	}
	raw, _ := json.Marshal(value)
	return raw
}

// readKeyValueFile reads a JSON object from path as key-values, keeping the
// order of its keys.
func readKeyValueFile(path string) (core.KeyValues, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	kvs, err := objectKeyValues(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kvs, nil
}

// objectKeyValues splits a JSON object into its members, in order.
func objectKeyValues(data []byte) (core.KeyValues, error) {
	if !core.IsJSONObject(data) {
		return nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var kvs core.KeyValues
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		kvs = kvs.Set(tok.(string), v)
	}
	return kvs, nil
}

// mergeKeyValues returns the pairs of the file (if path is not "") with the
// flag's pairs over them.
func mergeKeyValues(path string, flag *keyValueFlag) (core.KeyValues, error) {
	var kvs core.KeyValues
	if path != "" {
		var err error
		if kvs, err = readKeyValueFile(path); err != nil {
			return nil, err
		}
	}
	for _, kv := range flag.kvs {
		kvs = kvs.Set(kv.Key, kv.Value)
	}
	return kvs, nil
}

// paramsObject renders key-values as one JSON object, in order.
func paramsObject(kvs core.KeyValues) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.Key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(kv.Value)
	}
	b.WriteByte('}')
	return b.Bytes()
}
