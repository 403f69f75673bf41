package daemon

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/internal/wasmtest"
)

// TestBlobsGC collects the code of a deleted action, through the admin
// socket of a running node and directly on a stopped one, and keeps the
// code of live actions.
func TestBlobsGC(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	d := start(t, data, "")
	auth, _ := d.GuestAuth()
	c, err := client.New(d.APIHost(), auth)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, a wasmtest.Action) string {
		exec := &core.Exec{Kind: "wasm", Binary: true, Code: base64.StdEncoding.EncodeToString(a.Wasm())}
		act, err := c.PutAction(ctx, name, core.ActionPut{Exec: exec}, true)
		if err != nil {
			t.Fatal(err)
		}
		return act.Exec.Digest
	}
	kept := put("kept", wasmtest.Action{Logs: []string{"kept"}})
	gone := put("gone", wasmtest.Action{Logs: []string{"gone"}})
	gone2 := put("gone2", wasmtest.Action{Logs: []string{"gone too"}})
	for _, name := range []string{"gone", "gone2"} {
		if _, err := c.DeleteAction(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Data: data}
	has := func(digest string) bool {
		_, err := os.Stat(filepath.Join(data, "blobs", "sha256", digest[7:9], digest[7:]))
		return err == nil
	}

	// Within the grace period nothing goes.
	rep, err := BlobsGC(ctx, cfg, GCRequest{Grace: time.Hour})
	if err != nil || len(rep.Deleted) != 0 || rep.Referenced != 1 || rep.Young != 2 {
		t.Fatalf("gc within the grace: %+v, %v", rep, err)
	}
	rep, err = BlobsGC(ctx, cfg, GCRequest{Grace: time.Nanosecond, DryRun: true})
	if err != nil || len(rep.Deleted) != 2 || !rep.DryRun || !has(gone) {
		t.Fatalf("dry run through the socket: %+v, %v", rep, err)
	}
	rep, err = BlobsGC(ctx, cfg, GCRequest{Grace: time.Nanosecond})
	if err != nil || len(rep.Deleted) != 2 || has(gone) || has(gone2) || !has(kept) {
		t.Fatalf("gc through the socket: %+v, %v", rep, err)
	}
	if r, err := c.Invoke(ctx, "kept", nil, client.InvokeOptions{Blocking: true}); err != nil || r.Status != 200 {
		t.Fatalf("invoke after gc: %v %v", r, err)
	}
	// The same directly on the store of a stopped node.
	put("gone3", wasmtest.Action{Logs: []string{"gone three"}})
	if _, err := c.DeleteAction(ctx, "gone3"); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	rep, err = BlobsGC(ctx, cfg, GCRequest{Grace: time.Nanosecond})
	if err != nil || len(rep.Deleted) != 1 || rep.Referenced != 1 || !has(kept) {
		t.Fatalf("gc on a stopped node: %+v, %v", rep, err)
	}
	if _, err := BlobsGC(ctx, Config{Data: filepath.Join(data, "none")}, GCRequest{}); err == nil {
		t.Fatal("gc of a data directory that does not exist succeeded")
	}
}
