package client_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/internal/wasmtest"
)

// TestUploadFile uploads code through the upload workflow of the shared
// node (local store: the gateway's own upload URL), creates an action by
// digest, and uploads the same file again without sending it.
func TestUploadFile(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	module := wasmtest.Action{Logs: []string{"uploaded by digest"}}.Wasm()
	file := filepath.Join(t.TempDir(), "action.wasm")
	if err := os.WriteFile(file, module, 0o600); err != nil {
		t.Fatal(err)
	}
	var sent, total int64
	pctx := client.WithUploadProgress(ctx, func(s, n int64) { sent, total = s, n })
	digest, size, err := c.UploadFile(pctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(module)) || !strings.HasPrefix(digest, "sha256:") || sent != size || total != size {
		t.Fatalf("UploadFile = %s, %d; progress %d of %d", digest, size, sent, total)
	}
	act, err := c.PutAction(ctx, "bydigest", core.ActionPut{Exec: &core.Exec{Kind: "wasm", Digest: digest, Size: size}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if act.Exec.Digest != digest || act.Exec.Size != size {
		t.Fatalf("the action's exec: %+v", act.Exec)
	}
	r, err := c.Invoke(ctx, "bydigest", map[string]any{"n": 1}, client.InvokeOptions{Result: true})
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("invoke: %v %v", r, err)
	}
	up, err := c.StartUpload(ctx, digest, size)
	if err != nil || !up.Exists || up.URL != "" {
		t.Fatalf("announcing a stored blob again: %+v, %v", up, err)
	}
	// Refusals are *APIErrors with the server's message.
	_, err = c.StartUpload(ctx, "sha256:nothex", 10)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Message, "digest") {
		t.Fatalf("a bad digest: %v", err)
	}
	up, err = c.StartUpload(ctx, "sha256:"+strings.Repeat("ab", 32), 5)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Upload(ctx, up, strings.NewReader("abcde"), 5)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Message, "not stored") {
		t.Fatalf("bytes that are not the digest: %v", err)
	}
}
