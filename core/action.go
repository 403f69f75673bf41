package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/wispfaas/wisp/internal/jsonvalid"
)

// KeyValue is one parameter or annotation, as OpenWhisk writes them:
// {"key": "name", "value": <any JSON>}.
type KeyValue struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// KeyValues is an ordered list of KeyValue. It marshals as [] when empty.
type KeyValues []KeyValue

// MarshalJSON writes an empty list as [] rather than null, as OpenWhisk does.
func (kv KeyValues) MarshalJSON() ([]byte, error) {
	if kv == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]KeyValue(kv))
}

// Get returns the value for key and whether it is present.
func (kv KeyValues) Get(key string) (json.RawMessage, bool) {
	for _, p := range kv {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// Set replaces the value for key or appends it, returning the new list.
func (kv KeyValues) Set(key string, value any) KeyValues {
	raw, err := json.Marshal(value)
	if err != nil {
		panic(fmt.Sprintf("KeyValues.Set(%q): %v", key, err)) // only called with plain values
	}
	for i := range kv {
		if kv[i].Key == key {
			kv[i].Value = raw
			return kv
		}
	}
	return append(kv, KeyValue{Key: key, Value: raw})
}

// Validate checks that keys are present and unique and values are JSON.
func (kv KeyValues) Validate(what string) error {
	seen := make(map[string]bool, len(kv))
	for _, p := range kv {
		if p.Key == "" {
			return Errorf(CodeInvalid, "A %s has an empty key.", what)
		}
		if seen[p.Key] {
			return Errorf(CodeInvalid, "The %s %q is given twice.", what, p.Key)
		}
		seen[p.Key] = true
		if len(p.Value) == 0 {
			return Errorf(CodeInvalid, "The %s %q has no value.", what, p.Key)
		}
	}
	return nil
}

// Exec is an action's code and how to run it. On the wire Code carries the
// source text or, when Binary, base64; once stored, the bytes live in the
// blob store under Digest and Code is empty.
type Exec struct {
	Kind       string   `json:"kind"`
	Code       string   `json:"code,omitempty"`
	Binary     bool     `json:"binary"`
	Main       string   `json:"main,omitempty"`
	Image      string   `json:"image,omitempty"`
	Components []string `json:"components,omitempty"`
	// Digest is "sha256:<hex>" of the decoded code bytes; Size their length.
	Digest string `json:"digest,omitempty"`
	Size   int64  `json:"size,omitempty"`
}

// Action is an OpenWhisk action: code plus defaults and limits.
type Action struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Exec        Exec      `json:"exec"`
	Annotations KeyValues `json:"annotations"`
	Parameters  KeyValues `json:"parameters"`
	Limits      Limits    `json:"limits"`
	Updated     int64     `json:"updated"` // Unix milliseconds
}

// Path returns the action's entity path. Namespace is "ns" or "ns/pkg".
func (a *Action) Path() EntityPath {
	ns, pkg, _ := strings.Cut(a.Namespace, "/")
	return EntityPath{Namespace: ns, Package: pkg, Name: a.Name}
}

// ActionPut is the body of PUT /actions/{name}. Absent fields keep their
// stored value on update, as in OpenWhisk.
type ActionPut struct {
	Exec        *Exec      `json:"exec,omitempty"`
	Parameters  KeyValues  `json:"parameters,omitempty"`
	Annotations KeyValues  `json:"annotations,omitempty"`
	Limits      *LimitsPut `json:"limits,omitempty"`
	Publish     *bool      `json:"publish,omitempty"`
	Version     string     `json:"version,omitempty"`
	// Name and Namespace are accepted (clients send them) and ignored:
	// the path decides.
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// DecodeStrict decodes one JSON value into v, refusing trailing data.
// Unknown fields are allowed, as OpenWhisk clients send extra ones.
func DecodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// NextVersion bumps the patch number of a semantic version "x.y.z".
// An unparsable version restarts at 0.0.1.
func NextVersion(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "0.0.1"
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return "0.0.1"
	}
	return parts[0] + "." + parts[1] + "." + strconv.Itoa(n+1)
}

// IsJSONObject reports whether raw is a JSON object (after whitespace).
func IsJSONObject(raw []byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{' && jsonvalid.Valid(raw)
}
