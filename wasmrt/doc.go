// Package wasmrt runs Wasm actions on wazero.
//
// # The Wasm ABI (portable form)
//
// An action is a WASI preview 1 command module: it exports "_start" and imports only functions of
// wasi_snapshot_preview1. Run writes the parameters, one JSON object, to its stdin; the action writes
// its result, one JSON object, to stdout; each line it writes to stderr is one log line of the
// activation. A trap or a non-zero exit code is an action error, and so is stdout that is empty, not
// a JSON object, or larger than the result limit. The action gets no preopened directories, no
// sockets and no arguments but the program name ("action"); it gets the wall and monotonic clocks,
// sleep, and crypto/rand as its random source. Its linear memory and its wall-clock time are capped
// by the action's limits. Every Run uses a fresh instance: nothing survives from one activation to
// the next.
//
// # Design decisions
//
// Why one wazero runtime, and a memory allocator for the memory limit, not one runtime per limit?
// wazero caps memory per runtime (RuntimeConfig.WithMemoryLimitPages), applied when a module is
// compiled. One runtime per distinct limit would compile (or at least decode and validate) a module
// once per limit, call Code.Load again for each, and could only guess, after a guest died, whether it
// died for lack of memory. wasmrt instead gives each instance its linear memory through wazero's
// experimental.MemoryAllocator: the allocator refuses to grow past the activation's limit and
// remembers what was asked, so the error can say "the action exceeded its memory limit of 128 MB: it
// tried to grow its memory to 130 MB (it exited with code 2)". A module is compiled once per digest,
// whatever the limits of its actions. The cost accepted: an API marked experimental (wazero is pinned
// at v1.12.0; an upgrade must re-run this package's memory tests). A module whose
// minimum memory exceeds the limit is refused before it is instantiated.
//
// Why recycle linear memory? Allocating, zeroing and collecting a fresh memory dominated a warm Run of
// a small module (100–230 µs, against 22–43 µs with recycling, on the shared 2-core machine). The buffer of an
// instance up to 16 MiB goes back to the pooled activation state once the guest cannot run any more,
// zeroed over the length the guest could write (bytes beyond were never writable, hence still zero).
// The pool is a sync.Pool, emptied by the garbage collector, so idle memory is returned.
//
// How are runaway guests stopped? Every module is rewritten before it is compiled (stop.go,
// internal/rewrite): a fuel counter is counted down at function entries and loop headers, and every
// 10,000 the guest calls the host's yield, which stops it (a trap) once the activation's context is
// done or the Runtime is closing. The context is cancelled at the time limit. A guest sleeping in
// poll_oneoff is woken at the deadline too (wasmrt's nanosleep watches the context). Stdout past the
// result limit cancels the same context, so a guest writing 100 MB is stopped after the first
// megabyte, and nothing past the limit is kept. wazero's WithCloseOnContextDone, used before, left the
// guest for Go at every loop iteration: ten times the cost of a warm SDK activation.
//
// Known limit: unbounded recursion in Wasm code ends as a "stack overflow" trap when wazero's call
// stack reaches its ceiling (about 50 MB, not configurable in wazero v1.12); that stack lives outside
// the linear memory and is not counted against the action's memory limit. A Go guest's goroutine
// stacks live in linear memory: its unbounded recursion ends at the memory limit instead.
//
// Compiled modules are kept in memory under their digest, within Config.CompiledMemory (estimated as
// four times the module's size), least recently used first out.
// Compilation of one digest happens once even when many Runs ask for it at once.
package wasmrt
