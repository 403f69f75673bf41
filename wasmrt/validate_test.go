package wasmrt

import (
	"context"
	"errors"
	"os"
	"regexp"
	"sync"
	"testing"
)

func TestValidate(t *testing.T) {
	r := newRuntime(t, Config{})
	withImports := func(imports ...rawImport) []byte {
		m := command(writeData, `{}`)
		m.types = append(m.types, rawType{params: []byte{i32}})
		m.imports = append(m.imports, imports...)
		m.exports[0].idx = 0
		for _, im := range m.imports {
			if im.kind == externFunc {
				m.exports[0].idx++
			}
		}
		return m.encode()
	}
	noStart := command(writeData, `{}`)
	noStart.exports = []rawExport{memExport}
	reactor := command(writeData, `{}`)
	reactor.exports[0].name = "_initialize"
	badStart := command(writeData, `{}`)
	badStart.types = append(badStart.types, rawType{params: []byte{i32}})
	badStart.funcs[0].typ = 2
	truncated := rawEcho()
	truncated = truncated[:len(truncated)-10]

	tests := []struct {
		name string
		wasm []byte
		want string // a regular expression the message must match; "" for a valid module
	}{
		{"echo", rawEcho(), ""},
		{"constant", rawConst(`{}`), ""},
		{"large minimum memory", rawConstMem(`{}`, 8192), ""}, // 512 MB: valid, too large for the default limit only
		{"empty", nil, `^not a WebAssembly module: it does not start with the bytes "\\x00asm"$`},
		{"garbage", []byte("MZ\x90\x00 this is a Windows program"), `^not a WebAssembly module: it does not start with the bytes "\\x00asm"$`},
		{"component", []byte("\x00asm\x0d\x00\x01\x00"), `^not a WebAssembly module: it is a WebAssembly component; Wisp runs core modules built for WASI preview 1 \(wasm32-wasip1\)$`},
		{"future version", []byte("\x00asm\x02\x00\x00\x00"), `^not a WebAssembly module: binary format version 2 is not supported \(Wisp runs version 1\)$`},
		{"truncated", truncated, `^not a valid WebAssembly module: .+`},
		{"no _start", noStart.encode(), `^module has no "_start" export: build it as a WASI command$`},
		{"reactor", reactor.encode(), `^module has no "_start" export: it is a WASI reactor; build it as a WASI command$`},
		{"_start with parameters", badStart.encode(), `^module exports "_start" with the signature \(i32\) -> \(\), but a WASI command's "_start" takes no parameters and returns nothing$`},
		{"env import", withImports(rawImport{module: "env", name: "foo", typ: 2}),
			`^module imports "env"."foo", which Wisp does not provide: Wisp provides only the functions of wasi_snapshot_preview1 \(WASI preview 1\)$`},
		{"several imports", withImports(rawImport{module: "env", name: "foo", typ: 2}, rawImport{module: wasiModule, name: "sock_listen", typ: 2}, rawImport{module: "env", name: "memory", kind: externMemory}),
			`^module imports "env"."foo", "wasi_snapshot_preview1"."sock_listen", memory "env"."memory", which Wisp does not provide`},
		{"WASI function with the wrong signature", withImports(rawImport{module: wasiModule, name: "proc_exit", typ: 0}),
			`^module imports "wasi_snapshot_preview1"."proc_exit" with the signature \(\) -> \(\), but Wisp provides \(i32\) -> \(\)$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Validate(context.Background(), digestOf(tt.wasm), tt.wasm)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("Validate = %v, want an error matching ErrInvalidModule", err)
			}
			if !regexp.MustCompile(tt.want).MatchString(err.Error()) {
				t.Errorf("message %q\nwant %s", err, tt.want)
			}
		})
	}
}

func TestValidateGoModule(t *testing.T) {
	// A real toolchain's output: compiled once by the shared Runtime, checked again here for free.
	r, code := shared(t)
	if err := r.Validate(context.Background(), code.Digest, goGuest(t)); err != nil {
		t.Fatal(err)
	}
}

func TestValidateConcurrentAndCached(t *testing.T) {
	dir := t.TempDir()
	r := newRuntime(t, Config{CacheDir: dir})
	wasm := rawEcho()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Validate(context.Background(), digestOf(wasm), wasm); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	out := r.Run(context.Background(), Code{Digest: digestOf(wasm)}, Invocation{Params: []byte(`{"ok":1}`)}) // no Load: must not be needed
	if out.Err != nil || out.Compiled || string(out.Result) != `{"ok":1}` {
		t.Errorf("Run after Validate: Result %s, Compiled %v, Err %v", out.Result, out.Compiled, out.Err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Errorf("compilation cache directory is empty (err %v)", err)
	}

	// A new Runtime on the same directory compiles from the cache.
	r2 := newRuntime(t, Config{CacheDir: dir})
	out = r2.Run(context.Background(), codeOf(wasm), Invocation{Params: []byte(`{"ok":2}`)})
	if out.Err != nil || !out.Compiled || string(out.Result) != `{"ok":2}` {
		t.Errorf("Run on a new Runtime: Result %s, Compiled %v, Err %v", out.Result, out.Compiled, out.Err)
	}
}
