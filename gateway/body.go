package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// queryParam is c.QueryParam(name): the first value of the query
// parameter name, unescaped, or "" (also when it is malformed). echo's
// builds a map of every parameter of the request (url.ParseQuery) on
// first use, ~500 bytes for an invoke's two or three; this reads the raw
// query for the one parameter asked, and allocates only to unescape.
func queryParam(c echo.Context, name string) string {
	return queryValue(c.Request().URL.RawQuery, name)
}

// queryValue is url.ParseQuery(query).Get(name), pair by pair as
// url.ParseQuery reads them: split at "&", a pair with ";" or that does
// not unescape is skipped, the key ends at the first "=". A query of many
// parameters goes to url.ParseQuery itself, which then applies its limit
// on their number (all are ignored past it).
func queryValue(query, name string) string {
	if strings.Count(query, "&") >= maxPlainQueryPairs {
		v, _ := url.ParseQuery(query)
		return v.Get(name)
	}
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		// url.QueryUnescape returns its argument when it has nothing to
		// unescape: no allocation in the common case.
		if k, err := url.QueryUnescape(key); err != nil || k != name {
			continue
		}
		if v, err := url.QueryUnescape(value); err == nil {
			return v
		}
	}
	return ""
}

// maxPlainQueryPairs is how many "&" a query may have for queryValue to
// read it itself: far below url.ParseQuery's default limit (10,000).
const maxPlainQueryPairs = 64

// intQuery parses an integer query parameter within [lo, hi], with a default.
func intQuery(c echo.Context, name string, def, lo, hi int64) (int64, error) {
	s := queryParam(c, name)
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
	s := queryParam(c, name)
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
