package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/wispfaas/wisp/wasmrt"
)

// minimalCommand is (module (func (export "_start"))).
var minimalCommand = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: () -> ()
	0x03, 0x02, 0x01, 0x00, // functions: one of type 0
	0x07, 0x0a, 0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00, // export "_start"
	0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code: an empty body
}

func TestFreshCopyIsValidAndNew(t *testing.T) {
	ctx := context.Background()
	rt, err := wasmrt.New(ctx, wasmrt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	m := &wasmModule{Name: "minimal", code: minimalCommand}
	a, b := freshCopy(m), freshCopy(m)
	digest := func(x []byte) string { s := sha256.Sum256(x); return "sha256:" + hex.EncodeToString(s[:]) }
	if digest(a) == digest(b) || digest(a) == digest(minimalCommand) {
		t.Fatal("fresh copies share a digest")
	}
	for _, code := range [][]byte{minimalCommand, a} {
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
