package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/client/clienttest"
	"github.com/wispfaas/wisp/core"
)

func newClient(t *testing.T) (*client.Client, *clienttest.Server) {
	t.Helper()
	s := clienttest.NewServer(t)
	c, err := client.New(s.URL, s.Auth)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, s
}

func putEcho(t *testing.T, c *client.Client, name string) *core.Action {
	t.Helper()
	a, err := c.PutAction(context.Background(), name, core.ActionPut{
		Exec: &core.Exec{Kind: "nodejs:default", Code: "function main(p) { return p }"},
	}, false)
	if err != nil {
		t.Fatalf("PutAction %s: %v", name, err)
	}
	return a
}

func apiError(t *testing.T, err error) *client.APIError {
	t.Helper()
	var e *client.APIError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	return e
}

func TestNormalizeAPIHost(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "127.0.0.1:3233", want: "http://127.0.0.1:3233"},
		{in: "http://127.0.0.1:3233/", want: "http://127.0.0.1:3233"},
		{in: "https://wisp.example.com", want: "https://wisp.example.com"},
		{in: "https://wisp.example.com/api/v1/", want: "https://wisp.example.com"},
		{in: "http://proxy:8080/wisp", want: "http://proxy:8080/wisp"},
		{in: " localhost ", want: "http://localhost"},
		{in: "", err: "empty"},
		{in: "ftp://host", err: "http or https"},
		{in: "http://", err: "no host"},
		{in: "http://bad host:1", err: "not a valid URL"},
	}
	for _, tt := range tests {
		got, err := client.NormalizeAPIHost(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("NormalizeAPIHost(%q) error = %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeAPIHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNewRejectsBadAuth(t *testing.T) {
	if _, err := client.New("localhost:1", "no-colon"); err == nil {
		t.Fatal("New accepted an auth key without ':'")
	}
	if _, err := client.New("", "a:b"); err == nil {
		t.Fatal("New accepted an empty API host")
	}
}

func TestAPIErrorFormat(t *testing.T) {
	tests := []struct {
		err  client.APIError
		want string
	}{
		{client.APIError{Status: 404, Message: core.MsgNotFound, Code: "1f3c"}, "The requested resource does not exist. (404, code 1f3c)"},
		{client.APIError{Status: 502, Message: "Bad Gateway"}, "Bad Gateway (502)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestActionLifecycle(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	timeout := 5000
	a, err := c.PutAction(ctx, "hello", core.ActionPut{
		Exec:       &core.Exec{Kind: "nodejs:default", Code: "function main() {}"},
		Parameters: core.KeyValues{}.Set("name", "world"),
		Limits:     &core.LimitsPut{Timeout: &timeout},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "hello" || a.Namespace != "guest" || a.Version != "0.0.1" || a.Limits.Timeout != 5000 {
		t.Fatalf("created action = %+v", a)
	}

	_, err = c.PutAction(ctx, "hello", core.ActionPut{Exec: &core.Exec{Kind: "nodejs:default", Code: "x"}}, false)
	if e := apiError(t, err); e.Status != http.StatusConflict || e.Message != core.MsgConflict || e.Code == "" {
		t.Fatalf("second create: %+v", e)
	}
	a, err = c.PutAction(ctx, "hello", core.ActionPut{Annotations: core.KeyValues{}.Set("web-export", true)}, true)
	if err != nil || a.Version != "0.0.2" || a.Exec.Kind != "nodejs:default" {
		t.Fatalf("update: %+v, %v", a, err)
	}

	got, err := c.GetAction(ctx, "hello", true)
	if err != nil || got.Exec.Code != "function main() {}" {
		t.Fatalf("GetAction with code: %+v, %v", got, err)
	}
	got, err = c.GetAction(ctx, "hello", false)
	if err != nil || got.Exec.Code != "" || got.Exec.Digest == "" {
		t.Fatalf("GetAction without code: %+v, %v", got, err)
	}

	putEcho(t, c, "second")
	list, err := c.ListActions(ctx, 1, 1)
	if err != nil || len(list) != 1 || list[0].Name != "second" {
		t.Fatalf("ListActions(1, 1) = %+v, %v", list, err)
	}

	del, err := c.DeleteAction(ctx, "hello")
	if err != nil || del == nil || del.Name != "hello" {
		t.Fatalf("DeleteAction: %+v, %v", del, err)
	}
	_, err = c.GetAction(ctx, "hello", false)
	if !client.IsNotFound(err) {
		t.Fatalf("GetAction after delete: %v", err)
	}
	if e := apiError(t, err); !strings.HasPrefix(e.Error(), "The requested resource does not exist. (404, code ") {
		t.Fatalf("404 reads %q", e.Error())
	}
}

// TestPathEscaping checks that names with spaces, @ and packages reach the
// server as the right escaped path.
func TestPathEscaping(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, "a:b")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"my action", "a@b.c", "pkg/name", "/guest/pkg/x y", "what?#"} {
		if _, err := c.GetAction(ctx, name, false); err != nil {
			t.Fatalf("GetAction(%q): %v", name, err)
		}
	}
	if _, err := c.GetActivation(ctx, "abc/def"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/api/v1/namespaces/_/actions/my%20action",
		"/api/v1/namespaces/_/actions/a@b.c",
		"/api/v1/namespaces/_/actions/pkg/name",
		"/api/v1/namespaces/guest/actions/pkg/x%20y",
		"/api/v1/namespaces/_/actions/what%3F%23",
		"/api/v1/namespaces/_/activations/abc%2Fdef",
	}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Fatalf("paths:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []string{"", "/", "/guest", "a//b"} {
		if _, err := c.GetAction(ctx, bad, false); err == nil {
			t.Errorf("GetAction(%q) sent a request", bad)
		}
	}
}

func TestNamesWithSpacesRoundTrip(t *testing.T) {
	c, _ := newClient(t)
	putEcho(t, c, "my action@2")
	a, err := c.GetAction(context.Background(), "my action@2", false)
	if err != nil || a.Name != "my action@2" {
		t.Fatalf("GetAction: %+v, %v", a, err)
	}
}

func TestAuthRefused(t *testing.T) {
	s := clienttest.NewServer(t)
	for _, auth := range []string{"", "wrong:key"} {
		c, err := client.New(s.URL, auth)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListNamespaces(context.Background())
		if e := apiError(t, err); e.Status != http.StatusUnauthorized {
			t.Fatalf("auth %q: %+v", auth, e)
		}
	}
}

func TestListNamespaces(t *testing.T) {
	c, _ := newClient(t)
	ns, err := c.ListNamespaces(context.Background())
	if err != nil || len(ns) != 1 || ns[0] != "guest" {
		t.Fatalf("ListNamespaces = %v, %v", ns, err)
	}
}

func TestInvoke(t *testing.T) {
	c, s := newClient(t)
	ctx := context.Background()
	putEcho(t, c, "echo")
	s.Run = func(a core.Action, params map[string]any) clienttest.Outcome {
		if _, ok := params["slow"]; ok {
			return clienttest.Outcome{Result: json.RawMessage(`{"slow":true}`), Delay: 300 * time.Millisecond}
		}
		return clienttest.Echo(a, params)
	}

	tests := []struct {
		name       string
		params     any
		opts       client.InvokeOptions
		status     int
		activation bool   // a decoded record is expected
		result     string // "" when none is expected
	}{
		{name: "non-blocking", params: map[string]any{"a": 1}, status: 202},
		{name: "blocking", params: map[string]any{"a": 1}, opts: client.InvokeOptions{Blocking: true}, status: 200, activation: true, result: `{"a":1}`},
		{name: "result", params: json.RawMessage(`{"a":"x"}`), opts: client.InvokeOptions{Result: true}, status: 200, result: `{"a":"x"}`},
		{name: "no params", params: nil, opts: client.InvokeOptions{Result: true}, status: 200, result: `{}`},
		{name: "blocking failure", params: map[string]any{"error": "boom"}, opts: client.InvokeOptions{Blocking: true}, status: 502, activation: true, result: `{"error":"boom"}`},
		{name: "result failure", params: []byte(`{"error":"boom"}`), opts: client.InvokeOptions{Result: true}, status: 502, result: `{"error":"boom"}`},
		{name: "blocking wait runs out", params: map[string]any{"slow": true}, opts: client.InvokeOptions{Blocking: true, Timeout: 20 * time.Millisecond}, status: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.Invoke(ctx, "echo", tt.params, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || !core.ValidActivationID(r.ActivationID) {
				t.Fatalf("status %d id %q, want %d and an id; body %s", r.Status, r.ActivationID, tt.status, r.Body)
			}
			if (r.Activation != nil) != tt.activation {
				t.Fatalf("activation decoded = %v, want %v", r.Activation != nil, tt.activation)
			}
			if r.Activation != nil && r.Activation.ActivationID != r.ActivationID {
				t.Fatalf("record id %s, header id %s", r.Activation.ActivationID, r.ActivationID)
			}
			if got := compact(t, r.Result()); got != tt.result {
				t.Fatalf("Result() = %s, want %s", got, tt.result)
			}
			if r.Failed() != (tt.status == 502) {
				t.Fatalf("Failed() = %v at status %d", r.Failed(), r.Status)
			}
		})
	}

	_, err := c.Invoke(ctx, "missing", nil, client.InvokeOptions{Blocking: true})
	if !client.IsNotFound(err) {
		t.Fatalf("invoke missing: %v", err)
	}
	if _, err := c.Invoke(ctx, "echo", []int{1}, client.InvokeOptions{}); err == nil {
		t.Fatal("invoke with an array for parameters succeeded")
	}
}

// TestInvokeFailedStatuses checks how 500 and 502 answers are told apart:
// a failed activation comes back as a response, a failure of the gateway
// (an API error body, a proxy page) as an *APIError.
func TestInvokeFailedStatuses(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	record := `{"activationId":"` + id + `","response":{"status":"whisk internal error","statusCode":3,"success":false,"result":{"error":"sandbox died"}}}`
	tests := []struct {
		name     string
		status   int
		header   bool
		body     string
		result   bool
		apiError bool
	}{
		{name: "502 record", status: 502, header: true, body: record},
		{name: "502 record, no header", status: 502, body: record},
		{name: "502 result", status: 502, header: true, body: `{"error":"boom"}`, result: true},
		{name: "502 result, no header", status: 502, body: `{"error":"boom"}`, result: true},
		{name: "500 record", status: 500, header: true, body: record},
		{name: "500 result", status: 500, header: true, body: `{"error":"sandbox died"}`, result: true},
		{name: "500 API error after the id was set", status: 500, header: true, body: `{"error":"internal","code":"abc"}`, apiError: true},
		{name: "502 API error", status: 502, body: `{"error":"no invoker is available","code":"abc"}`, apiError: true},
		{name: "502 API error, result", status: 502, body: `{"error":"no invoker","code":"abc"}`, result: true, apiError: true},
		{name: "502 proxy page", status: 502, body: `<html>bad gateway</html>`, apiError: true},
		{name: "500 without an activation", status: 500, body: `{"error":"x","code":"y"}`, apiError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.header {
					w.Header().Set(client.ActivationIDHeader, id)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, _ := client.New(srv.URL, "a:b")
			r, err := c.Invoke(context.Background(), "x", nil, client.InvokeOptions{Blocking: true, Result: tt.result})
			if tt.apiError {
				if e := apiError(t, err); e.Status != tt.status {
					t.Fatalf("APIError status %d, want %d", e.Status, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.Failed() || !r.Done() || r.Status != tt.status || (r.ActivationID != id && !tt.result) {
				t.Fatalf("response %+v", r)
			}
			if (r.Activation != nil) == tt.result {
				t.Fatalf("activation decoded = %v with result = %v", r.Activation != nil, tt.result)
			}
			if len(r.Result()) == 0 {
				t.Fatal("no result")
			}
		})
	}
}

func TestActivations(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	putEcho(t, c, "a")
	putEcho(t, c, "b")
	before := time.Now().UnixMilli()
	var ids []string
	for _, name := range []string{"a", "b", "a"} {
		r, err := c.Invoke(ctx, name, map[string]any{"n": name}, client.InvokeOptions{Blocking: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ActivationID)
	}

	list, err := c.ListActivations(ctx, client.ActivationFilter{Name: "a"})
	if err != nil || len(list) != 2 || list[0].ActivationID != ids[2] || list[1].ActivationID != ids[0] {
		t.Fatalf("list name=a: %+v, %v", list, err)
	}
	if list[0].Response.Result != nil || list[0].Logs != nil {
		t.Fatalf("summary carries a result or logs: %+v", list[0])
	}
	list, err = c.ListActivations(ctx, client.ActivationFilter{Limit: 1, Skip: 1, Docs: true, Since: before})
	if err != nil || len(list) != 1 || list[0].ActivationID != ids[1] || compact(t, list[0].Response.Result) != `{"n":"b"}` {
		t.Fatalf("list limit=1 skip=1 docs: %+v, %v", list, err)
	}
	list, err = c.ListActivations(ctx, client.ActivationFilter{Upto: before - 1})
	if err != nil || len(list) != 0 {
		t.Fatalf("list upto before: %+v, %v", list, err)
	}

	act, err := c.GetActivation(ctx, ids[1])
	if err != nil || act.Name != "b" || !act.Response.Success {
		t.Fatalf("GetActivation: %+v, %v", act, err)
	}
	logs, err := c.ActivationLogs(ctx, ids[1])
	if err != nil || len(logs) != 1 || !strings.Contains(logs[0], "b got 1 parameters") {
		t.Fatalf("ActivationLogs: %q, %v", logs, err)
	}
	res, err := c.ActivationResult(ctx, ids[1])
	if err != nil || res.Status != "success" || compact(t, res.Result) != `{"n":"b"}` {
		t.Fatalf("ActivationResult: %+v, %v", res, err)
	}
	if _, err := c.GetActivation(ctx, strings.Repeat("0", 32)); !client.IsNotFound(err) {
		t.Fatalf("GetActivation of an unknown id: %v", err)
	}
}

// TestKeepAlive checks that sequential calls reuse one connection.
func TestKeepAlive(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`["guest"]`))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, _ := client.New(srv.URL, "a:b")
	for range 50 {
		if _, err := c.ListNamespaces(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("50 calls opened %d connections, want 1", n)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, _ := client.New(addr, "a:b")
	_, err = c.ListNamespaces(context.Background())
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("err = %v (%T), want a dial *net.OpError inside", err, err)
	}
}

func TestBasicAuthHeader(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.Write([]byte(`[]`))
	}))
	defer srv.Close()
	c, _ := client.New(strings.TrimPrefix(srv.URL, "http://"), "uuid:key")
	if _, err := c.ListNamespaces(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("uuid:key")); got != want {
		t.Fatalf("Authorization = %q, want %q", got, want)
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if raw == nil {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
