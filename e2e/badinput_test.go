package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// snapshot is what a namespace holds, to check that a refused request
// changed nothing.
type snapshot struct {
	actions     map[string][]byte // GET of every action, with its code
	activations []string          // ids of every activation
}

func (a *api) snapshot(t testing.TB) snapshot {
	t.Helper()
	s := snapshot{actions: map[string][]byte{}}
	for _, x := range a.listActions(t, "?limit=200") {
		name := fmt.Sprint(x["name"])
		if ns := fmt.Sprint(x["namespace"]); strings.Contains(ns, "/") {
			_, pkg, _ := strings.Cut(ns, "/")
			name = pkg + "/" + name
		}
		s.actions[name] = a.get(t, actionsPath+"/"+name).want(t, http.StatusOK).Body
	}
	var list []map[string]any
	a.get(t, activationsPath+"?limit=200").want(t, http.StatusOK).decode(t, &list)
	for _, x := range list {
		s.activations = append(s.activations, fmt.Sprint(x["activationId"]))
	}
	return s
}

func (a *api) wantUnchanged(t testing.TB, before snapshot) {
	t.Helper()
	after := a.snapshot(t)
	for name, b := range before.actions {
		if eq, _ := jsonEqual(b, after.actions[name]); !eq {
			t.Errorf("the action %s changed:\nbefore %.300s\nafter  %.300s", name, b, after.actions[name])
		}
	}
	for name := range after.actions {
		if before.actions[name] == nil {
			t.Errorf("the action %q appeared", name)
		}
	}
	if !sameSet(before.activations, after.activations) {
		t.Errorf("the activations changed: before %q, after %q", before.activations, after.activations)
	}
}

// emptyModule is a valid Wasm module with nothing in it: no _start.
var emptyModule = base64.StdEncoding.EncodeToString([]byte("\x00asm\x01\x00\x00\x00"))

// importsEnvFoo is a valid Wasm module that imports the function env.foo,
// which Wisp does not provide: a type section with one func type () -> (),
// and an import section with "env" "foo" of that type.
const importsEnvFoo = "\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" +
	"\x02\x0b\x01\x03env\x03foo\x00\x00"

func TestBadInput(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.createAction(t, "keep", "hello", map[string]any{"parameters": kv("name", "Keep")})
	before := a.snapshot(t)

	hello := wasmBase64(t, "hello")
	code := func(kind, code string) map[string]any {
		return map[string]any{"exec": map[string]any{"kind": kind, "code": code, "binary": true}}
	}
	withLimits := func(limits string) string {
		return `{"exec": {"kind": "wasm", "binary": true, "code": "` + hello + `"}, "limits": ` + limits + `}`
	}
	withParams := func(params string) string {
		return `{"exec": {"kind": "wasm", "binary": true, "code": "` + hello + `"}, "parameters": ` + params + `}`
	}
	long := strings.Repeat("a", 257)

	cases := []struct {
		name   string
		method string
		path   string // under actionsPath
		body   any
		status int
		says   []string
	}{
		// Bodies that are not the JSON expected.
		{"malformed JSON", "PUT", "/fresh", `{"exec": {"kind": "wasm"`, 400, []string{"malformed"}},
		{"not JSON", "PUT", "/fresh", `exec=wasm`, 400, []string{"malformed"}},
		{"a JSON array", "PUT", "/fresh", `[{"exec": {}}]`, 400, []string{"malformed"}},
		{"trailing data", "PUT", "/fresh", `{} {}`, 400, []string{"malformed"}},
		{"empty body", "PUT", "/fresh", ``, 400, nil},
		{"no exec", "PUT", "/fresh", `{}`, 400, []string{"exec"}},
		{"kind not a string", "PUT", "/fresh", `{"exec": {"kind": 5, "code": "AA=="}}`, 400, []string{"malformed"}},
		{"unknown kind", "PUT", "/fresh", code("cobol:85", hello), 400, []string{"cobol:85"}},
		{"kind not runnable", "PUT", "/fresh", code("sequence", "x"), 400, []string{"sequence"}},
		{"missing code", "PUT", "/fresh", code("wasm", ""), 400, []string{"code"}},
		{"invalid base64", "PUT", "/fresh", code("wasm", "!!not base64!!"), 400, []string{"base64"}},
		{"not a Wasm module", "PUT", "/fresh", code("wasm", base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hi\n"))), 400, []string{"not a WebAssembly module"}},
		{"truncated Wasm module", "PUT", "/fresh", code("wasm", base64.StdEncoding.EncodeToString([]byte("\x00asm\x01\x00\x00\x00\x01\xff\xff"))), 400, []string{"refused"}},
		{"module without _start", "PUT", "/fresh", code("wasm", emptyModule), 400, []string{"_start"}},
		{"module importing env.foo", "PUT", "/fresh", code("wasm", base64.StdEncoding.EncodeToString([]byte(importsEnvFoo))), 400, []string{`"env"`, `"foo"`}},
		{"WebAssembly component", "PUT", "/fresh", code("wasm", base64.StdEncoding.EncodeToString([]byte("\x00asm\x0d\x00\x01\x00"))), 400, []string{"component"}},
		{"WASI reactor", "PUT", "/fresh", code("wasm", wasmBase64(t, reactorAction)), 400, []string{"_start", "reactor"}},
		// Limits and parameters.
		{"timeout below range", "PUT", "/fresh", withLimits(`{"timeout": 99}`), 400, []string{"timeout"}},
		{"timeout above range", "PUT", "/fresh", withLimits(`{"timeout": 300001}`), 400, []string{"timeout"}},
		{"memory below range", "PUT", "/fresh", withLimits(`{"memory": 15}`), 400, []string{"memory"}},
		{"memory above range", "PUT", "/fresh", withLimits(`{"memory": 2049}`), 400, []string{"memory"}},
		{"logs above range", "PUT", "/fresh", withLimits(`{"logs": 11}`), 400, []string{"logs"}},
		{"logs negative", "PUT", "/fresh", withLimits(`{"logs": -1}`), 400, []string{"logs"}},
		{"concurrency 2", "PUT", "/fresh", withLimits(`{"concurrency": 2}`), 400, []string{"concurrency"}},
		{"timeout a string", "PUT", "/fresh", withLimits(`{"timeout": "10s"}`), 400, []string{"malformed"}},
		{"limits not an object", "PUT", "/fresh", withLimits(`[100]`), 400, []string{"malformed"}},
		{"parameter twice", "PUT", "/fresh", withParams(`[{"key": "a", "value": 1}, {"key": "a", "value": 2}]`), 400, []string{"twice"}},
		{"parameter without key", "PUT", "/fresh", withParams(`[{"key": "", "value": 1}]`), 400, []string{"key"}},
		{"parameters not a list", "PUT", "/fresh", withParams(`{"a": 1}`), 400, []string{"malformed"}},
		// Names.
		{"name with $", "PUT", "/a$b", code("wasm", hello), 400, []string{"not valid"}},
		{"name with leading -", "PUT", "/-ab", code("wasm", hello), 400, []string{"not valid"}},
		{"name with trailing space", "PUT", "/ab%20", code("wasm", hello), 400, []string{"not valid"}},
		{"name with a quote", "PUT", "/a%22b", code("wasm", hello), 400, []string{"not valid"}},
		{"name of three parts", "PUT", "/a/b/c", code("wasm", hello), 400, []string{"too many parts"}},
		{"package name invalid", "PUT", "/p$/x", code("wasm", hello), 400, []string{"package"}},
		{"name of 257 characters", "PUT", "/" + long, code("wasm", hello), 400, []string{"257", "256"}},
		{"package of 257 characters", "PUT", "/" + long + "/x", code("wasm", hello), 400, []string{"256"}},
		{"bad overwrite query", "PUT", "/fresh?overwrite=maybe", code("wasm", hello), 400, []string{"overwrite"}},
		// Updates of keep that must leave it as it was.
		{"update with malformed JSON", "PUT", "/keep?overwrite=true", `{"limits": `, 400, []string{"malformed"}},
		{"update with bad code", "PUT", "/keep?overwrite=true", code("wasm", "AAAA"), 400, []string{"WebAssembly"}},
		{"update with a module without _start", "PUT", "/keep?overwrite=true", code("wasm", emptyModule), 400, []string{"_start"}},
		{"update with unknown kind", "PUT", "/keep?overwrite=true", code("cobol", "x"), 400, []string{"cobol"}},
		{"update with bad limits", "PUT", "/keep?overwrite=true", `{"limits": {"timeout": 50}}`, 400, []string{"timeout"}},
		{"update with bad limits and good code", "PUT", "/keep?overwrite=true", withLimits(`{"memory": 1}`), 400, []string{"memory"}},
		{"update without overwrite", "PUT", "/keep", code("wasm", hello), 409, []string{"exists"}},
		// Invocations.
		{"parameters an array", "POST", "/keep?blocking=true", `[1, 2]`, 400, []string{"object"}},
		{"parameters a string", "POST", "/keep?blocking=true", `"Ann"`, 400, []string{"object"}},
		{"parameters a number", "POST", "/keep", `42`, 400, []string{"object"}},
		{"parameters null", "POST", "/keep", `null`, 400, []string{"object"}},
		{"parameters malformed", "POST", "/keep?blocking=true", `{"name": `, 400, []string{"malformed"}},
		{"parameters with trailing data", "POST", "/keep?blocking=true", `{} {}`, 400, nil},
		{"bad blocking query", "POST", "/keep?blocking=maybe", `{}`, 400, []string{"blocking"}},
		{"bad result query", "POST", "/keep?blocking=true&result=maybe", `{}`, 400, []string{"result"}},
		{"timeout query 0", "POST", "/keep?blocking=true&timeout=0", `{}`, 400, []string{"timeout"}},
		{"timeout query not a number", "POST", "/keep?blocking=true&timeout=5s", `{}`, 400, []string{"timeout"}},
		{"timeout query too large", "POST", "/keep?blocking=true&timeout=999999999", `{}`, 400, []string{"timeout"}},
		{"invoke a missing action", "POST", "/nothing?blocking=true", `{}`, 404, nil},
		{"invoke an invalid name", "POST", "/a$b?blocking=true", `{}`, 400, []string{"not valid"}},
		{"invoke body over 1 MB", "POST", "/keep?blocking=true", `{"x": "` + strings.Repeat("x", 1<<20) + `"}`, 413, []string{"limit"}},
		// Reads and deletes.
		{"get with a bad code query", "GET", "/keep?code=maybe", nil, 400, []string{"code"}},
		{"get an invalid name", "GET", "/a$b", nil, 400, []string{"not valid"}},
		{"delete an invalid name", "DELETE", "/a$b", nil, 400, []string{"not valid"}},
		{"delete a missing action", "DELETE", "/nothing", nil, 404, nil},
		{"list with a bad limit", "GET", "?limit=x", nil, 400, []string{"limit"}},
		{"list with a limit over 200", "GET", "?limit=201", nil, 400, []string{"limit"}},
		{"list with a negative skip", "GET", "?skip=-1", nil, 400, []string{"skip"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.do(t, tc.method, actionsPath+tc.path, tc.body).wantError(t, tc.status, tc.says...)
			a.wantUnchanged(t, before)
		})
	}

	t.Run("PUT body of 70 MB", func(t *testing.T) {
		// Sent with its length and "Expect: 100-continue", as curl does:
		// the server refuses it without reading it.
		body := strings.Repeat("A", 70<<20)
		r := a.doRequest(t, "PUT", actionsPath+"/fresh", strings.NewReader(body), int64(len(body)), map[string]string{"Expect": "100-continue"})
		r.wantError(t, http.StatusRequestEntityTooLarge, "limit")
		a.wantUnchanged(t, before)
	})
	t.Run("PUT body of 70 MB without a length", func(t *testing.T) {
		// Chunked: the server finds out while reading.
		body := bytes.Repeat([]byte("A"), 70<<20)
		r := a.doRequest(t, "PUT", actionsPath+"/fresh", io.MultiReader(bytes.NewReader(body)), -1, nil)
		r.wantError(t, http.StatusRequestEntityTooLarge, "limit")
		a.wantUnchanged(t, before)
	})

	// The name limit is inclusive: 256 characters are fine.
	t.Run("name of 256 characters", func(t *testing.T) {
		name := strings.Repeat("b", 256)
		a.createAction(t, name, "hello", nil)
		a.get(t, actionsPath+"/"+name+"?code=false").want(t, http.StatusOK)
		a.do(t, "DELETE", actionsPath+"/"+name, nil).want(t, http.StatusOK)
		a.wantUnchanged(t, before)
	})
	// The action still works.
	res := a.invoke(t, "keep", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t)
	if res["greeting"] != "Hello, Keep!" {
		t.Errorf("keep after the refused requests: %v", res)
	}
}

// doRequest sends body with an explicit length (-1: unknown, chunked) and
// extra headers.
func (a *api) doRequest(t testing.TB, method, path string, body io.Reader, length int64, headers map[string]string) *reply {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if length < 0 {
		req.TransferEncoding = []string{"chunked"}
	}
	user, key, _ := strings.Cut(a.auth, ":")
	req.SetBasicAuth(user, key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return &reply{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: data}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	d := shared(t)
	a := d.namespace(t)
	a.createAction(t, "keep", "hello", nil)
	id := a.invoke(t, "keep", "blocking=true", nil).want(t, http.StatusOK).activation(t).ActivationID
	before := a.snapshot(t)

	uuid, _, _ := strings.Cut(a.auth, ":")
	endpoints := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/namespaces", nil},
		{"GET", actionsPath, nil},
		{"GET", actionsPath + "/keep", nil},
		{"PUT", actionsPath + "/keep?overwrite=true", `{"limits": {"timeout": 1000}}`},
		{"PUT", actionsPath + "/fresh", map[string]any{"exec": wasmExec(t, "hello")}},
		{"DELETE", actionsPath + "/keep", nil},
		{"POST", actionsPath + "/keep?blocking=true", `{}`},
		{"POST", actionsPath + "/keep", `{}`},
		{"GET", activationsPath, nil},
		{"GET", activationsPath + "/" + id, nil},
		{"GET", activationsPath + "/" + id + "/logs", nil},
		{"GET", activationsPath + "/" + id + "/result", nil},
		{"GET", "/api/v1/namespaces/" + a.ns + "/actions/keep", nil},
	}
	creds := []struct {
		name   string
		header string // the whole Authorization header; "" for none
		says   string
	}{
		{"none", "", "requires authentication"},
		{"wrong key", basic(uuid + ":" + strings.Repeat("0", 64)), "invalid"},
		{"unknown uuid", basic("00000000-0000-4000-8000-000000000000:" + strings.Repeat("0", 64)), "invalid"},
		{"no colon", basic(uuid), "invalid"},
		{"empty", basic(""), "authentication"},
		{"not base64", "Basic !!!", "invalid"},
		{"bearer", "Bearer " + a.auth, "authentication"},
	}
	for _, c := range creds {
		t.Run(c.name, func(t *testing.T) {
			for _, e := range endpoints {
				r := a.withHeader(t, e.method, e.path, e.body, c.header)
				r.wantError(t, http.StatusUnauthorized, c.says)
			}
			a.wantUnchanged(t, before)
		})
	}
	// Needs no credentials.
	(&api{url: d.url}).get(t, "/ping").want(t, http.StatusOK)
	(&api{url: d.url}).get(t, "/api/v1").want(t, http.StatusOK)
}

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

// withHeader sends a request with the Authorization header h ("" for none).
func (a *api) withHeader(t testing.TB, method, path string, body any, h string) *reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	case nil:
	default:
		rd = strings.NewReader(mustJSON(b))
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if h != "" {
		req.Header.Set("Authorization", h)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &reply{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: data}
}

func TestNamespaceIsolation(t *testing.T) {
	t.Parallel()
	d := shared(t)
	alice, bob := d.namespace(t), d.namespace(t)
	alice.createAction(t, "secret", "hello", map[string]any{"parameters": kv("name", "Alice")})
	id := alice.invoke(t, "secret", "blocking=true", nil).want(t, http.StatusOK).activation(t).ActivationID
	aliceBefore := alice.snapshot(t)

	// Bob names Alice's namespace: 403 on everything.
	other := "/api/v1/namespaces/" + alice.ns
	for _, e := range []struct {
		method, path string
		body         any
	}{
		{"GET", other + "/actions", nil},
		{"GET", other + "/actions/secret", nil},
		{"PUT", other + "/actions/secret?overwrite=true", map[string]any{"exec": wasmExec(t, "hello")}},
		{"PUT", other + "/actions/planted", map[string]any{"exec": wasmExec(t, "hello")}},
		{"DELETE", other + "/actions/secret", nil},
		{"POST", other + "/actions/secret?blocking=true", `{}`},
		{"POST", other + "/actions/secret", `{}`},
		{"GET", other + "/activations", nil},
		{"GET", other + "/activations/" + id, nil},
		{"GET", other + "/activations/" + id + "/logs", nil},
		{"GET", other + "/activations/" + id + "/result", nil},
	} {
		bob.do(t, e.method, e.path, e.body).wantError(t, http.StatusForbidden, alice.ns)
		d.guest(t).do(t, e.method, e.path, e.body).wantError(t, http.StatusForbidden, alice.ns)
	}
	// In his own namespace Bob finds none of Alice's things.
	bob.get(t, actionsPath+"/secret").wantError(t, http.StatusNotFound)
	bob.invoke(t, "secret", "blocking=true", nil).wantError(t, http.StatusNotFound)
	bob.do(t, "DELETE", actionsPath+"/secret", nil).wantError(t, http.StatusNotFound)
	for _, p := range []string{"", "/logs", "/result"} {
		bob.get(t, activationsPath+"/"+id+p).wantError(t, http.StatusNotFound)
	}
	if got := bob.listActions(t, ""); len(got) != 0 {
		t.Errorf("Bob lists Alice's actions: %q", actionNames(got))
	}
	var acts []any
	bob.get(t, activationsPath).want(t, http.StatusOK).decode(t, &acts)
	if len(acts) != 0 {
		t.Errorf("Bob lists %d activations, want none", len(acts))
	}
	var nss []string
	bob.get(t, "/api/v1/namespaces").want(t, http.StatusOK).decode(t, &nss)
	if len(nss) != 1 || nss[0] != bob.ns {
		t.Errorf("Bob's namespaces: %q", nss)
	}
	alice.wantUnchanged(t, aliceBefore)

	// Bob's own "secret" is his, and leaves Alice's alone.
	if v := bob.createAction(t, "secret", "hello", nil)["version"]; v != "0.0.1" {
		t.Errorf("Bob's secret has version %v", v)
	}
	res := bob.invoke(t, "secret", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t)
	if res["greeting"] != "Hello, stranger!" {
		t.Errorf("Bob's secret answered %v (Alice's default parameters?)", res)
	}
	alice.wantUnchanged(t, aliceBefore)
	// Alice may name her namespace explicitly.
	alice.get(t, other+"/actions/secret?code=false").want(t, http.StatusOK)
	alice.get(t, other+"/activations/"+id).want(t, http.StatusOK)

	// A namespace cannot be created twice.
	if out, err := runWispdAdmin(d.data, "namespace", "create", alice.ns); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("creating namespace %s again: %q, %v; want an error saying it exists", alice.ns, out, err)
	}
}

// TestNameDecodedOnce: a path segment is percent-decoded once. "a%2520b"
// names the action "a%20b", which is not a valid name ('%' is not allowed);
// decoded twice it would become the valid "a b", a different action.
func TestNameDecodedOnce(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.createAction(t, "a b", "hello", nil)
	before := a.snapshot(t)
	for _, m := range []string{"GET", "DELETE", "POST"} {
		a.do(t, m, actionsPath+"/a%2520b?code=false", nil).wantError(t, http.StatusBadRequest, "not valid")
		a.wantUnchanged(t, before)
	}
	a.do(t, "PUT", actionsPath+"/x%2520y", map[string]any{"exec": wasmExec(t, "hello")}).wantError(t, http.StatusBadRequest, "not valid")
	a.wantUnchanged(t, before)
	// The valid name, escaped once, is found.
	a.get(t, actionsPath+"/a%20b?code=false").want(t, http.StatusOK)
}
