package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wispfaas/wisp/core"
)

// TestListingWindows lists records stored at two moments, with ids of
// every age, through the windows of recent records and checks each page
// against the newest-first order of all of them: a page is taken from a
// window only when nothing outside it can belong to it. It also checks
// that no consumer of the records' stream outlives a listing.
func TestListingWindows(t *testing.T) {
	ctx := context.Background()
	s, closeStore := openStore(t, t.TempDir())
	defer closeStore()
	saved := listWindows
	listWindows = []time.Duration{time.Second, 0}
	defer func() { listWindows = saved }()

	put := func(label, name string, queued time.Time) {
		t.Helper()
		a := &core.Activation{Namespace: "guest", Name: name, ActivationID: idAt(queued, 0), Start: queued.UnixMilli(),
			Annotations: core.KeyValues{}.Set("path", "guest/"+name), Response: core.NewResponse(0, json.RawMessage(fmt.Sprintf(`{"l":%q}`, label)))}
		if err := s.PutActivation(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// Stored first: two queued an hour ago, two a minute ago.
	hourAgo, minuteAgo := time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
	for i := range 2 {
		put(fmt.Sprintf("old%d", i), "a", hourAgo.Add(time.Duration(i)*time.Millisecond))
		put(fmt.Sprintf("mid%d", i), "a", minuteAgo.Add(time.Duration(i)*time.Millisecond))
	}
	if err := s.PutActivation(ctx, &core.Activation{Namespace: "other", Name: "a", ActivationID: idAt(time.Now(), 0)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the first window
	recent := time.Now()
	put("long-queued", "b", recent.Add(-10*time.Minute)) // stored now, queued long ago
	for i := range 3 {
		put(fmt.Sprintf("new%d", i), []string{"a", "b"}[i%2], recent.Add(time.Duration(i)*time.Millisecond))
	}

	tests := []struct {
		f    ActivationFilter
		want string
	}{
		// In the last second: three records and a long-queued one.
		{ActivationFilter{Limit: 2}, "[new2 new1]"},
		{ActivationFilter{Limit: 3}, "[new2 new1 new0]"},
		// The fourth newest was stored before the window: the window's
		// four (with the long-queued one) are not the page.
		{ActivationFilter{Limit: 4}, "[new2 new1 new0 mid1]"},
		{ActivationFilter{Limit: 6}, "[new2 new1 new0 mid1 mid0 long-queued]"},
		{ActivationFilter{Limit: 2, Skip: 3}, "[mid1 mid0]"},
		{ActivationFilter{Limit: 30, Name: "b"}, "[new1 long-queued]"},
		{ActivationFilter{Limit: 2, Name: "a", Skip: 1}, "[new0 mid1]"},
		{ActivationFilter{Limit: 30, Since: recent.UnixMilli()}, "[new2 new1 new0]"},
		{ActivationFilter{Limit: 30, Since: hourAgo.UnixMilli(), Upto: hourAgo.Add(time.Millisecond).UnixMilli()}, "[old1 old0]"},
		{ActivationFilter{Limit: 30, Since: hourAgo.UnixMilli(), Name: "b"}, "[new1 long-queued]"},
		{ActivationFilter{}, "[new2 new1 new0 mid1 mid0 long-queued old1 old0]"},
		{ActivationFilter{Limit: 30, Since: time.Now().Add(time.Hour).UnixMilli()}, "[]"},
	}
	for _, tt := range tests {
		list, err := s.ListActivations(ctx, "guest", tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range list {
			var r struct{ L string }
			_ = json.Unmarshal(a.Response.Result, &r)
			got = append(got, r.L)
		}
		if fmt.Sprint(got) != tt.want {
			t.Errorf("ListActivations(%+v) = %v, want %v", tt.f, got, tt.want)
		}
	}

	counts := []struct {
		f    ActivationFilter
		want int
	}{
		{ActivationFilter{}, 8},
		{ActivationFilter{Limit: 1, Skip: 5}, 8}, // a count is not a page
		{ActivationFilter{Name: "b"}, 2},
		{ActivationFilter{Since: recent.UnixMilli()}, 3},
	}
	for _, tt := range counts {
		if n, err := s.CountActivations(ctx, "guest", tt.f); err != nil || n != tt.want {
			t.Errorf("CountActivations(%+v) = %d, %v; want %d", tt.f, n, err, tt.want)
		}
	}
	if n, err := s.CountActivations(ctx, "nobody", ActivationFilter{}); err != nil || n != 0 {
		t.Errorf("CountActivations of a namespace without records = %d, %v", n, err)
	}

	info, err := s.records.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Errorf("%d consumers of the records' stream are left after the listings", info.State.Consumers)
	}
}

// idAt is an activation id made at t, whatever ids were made before
// (core.NewActivationID never goes back in time within a process).
func idAt(t time.Time, n int) string {
	return fmt.Sprintf("%012x%020x", t.UnixMilli(), n)
}

func TestIDAt(t *testing.T) {
	at := time.UnixMilli(1_790_000_000_123)
	id := idAt(at, 7)
	if !core.ValidActivationID(id) || idTime(id) != at.UnixMilli() {
		t.Fatalf("idAt(%v) = %s: valid %v, time %d", at, id, core.ValidActivationID(id), idTime(id))
	}
}
