package wasmrt

import (
	"context"
	"testing"
)

// BenchmarkRunWarm measures a Run of a module already compiled: instantiate, run _start, collect the
// result and close. "raw" is a hand-written echo of a few hundred bytes, so it measures Wisp's and
// wazero's overhead; "go" is a Go GOOS=wasip1 echo command, whose runtime start-up dominates.
func BenchmarkRunWarm(b *testing.B) {
	params := []byte(`{"mode":"echo","name":"wisp"}`)
	env := map[string]string{
		"__OW_ACTIVATION_ID": "0123456789abcdef0123456789abcdef",
		"__OW_NAMESPACE":     "guest",
		"__OW_ACTION_NAME":   "/guest/echo",
		"__OW_DEADLINE":      "1795651200000",
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

func benchRun(b *testing.B, r *Runtime, code Code, inv Invocation) {
	ctx := context.Background()
	if out := r.Run(ctx, code, inv); out.Err != nil {
		b.Fatal(out.Err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if out := r.Run(ctx, code, inv); out.Err != nil {
			b.Fatal(out.Err)
		}
	}
}
