package wasmrt

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestTablesBounded checks that a module's tables stay within
// maxTableEntries: a module declaring more is refused at create time with
// the reason, and table.grow past the bound fails (returns -1) instead of
// allocating outside the memory limit.
func TestTablesBounded(t *testing.T) {
	r := newRuntime(t, Config{})
	ctx := context.Background()
	// table.grow 0 (ref.null func) (i32.const delta), trapping unless the
	// result is want: the activation succeeds only if the guest saw want.
	grow := func(delta, want int32) []byte {
		return cat([]byte{0xd0, 0x70}, i32c(delta), []byte{0xfc, 15, 0}, i32c(want), []byte{0x47, opIf, 0x40, opUnreachable, opEnd})
	}
	for _, c := range []struct {
		name  string
		min   uint32
		body  []byte
		error string // "" for an activation that succeeds
	}{
		{"a small table", 10, writeData, ""},
		{"a table at the bound", maxTableEntries, writeData, ""},
		{"a table past the bound", maxTableEntries + 1, writeData, "module's tables are too large: table 0 starts with 1048577 entries"},
		{"the largest table wazero takes", 1 << 27, writeData, "module's tables are too large"},
		{"growing within the bound", 10, cat(grow(1000, 10), writeData), ""},
		{"growing past the bound fails", 10, cat(grow(maxTableEntries, -1), grow(1<<30, -1), writeData), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := command(c.body, `{}`)
			m.table = u32p(c.min)
			wasm := m.encode()
			err := r.Validate(ctx, digestOf(wasm), wasm)
			if c.error != "" {
				if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), c.error) {
					t.Fatalf("Validate = %v, want an invalid module error with %q", err, c.error)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			out := r.Run(ctx, Code{Digest: digestOf(wasm), Load: func(context.Context) ([]byte, error) { return wasm, nil }}, Invocation{Params: []byte(`{}`)})
			if out.Err != nil || string(out.Result) != "{}" {
				t.Fatalf("Run = %s, %v", out.Result, out.Err)
			}
		})
	}
}
