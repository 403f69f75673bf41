package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestart stops wispd with SIGTERM and starts a new one on the same
// data directory and port: actions, activations and the guest key are
// as they were, and the first invoke works.
func TestRestart(t *testing.T) {
	t.Parallel()
	d := startWispd(t)
	g := d.guest(t)
	g.createAction(t, "hello", "hello", map[string]any{
		"parameters": kv("name", "Restart"),
		"limits":     map[string]any{"timeout": 5000, "memory": 64},
	})
	g.do(t, "PUT", actionsPath+"/hello?overwrite=true", map[string]any{"annotations": kv("description", "survives restarts")}).want(t, http.StatusOK)
	g.createAction(t, "tools/hello", "hello", nil)

	var ids []string
	ids = append(ids, g.invoke(t, "hello", "blocking=true", nil).want(t, http.StatusOK).activation(t).ActivationID)
	ids = append(ids, g.invoke(t, "tools/hello", "blocking=true", map[string]any{"name": "Pkg"}).want(t, http.StatusOK).activation(t).ActivationID)
	ids = append(ids, g.invoke(t, "hello", "blocking=true", map[string]any{"fail": "on purpose"}).want(t, http.StatusBadGateway).activation(t).ActivationID)
	nb := wantAccepted(t, g.invoke(t, "hello", "", map[string]any{"name": "Later"}).want(t, http.StatusAccepted))
	g.record(t, nb)
	ids = append(ids, nb)

	actions := map[string][]byte{}
	for _, name := range []string{"hello", "tools/hello"} {
		actions[name] = g.get(t, actionsPath+"/"+name).want(t, http.StatusOK).Body
	}
	records := map[string][]byte{}
	for _, id := range ids {
		records[id] = g.get(t, activationsPath+"/"+id).want(t, http.StatusOK).Body
	}
	var listBefore []json.RawMessage
	g.get(t, activationsPath+"?docs=true").want(t, http.StatusOK).decode(t, &listBefore)
	actionListBefore := actionNames(g.listActions(t, ""))

	if err := d.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	d2 := startWispdOn(t, d.data, d.addr)
	g2 := d2.guest(t)
	if g2.auth != g.auth {
		t.Errorf("the guest key changed across the restart: %q, then %q", g.auth, g2.auth)
	}
	// wispd prints its greeting once it serves: /ping may answer just before.
	waitFor(t, 30*time.Second, "wispd's greeting on stdout", func() bool {
		return strings.Contains(d2.stdout.String(), "guest.auth")
	})
	out := d2.stdout.String()
	if strings.Contains(out, "Created the guest namespace") || !strings.Contains(out, filepath.Join(d.data, "guest.auth")) {
		t.Errorf("on restart wispd should point at the kept guest key, not create one; stdout:\n%s", out)
	}

	// The first invoke after the restart.
	res := g2.invoke(t, "hello", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t)
	if res["greeting"] != "Hello, Restart!" {
		t.Errorf("first invoke after restart: %v", res)
	}
	for name, before := range actions {
		after := g2.get(t, actionsPath+"/"+name).want(t, http.StatusOK).Body
		if eq, _ := jsonEqual(before, after); !eq {
			t.Errorf("action %s changed across the restart:\nbefore %.400s\nafter  %.400s", name, before, after)
		}
	}
	if got := actionNames(g2.listActions(t, "")); !slices.Equal(got, actionListBefore) {
		t.Errorf("action list after restart %q, before %q", got, actionListBefore)
	}
	for id, before := range records {
		after := g2.get(t, activationsPath+"/"+id).want(t, http.StatusOK).Body
		if eq, _ := jsonEqual(before, after); !eq {
			t.Errorf("activation %s changed across the restart:\nbefore %s\nafter  %s", id, before, after)
		}
	}
	var listAfter []json.RawMessage
	g2.get(t, activationsPath+"?docs=true").want(t, http.StatusOK).decode(t, &listAfter)
	if len(listAfter) != len(listBefore)+1 {
		t.Fatalf("after restart and one invoke, %d activations, want %d", len(listAfter), len(listBefore)+1)
	}
	for i := range listBefore {
		if eq, _ := jsonEqual(listBefore[i], listAfter[i+1]); !eq {
			t.Errorf("activation list entry %d changed:\nbefore %s\nafter  %s", i, listBefore[i], listAfter[i+1])
		}
	}
	// Everything still works: the package action, updates, new actions.
	g2.invoke(t, "tools/hello", "blocking=true", nil).want(t, http.StatusOK)
	if v := g2.do(t, "PUT", actionsPath+"/hello?overwrite=true", map[string]any{"limits": map[string]any{"timeout": 6000}}).want(t, http.StatusOK).object(t)["version"]; v != "0.0.3" {
		t.Errorf("update after restart: version %v, want 0.0.3", v)
	}
	g2.createAction(t, "fresh", "hello", nil)
	g2.invoke(t, "fresh", "blocking=true", nil).want(t, http.StatusOK)

	// A second wispd on the same data directory is refused, and the first
	// goes on serving.
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if code, stderr := runWispd(t, "--data", d2.data, "--listen", addr); code == 0 || !strings.Contains(stderr, "in use") {
		t.Errorf("a second wispd on %s: exit code %d, stderr %q; want an error saying it is in use", d2.data, code, stderr)
	}
	g2.invoke(t, "hello", "blocking=true", nil).want(t, http.StatusOK)
}

// TestGracefulShutdown sends SIGTERM while activations sleep for 2 s: they
// finish, the blocking caller gets its result, the records are stored, and
// wispd exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	d := startWispd(t, "--shutdown-grace", "20s")
	g := d.guest(t)
	g.createAction(t, "sleep", "sleep", nil)
	g.invoke(t, "sleep", "blocking=true", map[string]any{"ms": 1}).want(t, http.StatusOK)

	type answer struct {
		r   *reply
		err error
	}
	blocking := make(chan answer, 1)
	go func() {
		r, err := g.send("POST", actionsPath+"/sleep?blocking=true", map[string]any{"ms": 2000})
		blocking <- answer{r, err}
	}()
	nb := wantAccepted(t, g.invoke(t, "sleep", "", map[string]any{"ms": 2000}).want(t, http.StatusAccepted))
	// Let the invoker take both off the queue (in the same process, that
	// takes microseconds; the margin is for a busy machine). Nothing
	// outside the daemon shows that an activation has started.
	time.Sleep(500 * time.Millisecond)
	if err := d.stop(); err != nil {
		t.Fatalf("SIGTERM during activations: %v", err)
	}
	stopped := time.Now()

	ans := <-blocking
	if ans.err != nil {
		t.Fatalf("the blocking caller got no answer: %v", ans.err)
	}
	rec := ans.r.want(t, http.StatusOK).activation(t)
	if rec.Response.Result["slept"] != 2000.0 {
		t.Errorf("blocking activation during shutdown: %s", rec.Raw)
	}

	d2 := startWispdOn(t, d.data, d.addr)
	g2 := d2.guest(t)
	defer func() {
		// SIGINT stops wispd as SIGTERM does.
		if err := d2.stopWith(syscall.SIGINT); err != nil {
			t.Errorf("SIGINT: %v", err)
		}
	}()
	for _, id := range []string{rec.ActivationID, nb} {
		stored := g2.record(t, id)
		if !stored.Response.Success || stored.Response.Result["slept"] != 2000.0 {
			t.Errorf("activation %s, running at SIGTERM, was stored as %s", id, stored.Raw)
		}
		if stored.End > stopped.UnixMilli() {
			t.Errorf("activation %s ended at %d, after wispd had exited (%d): it was run again after the restart, not finished during the shutdown",
				id, stored.End, stopped.UnixMilli())
		}
	}
}

// TestShutdownGraceRunsOut sends SIGTERM while an activation sleeps far
// longer than --shutdown-grace: it is stopped when the grace is over and
// recorded as interrupted, and wispd exits 0.
func TestShutdownGraceRunsOut(t *testing.T) {
	t.Parallel()
	d := startWispd(t, "--shutdown-grace", "1s")
	g := d.guest(t)
	g.createAction(t, "sleep", "sleep", nil)
	g.invoke(t, "sleep", "blocking=true", map[string]any{"ms": 1}).want(t, http.StatusOK)
	id := wantAccepted(t, g.invoke(t, "sleep", "", map[string]any{"ms": 30000}).want(t, http.StatusAccepted))
	time.Sleep(500 * time.Millisecond) // as in TestGracefulShutdown
	if err := d.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	d2 := startWispdOn(t, d.data, d.addr)
	rec := d2.guest(t).record(t, id)
	msg, _ := rec.Response.Result["error"].(string)
	if rec.Response.Success || rec.Response.StatusCode != 3 || rec.Response.Status != "whisk internal error" || !strings.Contains(msg, "interrupted") {
		t.Errorf("activation cut by the end of the shutdown grace: %s", rec.Raw)
	}
	checkLogs(t, rec.Logs, "sleep: sleeping 30000 ms")
}

// TestQueuedSurviveRestart: activations still queued when wispd stops (its
// one invoker slot busy) run after the restart, none lost, none run twice,
// and before an activation invoked after the restart: a restart must not
// let later work overtake what was already waiting.
func TestQueuedSurviveRestart(t *testing.T) {
	t.Parallel()
	d := startWispd(t, "--invoker-capacity", "1", "--shutdown-grace", "20s")
	g := d.guest(t)
	g.createAction(t, "sleep", "sleep", nil)
	var queued []string
	for range 3 {
		queued = append(queued, wantAccepted(t, g.invoke(t, "sleep", "", map[string]any{"ms": 1500}).want(t, http.StatusAccepted)))
	}
	time.Sleep(300 * time.Millisecond) // let the first start, as in TestGracefulShutdown
	if err := d.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	d2 := startWispdOn(t, d.data, d.addr, "--invoker-capacity", "1")
	restarted := time.Now().UnixMilli()
	g2 := d2.guest(t)
	later := wantAccepted(t, g2.invoke(t, "sleep", "", map[string]any{"ms": 1}).want(t, http.StatusAccepted))

	laterRec := g2.record(t, later)
	for i, id := range queued {
		rec := g2.record(t, id)
		if !rec.Response.Success || rec.Response.Result["slept"] != 1500.0 {
			t.Errorf("queued activation %s: %s", id, rec.Raw)
		}
		if rec.Start > restarted {
			t.Logf("queued activation %d started %d ms after the restart", i, rec.Start-restarted)
		}
		if rec.Start > laterRec.Start {
			t.Errorf("activation %d, queued before the restart, started %d ms after one invoked after the restart", i, rec.Start-laterRec.Start)
		}
	}
	var list []map[string]any
	g2.get(t, activationsPath+"?name=sleep&limit=200").want(t, http.StatusOK).decode(t, &list)
	if len(list) != len(queued)+1 {
		t.Errorf("%d sleep activations recorded, want %d", len(list), len(queued)+1)
	}
}
