package rewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// A tiny assembler for test modules.

type dataSeg struct {
	passive bool
	offset  int32
	init    []byte
}

type testModule struct {
	imports   int      // functions imported as "env"."f<i>" () -> ()
	table     []uint32 // a funcref table of these functions (active element segment at 0)
	start     int      // 1 + the index of the start function; 0 for none
	memPages  uint32   // 0: no memory
	globals   int      // mutable i32 globals, initialised to 0
	funcs     [][]byte // bodies of () -> () functions, without locals and the final end
	exports   []string // exports function i as exports[i]
	data      []dataSeg
	dataCount bool
}

func (m testModule) bytes() []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	sec := func(id byte, payload []byte) { b = appendSection(b, id, payload) }
	if len(m.funcs) > 0 || m.imports > 0 {
		sec(secType, []byte{1, 0x60, 0, 0}) // one type: () -> ()
	}
	if m.imports > 0 {
		p := appendU32(nil, uint32(m.imports))
		for i := range m.imports {
			name := fmt.Sprintf("f%d", i)
			p = append(appendU32(p, 3), "env"...)
			p = append(appendU32(p, uint32(len(name))), name...)
			p = append(p, 0, 0)
		}
		sec(secImport, p)
	}
	if len(m.funcs) > 0 {
		p := appendU32(nil, uint32(len(m.funcs)))
		for range m.funcs {
			p = append(p, 0)
		}
		sec(secFunction, p)
	}
	if len(m.table) > 0 {
		sec(secTable, appendU32([]byte{1, 0x70, 0}, uint32(len(m.table))))
	}
	if m.memPages > 0 {
		sec(secMemory, appendU32([]byte{1, 0}, m.memPages))
	}
	if m.globals > 0 {
		p := appendU32(nil, uint32(m.globals))
		for range m.globals {
			p = append(p, 0x7f, 0x01, 0x41, 0x00, 0x0b)
		}
		sec(secGlobal, p)
	}
	var ex []byte
	n := 0
	if m.memPages > 0 {
		ex = append(appendU32(ex, 6), "memory"...)
		ex = append(ex, 2, 0)
		n++
	}
	for i, name := range m.exports {
		ex = append(appendU32(ex, uint32(len(name))), name...)
		ex = appendU32(append(ex, 0), uint32(m.imports+i))
		n++
	}
	if n > 0 {
		sec(secExport, append(appendU32(nil, uint32(n)), ex...))
	}
	if m.start > 0 {
		sec(secStart, appendU32(nil, uint32(m.start-1)))
	}
	if len(m.table) > 0 {
		p := []byte{1, 0, 0x41, 0, 0x0b}
		p = appendU32(p, uint32(len(m.table)))
		for _, f := range m.table {
			p = appendU32(p, f)
		}
		sec(secElement, p)
	}
	if m.dataCount {
		sec(secDataCount, appendU32(nil, uint32(len(m.data))))
	}
	if len(m.funcs) > 0 {
		p := appendU32(nil, uint32(len(m.funcs)))
		for _, body := range m.funcs {
			f := append([]byte{0}, body...) // no locals
			f = append(f, 0x0b)
			p = append(appendU32(p, uint32(len(f))), f...)
		}
		sec(secCode, p)
	}
	if len(m.data) > 0 {
		p := appendU32(nil, uint32(len(m.data)))
		for _, d := range m.data {
			if d.passive {
				p = append(p, 1)
			} else {
				p = append(p, 0, 0x41)
				p = append(appendS32(p, d.offset), 0x0b)
			}
			p = append(appendU32(p, uint32(len(d.init))), d.init...)
		}
		sec(secData, p)
	}
	return b
}

// memoryAfterInstantiation instantiates wasm and returns its memory, or the
// instantiation's error.
func memoryAfterInstantiation(t *testing.T, rt wazero.Runtime, wasm []byte) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	defer cm.Close(ctx)
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, err
	}
	defer mod.Close(ctx)
	buf, _ := mod.Memory().Read(0, mod.Memory().Size())
	return bytes.Clone(buf), nil
}

func newWazero(t *testing.T) wazero.Runtime {
	t.Helper()
	rt := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// checkSameMemory rewrites m and checks that an instance of the rewritten
// module starts with the same memory as one of m, or fails as m's does.
func checkSameMemory(t *testing.T, rt wazero.Runtime, m testModule, gap int) Stats {
	t.Helper()
	orig := m.bytes()
	out, st, err := Module(orig, Options{Coalesce: true, CoalesceGap: gap})
	if err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	want, werr := memoryAfterInstantiation(t, rt, orig)
	got, gerr := memoryAfterInstantiation(t, rt, out)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("original instantiates with error %v, rewritten with %v (segments %+v)", werr, gerr, m.data)
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("memories differ after instantiation (segments %d -> %d)", st.SegmentsBefore, st.SegmentsAfter)
	}
	return st
}

func TestCoalesceTable(t *testing.T) {
	rt := newWazero(t)
	seg := func(off int32, s string) dataSeg { return dataSeg{offset: off, init: []byte(s)} }
	tests := []struct {
		name  string
		data  []dataSeg
		gap   int
		after int
		skip  string
	}{
		{"adjacent", []dataSeg{seg(0, "ab"), seg(2, "cd"), seg(4, "ef")}, 0, 1, ""},
		{"small gaps", []dataSeg{seg(0, "ab"), seg(10, "cd"), seg(20, "ef")}, 16, 1, ""},
		{"a gap too large", []dataSeg{seg(0, "ab"), seg(100, "cd"), seg(102, "ef")}, 16, 2, ""},
		{"overlapping: later wins", []dataSeg{seg(0, "abcdef"), seg(2, "XY"), seg(4, "zz")}, 16, 2, ""},
		{"unsorted, gaps clear", []dataSeg{seg(100, "ab"), seg(0, "cd"), seg(10, "ef")}, 16, 2, ""},
		{"unsorted, gap over earlier data", []dataSeg{seg(100, "ab"), seg(90, "cd"), seg(110, "ef")}, 16, 3, ""},
		{"gap over earlier data", []dataSeg{seg(5, "EARLY"), seg(0, "ab"), seg(12, "cd")}, 16, 3, ""},
		{"gap over earlier data, later run clear", []dataSeg{seg(5, "EARLY"), seg(0, "ab"), seg(12, "cd"), seg(20, "gh")}, 16, 3, ""},
		{"empty segments", []dataSeg{seg(0, ""), seg(0, "ab"), seg(2, ""), seg(2, "cd")}, 0, 1, ""},
		{"out of bounds stays out", []dataSeg{seg(0, "ab"), seg(65535, "cd")}, 1 << 20, 1, ""},
		{"negative offset", []dataSeg{seg(0, "ab"), seg(-1, "cd")}, 16, 2, ""},
		{"passive", []dataSeg{seg(0, "ab"), {passive: true, init: []byte("x")}, seg(2, "cd")}, 16, 3, "passive"},
		{"one segment", []dataSeg{seg(7, "abc")}, 16, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testModule{memPages: 1, data: tt.data, dataCount: true}
			st := checkSameMemory(t, rt, m, tt.gap)
			if st.SegmentsAfter != tt.after {
				t.Errorf("%d segments after, want %d", st.SegmentsAfter, tt.after)
			}
			if !strings.Contains(st.CoalesceSkipped, tt.skip) || (tt.skip == "") != (st.CoalesceSkipped == "") {
				t.Errorf("skipped %q, want a reason with %q", st.CoalesceSkipped, tt.skip)
			}
		})
	}
}

// TestCoalesceProperty: whatever the layout of the segments (sorted or not,
// overlapping, empty, out of bounds), the rewritten module's instances start
// with the same memory, or fail to instantiate as the original's do.
func TestCoalesceProperty(t *testing.T) {
	rt := newWazero(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		m := randomModule(rng)
		st := checkSameMemory(t, rt, m, rng.IntN(64))
		if i < 3 {
			t.Logf("layout %d: %d segments -> %d", i, st.SegmentsBefore, st.SegmentsAfter)
		}
	}
}

func randomModule(rng *rand.Rand) testModule {
	m := testModule{memPages: 1 + uint32(rng.IntN(2)), dataCount: rng.IntN(2) == 0}
	n := rng.IntN(40)
	sorted := rng.IntN(2) == 0
	off := int32(0)
	for range n {
		d := dataSeg{init: make([]byte, rng.IntN(20))}
		for j := range d.init {
			d.init[j] = byte(1 + rng.IntN(255))
		}
		if sorted {
			off += int32(rng.IntN(40))
			d.offset = off
			off += int32(len(d.init))
		} else {
			d.offset = int32(rng.IntN(300))
		}
		if rng.IntN(100) == 0 {
			d.offset = int32(m.memPages)*65536 - int32(rng.IntN(10)) // near or past the end
		}
		m.data = append(m.data, d)
	}
	return m
}

// FuzzCoalesce feeds segment layouts decoded from the fuzzer's bytes.
func FuzzCoalesce(f *testing.F) {
	f.Add([]byte{0, 2, 'a', 'b', 2, 2, 'c', 'd'}, uint8(4))
	f.Add([]byte{10, 3, 'x', 'y', 'z', 0, 4, 'a', 'b', 'c', 'd', 5, 1, 'q'}, uint8(0))
	rt := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(context.Background())
	f.Fuzz(func(t *testing.T, layout []byte, gap uint8) {
		m := testModule{memPages: 1}
		for len(layout) >= 2 && len(m.data) < 64 {
			off, n := int32(layout[0])*4, int(layout[1]%16)
			layout = layout[2:]
			n = min(n, len(layout))
			m.data = append(m.data, dataSeg{offset: off, init: layout[:n]})
			layout = layout[n:]
		}
		checkSameMemory(t, rt, m, int(gap))
	})
}

// yieldHost instantiates "host"."yield", which counts its calls and fails
// once stop is set, and "env"."f<i>", which append i to calls.
type yieldHost struct {
	yields int
	stop   bool
	calls  []int
}

const testFuel = 100

func newYieldRuntime(t *testing.T, imports int) (wazero.Runtime, *yieldHost) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	h := &yieldHost{}
	_, err := rt.NewHostModuleBuilder("host").NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(ctx context.Context, stack []uint64) {
			h.yields++
			if h.stop {
				panic(errors.New("stopped by the host"))
			}
			stack[0] = testFuel
		}), nil, []api.ValueType{api.ValueTypeI32}).Export("yield").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := rt.NewHostModuleBuilder("env")
	for i := range imports {
		b.NewFunctionBuilder().WithGoFunction(api.GoFunc(func(context.Context, []uint64) { h.calls = append(h.calls, i) }), nil, nil).Export(fmt.Sprintf("f%d", i))
	}
	if _, err := b.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	return rt, h
}

var yieldOpts = Options{YieldModule: "host", YieldName: "yield", Fuel: testFuel}

// TestFuelChecks: a rewritten module calls the yield every Fuel function
// entries and loop iterations, stops when the yield fails, and renumbers
// the functions that follow the new import everywhere they are named.
func TestFuelChecks(t *testing.T) {
	ctx := context.Background()
	m := testModule{
		imports: 2,
		globals: 1,
		table:   []uint32{0, 3, 1}, // env.f0, count, env.f1
		funcs: [][]byte{
			// 2 spin: loop; br 0; end
			{0x03, 0x40, 0x0c, 0x00, 0x0b},
			// 3 count: global0 += 1 until 1000, in a loop
			{0x03, 0x40, 0x23, 0x00, 0x41, 0x01, 0x6a, 0x24, 0x00, 0x23, 0x00, 0x41, 0xe8, 0x07, 0x48, 0x0d, 0x00, 0x0b},
			// 4 recurse: call 4 (no loop)
			{0x10, 0x04},
			// 5 calls: call f1; call f0; call_indirect 0, 1, 2 of the table
			{0x10, 0x01, 0x10, 0x00, 0x41, 0x00, 0x11, 0x00, 0x00, 0x41, 0x02, 0x11, 0x00, 0x00, 0x41, 0x01, 0x11, 0x00, 0x00},
			// 6 recurseLoop, a Go function's shape: global.get 0;
			// global.set 0; block; loop; call 6; end; end
			{0x23, 0x00, 0x24, 0x00, 0x02, 0x40, 0x03, 0x40, 0x10, 0x06, 0x0b, 0x0b},
			// 7 start: call f1
			{0x10, 0x01},
			// 8 callThenLoop: call f1; loop; end (never called)
			{0x10, 0x01, 0x03, 0x40, 0x0b},
		},
		exports: []string{"spin", "count", "recurse", "calls", "recurseLoop"},
		start:   8, // function 7
	}
	orig := m.bytes()
	out, st, err := Module(orig, yieldOpts)
	if err != nil {
		t.Fatal(err)
	}
	// spin, count and recurseLoop start with their loop, whose check
	// stands for the entry's; callThenLoop calls first.
	if st.Functions != 7 || st.Loops != 4 || st.LoopFirst != 3 {
		t.Errorf("stats %+v: want 7 functions, 4 loops, 3 loop-first", st)
	}

	// The original and the rewritten module do the same calls.
	var got [2][]int
	for i, wasm := range [][]byte{orig, out} {
		rt, h := newYieldRuntime(t, 2)
		mod, err := rt.Instantiate(ctx, wasm)
		if err != nil {
			t.Fatalf("instantiate module %d: %v", i, err)
		}
		if _, err := mod.ExportedFunction("calls").Call(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := mod.ExportedFunction("count").Call(ctx); err != nil {
			t.Fatal(err)
		}
		got[i] = h.calls
		if i == 1 && (h.yields < 1000/testFuel || h.yields > 1000/testFuel+2) {
			t.Errorf("%d yields for ~1000 loop iterations and a fuel of %d", h.yields, testFuel)
		}
	}
	if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) || fmt.Sprint(got[0]) != "[1 1 0 0 1]" {
		t.Errorf("calls: original %v, rewritten %v, want [1 1 0 0 1] (start, then calls)", got[0], got[1])
	}

	// A spinning guest, and one recursing without a loop or through one
	// with no entry check, stop when the yield fails.
	rt, h := newYieldRuntime(t, 2)
	mod, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	h.stop = true
	for _, fn := range []string{"spin", "recurse", "recurseLoop"} {
		if _, err := mod.ExportedFunction(fn).Call(ctx); err == nil || !strings.Contains(err.Error(), "stopped by the host") {
			t.Errorf("%s: %v, want the yield's error", fn, err)
		}
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
		opts Options
		want string
		uns  bool
	}{
		{"not wasm", []byte("hello world"), Options{}, "not a version 1", true},
		{"reserved import", testModule{imports: 1}.bytes(), Options{YieldModule: "env", YieldName: "f0", Fuel: 1}, "reserved for the host", false},
		{"no fuel", testModule{}.bytes(), Options{YieldModule: "host", YieldName: "yield"}, "Fuel must be positive", false},
		{"unknown opcode", testModule{funcs: [][]byte{{0x06}}}.bytes(), yieldOpts, "unknown opcode 0x06", true},
		{"global out of range", testModule{globals: 1, funcs: [][]byte{{0x23, 0x01, 0x1a}}}.bytes(), yieldOpts, "global index 1 out of range", true},
		{"truncated", testModule{funcs: [][]byte{{0x03, 0x40}}}.bytes()[:30], yieldOpts, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Module(tt.wasm, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrUnsupported) != tt.uns {
				t.Errorf("error %v: want one with %q (unsupported: %v)", err, tt.want, tt.uns)
			}
		})
	}
}

func TestLEB(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1 << 20, -(1 << 20), 1<<31 - 1, -1 << 31} {
		r := &reader{b: appendS32(nil, v)}
		if got := r.sleb(32); r.err != nil || got != int64(v) || r.off != len(r.b) {
			t.Errorf("s32 %d: read %d, %v", v, got, r.err)
		}
	}
	for _, v := range []uint32{0, 127, 128, 1 << 28, 1<<32 - 1} {
		r := &reader{b: appendU32(nil, v)}
		if got := r.u32(); r.err != nil || got != v {
			t.Errorf("u32 %d: read %d, %v", v, got, r.err)
		}
	}
}

// FuzzModule: whatever the bytes, Module returns an error or a module whose
// sections split cleanly, and never panics; a module wazero accepts is
// rewritten into one wazero accepts too.
func FuzzModule(f *testing.F) {
	f.Add(testModule{imports: 1, globals: 1, table: []uint32{0}, funcs: [][]byte{{0x03, 0x40, 0x0c, 0x00, 0x0b}}, exports: []string{"f"}}.bytes())
	f.Add(testModule{memPages: 1, data: []dataSeg{{offset: 0, init: []byte("ab")}, {offset: 4, init: []byte("cd")}}}.bytes())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := rt.NewHostModuleBuilder("host").NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(_ context.Context, s []uint64) { s[0] = 1 }), nil, []api.ValueType{api.ValueTypeI32}).
		Export("yield").Instantiate(ctx); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, _, err := Module(wasm, Options{YieldModule: "host", YieldName: "yield", Fuel: 7, Coalesce: true, CoalesceGap: 8})
		if err != nil {
			return
		}
		if _, err := splitSections(out); err != nil {
			t.Fatalf("rewritten module does not split: %v", err)
		}
		cm, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return
		}
		cm.Close(ctx)
		cm, err = rt.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("wazero accepts the module but not its rewrite: %v", err)
		}
		cm.Close(ctx)
	})
}

func TestCoalesceFillBudget(t *testing.T) {
	segs := []segment{{offset: 0, init: []byte("a"), constOffset: true}, {offset: 9, init: []byte("b"), constOffset: true}, {offset: 18, init: []byte("c"), constOffset: true}}
	got := coalesce(segs, 16, 10)
	if len(got) != 2 || len(got[0].init) != 10 || got[1].offset != 18 {
		t.Fatalf("with room for 10 zeros: %d segments (first %d bytes), want the first gap filled and the second not", len(got), len(got[0].init))
	}
}

// TestSectionsCreated: the yield import and the fuel global are added to
// modules that lack an import, global or type section, with the yield's
// type at the index it really has (a module with types but no imports
// once got an import of type 0, which failed validation).
func TestSectionsCreated(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		wasm []byte
	}{
		{"types, no imports, no globals", []byte{
			0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
			0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: () -> ()
			0x03, 0x02, 0x01, 0x00, // one function of type 0
			0x07, 0x08, 0x01, 0x04, 's', 'p', 'i', 'n', 0x00, 0x00, // export "spin"
			0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop; br 0; end
		}},
		{"nothing but a header", []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := Module(tt.wasm, yieldOpts)
			if err != nil {
				t.Fatal(err)
			}
			rt, h := newYieldRuntime(t, 0)
			mod, err := rt.Instantiate(ctx, out)
			if err != nil {
				t.Fatalf("the rewritten module does not instantiate: %v", err)
			}
			if fn := mod.ExportedFunction("spin"); fn != nil {
				h.stop = true
				if _, err := fn.Call(ctx); err == nil || !strings.Contains(err.Error(), "stopped by the host") {
					t.Errorf("spin: %v, want the yield's error", err)
				}
			}
		})
	}
}

// TestBoundTables checks the table section's rewrite: every table gets a
// maximum within its share of the bound (its own when lower), and tables
// starting past it, or in encodings not understood, are refused.
func TestBoundTables(t *testing.T) {
	table := func(ref, flags byte, limits ...uint32) []byte {
		b := []byte{ref, flags}
		for _, l := range limits {
			b = appendU32(b, l)
		}
		return b
	}
	section := func(tables ...[]byte) []byte {
		b := appendU32(nil, uint32(len(tables)))
		for _, t := range tables {
			b = append(b, t...)
		}
		return b
	}
	for _, c := range []struct {
		name string
		in   []byte
		want []byte // nil: an error
		err  error
	}{
		{"no maximum", section(table(0x70, 0, 5)), section(table(0x70, 1, 5, 100)), nil},
		{"a larger maximum", section(table(0x70, 1, 5, 1<<30)), section(table(0x70, 1, 5, 100)), nil},
		{"a smaller maximum kept", section(table(0x70, 1, 5, 7)), section(table(0x70, 1, 5, 7)), nil},
		{"externref", section(table(0x6f, 0, 0)), section(table(0x6f, 1, 0, 100)), nil},
		{"two tables share", section(table(0x70, 0, 10), table(0x70, 1, 1, 1000)), section(table(0x70, 1, 10, 50), table(0x70, 1, 1, 50)), nil},
		{"at the bound", section(table(0x70, 0, 100)), section(table(0x70, 1, 100, 100)), nil},
		{"past the bound", section(table(0x70, 0, 101)), nil, ErrTooLarge},
		{"past a share", section(table(0x70, 0, 10), table(0x70, 0, 60)), nil, ErrTooLarge},
		{"shared limits", section(table(0x70, 3, 1, 2)), nil, ErrUnsupported},
		{"an initialiser", section([]byte{0x40, 0x00, 0x70, 0x00, 0x01}), nil, ErrUnsupported},
		{"truncated", section(table(0x70, 1, 5))[:3], nil, ErrUnsupported},
		{"trailing bytes", append(section(table(0x70, 0, 5)), 0), nil, ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := boundTables(c.in, 100)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("boundTables = %x, %v; want %v", got, err, c.err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("boundTables = %x, %v; want %x", got, err, c.want)
			}
		})
	}
}
