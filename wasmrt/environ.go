package wasmrt

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The environment of a command-form activation is not put in its
// wazero.ModuleConfig: the config is immutable, so every variable would
// clone it (six per activation), and wazero copies every variable again
// into each instance, while most guests never read their environment (a C
// guest reads it only if it calls getenv). WASI's environ_sizes_get and
// environ_get are instead host functions that read the activation's
// variables from the context of the call (docs/rationale.md).

// envKey is the context key of the activation's environment.
type envKey struct{}

// withEnvironment returns ctx carrying env for the guest's environ calls.
func withEnvironment(ctx context.Context, env map[string]string) context.Context {
	if len(env) == 0 {
		return ctx
	}
	return context.WithValue(ctx, envKey{}, env)
}

// errEnviron is an environment a process cannot have.
var errEnviron = errors.New("wasmrt: invalid environment: a variable name is empty or holds '=' or NUL, or a value holds NUL")

// checkEnvironment rejects what wazero refused in a ModuleConfig.
func checkEnvironment(env map[string]string) error {
	for k, v := range env {
		if k == "" || strings.IndexByte(k, '=') >= 0 || strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return errEnviron
		}
	}
	return nil
}

// environment returns the "key=value" entries of the call's environment,
// sorted by key.
func environment(ctx context.Context) []string {
	env, _ := ctx.Value(envKey{}).(map[string]string)
	if len(env) == 0 {
		return nil
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out) // by key: names hold no '='
	return out
}

const errnoFault = 21 // WASI preview 1's errno "fault"

var i32x2 = []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}

// instantiateWASI instantiates WASI preview 1 in rt, with its environment
// functions replaced by environSizesGet and environGet.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(environSizesGet), i32x2, []api.ValueType{api.ValueTypeI32}).
		WithParameterNames("result.environc", "result.environv_len").
		Export("environ_sizes_get")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(environGet), i32x2, []api.ValueType{api.ValueTypeI32}).
		WithParameterNames("environ", "environ_buf").
		Export("environ_get")
	_, err := b.Instantiate(ctx)
	return err
}

// environSizesGet writes the number of variables and the size of their
// NUL-terminated "key=value" strings.
func environSizesGet(ctx context.Context, mod api.Module, stack []uint64) {
	env := environment(ctx)
	size := 0
	for _, e := range env {
		size += len(e) + 1
	}
	mem := mod.Memory()
	if !mem.WriteUint32Le(uint32(stack[0]), uint32(len(env))) || !mem.WriteUint32Le(uint32(stack[1]), uint32(size)) {
		stack[0] = errnoFault
		return
	}
	stack[0] = 0
}

// environGet writes the offsets of the variables at environ and their
// NUL-terminated "key=value" strings from environBuf on.
func environGet(ctx context.Context, mod api.Module, stack []uint64) {
	environ, buf := uint32(stack[0]), uint32(stack[1])
	mem := mod.Memory()
	for i, e := range environment(ctx) {
		if !mem.WriteUint32Le(environ+uint32(4*i), buf) || !mem.WriteString(buf, e) || !mem.WriteByte(buf+uint32(len(e)), 0) {
			stack[0] = errnoFault
			return
		}
		buf += uint32(len(e)) + 1
	}
	stack[0] = 0
}
