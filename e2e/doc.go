// Package e2e is Wisp's end-to-end suite: it builds wispd, the wisp CLI and
// a set of Wasm test actions (testdata/<name>, each its own Go module built
// for wasip1), starts real wispd processes on temporary data directories and
// loopback ports, and drives them as users do: over HTTP, through the wisp
// CLI, and through the unmodified OpenWhisk JavaScript client (owclient/).
//
// Run it with
//
//	go test ./e2e/ -count=1
//
// It is skipped with -short. The OpenWhisk client test and the
// AssemblyScript SDK tests need node and npm (and the npm registry, or
// npm's cache, for `npm ci`); the C SDK tests need clang and wasi-libc. They
// fail when these are missing (scripts/deps.sh installs them).
package e2e
