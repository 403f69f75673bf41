package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var activationIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestMeta(t *testing.T) {
	t.Parallel()
	d := shared(t)
	anon := &api{url: d.url}

	ping := anon.get(t, "/ping").want(t, http.StatusOK).object(t)
	if ping["ping"] != "pong" {
		t.Errorf("GET /ping = %v, want {ping: pong}", ping)
	}
	info := anon.get(t, "/api/v1").want(t, http.StatusOK).object(t)
	if info["api_version_path"] != "v1" || info["api_version"] == nil || info["description"] == nil {
		t.Errorf("GET /api/v1 = %v", info)
	}
	root := anon.get(t, "/").want(t, http.StatusOK).object(t)
	if paths, _ := root["api_paths"].([]any); !slices.Contains(paths, any("/api/v1")) {
		t.Errorf("GET / api_paths = %v, want /api/v1 in it", root["api_paths"])
	}
	limits, _ := root["limits"].(map[string]any)
	if kinds, _ := limits["runnable_kinds"].([]any); !slices.Contains(kinds, any("wasm")) {
		t.Errorf("GET / limits.runnable_kinds = %v, want wasm in it", limits["runnable_kinds"])
	}

	a := d.namespace(t)
	var nss []string
	a.get(t, "/api/v1/namespaces").want(t, http.StatusOK).decode(t, &nss)
	if !slices.Equal(nss, []string{a.ns}) {
		t.Errorf("GET /api/v1/namespaces = %q, want [%q]", nss, a.ns)
	}
	d.guest(t).get(t, "/api/v1/namespaces").want(t, http.StatusOK).decode(t, &nss)
	if !slices.Equal(nss, []string{"guest"}) {
		t.Errorf("GET /api/v1/namespaces as guest = %q, want [guest]", nss)
	}
	anon.get(t, "/api/v1/namespaces").wantError(t, http.StatusUnauthorized)

	// First start: the guest namespace is created and the line that
	// points the CLI at the server is printed.
	want := fmt.Sprintf("wisp property set --apihost %s --auth %s", d.url, d.guestAuth(t))
	if !strings.Contains(d.stdout.String(), want) {
		t.Errorf("wispd's first start did not print %q; stdout:\n%s", want, d.stdout.String())
	}

	anon.get(t, "/api/v1/no/such/path").wantError(t, http.StatusUnauthorized)
	a.get(t, "/api/v1/namespaces/_/nothing").wantError(t, http.StatusNotFound)
}

func TestActionLifecycle(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	code := wasmBase64(t, "hello")

	created := a.createAction(t, "hello", "hello", map[string]any{
		"parameters":  kv("name", "Default", "n", 1),
		"annotations": kv("description", "says hello"),
		"limits":      map[string]any{"timeout": 10000, "memory": 128, "logs": 1},
	})
	var act struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Version   string `json:"version"`
		Publish   *bool  `json:"publish"`
		Exec      struct {
			Kind   string  `json:"kind"`
			Binary bool    `json:"binary"`
			Code   *string `json:"code"`
		} `json:"exec"`
		Limits      map[string]int `json:"limits"`
		Parameters  []keyValue     `json:"parameters"`
		Annotations []keyValue     `json:"annotations"`
		Updated     int64          `json:"updated"`
	}
	remarshal(t, created, &act)
	if act.Namespace != a.ns || act.Name != "hello" || act.Version != "0.0.1" || act.Publish == nil || *act.Publish {
		t.Errorf("created action: namespace %q name %q version %q publish %v; want %q hello 0.0.1 false", act.Namespace, act.Name, act.Version, act.Publish, a.ns)
	}
	if act.Exec.Kind != "wasm" || !act.Exec.Binary {
		t.Errorf("created action exec: kind %q binary %v, want wasm true", act.Exec.Kind, act.Exec.Binary)
	}
	wantLimits := map[string]int{"timeout": 10000, "memory": 128, "logs": 1, "concurrency": 1}
	if fmt.Sprint(act.Limits) != fmt.Sprint(wantLimits) {
		t.Errorf("created action limits %v, want %v", act.Limits, wantLimits)
	}
	if len(act.Parameters) != 2 || act.Parameters[0].Key != "name" || string(act.Parameters[0].Value) != `"Default"` {
		t.Errorf("created action parameters %s", mustJSON(act.Parameters))
	}
	if !hasKV(act.Annotations, "description", `"says hello"`) || !hasKV(act.Annotations, "exec", `"wasm"`) {
		t.Errorf("created action annotations %s, want description and exec=wasm", mustJSON(act.Annotations))
	}
	if act.Updated <= 0 {
		t.Errorf("created action updated = %d", act.Updated)
	}

	// No overwrite: 409, nothing changes.
	a.do(t, "PUT", actionsPath+"/hello", map[string]any{"exec": wasmExec(t, "hello")}).wantError(t, http.StatusConflict, "exists")
	a.do(t, "PUT", actionsPath+"/hello?overwrite=false", map[string]any{"exec": wasmExec(t, "hello")}).wantError(t, http.StatusConflict)
	if v := a.actionVersion(t, "hello"); v != "0.0.1" {
		t.Errorf("after a refused create, version %q, want 0.0.1", v)
	}

	// GET with and without code.
	got := a.get(t, actionsPath+"/hello").want(t, http.StatusOK).object(t)
	if exec, _ := got["exec"].(map[string]any); exec["code"] != code {
		t.Errorf("GET action: exec.code is not the code uploaded (%.40v...)", exec["code"])
	}
	got = a.get(t, actionsPath+"/hello?code=true").want(t, http.StatusOK).object(t)
	if exec, _ := got["exec"].(map[string]any); exec["code"] != code {
		t.Errorf("GET action?code=true: exec.code is not the code uploaded")
	}
	got = a.get(t, actionsPath+"/hello?code=false").want(t, http.StatusOK).object(t)
	if exec, _ := got["exec"].(map[string]any); exec == nil || exec["code"] != nil || exec["kind"] != "wasm" {
		t.Errorf("GET action?code=false: exec = %v, want kind wasm and no code", exec)
	}

	// overwrite=true replaces and bumps the version.
	upd := a.do(t, "PUT", actionsPath+"/hello?overwrite=true", map[string]any{
		"exec": wasmExec(t, "hello"), "limits": map[string]any{"timeout": 20000},
	}).want(t, http.StatusOK).object(t)
	if upd["version"] != "0.0.2" {
		t.Errorf("overwrite: version %v, want 0.0.2", upd["version"])
	}
	if lim, _ := upd["limits"].(map[string]any); lim["timeout"] != 20000.0 || lim["memory"] != 128.0 {
		t.Errorf("overwrite with a new timeout: limits %v, want timeout 20000 and memory kept at 128", lim)
	}
	// An update without exec keeps the code.
	a.do(t, "PUT", actionsPath+"/hello?overwrite=true", map[string]any{"parameters": kv("name", "Other")}).want(t, http.StatusOK)
	got = a.get(t, actionsPath+"/hello").want(t, http.StatusOK).object(t)
	if got["version"] != "0.0.3" {
		t.Errorf("second overwrite: version %v, want 0.0.3", got["version"])
	}
	if exec, _ := got["exec"].(map[string]any); exec["code"] != code {
		t.Errorf("an update without exec lost the code")
	}
	res := a.invoke(t, "hello", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t)
	if res["greeting"] != "Hello, Other!" {
		t.Errorf("after the update, result %v, want the new default parameter", res)
	}

	// List, with limit and skip, in a namespace of 3 actions.
	a.createAction(t, "second", "hello", nil)
	a.createAction(t, "third", "hello", nil)
	all := a.listActions(t, "")
	if names := actionNames(all); len(names) != 3 || !sameSet(names, []string{"hello", "second", "third"}) {
		t.Fatalf("list: %q, want hello, second and third", names)
	}
	for i, x := range all {
		if exec, _ := x["exec"].(map[string]any); exec["code"] != nil {
			t.Errorf("list entry %v carries its code", x["name"])
		}
		if x["namespace"] != a.ns {
			t.Errorf("list entry %v has namespace %v", x["name"], x["namespace"])
		}
		if i > 0 && x["updated"].(float64) > all[i-1]["updated"].(float64) {
			t.Errorf("list is not most recently updated first: %q", actionNames(all))
		}
	}
	if names := actionNames(a.listActions(t, "/")); !slices.Equal(names, actionNames(all)) {
		t.Errorf("GET actions/ = %q, want %q", names, actionNames(all))
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"?limit=2", actionNames(all)[:2]},
		{"?limit=2&skip=2", actionNames(all)[2:]},
		{"?skip=1", actionNames(all)[1:]},
		{"?skip=3", nil},
		{"?limit=0", actionNames(all)},
		{"?limit=1&skip=1", actionNames(all)[1:2]},
	} {
		if got := actionNames(a.listActions(t, tc.q)); !slices.Equal(got, tc.want) {
			t.Errorf("list%s = %q, want %q", tc.q, got, tc.want)
		}
	}

	// Delete: the action is returned, then gone.
	del := a.do(t, "DELETE", actionsPath+"/third", nil).want(t, http.StatusOK).object(t)
	if del["name"] != "third" {
		t.Errorf("DELETE answered %v, want the deleted action", del)
	}
	a.get(t, actionsPath+"/third").wantError(t, http.StatusNotFound)
	a.do(t, "DELETE", actionsPath+"/third", nil).wantError(t, http.StatusNotFound)
	a.invoke(t, "third", "blocking=true", nil).wantError(t, http.StatusNotFound)
	if names := actionNames(a.listActions(t, "")); !sameSet(names, []string{"hello", "second"}) {
		t.Errorf("after delete, list %q", names)
	}
	// It can be created again, from version 0.0.1.
	if again := a.createAction(t, "third", "hello", nil); again["version"] != "0.0.1" {
		t.Errorf("re-created action has version %v, want 0.0.1", again["version"])
	}
}

func TestPackageAction(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	created := a.createAction(t, "tools/hello", "hello", nil)
	if created["namespace"] != a.ns+"/tools" || created["name"] != "hello" {
		t.Errorf("created tools/hello: namespace %v name %v, want %s/tools hello", created["namespace"], created["name"], a.ns)
	}
	got := a.get(t, actionsPath+"/tools/hello?code=false").want(t, http.StatusOK).object(t)
	if got["namespace"] != a.ns+"/tools" || got["version"] != "0.0.1" {
		t.Errorf("GET tools/hello: %v", got)
	}
	a.get(t, actionsPath+"/hello").wantError(t, http.StatusNotFound)
	a.get(t, actionsPath+"/other/hello").wantError(t, http.StatusNotFound)

	r := a.invoke(t, "tools/hello", "blocking=true", map[string]any{"name": "Pkg"}).want(t, http.StatusOK)
	rec := r.activation(t)
	var path string
	rec.annotation(t, "path", &path)
	if path != a.ns+"/tools/hello" || rec.Name != "hello" || rec.Response.Result["greeting"] != "Hello, Pkg!" {
		t.Errorf("activation of tools/hello: path %q name %q result %v", path, rec.Name, rec.Response.Result)
	}
	var list []activation
	a.get(t, activationsPath+"?name=tools/hello").want(t, http.StatusOK).decode(t, &list)
	if len(list) != 1 || list[0].ActivationID != rec.ActivationID {
		t.Errorf("activations ?name=tools/hello: %d records, want the one", len(list))
	}
	if names := actionNames(a.listActions(t, "")); !slices.Equal(names, []string{"hello"}) {
		t.Errorf("list: %q, want [hello] (tools/hello)", names)
	}
	a.do(t, "DELETE", actionsPath+"/tools/hello", nil).want(t, http.StatusOK)
	a.get(t, actionsPath+"/tools/hello").wantError(t, http.StatusNotFound)
}

func TestInvoke(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	limits := map[string]any{"timeout": 30000, "memory": 64, "logs": 2}
	a.createAction(t, "hello", "hello", map[string]any{"parameters": kv("name", "Default", "extra", 1), "limits": limits})
	a.createAction(t, "sleep", "sleep", nil)

	t.Run("non-blocking", func(t *testing.T) {
		t.Parallel()
		r := a.invoke(t, "hello", "", map[string]any{"name": "Ann"}).want(t, http.StatusAccepted)
		id := wantAccepted(t, r)
		rec := a.record(t, id)
		if rec.Response == nil || !rec.Response.Success || rec.Response.Result["greeting"] != "Hello, Ann!" {
			t.Errorf("record of a non-blocking invoke: %s", rec.Raw)
		}
		r = a.invoke(t, "hello", "blocking=false", nil).want(t, http.StatusAccepted)
		a.record(t, wantAccepted(t, r))
	})

	t.Run("blocking", func(t *testing.T) {
		t.Parallel()
		r := a.invoke(t, "hello", "blocking=true", map[string]any{"name": "Ann"}).want(t, http.StatusOK)
		rec := r.activation(t)
		if h := r.Header.Get("x-openwhisk-activation-id"); h != rec.ActivationID || !activationIDRE.MatchString(h) {
			t.Errorf("header x-openwhisk-activation-id %q, record %q", h, rec.ActivationID)
		}
		if rec.Namespace != a.ns || rec.Subject != a.ns || rec.Name != "hello" || rec.Version != "0.0.1" {
			t.Errorf("record: namespace %q subject %q name %q version %q", rec.Namespace, rec.Subject, rec.Name, rec.Version)
		}
		if rec.Start <= 0 || rec.End < rec.Start || rec.Duration < 0 || rec.Publish == nil {
			t.Errorf("record times: start %d end %d duration %d publish %v", rec.Start, rec.End, rec.Duration, rec.Publish)
		}
		want := response{Status: "success", StatusCode: 0, Success: true}
		if rec.Response == nil || rec.Response.Status != want.Status || rec.Response.StatusCode != 0 || !rec.Response.Success || rec.StatusCode != 0 {
			t.Errorf("record response %s", rec.Raw)
		} else if rec.Response.Result["greeting"] != "Hello, Ann!" {
			t.Errorf("result %v", rec.Response.Result)
		}
		checkLogs(t, rec.Logs, "hello: greeting Ann", "hello: activation "+rec.ActivationID)
		var path, kind string
		var lim map[string]any
		var wait float64
		if !rec.annotation(t, "path", &path) || path != a.ns+"/hello" {
			t.Errorf("annotation path %q, want %s/hello", path, a.ns)
		}
		if !rec.annotation(t, "kind", &kind) || kind != "wasm" {
			t.Errorf("annotation kind %q, want wasm", kind)
		}
		wantLim := map[string]any{"timeout": 30000.0, "memory": 64.0, "logs": 2.0, "concurrency": 1.0}
		if !rec.annotation(t, "limits", &lim) || fmt.Sprint(lim) != fmt.Sprint(wantLim) {
			t.Errorf("annotation limits %v, want %v", lim, wantLim)
		}
		if !rec.annotation(t, "waitTime", &wait) || wait < 0 {
			t.Errorf("annotation waitTime %v missing or negative", wait)
		}
		// The stored record is the one answered.
		stored := a.get(t, activationsPath+"/"+rec.ActivationID).want(t, http.StatusOK)
		if eq, err := jsonEqual(stored.Body, r.Body); err != nil || !eq {
			t.Errorf("stored record differs from the blocking answer:\nstored %s\nanswer %s", stored.Body, r.Body)
		}
	})

	t.Run("blocking result", func(t *testing.T) {
		t.Parallel()
		r := a.invoke(t, "hello", "blocking=true&result=true", map[string]any{"name": "Ann"}).want(t, http.StatusOK)
		if !activationIDRE.MatchString(r.Header.Get("x-openwhisk-activation-id")) {
			t.Errorf("no activation id header on a result invoke: %v", r.Header)
		}
		if eq, _ := jsonEqual(r.Body, []byte(`{"greeting": "Hello, Ann!", "params": {"name": "Ann", "extra": 1}}`)); !eq {
			t.Errorf("result body %s", r.Body)
		}
	})

	t.Run("default parameters", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ params, want string }{
			{``, `{"name": "Default", "extra": 1}`},
			{`{}`, `{"name": "Default", "extra": 1}`},
			{`{"name": "Ann"}`, `{"name": "Ann", "extra": 1}`},
			{`{"extra": {"deep": [1, 2]}, "more": true}`, `{"name": "Default", "extra": {"deep": [1, 2]}, "more": true}`},
		} {
			var body any
			if tc.params != "" {
				body = tc.params
			}
			res := a.invoke(t, "hello", "blocking=true&result=true", body).want(t, http.StatusOK).object(t)
			got, _ := json.Marshal(res["params"])
			if eq, _ := jsonEqual(got, []byte(tc.want)); !eq {
				t.Errorf("invoke with %q: the action got %s, want %s", tc.params, got, tc.want)
			}
		}
	})

	t.Run("application error", func(t *testing.T) {
		t.Parallel()
		r := a.invoke(t, "hello", "blocking=true", map[string]any{"fail": "no greeting today"}).want(t, http.StatusBadGateway)
		rec := r.activation(t)
		if rec.Response.Status != "application error" || rec.Response.StatusCode != 1 || rec.StatusCode != 1 || rec.Response.Success {
			t.Errorf("application error record: %s", rec.Raw)
		}
		if rec.Response.Result["error"] != "no greeting today" {
			t.Errorf("application error result %v", rec.Response.Result)
		}
		r = a.invoke(t, "hello", "blocking=true&result=true", map[string]any{"fail": "no"}).want(t, http.StatusBadGateway)
		if eq, _ := jsonEqual(r.Body, []byte(`{"error": "no"}`)); !eq {
			t.Errorf("application error with result=true: %s", r.Body)
		}
	})

	t.Run("blocking timeout", func(t *testing.T) {
		t.Parallel()
		r := a.invoke(t, "sleep", "blocking=true&timeout=200", map[string]any{"ms": 3000}).want(t, http.StatusAccepted)
		id := wantAccepted(t, r)
		rec := a.record(t, id)
		if !rec.Response.Success || rec.Response.Result["slept"] != 3000.0 {
			t.Errorf("the slow activation answered with 202 did not finish well: %s", rec.Raw)
		}
		// A blocking timeout longer than the action: the record.
		r = a.invoke(t, "sleep", "blocking=true&timeout=60000", map[string]any{"ms": 1}).want(t, http.StatusOK)
		r.activation(t)
	})
}

// wantAccepted checks a 202 answer: {"activationId": id} and the header.
func wantAccepted(t testing.TB, r *reply) string {
	t.Helper()
	var body map[string]string
	r.decode(t, &body)
	id := body["activationId"]
	if len(body) != 1 || !activationIDRE.MatchString(id) {
		t.Fatalf("202 body %s, want {\"activationId\": <32 hex>}", r.Body)
	}
	if h := r.Header.Get("x-openwhisk-activation-id"); h != id {
		t.Errorf("header x-openwhisk-activation-id %q, body %q", h, id)
	}
	return id
}

func TestActivations(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.createAction(t, "hello", "hello", nil)
	a.createAction(t, "other", "hello", nil)

	// Invoked one after the other: h0 h1 o0 h2 h3.
	var recs []*activation
	for _, call := range []struct{ action, name string }{{"hello", "h0"}, {"hello", "h1"}, {"other", "o0"}, {"hello", "h2"}, {"hello", "h3"}} {
		recs = append(recs, a.invoke(t, call.action, "blocking=true", map[string]any{"name": call.name}).want(t, http.StatusOK).activation(t))
	}
	ids := func(list []*activation) []string {
		out := []string{}
		for _, r := range list {
			out = append(out, r.ActivationID)
		}
		return out
	}
	newest := slices.Clone(recs)
	slices.Reverse(newest)
	filter := func(keep func(*activation) bool) []string {
		var out []*activation
		for _, r := range newest {
			if keep(r) {
				out = append(out, r)
			}
		}
		return ids(out)
	}
	h := func(r *activation) bool { return r.Name == "hello" }

	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"", ids(newest)},
		{"?limit=0", ids(newest)},
		{"?limit=2", ids(newest[:2])},
		{"?limit=2&skip=2", ids(newest[2:4])},
		{"?skip=4", ids(newest[4:])},
		{"?skip=5", []string{}},
		{"?name=hello", filter(h)},
		{"?name=other", ids(recs[2:3])},
		{"?name=hello&limit=1", filter(h)[:1]},
		{"?name=hello&skip=1&limit=2", filter(h)[1:3]},
		{"?name=nothing", []string{}},
		{fmt.Sprintf("?since=%d", recs[2].Start), filter(func(r *activation) bool { return r.Start >= recs[2].Start })},
		{fmt.Sprintf("?upto=%d", recs[1].Start), filter(func(r *activation) bool { return r.Start <= recs[1].Start })},
		{fmt.Sprintf("?since=%d&upto=%d", recs[1].Start, recs[3].Start), filter(func(r *activation) bool { return r.Start >= recs[1].Start && r.Start <= recs[3].Start })},
		{fmt.Sprintf("?since=%d&name=hello", recs[2].Start), filter(func(r *activation) bool { return h(r) && r.Start >= recs[2].Start })},
		{fmt.Sprintf("?since=%d", recs[4].End+60_000), []string{}},
	} {
		r := a.get(t, activationsPath+tc.q).want(t, http.StatusOK)
		var raw []map[string]any
		r.decode(t, &raw)
		got := []string{}
		for _, x := range raw {
			got = append(got, fmt.Sprint(x["activationId"]))
			// Summaries: no response, no logs.
			if _, ok := x["response"]; ok {
				t.Errorf("list%s: an entry without docs=true has a response", tc.q)
			}
			if _, ok := x["logs"]; ok {
				t.Errorf("list%s: an entry without docs=true has logs", tc.q)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("activations%s = %q, want %q", tc.q, got, tc.want)
		}
	}

	// docs=true: whole records, as GET returns them.
	var docs []json.RawMessage
	a.get(t, activationsPath+"?docs=true").want(t, http.StatusOK).decode(t, &docs)
	if len(docs) != len(recs) {
		t.Fatalf("docs=true listed %d records, want %d", len(docs), len(recs))
	}
	for i, doc := range docs {
		var rec activation
		if err := json.Unmarshal(doc, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.ActivationID != newest[i].ActivationID || rec.Response == nil || rec.Response.Result["greeting"] == nil || len(rec.Logs) == 0 {
			t.Errorf("docs=true entry %d: %s", i, doc)
		}
		if eq, _ := jsonEqual(doc, newest[i].Raw); !eq {
			t.Errorf("docs=true entry %d differs from the blocking answer:\n%s\n%s", i, doc, newest[i].Raw)
		}
	}

	// One activation, its logs and its result.
	rec := recs[1]
	got := a.get(t, activationsPath+"/"+rec.ActivationID).want(t, http.StatusOK)
	if eq, _ := jsonEqual(got.Body, rec.Raw); !eq {
		t.Errorf("GET activation = %s, want %s", got.Body, rec.Raw)
	}
	var logs map[string][]string
	a.get(t, activationsPath+"/"+rec.ActivationID+"/logs").want(t, http.StatusOK).decode(t, &logs)
	if len(logs) != 1 || !slices.Equal(logs["logs"], rec.Logs) {
		t.Errorf("GET logs = %v, want {logs: %q}", logs, rec.Logs)
	}
	checkLogs(t, logs["logs"], "hello: greeting h1")
	res := a.get(t, activationsPath+"/"+rec.ActivationID+"/result").want(t, http.StatusOK)
	wantRes, _ := json.Marshal(rec.Response)
	if eq, _ := jsonEqual(res.Body, wantRes); !eq {
		t.Errorf("GET result = %s, want %s", res.Body, wantRes)
	}
	var resp map[string]any
	res.decode(t, &resp)
	for _, k := range []string{"status", "statusCode", "success", "result"} {
		if _, ok := resp[k]; !ok {
			t.Errorf("GET result has no %q: %s", k, res.Body)
		}
	}

	// Unknown and malformed ids.
	unknown := strings.Repeat("0", 32)
	for _, p := range []string{unknown, unknown + "/logs", unknown + "/result", "not-an-id", "not-an-id/logs"} {
		a.get(t, activationsPath+"/"+p).wantError(t, http.StatusNotFound)
	}
	// Bad queries.
	for _, q := range []string{"limit=x", "limit=201", "limit=-1", "skip=-1", "skip=x", "since=x", "upto=-5", "docs=maybe", "name=a$b", "name=a/b/c"} {
		a.get(t, activationsPath+"?"+q).wantError(t, http.StatusBadRequest)
	}
}

// Helpers of action tests.

func (a *api) actionVersion(t testing.TB, name string) string {
	t.Helper()
	got := a.get(t, actionsPath+"/"+name+"?code=false").want(t, http.StatusOK).object(t)
	return fmt.Sprint(got["version"])
}

func (a *api) listActions(t testing.TB, q string) []map[string]any {
	t.Helper()
	var out []map[string]any
	a.get(t, actionsPath+q).want(t, http.StatusOK).decode(t, &out)
	return out
}

func actionNames(list []map[string]any) []string {
	var out []string
	for _, x := range list {
		out = append(out, fmt.Sprint(x["name"]))
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func hasKV(list []keyValue, key, value string) bool {
	for _, kv := range list {
		if kv.Key == key {
			eq, _ := jsonEqual(kv.Value, []byte(value))
			return eq
		}
	}
	return false
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func remarshal(t testing.TB, from, to any) {
	t.Helper()
	b, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, to); err != nil {
		t.Fatal(err)
	}
}

// TestActionEnvironment checks the __OW_* variables an action is given.
func TestActionEnvironment(t *testing.T) {
	t.Parallel()
	d := shared(t)
	a := d.namespace(t)
	a.createAction(t, "tools/env", "hello", map[string]any{"limits": map[string]any{"timeout": 7000}})
	rec := a.invoke(t, "tools/env", "blocking=true", map[string]any{"env": true}).want(t, http.StatusOK).activation(t)
	env, _ := rec.Response.Result["env"].(map[string]any)
	for k, want := range map[string]string{
		"__OW_ACTIVATION_ID":  rec.ActivationID,
		"__OW_NAMESPACE":      a.ns,
		"__OW_ACTION_NAME":    "/" + a.ns + "/tools/env",
		"__OW_ACTION_VERSION": "0.0.1",
		"__OW_API_HOST":       d.url,
		"__OW_DEADLINE":       fmt.Sprint(rec.Start + 7000),
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	for k := range env {
		if k == "__OW_API_KEY" {
			t.Errorf("the action was given the caller's key in __OW_API_KEY without asking for it")
		}
	}
}

// TestListCount: count=true answers OpenWhisk's {"<collection>": n}
// instead of the list (the openwhisk npm client's list({count: true})).
func TestListCount(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.createAction(t, "one", "hello", nil)
	a.createAction(t, "two", "hello", nil)
	for range 3 {
		a.invoke(t, "one", "blocking=true", nil).want(t, http.StatusOK)
	}
	for _, tc := range []struct {
		path, key string
		want      float64
	}{
		{actionsPath + "?count=true", "actions", 2},
		{activationsPath + "?count=true", "activations", 3},
		{activationsPath + "?count=true&name=two", "activations", 0},
	} {
		r := a.get(t, tc.path).want(t, http.StatusOK)
		var got map[string]any
		if err := json.Unmarshal(r.Body, &got); err != nil || len(got) != 1 || got[tc.key] != tc.want {
			t.Errorf("GET %s = %.200s, want {%q: %v}", tc.path, r.Body, tc.key, tc.want)
		}
	}
}
