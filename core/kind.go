package core

import "sort"

// Kind describes one runtime kind an action may name in exec.kind.
type Kind struct {
	Name string
	// Binary is true when the code must be given base64-encoded.
	Binary bool
	// Zip is true when the code may also be a zip archive, given
	// base64-encoded with exec.binary true (as OpenWhisk's python and
	// nodejs kinds take it).
	Zip bool
	// Runnable is false for kinds Wisp knows but this build cannot run yet;
	// creating such an action is refused with a clear message.
	Runnable bool
}

// kinds are the kinds of DESIGN.md. Aliases map to their canonical kind.
var kinds = map[string]Kind{
	"wasm":      {Name: "wasm", Binary: true, Runnable: true},
	"python:3":  {Name: "python:3", Zip: true, Runnable: true},
	"nodejs:20": {Name: "nodejs:20", Zip: true, Runnable: true},
	"native":    {Name: "native", Binary: true, Runnable: true},
	// blackbox code is the user's OCI image: an OCI image layout or a
	// `docker save` tarball, base64-encoded.
	"blackbox": {Name: "blackbox", Binary: true, Runnable: true},
	"sequence": {Name: "sequence"},
}

var kindAliases = map[string]string{
	"python:default": "python:3",
	"python:3.11":    "python:3",
	"nodejs:default": "nodejs:20",
}

// LookupKind resolves a kind name (or alias) given in exec.kind.
func LookupKind(name string) (Kind, error) {
	if canon, ok := kindAliases[name]; ok {
		name = canon
	}
	k, ok := kinds[name]
	if !ok {
		return Kind{}, Errorf(CodeInvalid, "The kind %q is not known. Known kinds: %v.", name, KnownKinds())
	}
	if !k.Runnable {
		return Kind{}, Errorf(CodeInvalid, "The kind %q is not supported by this Wisp build yet. Supported kinds: %v.", name, RunnableKinds())
	}
	return k, nil
}

// KnownKinds lists every kind name and alias, sorted.
func KnownKinds() []string {
	var out []string
	for n := range kinds {
		out = append(out, n)
	}
	for n := range kindAliases {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// RunnableKinds lists the kinds this build can run, sorted.
func RunnableKinds() []string {
	var out []string
	for n, k := range kinds {
		if k.Runnable {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
