// Package clienttest is a small in-memory stand-in for the OpenWhisk v1 API
// as Wisp serves it, for testing code built on package client (the client
// itself and the wisp CLI) without a real server.
//
// It implements namespaces, actions (put, get, list, delete, invoke) and
// activations (list, get, logs, result) with OpenWhisk's paths, JSON shapes,
// status codes and error bodies. It runs actions by calling Server.Run, not
// code. It is a test double: the real gateway is tested end to end against
// wispd, and where the two differ, wispd is right.
package clienttest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispfaas/wisp/core"
)

// GuestAuth is the auth key a Server accepts unless told otherwise
// (OpenWhisk's well-known guest key).
const GuestAuth = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

// Outcome is what running an action produced.
type Outcome struct {
	// StatusCode is core.StatusSuccess or one of the error codes.
	StatusCode int
	// Result is the result object; nil stands for {}.
	Result json.RawMessage
	// Logs are the activation's log lines.
	Logs []string
	// Delay is how long the activation takes before its record exists.
	Delay time.Duration
}

// RunFunc computes the outcome of invoking action a with the merged
// parameters params (a JSON object).
type RunFunc func(a core.Action, params map[string]any) Outcome

// Echo is the default RunFunc: the result is the parameters, and one log
// line says so. Parameters with an "error" key make an application error
// whose result is {"error": <that value>}.
func Echo(a core.Action, params map[string]any) Outcome {
	if e, ok := params["error"]; ok {
		res, _ := json.Marshal(map[string]any{"error": e})
		return Outcome{StatusCode: core.StatusApplicationError, Result: res, Logs: []string{"2024-01-01T00:00:00.000Z stderr: failing on purpose"}}
	}
	res, _ := json.Marshal(params)
	return Outcome{Result: res, Logs: []string{fmt.Sprintf("2024-01-01T00:00:00.000Z stdout: %s got %d parameters", a.Name, len(params))}}
}

// Server is a running stand-in. Set Run before sending requests; other
// methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL, "http://127.0.0.1:port".
	URL string
	// Auth is the one auth key accepted.
	Auth string
	// Namespace is the namespace of Auth.
	Namespace string
	// Run runs actions; Echo by default.
	Run RunFunc

	requests atomic.Int64

	mu          sync.Mutex
	actions     map[string]*stored // by relative name "name" or "pkg/name"
	activations []*record          // in creation order
	warm        map[string]bool    // actions invoked before: the next start is warm
}

type stored struct {
	action core.Action // as answered, without code
	code   string      // exec.code as received
}

type record struct {
	act  core.Activation
	name string // relative name of the action
}

// NewServer starts a Server on a loopback port and closes it when the test
// ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Auth:      GuestAuth,
		Namespace: "guest",
		Run:       Echo,
		actions:   map[string]*stored{},
		warm:      map[string]bool{},
	}
	hs := httptest.NewServer(s.handler())
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// Requests returns how many requests the server has received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Action returns the stored action name ("name" or "pkg/name") with
// Exec.Code as it was sent, and whether it exists.
func (s *Server) Action(name string) (core.Action, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.actions[name]
	if !ok {
		return core.Action{}, false
	}
	a := st.action
	a.Exec.Code = st.code
	return a, true
}

// AddActivation stores a record as if an action named by its Name had run.
func (s *Server) AddActivation(a core.Activation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.activations = append(s.activations, &record{act: a, name: a.Name})
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	const ns = "/api/v1/namespaces/{ns}"
	mux.HandleFunc("GET /api/v1/namespaces", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []string{s.Namespace})
	})
	mux.HandleFunc("GET "+ns+"/actions", s.listActions)
	mux.HandleFunc("PUT "+ns+"/actions/{name...}", s.putAction)
	mux.HandleFunc("GET "+ns+"/actions/{name...}", s.getAction)
	mux.HandleFunc("DELETE "+ns+"/actions/{name...}", s.deleteAction)
	mux.HandleFunc("POST "+ns+"/actions/{name...}", s.invoke)
	mux.HandleFunc("GET "+ns+"/activations", s.listActivations)
	mux.HandleFunc("GET "+ns+"/activations/{id}", s.getActivation)
	mux.HandleFunc("GET "+ns+"/activations/{id}/logs", s.getActivation)
	mux.HandleFunc("GET "+ns+"/activations/{id}/result", s.getActivation)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, core.MsgNotFound)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		user, pass, ok := r.BasicAuth()
		switch {
		case !ok:
			writeError(w, http.StatusUnauthorized, core.MsgNoAuth)
			return
		case user+":"+pass != s.Auth:
			writeError(w, http.StatusUnauthorized, core.MsgUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// namespaceOK checks the {ns} of the path and answers 403 when it is not the
// caller's.
func (s *Server) namespaceOK(w http.ResponseWriter, r *http.Request) bool {
	if ns := r.PathValue("ns"); ns != core.DefaultNamespace && ns != s.Namespace {
		writeError(w, http.StatusForbidden, fmt.Sprintf(core.MsgNotAuthorized, ns))
		return false
	}
	return true
}

func (s *Server) putAction(w http.ResponseWriter, r *http.Request) {
	if !s.namespaceOK(w, r) {
		return
	}
	name := r.PathValue("name")
	p, err := core.ParseActionName(s.Namespace, name)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "The request content could not be read.")
		return
	}
	var put core.ActionPut
	if err := core.DecodeStrict(body, &put); err != nil {
		writeError(w, http.StatusBadRequest, "The request content was malformed: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.actions[name]
	if exists && r.URL.Query().Get("overwrite") != "true" {
		writeError(w, http.StatusConflict, core.MsgConflict)
		return
	}
	st := &stored{}
	if exists {
		*st = *old
		st.action.Version = core.NextVersion(old.action.Version)
	} else {
		if put.Exec == nil {
			writeError(w, http.StatusBadRequest, "The action has no exec: give its kind and code.")
			return
		}
		st.action = core.Action{
			Namespace: p.Qualified(), Name: p.Name, Version: "0.0.1",
			Limits: core.DefaultLimits(), Annotations: core.KeyValues{}, Parameters: core.KeyValues{},
		}
	}
	if put.Exec != nil {
		e := *put.Exec
		if !slices.Contains(core.KnownKinds(), e.Kind) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("The kind %q is not known.", e.Kind))
			return
		}
		code := []byte(e.Code)
		if e.Binary {
			if code, err = base64.StdEncoding.DecodeString(e.Code); err != nil {
				writeError(w, http.StatusBadRequest, "The code is marked binary but is not valid base64.")
				return
			}
		} else if e.Kind == "wasm" || e.Kind == "native" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("The code of a %s action must be binary (base64).", e.Kind))
			return
		}
		sum := sha256.Sum256(code)
		st.code = e.Code
		e.Code, e.Digest, e.Size = "", "sha256:"+hex.EncodeToString(sum[:]), int64(len(code))
		st.action.Exec = e
	}
	for _, kv := range []struct {
		what string
		in   core.KeyValues
		dst  *core.KeyValues
	}{{"parameter", put.Parameters, &st.action.Parameters}, {"annotation", put.Annotations, &st.action.Annotations}} {
		if kv.in == nil {
			continue
		}
		if err := kv.in.Validate(kv.what); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		*kv.dst = kv.in
	}
	if st.action.Limits, err = put.Limits.Apply(st.action.Limits); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if put.Publish != nil {
		st.action.Publish = *put.Publish
	}
	st.action.Updated = time.Now().UnixMilli()
	s.actions[name] = st
	writeJSON(w, http.StatusOK, st.action)
}

func (s *Server) getAction(w http.ResponseWriter, r *http.Request) {
	if !s.namespaceOK(w, r) {
		return
	}
	a, ok := s.Action(r.PathValue("name"))
	if !ok {
		writeError(w, http.StatusNotFound, core.MsgNotFound)
		return
	}
	if r.URL.Query().Get("code") == "false" {
		a.Exec.Code = ""
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) deleteAction(w http.ResponseWriter, r *http.Request) {
	if !s.namespaceOK(w, r) {
		return
	}
	name := r.PathValue("name")
	s.mu.Lock()
	st, ok := s.actions[name]
	delete(s.actions, name)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, core.MsgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, st.action)
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	if !s.namespaceOK(w, r) {
		return
	}
	limit, skip, ok := page(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	out := make([]core.Action, 0, len(s.actions))
	for _, st := range s.actions {
		out = append(out, st.action)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Path().Relative() < out[j].Path().Relative() })
	writeJSON(w, http.StatusOK, window(out, limit, skip))
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	if !s.namespaceOK(w, r) {
		return
	}
	name := r.PathValue("name")
	a, ok := s.Action(name)
	if !ok {
		writeError(w, http.StatusNotFound, core.MsgNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "The request content could not be read.")
		return
	}
	params := map[string]any{}
	for _, p := range a.Parameters {
		var v any
		_ = json.Unmarshal(p.Value, &v)
		params[p.Key] = v
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil || in == nil {
			writeError(w, http.StatusBadRequest, "The request content was malformed: the parameters must be a JSON object.")
			return
		}
		for k, v := range in {
			params[k] = v
		}
	}
	q := r.URL.Query()
	result := q.Get("result") == "true"
	blocking := result || q.Get("blocking") == "true"
	wait := 60 * time.Second
	if t := q.Get("timeout"); t != "" {
		ms, err := strconv.Atoi(t)
		if err != nil || ms <= 0 {
			writeError(w, http.StatusBadRequest, "The timeout must be a positive number of milliseconds.")
			return
		}
		wait = time.Duration(ms) * time.Millisecond
	}

	out := s.Run(a, params)
	if out.Result == nil {
		out.Result = json.RawMessage("{}")
	}
	start := time.Now()
	rec := &record{name: name}
	rec.act = core.Activation{
		Namespace: s.Namespace, Name: a.Name, Version: a.Version, Subject: s.Namespace,
		ActivationID: core.NewActivationID(start), Start: start.UnixMilli(),
		StatusCode: out.StatusCode, Response: core.NewResponse(out.StatusCode, out.Result), Logs: out.Logs,
		Annotations: core.KeyValues{}.Set("path", a.Path().String()[1:]).Set("kind", a.Exec.Kind).
			Set("limits", a.Limits).Set("waitTime", 1),
	}
	if rec.act.Logs == nil {
		rec.act.Logs = []string{}
	}
	s.mu.Lock()
	if !s.warm[name] {
		rec.act.Annotations = rec.act.Annotations.Set("initTime", 3)
		s.warm[name] = true
	}
	s.mu.Unlock()
	done := make(chan struct{})
	finish := func() {
		time.Sleep(out.Delay)
		end := time.Now()
		rec.act.End = end.UnixMilli()
		rec.act.Duration = end.Sub(start).Milliseconds()
		s.mu.Lock()
		s.activations = append(s.activations, rec)
		s.mu.Unlock()
		close(done)
	}
	id := rec.act.ActivationID
	w.Header().Set("X-Openwhisk-Activation-Id", id)
	if out.Delay == 0 {
		finish()
	} else {
		go finish()
	}
	if blocking {
		select {
		case <-done:
		case <-time.After(wait):
			blocking = false
		case <-r.Context().Done():
			return
		}
	}
	if !blocking {
		writeJSON(w, http.StatusAccepted, map[string]string{"activationId": id})
		return
	}
	status := http.StatusOK
	switch out.StatusCode {
	case core.StatusApplicationError, core.StatusDeveloperError:
		status = http.StatusBadGateway
	case core.StatusInternalError:
		status = http.StatusInternalServerError
	}
	if result {
		writeJSON(w, status, out.Result)
		return
	}
	s.mu.Lock()
	act := rec.act
	s.mu.Unlock()
	writeJSON(w, status, act)
}

func (s *Server) listActivations(w http.ResponseWriter, r *http.Request) {
	if !s.namespaceOK(w, r) {
		return
	}
	limit, skip, ok := page(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var since, upto int64
	for _, f := range []struct {
		key string
		dst *int64
	}{{"since", &since}, {"upto", &upto}} {
		if v := q.Get(f.key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("The %s parameter must be milliseconds since the epoch.", f.key))
				return
			}
			*f.dst = n
		}
	}
	name, docs := q.Get("name"), q.Get("docs") == "true"
	s.mu.Lock()
	var recs []core.Activation
	for _, rec := range slices.Backward(s.activations) { // newest first
		a := rec.act
		if (name != "" && rec.name != name) || (since > 0 && a.Start < since) || (upto > 0 && a.Start > upto) {
			continue
		}
		recs = append(recs, a)
	}
	s.mu.Unlock()
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Start > recs[j].Start })
	recs = window(recs, limit, skip)
	if docs {
		writeJSON(w, http.StatusOK, recs)
		return
	}
	sums := make([]core.ActivationSummary, len(recs))
	for i := range recs {
		sums[i] = recs[i].Summary()
	}
	writeJSON(w, http.StatusOK, sums)
}

// getActivation serves /activations/{id}, /logs and /result.
func (s *Server) getActivation(w http.ResponseWriter, r *http.Request) {
	if !s.namespaceOK(w, r) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	var act *core.Activation
	for _, rec := range s.activations {
		if rec.act.ActivationID == id {
			a := rec.act
			act = &a
		}
	}
	s.mu.Unlock()
	if act == nil {
		writeError(w, http.StatusNotFound, core.MsgNotFound)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/logs"):
		writeJSON(w, http.StatusOK, map[string][]string{"logs": act.Logs})
	case strings.HasSuffix(r.URL.Path, "/result"):
		writeJSON(w, http.StatusOK, act.Response)
	default:
		writeJSON(w, http.StatusOK, act)
	}
}

// page reads limit (default 30, at most 200, as OpenWhisk) and skip.
func page(w http.ResponseWriter, r *http.Request) (limit, skip int, ok bool) {
	limit = 30
	q := r.URL.Query()
	for _, f := range []struct {
		key string
		dst *int
	}{{"limit", &limit}, {"skip", &skip}} {
		if v := q.Get(f.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("The %s parameter must be a non-negative integer.", f.key))
				return 0, 0, false
			}
			*f.dst = n
		}
	}
	if limit > 200 {
		writeError(w, http.StatusBadRequest, "The value of limit exceeds the maximum of 200.")
		return 0, 0, false
	}
	if limit == 0 {
		limit = 200
	}
	return limit, skip, true
}

func window[T any](xs []T, limit, skip int) []T {
	if skip >= len(xs) {
		return []T{}
	}
	xs = xs[skip:]
	if len(xs) > limit {
		xs = xs[:limit]
	}
	return xs
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers OpenWhisk's error body with a fresh transaction code.
func writeError(w http.ResponseWriter, status int, msg string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	writeJSON(w, status, map[string]string{"error": msg, "code": hex.EncodeToString(b[:])})
}
