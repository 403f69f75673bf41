package wasmrt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wispfaas/wisp/wasmrt/internal/rewrite"
)

const (
	wasiModule = "wasi_snapshot_preview1"
	pageSize   = 65536
)

var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// External kinds of the binary format.
const (
	externFunc   = rewrite.ExternFunc
	externTable  = rewrite.ExternTable
	externMemory = rewrite.ExternMemory
	externGlobal = rewrite.ExternGlobal
	externTag    = rewrite.ExternTag
)

// wasmImport is one entry of a module's import section.
type wasmImport struct {
	module, name string
	kind         byte
}

func (i wasmImport) String() string {
	s := strconv.Quote(i.module) + "." + strconv.Quote(i.name)
	switch i.kind {
	case externTable:
		return "table " + s
	case externMemory:
		return "memory " + s
	case externGlobal:
		return "global " + s
	case externTag:
		return "tag " + s
	}
	return s
}

// moduleShape is what Wisp needs to know about a module beyond what wazero's CompiledModule tells:
// every import (wazero lists only imported functions and memories) and the minimum memory size of a
// memory that is not exported.
type moduleShape struct {
	imports     []wasmImport
	exports     map[string]byte // name -> extern kind
	memMinPages uint32          // minimum pages of the module's own memory; 0 if none
}

// compiledModule is a module that passed every check, ready to instantiate.
type compiledModule struct {
	cm          wazero.CompiledModule
	memMinPages uint32
	// reactor is true for a module of the reactor form (docs/wasm-abi.md):
	// instances are initialised once and serve many activations.
	reactor bool
	// evicted is set when the compiled modules' LRU drops the module: its
	// instances are then closed instead of kept idle (pools.retireModule).
	evicted atomic.Bool
}

// The exports of the reactor form.
const (
	exportAlloc      = "wisp_alloc"
	exportInvoke     = "wisp_invoke"
	exportInitialize = "_initialize"
)

// isReactorShape reports whether exports declare the reactor form:
// wisp_alloc and wisp_invoke, and no _start (a command that also exports
// them, as a Go command built with the SDK does, runs as a command).
func isReactorShape(exports map[string]byte) bool {
	_, start := exports["_start"]
	a, okA := exports[exportAlloc]
	i, okI := exports[exportInvoke]
	return !start && okA && okI && a == externFunc && i == externFunc
}

// compile checks that wasm is a runnable Wisp command module and compiles it, rewritten (stop.go);
// it returns the rewritten bytes too. Errors that are the module's fault match ErrInvalidModule;
// others are platform failures.
func (r *Runtime) compile(ctx context.Context, wasm []byte) (*compiledModule, []byte, error) {
	if err := checkHeader(wasm); err != nil {
		return nil, nil, err
	}
	// Reading the sections is cheap: do it before compiling, so a module with the wrong imports
	// or no _start fails in microseconds rather than after a compile that can take a second.
	shape, shapeErr := parseShape(wasm)
	if shapeErr == nil {
		if err := checkImportsShape(shape.imports, r.wasiFuncs); err != nil {
			return nil, nil, err
		}
		if !isReactorShape(shape.exports) {
			if err := checkStartShape(shape.exports); err != nil {
				return nil, nil, err
			}
		}
	}
	if shapeErr != nil {
		// Let wazero say what is wrong, if it can; if it accepts what our reader did not
		// understand, better safe than sorry.
		if cm, err := r.rt.CompileModule(ctx, wasm); err != nil {
			if ctx.Err() != nil || r.closed.Load() {
				return nil, nil, err
			}
			return nil, nil, invalidModule("not a valid WebAssembly module: " + firstLine(err.Error()))
		} else {
			_ = cm.Close(ctx)
		}
		return nil, nil, invalidModule("not a valid WebAssembly module: " + shapeErr.Error())
	}
	// What is compiled is the module rewritten with fuel checks and coalesced data (stop.go);
	// the stored module, and its digest, stay as the user gave them.
	prepared, err := r.prepare(ctx, wasm)
	if err != nil {
		return nil, nil, err
	}
	mod, err := r.compileShaped(ctx, prepared, shape)
	return mod, prepared, err
}

// compilePrepared compiles a module compile rewrote earlier (prepared.go):
// its imports were checked then; the rest is checked again.
func (r *Runtime) compilePrepared(ctx context.Context, prepared []byte) (*compiledModule, error) {
	if err := checkHeader(prepared); err != nil {
		return nil, err
	}
	shape, err := parseShape(prepared)
	if err != nil {
		return nil, invalidModule("not a valid WebAssembly module: " + err.Error())
	}
	return r.compileShaped(ctx, prepared, shape)
}

// compileShaped compiles a rewritten module and checks its signatures.
func (r *Runtime) compileShaped(ctx context.Context, prepared []byte, shape moduleShape) (*compiledModule, error) {
	cm, err := r.rt.CompileModule(ctx, prepared)
	if err != nil {
		if ctx.Err() != nil || r.closed.Load() {
			return nil, err
		}
		return nil, invalidModule("not a valid WebAssembly module: " + firstLine(err.Error()))
	}
	if err := checkCompiled(cm, r.wasiFuncs); err != nil {
		_ = cm.Close(ctx)
		return nil, err
	}
	return &compiledModule{cm: cm, memMinPages: shape.memMinPages, reactor: isReactorShape(shape.exports)}, nil
}

// checkHeader rejects what is not a WebAssembly core module, version 1.
func checkHeader(wasm []byte) error {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], wasmMagic) {
		return invalidModule(`not a WebAssembly module: it does not start with the bytes "\x00asm"`)
	}
	switch v := wasm[4:8]; {
	case v[0] == 1 && v[1] == 0 && v[2] == 0 && v[3] == 0:
		return nil
	case v[2] == 1 && v[3] == 0: // the component model's layer 1
		return invalidModule("not a WebAssembly module: it is a WebAssembly component; Wisp runs core modules built for WASI preview 1 (wasm32-wasip1)")
	default:
		return invalidModule(fmt.Sprintf("not a WebAssembly module: binary format version %d is not supported (Wisp runs version 1)",
			uint32(v[0])|uint32(v[1])<<8|uint32(v[2])<<16|uint32(v[3])<<24))
	}
}

// checkImportsShape rejects imports Wisp does not provide: anything not a function of wasi_snapshot_preview1.
func checkImportsShape(imports []wasmImport, wasiFuncs map[string]api.FunctionDefinition) error {
	var bad []string
	for _, im := range imports {
		if im.kind == externFunc && im.module == wasiModule {
			if _, ok := wasiFuncs[im.name]; ok {
				continue
			}
		}
		bad = append(bad, im.String())
	}
	if len(bad) == 0 {
		return nil
	}
	const show = 5
	list := strings.Join(bad[:min(len(bad), show)], ", ")
	if len(bad) > show {
		list += fmt.Sprintf(" and %d more", len(bad)-show)
	}
	return invalidModule(fmt.Sprintf("module imports %s, which Wisp does not provide: Wisp provides only the functions of %s (WASI preview 1)", list, wasiModule))
}

// checkStartShape rejects a module without a "_start" function export.
func checkStartShape(exports map[string]byte) error {
	if kind, ok := exports["_start"]; ok && kind == externFunc {
		return nil
	}
	if kind, ok := exports["_initialize"]; ok && kind == externFunc {
		return invalidModule(`module has no "_start" export: it is a WASI reactor; build it as a WASI command`)
	}
	return invalidModule(`module has no "_start" export: build it as a WASI command`)
}

// checkCompiled checks what needs type information: the signatures of imported WASI functions and of _start.
func checkCompiled(cm wazero.CompiledModule, wasiFuncs map[string]api.FunctionDefinition) error {
	for _, fn := range cm.ImportedFunctions() {
		mod, name, _ := fn.Import()
		if mod == yieldModule && name == yieldName { // added by prepare
			continue
		}
		want, ok := wasiFuncs[name]
		if mod != wasiModule || !ok {
			return invalidModule(fmt.Sprintf("module imports %q.%q, which Wisp does not provide: Wisp provides only the functions of %s (WASI preview 1)", mod, name, wasiModule))
		}
		if !slices.Equal(fn.ParamTypes(), want.ParamTypes()) || !slices.Equal(fn.ResultTypes(), want.ResultTypes()) {
			return invalidModule(fmt.Sprintf("module imports %q.%q with the signature %s, but Wisp provides %s",
				mod, name, signature(fn), signature(want)))
		}
	}
	if len(cm.ImportedMemories()) > 0 { // also caught by checkImportsShape
		return invalidModule("module imports its memory, which Wisp does not provide: the module must define its own memory")
	}
	exports := cm.ExportedFunctions()
	_, hasStart := exports["_start"]
	if _, ok := exports[exportInvoke]; ok && !hasStart {
		return checkReactor(cm, exports)
	}
	start, ok := exports["_start"]
	if !ok {
		return checkStartShape(nil)
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return invalidModule(fmt.Sprintf(`module exports "_start" with the signature %s, but a WASI command's "_start" takes no parameters and returns nothing`, signature(start)))
	}
	return nil
}

// checkReactor checks the signatures and memory of a reactor-form module.
func checkReactor(cm wazero.CompiledModule, exports map[string]api.FunctionDefinition) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	want := []struct {
		name           string
		params, result []api.ValueType
		optional       bool
	}{
		{exportAlloc, []api.ValueType{i32}, []api.ValueType{i32}, false},
		{exportInvoke, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}, false},
		{exportInitialize, nil, nil, true},
	}
	for _, w := range want {
		fn, ok := exports[w.name]
		if !ok {
			if w.optional {
				continue
			}
			return invalidModule(fmt.Sprintf("module exports %q but not %q: a Wisp reactor exports both (see docs/wasm-abi.md)", exportInvoke, w.name))
		}
		if !slices.Equal(fn.ParamTypes(), w.params) || !slices.Equal(fn.ResultTypes(), w.result) {
			return invalidModule(fmt.Sprintf("module exports %q with the signature %s; the Wisp reactor ABI needs %s",
				w.name, signature(fn), signatureOf(w.params, w.result)))
		}
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return invalidModule(`module is a Wisp reactor but does not export its memory as "memory"`)
	}
	return nil
}

func signatureOf(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		var parts []string
		for _, t := range ts {
			parts = append(parts, api.ValueTypeName(t))
		}
		return strings.Join(parts, ", ")
	}
	return "(" + name(params) + ") -> (" + name(results) + ")"
}

func signature(fn api.FunctionDefinition) string {
	return signatureOf(fn.ParamTypes(), fn.ResultTypes())
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// parseShape reads the import, memory and export sections of a module whose header was checked,
// with the rewriter's reader (one reader of the binary format for both).
func parseShape(wasm []byte) (moduleShape, error) {
	sh, err := rewrite.ReadShape(wasm)
	if err != nil {
		return moduleShape{}, err
	}
	s := moduleShape{exports: sh.Exports, memMinPages: sh.MemMinPages, imports: make([]wasmImport, len(sh.Imports))}
	for i, im := range sh.Imports {
		s.imports[i] = wasmImport{module: im.Module, name: im.Name, kind: im.Kind}
	}
	return s, nil
}
