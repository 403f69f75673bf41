package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
)

// TestConcurrentWrites creates and updates one action from several
// clients at once: exactly one create wins, and every update that
// succeeds gets a version of its own.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	const n = 6
	body := map[string]any{"exec": wasmExec(t, "hello")}

	replies := make([]*reply, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = a.send("PUT", actionsPath+"/race", body)
		}()
	}
	wg.Wait()
	created := 0
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch r.Status {
		case http.StatusOK:
			created++
		case http.StatusConflict:
		default:
			t.Errorf("concurrent create: %s", r)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent creates succeeded, want exactly 1", created, n)
	}

	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i], errs[i] = a.send("PUT", actionsPath+"/race?overwrite=true",
				map[string]any{"parameters": kv("writer", i)})
		}()
	}
	wg.Wait()
	var versions []string
	writerOf := map[string]float64{}
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch r.Status {
		case http.StatusOK:
			v := fmt.Sprint(r.object(t)["version"])
			versions = append(versions, v)
			writerOf[v] = float64(i)
		case http.StatusConflict:
			// Allowed: the store gives up after a few lost races.
			r.wantError(t, http.StatusConflict, "try again")
		default:
			t.Errorf("concurrent update: %s", r)
		}
	}
	slices.Sort(versions)
	if len(slices.Compact(slices.Clone(versions))) != len(versions) {
		t.Errorf("concurrent updates got the same version: %q", versions)
	}
	final := a.get(t, actionsPath+"/race?code=false").want(t, http.StatusOK).object(t)
	want := fmt.Sprintf("0.0.%d", 1+len(versions))
	if final["version"] != want {
		t.Errorf("after %d successful updates the version is %v, want %s", len(versions), final["version"], want)
	}
	// The stored parameters are those of the update that got that version.
	res := a.invoke(t, "race", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t)
	params, _ := res["params"].(map[string]any)
	if w, ok := writerOf[want]; !ok || params["writer"] != w {
		t.Errorf("the action runs with writer %v, want %v (the writer of version %s)", params["writer"], writerOf[want], want)
	}
}

// TestConcurrentInvokes runs many blocking invokes at once: each caller
// gets its own activation back.
func TestConcurrentInvokes(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	a.createAction(t, "hello", "hello", nil)
	const n = 24
	replies := make([]*reply, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := "blocking=true"
			if i%2 == 1 {
				q += "&result=true"
			}
			replies[i], errs[i] = a.send("POST", actionsPath+"/hello?"+q, map[string]any{"name": fmt.Sprint("caller", i)})
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		r.want(t, http.StatusOK)
		id := r.Header.Get("x-openwhisk-activation-id")
		if ids[id] {
			t.Errorf("activation id %s answered twice", id)
		}
		ids[id] = true
		var result map[string]any
		if i%2 == 1 {
			result = r.object(t)
		} else {
			rec := r.activation(t)
			if rec.ActivationID != id {
				t.Errorf("caller %d: record %s, header %s", i, rec.ActivationID, id)
			}
			result = rec.Response.Result
		}
		if want := fmt.Sprintf("Hello, caller%d!", i); result["greeting"] != want {
			t.Errorf("caller %d got %v, want %q: answers crossed", i, result["greeting"], want)
		}
	}
	var list []map[string]any
	a.get(t, activationsPath+"?limit=200").want(t, http.StatusOK).decode(t, &list)
	if len(list) != n {
		t.Errorf("%d activations listed, want %d", len(list), n)
	}
}
