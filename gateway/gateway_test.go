package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/queue"
)

func TestMergeParams(t *testing.T) {
	defaults := core.KeyValues{}.Set("name", "default").Set("n", 1)
	tests := []struct {
		defaults core.KeyValues
		body     string
		want     string
		ok       bool
	}{
		{nil, ``, `{}`, true},
		{nil, ` {"a":1} `, `{"a":1}`, true},
		{defaults, `{}`, `{"n":1,"name":"default"}`, true},
		{defaults, `{"name":"Ann"}`, `{"n":1,"name":"Ann"}`, true},
		{defaults, ``, `{"n":1,"name":"default"}`, true},
		{nil, `[1,2]`, ``, false},
		{nil, `"string"`, ``, false},
		{defaults, `{"a":`, ``, false},
		{nil, `{"a":1} trailing`, ``, false},
	}
	for _, tt := range tests {
		got, err := mergeParams(tt.defaults, []byte(tt.body))
		if (err == nil) != tt.ok {
			t.Errorf("mergeParams(%q) err = %v, want ok=%v", tt.body, err, tt.ok)
			continue
		}
		if err != nil {
			if core.ErrorCodeOf(err) != core.CodeInvalid {
				t.Errorf("mergeParams(%q) code = %s", tt.body, core.ErrorCodeOf(err))
			}
			continue
		}
		if string(got) != tt.want {
			t.Errorf("mergeParams(%q) = %s, want %s", tt.body, got, tt.want)
		}
	}
}

func TestErrorsMapToStatusesAndShape(t *testing.T) {
	g := &Gateway{log: discard()}
	tests := []struct {
		err    error
		status int
		msg    string
	}{
		{core.NotFound(), 404, core.MsgNotFound},
		{core.Errorf(core.CodeConflict, core.MsgConflict), 409, core.MsgConflict},
		{core.Errorf(core.CodeInvalid, "bad"), 400, "bad"},
		{core.Errorf(core.CodeTooLarge, "big"), 413, "big"},
		{core.Errorf(core.CodeForbidden, "no"), 403, "no"},
		{&core.Error{Code: core.CodeUnauthorized, Message: core.MsgUnauthorized}, 401, core.MsgUnauthorized},
		{fmt.Errorf("wrapped: %w", core.Errorf(core.CodeUnavailable, "later")), 503, "later"},
		{errors.New("disk on fire"), 500, "An internal error occurred; the server log has the details under this code."},
		{echo.ErrNotFound, 404, core.MsgNotFound},
		{echo.ErrMethodNotAllowed, 405, "The requested method is not allowed on this resource."},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
		g.handleError(tt.err, c)
		var body errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %q: %v", tt.err, rec.Body, err)
		}
		if rec.Code != tt.status || body.Error != tt.msg || len(body.Code) != 32 {
			t.Errorf("%v: got %d %+v, want %d %q", tt.err, rec.Code, body, tt.status, tt.msg)
		}
	}
	for code := range statusOf {
		if statusOf[code] == 0 {
			t.Errorf("code %s has no status", code)
		}
	}
}

type fixedInvokers []queue.InvokerStatus

func (f fixedInvokers) Live() []queue.InvokerStatus { return f }

func TestBalancer(t *testing.T) {
	if _, err := newBalancer(fixedInvokers{}).pick("/guest/a", "wasm"); core.ErrorCodeOf(err) != core.CodeUnavailable {
		t.Fatalf("no invokers: %v", err)
	}
	live := fixedInvokers{{ID: "a", Capacity: 4}, {ID: "b", Capacity: 4}, {ID: "c", Capacity: 4}}
	b := newBalancer(live)
	homes := map[string]int{}
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("/guest/action%d", i)
		first, _ := b.pick(key, "wasm")
		again, _ := b.pick(key, "wasm")
		if first != again {
			t.Fatalf("home of %s moved: %s then %s", key, first, again)
		}
		homes[first]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if homes[id] < 50 {
			t.Errorf("invoker %s is home of only %d of 300 actions: %v", id, homes[id], homes)
		}
	}
	// Removing an invoker moves only the actions it was home of.
	smaller := newBalancer(fixedInvokers{{ID: "a", Capacity: 4}, {ID: "b", Capacity: 4}})
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("/guest/action%d", i)
		before, _ := b.pick(key, "wasm")
		after, _ := smaller.pick(key, "wasm")
		if before != "c" && before != after {
			t.Fatalf("%s moved from %s to %s though %s stayed", key, before, after, before)
		}
	}
	// A full home sends work to the least busy invoker.
	home, _ := b.pick("/guest/x", "wasm")
	var busy fixedInvokers
	for _, st := range live {
		if st.ID == home {
			st.Busy = 4
		}
		busy = append(busy, st)
	}
	busy[0].Busy, busy[1].Busy, busy[2].Busy = max(busy[0].Busy, 1), max(busy[1].Busy, 2), max(busy[2].Busy, 3)
	if got, _ := newBalancer(busy).pick("/guest/x", "wasm"); got == home {
		t.Fatalf("full home %s still picked", home)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Only invokers that run an action's kind are picked; an invoker that
// names no kinds (an earlier version) runs wasm only.
func TestBalancerKinds(t *testing.T) {
	live := fixedInvokers{{ID: "old", Capacity: 4}, {ID: "wasm-only", Capacity: 4, Kinds: []string{"wasm"}}, {ID: "all", Capacity: 4, Kinds: []string{"nodejs:20", "python:3", "wasm"}}}
	b := newBalancer(live)
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("/guest/action%d", i)
		if got, err := b.pick(key, "python:3"); err != nil || got != "all" {
			t.Fatalf("python:3 went to %q (%v), want all", got, err)
		}
	}
	_, err := b.pick("/guest/x", "native")
	if core.ErrorCodeOf(err) != core.CodeUnavailable || !strings.Contains(err.Error(), "wispd runtimes build") {
		t.Fatalf("no invoker runs native: %v", err)
	}
	// A full capable home spills only to another capable invoker.
	full := fixedInvokers{{ID: "idle-wasm", Capacity: 4}, {ID: "busy", Capacity: 1, Busy: 1, Kinds: []string{"python:3"}}}
	if got, _ := newBalancer(full).pick("/guest/x", "python:3"); got != "busy" {
		t.Fatalf("python:3 spilled to %q", got)
	}
}
