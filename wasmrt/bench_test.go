package wasmrt

import (
	"context"
	"maps"
	"testing"
)

// BenchmarkRunWarm measures a Run of a module already compiled: instantiate, run _start, collect the
// result and close. "raw" is a hand-written echo of a few hundred bytes, so it measures Wisp's and
// wazero's overhead; "go" is a Go GOOS=wasip1 echo command, whose runtime start-up dominates.
func BenchmarkRunWarm(b *testing.B) {
	params := []byte(`{"mode":"echo","name":"wisp"}`)
	env := map[string]string{
		"__OW_ACTIVATION_ID":  "0123456789abcdef0123456789abcdef",
		"__OW_NAMESPACE":      "guest",
		"__OW_ACTION_NAME":    "/guest/echo",
		"__OW_ACTION_VERSION": "0.0.1",
		"__OW_API_HOST":       "http://127.0.0.1:3233",
		"__OW_DEADLINE":       "1795651200000",
	}
	b.Run("raw", func(b *testing.B) {
		r := newRuntime(b, Config{})
		code := codeOf(rawEcho())
		benchRun(b, r, code, Invocation{Params: params, Env: env})
	})
	b.Run("go", func(b *testing.B) {
		r, code := shared(b)
		benchRun(b, r, code, Invocation{Params: params, Env: env})
	})
}

// benchRun runs inv again and again; like real activations, each has an
// id and a deadline of its own.
func benchRun(b *testing.B, r *Runtime, code Code, inv Invocation) {
	ctx := context.Background()
	if out := r.Run(ctx, code, inv); out.Err != nil {
		b.Fatal(out.Err)
	}
	ids := [2]string{"0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"}
	deadlines := [2]string{"1795651200000", "1795651200001"}
	env := maps.Clone(inv.Env)
	inv.Env = env
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		if _, ok := env["__OW_ACTIVATION_ID"]; ok {
			env["__OW_ACTIVATION_ID"], env["__OW_DEADLINE"] = ids[i%2], deadlines[i%2]
		}
		if out := r.Run(ctx, code, inv); out.Err != nil {
			b.Fatal(out.Err)
		}
	}
}
