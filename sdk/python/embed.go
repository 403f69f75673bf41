// Package python holds Wisp's Python SDK, wisp.py, for Go code that ships
// it: the runtimes package puts it on the path of the python:3 runtime.
package python

import _ "embed"

// Source is the SDK module, wisp.py.
//
//go:embed wisp.py
var Source []byte
