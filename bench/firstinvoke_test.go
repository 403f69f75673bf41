package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/wispfaas/wisp/internal/wasmtest"
	"github.com/wispfaas/wisp/wasmrt"
)

func TestFreshCopyIsValidAndNew(t *testing.T) {
	ctx := context.Background()
	rt, err := wasmrt.New(ctx, wasmrt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	m := &wasmModule{Name: "minimal", code: wasmtest.MinimalCommand}
	a, b := freshCopy(m), freshCopy(m)
	digest := func(x []byte) string { s := sha256.Sum256(x); return "sha256:" + hex.EncodeToString(s[:]) }
	if digest(a) == digest(b) || digest(a) == digest(wasmtest.MinimalCommand) {
		t.Fatal("fresh copies share a digest")
	}
	for _, code := range [][]byte{wasmtest.MinimalCommand, a} {
		if err := rt.Validate(ctx, digest(code), code); err != nil {
			t.Errorf("Validate: %v", err)
		}
		out := rt.Run(ctx, wasmrt.Code{Digest: digest(code)}, wasmrt.Invocation{})
		// It writes no result, which is an action error, not a broken module.
		if _, isAction := out.Err.(*wasmrt.ActionError); !isAction {
			t.Errorf("Run: %v, want an action error (no result)", out.Err)
		}
	}
}
