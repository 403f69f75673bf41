package daemon

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wispfaas/wisp/core"
)

func start(t *testing.T, data, guestAuth string) *Daemon {
	t.Helper()
	d, err := Start(context.Background(), Config{Data: data, Listen: "127.0.0.1:0", GuestAuth: guestAuth, ShutdownGrace: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGuestKeyKeptAcrossRestarts(t *testing.T) {
	data := t.TempDir()
	d := start(t, data, "")
	auth, created := d.GuestAuth()
	if !created || !strings.HasPrefix(d.APIHost(), "http://127.0.0.1:") || strings.HasSuffix(d.APIHost(), ":0") {
		t.Fatalf("first start: created=%v host=%s", created, d.APIHost())
	}
	kept, err := os.ReadFile(GuestAuthFile(data))
	if err != nil || strings.TrimSpace(string(kept)) != auth {
		t.Fatalf("guest key file = %q, %v; want %q", kept, err, auth)
	}
	if fi, _ := os.Stat(GuestAuthFile(data)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("guest key file mode %v", fi.Mode())
	}
	// A second node on the same data directory is refused, clearly.
	if _, err := Start(context.Background(), Config{Data: data, Listen: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "in use by another wispd") {
		t.Fatalf("second node on the same data: %v", err)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}

	d = start(t, data, "")
	again, created := d.GuestAuth()
	if created || again != auth {
		t.Fatalf("after restart: created=%v auth changed=%v", created, again != auth)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}

	// An operator-given key replaces the stored one.
	uuid, key := core.NewCredentials()
	d = start(t, data, uuid+":"+key)
	defer d.Stop()
	if got, _ := d.GuestAuth(); got != uuid+":"+key {
		t.Fatalf("guest auth = %q, want the given one", got)
	}
	if _, err := Start(context.Background(), Config{Data: t.TempDir(), Listen: "127.0.0.1:0", GuestAuth: "bad"}); err == nil || !strings.Contains(err.Error(), "guest auth") {
		t.Fatalf("bad guest auth: %v", err)
	}
}

func TestAdminWithAndWithoutARunningNode(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	d := start(t, data, "")
	cfg := Config{Data: data}
	nss, err := Admin(ctx, cfg, AdminRequest{Op: "create", Name: "alice"})
	if err != nil || len(nss) != 1 || nss[0].Name != "alice" {
		t.Fatalf("create through the socket: %+v %v", nss, err)
	}
	if _, err := Admin(ctx, cfg, AdminRequest{Op: "create", Name: "alice"}); core.ErrorCodeOf(err) != core.CodeConflict {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := Admin(ctx, cfg, AdminRequest{Op: "create", Name: "bad/name"}); core.ErrorCodeOf(err) != core.CodeInvalid {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := Admin(ctx, cfg, AdminRequest{Op: "explode"}); core.ErrorCodeOf(err) != core.CodeInvalid {
		t.Fatalf("unknown op: %v", err)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	// With no node running, the store is opened directly.
	nss, err = Admin(ctx, cfg, AdminRequest{Op: "list"})
	if err != nil || len(nss) != 2 {
		t.Fatalf("list without a node: %+v %v", nss, err)
	}
	if _, err := Admin(ctx, cfg, AdminRequest{Op: "delete", Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Admin(ctx, cfg, AdminRequest{Op: "delete", Name: "alice"}); core.ErrorCodeOf(err) != core.CodeNotFound {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := Admin(ctx, Config{Data: data + "/missing"}, AdminRequest{Op: "list"}); err == nil || !strings.Contains(err.Error(), "start wispd once") {
		t.Fatalf("missing data dir: %v", err)
	}
}
