package wasmrt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recursionGuest is a command whose _start calls f(60), where f(n) calls
// f(n-1) twice: 2^60 calls with a stack 60 deep and no loop anywhere.
// wazero's own checks sat at loop headers only; the fuel checks at function
// entries stop it too.
func recursionGuest() rawModule {
	const opIf, opReturn, opI32Eqz = 0x04, 0x0f, 0x45
	f := cat(
		[]byte{opLocalGet, 0, opI32Eqz, opIf, opBlockVoid, opReturn, opEnd},
		[]byte{opLocalGet, 0}, i32c(1), []byte{opI32Sub, opCall, 2},
		[]byte{opLocalGet, 0}, i32c(1), []byte{opI32Sub, opCall, 2},
	)
	return rawModule{
		types:   []rawType{typeVoid, typeIOVec, {params: []byte{i32}}},
		imports: []rawImport{importWrit},
		funcs:   []rawFunc{{typ: 0, body: cat(i32c(60), []byte{opCall, 2})}, {typ: 2, body: f}},
		memory:  &[2]uint32{1, 0},
		exports: []rawExport{{name: "_start", kind: externFunc, idx: 1}, memExport},
	}
}

func TestRecursionWithoutLoopsStopsAtTheTimeLimit(t *testing.T) {
	r := newRuntime(t, Config{})
	out := r.Run(context.Background(), codeOf(recursionGuest().encode()), Invocation{Timeout: 200 * time.Millisecond})
	checkActionError(t, "recursion", out, KindTimeout, "time limit of 200 ms")
}

// TestSpinningGuestDoesNotHoldUpTheGC: Go cannot preempt compiled Wasm, so a
// garbage collection waits for every goroutine running a guest to reach Go
// code. The fuel checks bring a spinning guest back to Go every few thousand
// iterations: a collection completes while the guest still spins.
func TestSpinningGuestDoesNotHoldUpTheGC(t *testing.T) {
	r := newRuntime(t, Config{})
	spin := codeOf(command([]byte{opLoop, opBlockVoid, opBr, 0, opEnd}, "").encode())
	if err := r.Validate(context.Background(), spin.Digest, mustLoad(t, spin)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan Outcome, runtime.GOMAXPROCS(0))
	for range cap(done) { // one guest per processor: nothing else could run without the checks
		go func() { done <- r.Run(ctx, spin, Invocation{Timeout: time.Minute}) }()
	}
	time.Sleep(100 * time.Millisecond) // let the guests start spinning
	runtime.GC()
	select {
	case out := <-done:
		t.Fatalf("a guest ended before it was stopped: %+v", out)
	default:
	}
	cancel()
	for range cap(done) {
		select {
		case out := <-done:
			var ae *ActionError
			if out.Err == nil || errors.As(out.Err, &ae) || !errors.Is(out.Err, context.Canceled) {
				t.Errorf("Err = %v, want the caller's cancellation (a platform error)", out.Err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a guest still runs 10s after its caller went away")
		}
	}
}

func TestTheYieldImportIsReserved(t *testing.T) {
	r := newRuntime(t, Config{})
	m := command(nil, "")
	m.imports = append(m.imports, rawImport{module: yieldModule, name: yieldName, typ: 0})
	m.exports[0].idx = 2
	err := r.Validate(context.Background(), "sha256:yield", m.encode())
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), `"wisp:host"."yield"`) {
		t.Fatalf("err = %v, want an invalid module naming the import", err)
	}
}

// simdSource is a C command clang vectorises (-O3 -msimd128): the
// rewriter must decode every instruction of real toolchain output, SIMD
// included, and the rewritten module must compute what the source says.
const simdSource = `#include <stdio.h>
int main(void) {
	static unsigned char buf[4096];
	size_t n = fread(buf, 1, sizeof buf, stdin);
	unsigned sum = 0, x = 0;
	for (size_t i = 0; i < n; i++) { sum += buf[i] * 3u; x ^= buf[i]; }
	float f[64];
	for (int i = 0; i < 64; i++) f[i] = (float)i * 0.5f;
	float s = 0;
	for (int i = 0; i < 64; i++) s += f[i] * f[i];
	printf("{\"n\":%zu,\"sum\":%u,\"x\":%u,\"s\":%d}", n, sum, x, (int)s);
	return 0;
}
`

func TestSIMDModuleRuns(t *testing.T) {
	dir := t.TempDir()
	src, wasmPath := filepath.Join(dir, "simd.c"), filepath.Join(dir, "simd.wasm")
	if err := os.WriteFile(src, []byte(simdSource), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("clang", "--target=wasm32-wasi", "--sysroot=/usr", "-O3", "-msimd128", "-o", wasmPath, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang (scripts/deps.sh installs it with wasi-libc): %v\n%s", err, out)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	params := []byte(`{"text":"a few dozen bytes for the vectorised loops to chew on"}`)
	var sum, x uint32
	for _, c := range params {
		sum += uint32(c) * 3
		x ^= uint32(c)
	}
	want := fmt.Sprintf(`{"n":%d,"sum":%d,"x":%d,"s":21336}`, len(params), sum, x)
	r := newRuntime(t, Config{})
	out := r.Run(context.Background(), codeOf(wasm), Invocation{Params: params})
	if out.Err != nil || string(out.Result) != want {
		t.Fatalf("result %s, err %v; want %s", out.Result, out.Err, want)
	}
}
