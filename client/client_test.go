package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/internal/wasmtest"
	"github.com/wispfaas/wisp/internal/wisptest"
)

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
	c, ns := newClient(t)
	ctx := context.Background()
	timeout := 5000
	exec := wasmExec(wasmtest.Action{Logs: []string{"hello"}})
	a, err := c.PutAction(ctx, "hello", core.ActionPut{
		Exec:       exec,
		Parameters: core.KeyValues{}.Set("name", "world"),
		Limits:     &core.LimitsPut{Timeout: &timeout},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "hello" || a.Namespace != ns.name || a.Version != "0.0.1" || a.Limits.Timeout != 5000 ||
		a.Exec.Kind != "wasm" || !a.Exec.Binary || !strings.HasPrefix(a.Exec.Digest, "sha256:") {
		t.Fatalf("created action = %+v", a)
	}
	digest := a.Exec.Digest

	_, err = c.PutAction(ctx, "hello", core.ActionPut{Exec: exec}, false)
	if e := apiError(t, err); e.Status != http.StatusConflict || e.Message != core.MsgConflict || e.Code == "" {
		t.Fatalf("second create: %+v", e)
	}
	a, err = c.PutAction(ctx, "hello", core.ActionPut{Annotations: core.KeyValues{}.Set("web-export", true)}, true)
	if err != nil || a.Version != "0.0.2" || a.Exec.Kind != "wasm" || a.Exec.Digest != digest {
		t.Fatalf("update: %+v, %v", a, err)
	}
	if v, _ := a.Parameters.Get("name"); string(v) != `"world"` {
		t.Fatalf("the update dropped the parameters: %+v", a.Parameters)
	}

	got, err := c.GetAction(ctx, "hello", true)
	if err != nil || got.Exec.Code != exec.Code {
		t.Fatalf("GetAction with code: %+v, %v", got, err)
	}
	got, err = c.GetAction(ctx, "hello", false)
	if err != nil || got.Exec.Code != "" || got.Exec.Digest != digest {
		t.Fatalf("GetAction without code: %+v, %v", got, err)
	}

	putAction(t, c, "second", wasmtest.Action{})
	all, err := c.ListActions(ctx, 0, 0)
	if err != nil || len(all) != 2 || all[0].Updated < all[1].Updated {
		t.Fatalf("ListActions(0, 0) = %+v, %v; want both, most recently updated first", all, err)
	}
	if names := all[0].Name + " " + all[1].Name; names != "hello second" && names != "second hello" {
		t.Fatalf("ListActions(0, 0) lists %s", names)
	}
	list, err := c.ListActions(ctx, 1, 1)
	if err != nil || len(list) != 1 || list[0].Name != all[1].Name {
		t.Fatalf("ListActions(1, 1) = %+v, %v; want %s", list, err, all[1].Name)
	}

	del, err := c.DeleteAction(ctx, "hello")
	if err != nil || del == nil || del.Name != "hello" || del.Version != "0.0.2" {
		t.Fatalf("DeleteAction: %+v, %v", del, err)
	}
	_, err = c.GetAction(ctx, "hello", false)
	if !client.IsNotFound(err) {
		t.Fatalf("GetAction after delete: %v", err)
	}
	if e := apiError(t, err); !strings.HasPrefix(e.Error(), "The requested resource does not exist. (404, code ") {
		t.Fatalf("404 reads %q", e.Error())
	}
	if _, err := c.DeleteAction(ctx, "hello"); !client.IsNotFound(err) {
		t.Fatalf("DeleteAction after delete: %v", err)
	}
}

// TestPutActionRefused checks that the server's refusals of an action come
// back as *APIErrors with its message.
func TestPutActionRefused(t *testing.T) {
	c, _ := newClient(t)
	tests := []struct {
		name string
		put  core.ActionPut
		msg  string // a substring of the message
	}{
		{"no exec", core.ActionPut{}, "The action has no exec"},
		{"kind not runnable", core.ActionPut{Exec: &core.Exec{Kind: "sequence", Code: "x"}}, `The kind "sequence" is not supported by this Wisp build yet`},
		{"text kind sent as binary", core.ActionPut{Exec: &core.Exec{Kind: "python:default", Binary: true, Code: "%%%"}}, "is not valid base64"},
		{"not a module", core.ActionPut{Exec: &core.Exec{Kind: "wasm", Binary: true, Code: base64.StdEncoding.EncodeToString([]byte("\x00asm\x01\x00\x00\x00"))}}, `The action's code was refused: module has no "_start" export`},
		{"not base64", core.ActionPut{Exec: &core.Exec{Kind: "wasm", Binary: true, Code: "%%%"}}, "is not valid base64"},
	}
	for _, tt := range tests {
		_, err := c.PutAction(context.Background(), "x", tt.put, false)
		if e := apiError(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Message, tt.msg) || e.Code == "" {
			t.Errorf("%s: %+v, want 400 and %q", tt.name, e, tt.msg)
		}
	}
	if _, err := c.GetAction(context.Background(), "x", false); !client.IsNotFound(err) {
		t.Fatalf("a refused action exists: %v", err)
	}
}

// TestPathEscaping checks that names with spaces, @ and packages reach the
// server as the right escaped path: the bytes on the wire, which a server
// does not report, hence a recorder. TestNamesRoundTrip has the same names
// against a Wisp node.
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

// TestNamesRoundTrip checks names with spaces, @, packages and namespaces
// against the server: each reaches it intact, and a name it refuses comes
// back quoted as it was sent, neither cut at '?' or '#' nor unescaped
// twice.
func TestNamesRoundTrip(t *testing.T) {
	c, ns := newClient(t)
	ctx := context.Background()
	for _, tt := range []struct{ name, base string }{
		{"my action@2", "my action@2"},
		{"a.b-c@", "a.b-c@"},
		{"my pkg/x y", "x y"},
		{"/" + ns.name + "/pkg/z@1", "z@1"},
		{"/_/dotted.name", "dotted.name"},
	} {
		putAction(t, c, tt.name, wasmtest.Action{})
		a, err := c.GetAction(ctx, tt.name, false)
		if err != nil || a.Name != tt.base {
			t.Fatalf("GetAction(%q): %+v, %v", tt.name, a, err)
		}
		r, err := c.Invoke(ctx, tt.name, map[string]string{"n": tt.name}, client.InvokeOptions{Result: true})
		if err != nil || r.Status != http.StatusOK || compact(t, r.Result()) != compact(t, json.RawMessage(`{"n":`+strconv.Quote(tt.name)+`}`)) {
			t.Fatalf("Invoke(%q): %+v, %v", tt.name, r, err)
		}
		if _, err := c.DeleteAction(ctx, tt.name); err != nil {
			t.Fatalf("DeleteAction(%q): %v", tt.name, err)
		}
	}
	for _, name := range []string{"what?#", "trailing ", "a&b=c", "50%"} {
		_, err := c.GetAction(ctx, name, false)
		if e := apiError(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Message, strconv.Quote(name)+" is not valid") {
			t.Errorf("GetAction(%q): %+v", name, e)
		}
	}
	_, err := c.GetAction(ctx, "/guest/x", false)
	if e := apiError(t, err); e.Status != http.StatusForbidden || e.Message != fmt.Sprintf(core.MsgNotAuthorized, "guest") {
		t.Fatalf("GetAction in another namespace: %+v", e)
	}
}

// TestNameWithPercentIsRefused checks that a name with an escape sequence
// in it is refused like any name with '%', not unescaped a second time into
// another, valid name: "x%20y" must not reach the action "x y".
func TestNameWithPercentIsRefused(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	putAction(t, c, "x y", wasmtest.Action{})
	for _, name := range []string{"x%20y", "x%2520y"} {
		a, err := c.GetAction(ctx, name, false)
		if err == nil {
			t.Errorf("GetAction(%q) got the action %q", name, a.Name)
			continue
		}
		if e := apiError(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Message, strconv.Quote(name)+" is not valid") {
			t.Errorf("GetAction(%q): %+v", name, e)
		}
	}
}

func TestAuthRefused(t *testing.T) {
	host := wisptest.Node(t).APIHost()
	for _, tt := range []struct{ auth, msg string }{
		{"", core.MsgNoAuth},
		{"wrong:key", core.MsgUnauthorized},
	} {
		c, err := client.New(host, tt.auth)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListNamespaces(context.Background())
		if e := apiError(t, err); e.Status != http.StatusUnauthorized || e.Message != tt.msg {
			t.Fatalf("auth %q: %+v", tt.auth, e)
		}
	}
}

func TestListNamespaces(t *testing.T) {
	c, ns := newClient(t)
	got, err := c.ListNamespaces(context.Background())
	if err != nil || len(got) != 1 || got[0] != ns.name {
		t.Fatalf("ListNamespaces = %v, %v; want [%s]", got, err, ns.name)
	}
}

func TestInvoke(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	putAction(t, c, "echo", wasmtest.Action{})
	putAction(t, c, "slow", wasmtest.Action{Sleep: time.Second})
	putAction(t, c, "exit3", wasmtest.Action{Logs: []string{"leaving"}, Exit: 3})

	tests := []struct {
		name       string
		action     string
		params     any
		opts       client.InvokeOptions
		status     int
		activation int    // the status code of the record expected, -1 for none
		result     string // "" when none is expected
	}{
		{name: "non-blocking", action: "echo", params: map[string]any{"a": 1}, status: 202, activation: -1},
		{name: "blocking", action: "echo", params: map[string]any{"a": 1}, opts: client.InvokeOptions{Blocking: true}, status: 200, activation: core.StatusSuccess, result: `{"a":1}`},
		{name: "result", action: "echo", params: json.RawMessage(`{"a":"x"}`), opts: client.InvokeOptions{Result: true}, status: 200, activation: -1, result: `{"a":"x"}`},
		{name: "no params", action: "echo", params: nil, opts: client.InvokeOptions{Result: true}, status: 200, activation: -1, result: `{}`},
		{name: "blocking failure", action: "echo", params: map[string]any{"error": "boom"}, opts: client.InvokeOptions{Blocking: true}, status: 502, activation: core.StatusApplicationError, result: `{"error":"boom"}`},
		{name: "result failure", action: "echo", params: []byte(`{"error":"boom"}`), opts: client.InvokeOptions{Result: true}, status: 502, activation: -1, result: `{"error":"boom"}`},
		{name: "developer error", action: "exit3", opts: client.InvokeOptions{Blocking: true}, status: 502, activation: core.StatusDeveloperError, result: `{"error":"the action exited with code 3"}`},
		{name: "developer error, result", action: "exit3", opts: client.InvokeOptions{Result: true}, status: 502, activation: -1, result: `{"error":"the action exited with code 3"}`},
		{name: "blocking wait runs out", action: "slow", opts: client.InvokeOptions{Blocking: true, Timeout: 20 * time.Millisecond}, status: 202, activation: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.Invoke(ctx, tt.action, tt.params, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status || !core.ValidActivationID(r.ActivationID) {
				t.Fatalf("status %d id %q, want %d and an id; body %s", r.Status, r.ActivationID, tt.status, r.Body)
			}
			if (r.Activation != nil) != (tt.activation >= 0) {
				t.Fatalf("activation decoded = %v, want %v", r.Activation != nil, tt.activation >= 0)
			}
			if r.Activation != nil && (r.Activation.ActivationID != r.ActivationID || r.Activation.Response.StatusCode != tt.activation) {
				t.Fatalf("record id %s status %d; header id %s, want status %d", r.Activation.ActivationID, r.Activation.Response.StatusCode, r.ActivationID, tt.activation)
			}
			if got := compact(t, r.Result()); got != tt.result {
				t.Fatalf("Result() = %s, want %s", got, tt.result)
			}
			if r.Failed() != (tt.status == 502) || r.Done() != (tt.status != 202) {
				t.Fatalf("Failed() = %v, Done() = %v at status %d", r.Failed(), r.Done(), r.Status)
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
// (an API error body, a proxy page) as an *APIError. TestInvoke has the
// answers a Wisp node gives to actions that fail; these are the ones it
// cannot be made to give (a platform error, a 502 without the activation
// header, a proxy in between), each canned by a plain HTTP server.
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
		{name: "502 record, no header", status: 502, body: record},
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
	putAction(t, c, "a", wasmtest.Action{})
	putAction(t, c, "b", wasmtest.Action{})
	before := time.Now().UnixMilli()
	var ids []string
	for _, name := range []string{"a", "b", "a"} {
		nextMillisecond() // see TestActivationsListNewestFirst
		r, err := c.Invoke(ctx, name, map[string]any{"n": name}, client.InvokeOptions{Blocking: true})
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("invoke %s: %+v, %v", name, r, err)
		}
		ids = append(ids, r.ActivationID)
	}

	// A blocking invoke answers once the record is stored: no waiting.
	list, err := c.ListActivations(ctx, client.ActivationFilter{Name: "a"})
	if err != nil || len(list) != 2 || list[0].ActivationID != ids[2] || list[1].ActivationID != ids[0] {
		t.Fatalf("list name=a: %+v, %v", list, err)
	}
	if list[0].Response.Result != nil || list[0].Logs != nil || list[0].StatusCode != core.StatusSuccess {
		t.Fatalf("summary: %+v", list[0])
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
	if err != nil || act.Name != "b" || !act.Response.Success || act.ActivationID != ids[1] {
		t.Fatalf("GetActivation: %+v, %v", act, err)
	}
	logs, err := c.ActivationLogs(ctx, ids[1])
	if err != nil || len(logs) != 1 || !logLine.MatchString(logs[0]) || !strings.HasSuffix(logs[0], " stderr: "+echoLog) {
		t.Fatalf("ActivationLogs: %q, %v", logs, err)
	}
	res, err := c.ActivationResult(ctx, ids[1])
	if err != nil || res.Status != "success" || !res.Success || compact(t, res.Result) != `{"n":"b"}` {
		t.Fatalf("ActivationResult: %+v, %v", res, err)
	}
	if _, err := c.GetActivation(ctx, strings.Repeat("0", 32)); !client.IsNotFound(err) {
		t.Fatalf("GetActivation of an unknown id: %v", err)
	}
}

// TestActivationsListNewestFirst checks that activations are listed newest
// first also when they follow each other within a millisecond, as
// sequential blocking invokes of a small Wasm action do on this node.
func TestActivationsListNewestFirst(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	putAction(t, c, "a", wasmtest.Action{})
	const n = 30
	var ids []string
	for range n {
		r, err := c.Invoke(ctx, "a", nil, client.InvokeOptions{Blocking: true})
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("invoke: %+v, %v", r, err)
		}
		ids = append([]string{r.ActivationID}, ids...)
	}
	list, err := c.ListActivations(ctx, client.ActivationFilter{Limit: n})
	if err != nil || len(list) != n {
		t.Fatalf("ListActivations: %d, %v", len(list), err)
	}
	var got []string
	for _, a := range list {
		got = append(got, a.ActivationID)
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Fatalf("listed, newest first:\n%s\ninvoked, newest first:\n%s", strings.Join(got, "\n"), strings.Join(ids, "\n"))
	}
}

// nextMillisecond waits until the clock has passed the current
// millisecond, so that an activation started next has a later id and start
// than those started before.
func nextMillisecond() {
	for now := time.Now().UnixMilli(); time.Now().UnixMilli() == now; {
		time.Sleep(100 * time.Microsecond)
	}
}

// logLine is a log line as the Wasm runtime records it.
var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stderr: `)

// TestNonBlockingActivationIsRecorded checks that the id a non-blocking
// invoke returns names the record that appears once the action ran.
func TestNonBlockingActivationIsRecorded(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	putAction(t, c, "echo", wasmtest.Action{})
	r, err := c.Invoke(ctx, "echo", map[string]int{"x": 1}, client.InvokeOptions{})
	if err != nil || r.Status != http.StatusAccepted {
		t.Fatalf("invoke: %+v, %v", r, err)
	}
	var res *core.Response
	checkFor(t, 10*time.Second, func() error {
		res, err = c.ActivationResult(ctx, r.ActivationID)
		return err
	})
	if compact(t, res.Result) != `{"x":1}` {
		t.Fatalf("result %s", res.Result)
	}
}

// checkFor polls cond until it returns nil, failing the test with its last
// error after within.
func checkFor(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKeepAlive checks that sequential calls reuse one connection.
func TestKeepAlive(t *testing.T) {
	c, _ := newClient(t)
	var conns, reused atomic.Int32
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				reused.Add(1)
			} else {
				conns.Add(1)
			}
		},
	})
	for range 50 {
		if _, err := c.ListNamespaces(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, r := conns.Load(), reused.Load(); n != 1 || r != 49 {
		t.Fatalf("50 calls opened %d connections and reused one %d times; want 1 and 49", n, r)
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

// TestAPIHostForms checks that the forms of the API host a user may give
// reach the server, with the key sent as HTTP Basic.
func TestAPIHostForms(t *testing.T) {
	ns := newNamespace(t)
	hostPort := strings.TrimPrefix(ns.host, "http://")
	for _, host := range []string{ns.host, hostPort, ns.host + "/", ns.host + "/api/v1/", " " + hostPort + " "} {
		c, err := client.New(host, ns.auth)
		if err != nil {
			t.Fatalf("New(%q): %v", host, err)
		}
		if c.Host() != ns.host {
			t.Errorf("New(%q).Host() = %q, want %q", host, c.Host(), ns.host)
		}
		if got, err := c.ListNamespaces(context.Background()); err != nil || len(got) != 1 || got[0] != ns.name {
			t.Errorf("New(%q).ListNamespaces() = %v, %v", host, got, err)
		}
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
