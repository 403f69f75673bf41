package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestActionFailures(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.createAction(t, "loop", "loop", map[string]any{"limits": map[string]any{"timeout": 500}})
	a.createAction(t, "exit3", "exit3", nil)
	a.createAction(t, "trap", "trap", nil)
	a.createAction(t, "notjson", "notjson", nil)
	a.createAction(t, "alloc", "alloc", map[string]any{"limits": map[string]any{"memory": 32}})
	a.createAction(t, "sleepy", "sleep", map[string]any{"limits": map[string]any{"timeout": 1000}})

	for _, tc := range []struct {
		name, action string
		params       any
		says         []string // in result.error
		logs         []string // in some log line
	}{
		{"runaway loop", "loop", nil, []string{"time limit", "500 ms"}, []string{"loop: spinning"}},
		{"exit 3", "exit3", nil, []string{"exit", "3"}, []string{"exit3: exiting with status 3"}},
		{"trap", "trap", nil, []string{"trap", "out of bounds"}, []string{"trap: storing out of bounds"}},
		{"panic", "trap", map[string]any{"mode": "panic"}, []string{"exit", "2"}, []string{"panic: trap: deliberate panic"}},
		{"output not JSON", "notjson", nil, []string{"JSON", "hello, world"}, nil},
		{"sleep past the time limit", "sleepy", map[string]any{"ms": 20000}, []string{"time limit", "1000 ms"}, []string{"sleep: sleeping 20000 ms"}},
		{"memory past the limit", "alloc", nil, []string{"memory limit", "32 MB"}, []string{"alloc: allocating"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := a.invoke(t, tc.action, "blocking=true", tc.params).want(t, http.StatusBadGateway)
			rec := r.activation(t)
			if r.Header.Get("x-openwhisk-activation-id") != rec.ActivationID {
				t.Errorf("header x-openwhisk-activation-id %q, record %q", r.Header.Get("x-openwhisk-activation-id"), rec.ActivationID)
			}
			if rec.Response == nil || rec.Response.Status != "action developer error" || rec.Response.StatusCode != 2 || rec.StatusCode != 2 || rec.Response.Success {
				t.Fatalf("want an action developer error (statusCode 2), got %s", rec.Raw)
			}
			msg, _ := rec.Response.Result["error"].(string)
			if len(rec.Response.Result) != 1 || msg == "" {
				t.Errorf("result %v, want only {error: ...}", rec.Response.Result)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
			checkLogs(t, rec.Logs, tc.logs...)
			// The record is stored as answered.
			stored := a.get(t, activationsPath+"/"+rec.ActivationID).want(t, http.StatusOK)
			if eq, _ := jsonEqual(stored.Body, r.Body); !eq {
				t.Errorf("stored record differs from the answer:\n%s\n%s", stored.Body, r.Body)
			}
			// With result=true: 502 and the error object.
			rr := a.invoke(t, tc.action, "blocking=true&result=true", tc.params).want(t, http.StatusBadGateway)
			if !activationIDRE.MatchString(rr.Header.Get("x-openwhisk-activation-id")) {
				t.Errorf("no x-openwhisk-activation-id on a failed result=true invoke: %v", rr.Header)
			}
			res := rr.object(t)
			if e, _ := res["error"].(string); len(res) != 1 || !strings.Contains(e, tc.says[0]) {
				t.Errorf("result=true answered %v", res)
			}
		})
	}
}

// TestRunawayDoesNotBlockOthers invokes a runaway loop twice while hello
// is invoked over and over: the loops are stopped at their time limit, and
// hello keeps answering while they spin.
func TestRunawayDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.createAction(t, "hello", "hello", nil)
	// A longer limit than the failure test's, so that the window in which
	// hello must run beside the loops is wide even on a busy machine.
	a.createAction(t, "spin", "loop", map[string]any{"limits": map[string]any{"timeout": 2000}})

	var wg sync.WaitGroup
	loops := make([]*reply, 2)
	errs := make([]error, 2)
	stop := make(chan struct{})
	for i := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loops[i], errs[i] = a.send("POST", actionsPath+"/spin?blocking=true", nil)
		}()
	}
	go func() { wg.Wait(); close(stop) }()

	var hellos []*activation
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		r := a.invoke(t, "hello", "blocking=true", map[string]any{"name": "Busy"})
		if r.Status != http.StatusOK {
			t.Fatalf("hello failed while the loops spun: %s", r)
		}
		hellos = append(hellos, r.activation(t))
	}
	for i, r := range loops {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		r.want(t, http.StatusBadGateway)
		rec := r.activation(t)
		if msg, _ := rec.Response.Result["error"].(string); rec.Response.StatusCode != 2 || !strings.Contains(msg, "time limit") {
			t.Errorf("runaway loop record: %s", rec.Raw)
		}
	}
	// Some hello ran entirely while a loop was spinning.
	l0, l1 := loops[0].activation(t), loops[1].activation(t)
	from, to := min(l0.Start, l1.Start), max(l0.End, l1.End)
	inside := 0
	for _, h := range hellos {
		if !h.Response.Success {
			t.Errorf("hello failed: %s", h.Raw)
		}
		if h.Start >= from && h.End <= to {
			inside++
		}
	}
	if inside == 0 {
		t.Errorf("no hello activation ran while the loops spun (%d hellos, loops %d..%d)", len(hellos), from, to)
	}
	t.Logf("%d hello activations, %d of them while the loops spun", len(hellos), inside)
}
