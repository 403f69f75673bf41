package wasmrt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// guestSource is a Go WASI command whose behaviour is chosen by the "mode" parameter, so that one
// build (seconds) and one compilation (about a second) serve every test that needs a real toolchain's
// output.
const guestSource = `package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

type request struct {
	Mode string ` + "`json:\"mode\"`" + `
	N    int    ` + "`json:\"n\"`" + `
	Ms   int    ` + "`json:\"ms\"`" + `
}

var sink int

func recurse(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	return recurse(n+1) + int(pad[0])
}

func main() {
	in, _ := io.ReadAll(os.Stdin)
	var r request
	_ = json.Unmarshal(in, &r)
	switch r.Mode {
	case "", "echo":
		out, _ := json.Marshal(map[string]any{
			"params":     json.RawMessage(in),
			"activation": os.Getenv("__OW_ACTIVATION_ID"),
			"args":       os.Args,
			"env":        len(os.Environ()),
		})
		os.Stdout.Write(out)
	case "environ":
		out, _ := json.Marshal(map[string]any{"environ": os.Environ()})
		os.Stdout.Write(out)
	case "log":
		for i := 0; i < r.N; i++ {
			fmt.Fprintf(os.Stderr, "line %d\n", i)
		}
		fmt.Fprint(os.Stderr, "no newline at the end")
		fmt.Println("{\"logged\":true}")
	case "exit":
		fmt.Println("{\"ignored\":true}")
		os.Exit(r.N)
	case "exit0":
		fmt.Println("{\"exit0\":true}")
		os.Exit(0)
	case "panic":
		panic("boom")
	case "spin":
		for i := 0; ; i++ {
			sink = i
		}
	case "sleep":
		time.Sleep(time.Duration(r.Ms) * time.Millisecond)
		fmt.Println("{\"slept\":true}")
	case "alloc":
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "recurse":
		sink = recurse(0)
	case "notjson":
		fmt.Print("hello, world")
	case "empty":
	case "array":
		fmt.Println("[1, 2]")
	case "big":
		buf := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < r.N; i++ {
			os.Stdout.Write(buf)
		}
		fmt.Println("{}")
	case "clock":
		var b [16]byte
		rand.Read(b[:])
		t0 := time.Now()
		time.Sleep(20 * time.Millisecond)
		out, _ := json.Marshal(map[string]any{"unixNano": t0.UnixNano(), "sleptNs": time.Since(t0).Nanoseconds(), "rand": hex.EncodeToString(b[:])})
		os.Stdout.Write(out)
	}
}
`

var (
	guestOnce sync.Once
	guestWasm []byte
	guestErr  error

	sharedOnce sync.Once
	sharedRT   *Runtime
	sharedErr  error
)

// goGuest returns the guest built with GOOS=wasip1 GOARCH=wasm, building it on first use.
func goGuest(tb testing.TB) []byte {
	tb.Helper()
	guestOnce.Do(func() { guestWasm, guestErr = buildGo(guestSource) })
	if guestErr != nil {
		tb.Fatal(guestErr)
	}
	return guestWasm
}

// buildGo builds the Go program src for wasip1 with the extra build flags.
func buildGo(src string, flags ...string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "wasmrt-guest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module guest\n\ngo 1.24\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return nil, err
	}
	args := append(append([]string{"build"}, flags...), "-o", "guest.wasm", ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build guest: %v\n%s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, "guest.wasm"))
}

func digestOf(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func codeOf(wasm []byte) Code {
	return Code{Digest: digestOf(wasm), Load: func(context.Context) ([]byte, error) { return wasm, nil }}
}

// shared returns a Runtime shared by the tests, with the Go guest already validated (compiled).
func shared(tb testing.TB) (*Runtime, Code) {
	tb.Helper()
	guest := goGuest(tb)
	sharedOnce.Do(func() {
		sharedRT, sharedErr = New(context.Background(), Config{})
		if sharedErr == nil {
			sharedErr = sharedRT.Validate(context.Background(), digestOf(guest), guest)
		}
	})
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return sharedRT, codeOf(guest)
}

// newRuntime returns a Runtime closed at the end of the test.
func newRuntime(tb testing.TB, cfg Config) *Runtime {
	tb.Helper()
	r, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return r
}

// checkFor polls cond until it holds or the deadline passes.
func checkFor(tb testing.TB, within time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noGoroutineLeak fails if the number of goroutines does not come back to what it was.
func noGoroutineLeak(tb testing.TB) func() {
	tb.Helper()
	before := runtime.NumGoroutine()
	return func() {
		tb.Helper()
		checkFor(tb, 5*time.Second, func() error {
			if n := runtime.NumGoroutine(); n > before {
				return fmt.Errorf("%d goroutines, %d before", n, before)
			}
			return nil
		})
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedRT != nil {
		_ = sharedRT.Close(context.Background())
	}
	os.Exit(code)
}
