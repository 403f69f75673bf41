package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
)

var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads the whole request body, refusing more than limit bytes
// with CodeTooLarge. The returned slice is the caller's.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > limit {
		return nil, core.Errorf(core.CodeTooLarge, "The request body of %d bytes exceeds the limit of %d bytes.", r.ContentLength, limit)
	}
	buf := bodyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer bodyBufs.Put(buf)
	_, err := buf.ReadFrom(http.MaxBytesReader(c.Response(), r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, core.Errorf(core.CodeTooLarge, "The request body exceeds the limit of %d bytes.", limit)
	}
	if err != nil && err != io.EOF {
		return nil, &core.Error{Code: core.CodeInvalid, Message: "The request body could not be read.", Err: err}
	}
	return bytes.Clone(buf.Bytes()), nil
}

// malformed is OpenWhisk's error for a body that is not the JSON expected.
func malformed(err error) error {
	return core.Errorf(core.CodeInvalid, "The request content was malformed:\n%v", err)
}

// entityName reads the wildcard part of the path ("name" or "pkg/name").
func entityName(c echo.Context) (core.EntityPath, error) {
	name := c.Param("*")
	// The router matches on the escaped path only when the request's
	// escaping differs from Go's default (URL.RawPath set); otherwise the
	// parameter is already decoded and must not be decoded twice.
	if c.Request().URL.RawPath != "" {
		var err error
		if name, err = url.PathUnescape(name); err != nil {
			return core.EntityPath{}, core.Errorf(core.CodeInvalid, "The entity name %q is not validly escaped.", name)
		}
	}
	return core.ParseActionName(namespaceOf(c), name)
}

// intQuery parses an integer query parameter within [lo, hi], with a default.
func intQuery(c echo.Context, name string, def, lo, hi int64) (int64, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, core.Errorf(core.CodeInvalid, "The query parameter %s=%q is not an integer.", name, s)
	}
	if v < lo || v > hi {
		return 0, core.Errorf(core.CodeInvalid, "The query parameter %s=%d is out of range: it must be between %d and %d.", name, v, lo, hi)
	}
	return v, nil
}

// boolQuery parses a boolean query parameter ("true"/"false"; empty is def).
func boolQuery(c echo.Context, name string, def bool) (bool, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, core.Errorf(core.CodeInvalid, "The query parameter %s=%q is not true or false.", name, s)
	}
	return v, nil
}

func writeJSONBytes(c echo.Context, status int, body []byte) error {
	return c.Blob(status, echo.MIMEApplicationJSON, body)
}
