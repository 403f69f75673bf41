// Package client is a small Go client of the OpenWhisk v1 REST API as Wisp
// serves it. The wisp CLI, the end-to-end tests and the benchmark use it.
//
// A Client is built once with New and is safe for concurrent use; it keeps
// one http.Client whose connections are reused (keep-alive), so a call costs
// one round trip and no new connection. Every method takes a context first;
// cancelling it abandons the request.
//
// Entity names are "name" or "package/name" in the caller's namespace ("_").
// A fully qualified name "/namespace/name" or "/namespace/package/name" names
// the namespace explicitly.
//
// Errors: a response the server answered with an error status comes back as
// an *APIError carrying the HTTP status, the server's message and its
// transaction code. Anything else (the server unreachable, a cancelled
// context, a body that is not JSON) is a plain wrapped error.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ActivationIDHeader is the response header that carries the activation id
// of an invocation, as OpenWhisk sends it.
const ActivationIDHeader = "X-Openwhisk-Activation-Id"

// apiPrefix is the path of the v1 API under the host.
const apiPrefix = "/api/v1"

// Client talks to one Wisp (or OpenWhisk) API host with one auth key. Its
// configuration is fixed when New returns; it is safe for concurrent use.
type Client struct {
	base      string   // scheme://host[/prefix]/api/v1, no trailing slash
	host      string   // scheme://host[/prefix] as normalised, for messages
	authz     []string // the Authorization header value, nil for none
	userAgent []string
	hc        *http.Client
}

// Header values shared by every request (never modified).
var (
	acceptJSON      = []string{"application/json"}
	contentTypeJSON = []string{"application/json"}
)

type options struct {
	hc        *http.Client
	insecure  bool
	userAgent string
}

// Option configures a Client in New.
type Option func(*options)

// WithHTTPClient makes the Client send its requests through hc instead of
// its own keep-alive client. hc should reuse connections.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.hc = hc }
}

// WithInsecure skips verification of the server's TLS certificate, like
// wsk's -i flag. It has no effect together with WithHTTPClient.
func WithInsecure(insecure bool) Option {
	return func(o *options) { o.insecure = insecure }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// New returns a Client for apihost with the auth key auth ("uuid:key", sent
// as HTTP Basic; "" sends no credentials).
//
// apihost is "host:port" (http is assumed), or a URL "http://host:port" or
// "https://host", optionally with a path prefix; a trailing "/api/v1" is
// accepted and dropped. New returns an error when apihost is empty or not a
// valid URL, or when auth has no ':'. It does not contact the server.
func New(apihost, auth string, opts ...Option) (*Client, error) {
	o := options{userAgent: "wisp-client"}
	for _, opt := range opts {
		opt(&o)
	}
	host, err := NormalizeAPIHost(apihost)
	if err != nil {
		return nil, err
	}
	c := &Client{base: host + apiPrefix, host: host, userAgent: []string{o.userAgent}, hc: o.hc}
	if auth != "" {
		if !strings.Contains(auth, ":") {
			return nil, errors.New("the auth key must have the form UUID:KEY")
		}
		c.authz = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(auth))}
	}
	if c.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The default keeps 2 idle connections per host; a benchmark with
		// many concurrent callers would then open and close connections
		// all the time.
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 256
		if o.insecure {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the user (-i)
		}
		c.hc = &http.Client{Transport: t}
	}
	return c, nil
}

// NormalizeAPIHost returns apihost as a URL without a trailing slash or
// "/api/v1": "127.0.0.1:3233" becomes "http://127.0.0.1:3233". It returns an
// error when apihost is empty or not a valid http(s) URL.
func NormalizeAPIHost(apihost string) (string, error) {
	s := strings.TrimSpace(apihost)
	if s == "" {
		return "", errors.New("the API host is empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("the API host %q is not a valid URL: %w", apihost, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("the API host %q must use http or https", apihost)
	}
	if u.Host == "" {
		return "", fmt.Errorf("the API host %q has no host name", apihost)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), apiPrefix)
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// Host returns the API host the Client talks to, normalised
// ("http://127.0.0.1:3233").
func (c *Client) Host() string { return c.host }

// APIError is an error status answered by the server: OpenWhisk's
// {"error": "...", "code": "..."} with its HTTP status.
type APIError struct {
	// Status is the HTTP status code (400, 401, 403, 404, 409, 413, 429, 5xx).
	Status int
	// Message is the server's message, or the HTTP status text when the
	// body carried none.
	Message string
	// Code is the server's transaction id, "" when it sent none.
	Code string
}

// Error returns the message with the status and the code, like
// "The requested resource does not exist. (404, code 1f3c…)".
func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%s (%d)", e.Message, e.Status)
	}
	return fmt.Sprintf("%s (%d, code %s)", e.Message, e.Status, e.Code)
}

// IsNotFound reports whether err is an *APIError with status 404.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// apiErrorFrom builds the APIError of a response with an error status.
func apiErrorFrom(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var eb struct {
		Error json.RawMessage `json:"error"`
		Code  json.RawMessage `json:"code"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Message = jsonText(eb.Error)
		e.Code = jsonText(eb.Code)
	} else if s := strings.TrimSpace(string(body)); s != "" && len(s) <= 200 && !strings.HasPrefix(s, "<") {
		e.Message = s // a proxy's plain-text answer
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
		if e.Message == "" {
			e.Message = "unexpected HTTP status"
		}
	}
	return e
}

// jsonText renders a JSON string as its text and anything else (a number
// code, an object) as compact JSON.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// response is a read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to path (already escaped, under /api/v1) with the
// encoded query q and a JSON body (nil for none) and reads the whole
// response. It returns an *APIError for statuses >= 400 unless accept says
// the status is to be handed back.
func (c *Client) do(ctx context.Context, method, path, q string, body []byte, accept func(status int) bool) (*response, error) {
	u := c.base + path
	if q != "" {
		u += "?" + q
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
		if report, ok := ctx.Value(progressKey{}).(func(sent, total int64)); ok {
			rd = &progressReader{r: rd, total: int64(len(body)), report: report}
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.ContentLength = int64(len(body))
	// Canonical keys set directly: no canonicalisation per request.
	if c.authz != nil {
		req.Header["Authorization"] = c.authz
	}
	req.Header["Accept"] = acceptJSON
	req.Header["User-Agent"] = c.userAgent
	if body != nil {
		req.Header["Content-Type"] = contentTypeJSON
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the response: %w", method, path, err)
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: data}
	if r.status >= 400 && (accept == nil || !accept(r.status)) {
		return r, apiErrorFrom(r.status, data)
	}
	return r, nil
}

// call sends in (nil for no body) as JSON and decodes a successful JSON
// answer into out (nil to drop it).
func (c *Client) call(ctx context.Context, method, path string, q url.Values, in any, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("%s %s: encode the request: %w", method, path, err)
		}
	}
	r, err := c.do(ctx, method, path, q.Encode(), body, nil)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(r.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		return fmt.Errorf("%s %s: decode the response (HTTP %d): %w", method, path, r.status, err)
	}
	return nil
}

// entityPath returns the escaped path "namespaces/{ns}/{collection}/{name}"
// for a name given as "name", "pkg/name" or "/ns[/pkg]/name".
func entityPath(collection, name string) (string, error) {
	ns, rest, err := splitName(name)
	if err != nil {
		return "", err
	}
	return "/namespaces/" + url.PathEscape(ns) + "/" + collection + "/" + escapeSegments(rest), nil
}

// splitName splits a possibly fully qualified entity name into its
// namespace ("_" when not given) and the rest ("name" or "pkg/name").
func splitName(name string) (ns, rest string, err error) {
	ns, rest = "_", name
	if strings.HasPrefix(name, "/") {
		var ok bool
		ns, rest, ok = strings.Cut(name[1:], "/")
		if !ok || ns == "" {
			return "", "", fmt.Errorf("the name %q is not of the form /namespace/name", name)
		}
	}
	if rest == "" {
		return "", "", errors.New("the entity name is empty")
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" {
			return "", "", fmt.Errorf("the name %q has an empty part", name)
		}
	}
	return ns, rest, nil
}

// escapeSegments escapes each '/'-separated segment of p.
func escapeSegments(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// ListNamespaces returns the namespaces the auth key may use (in Wisp, the
// one namespace the key belongs to).
func (c *Client) ListNamespaces(ctx context.Context) ([]string, error) {
	var out []string
	if err := c.call(ctx, http.MethodGet, "/namespaces", nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

type progressKey struct{}

// WithUploadProgress returns a context under which request bodies report
// their upload to report, with the bytes sent so far and the total, as
// they go out (report runs on the request's goroutine; keep it quick).
func WithUploadProgress(ctx context.Context, report func(sent, total int64)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// progressReader counts the bytes read from r.
type progressReader struct {
	r      io.Reader
	sent   int64
	total  int64
	report func(sent, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.sent += int64(n)
	if n > 0 {
		p.report(p.sent, p.total)
	}
	return n, err
}
