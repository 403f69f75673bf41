// A module of its own, so that the wasip1 hello world is not part of the
// main module's build: the benchmark builds it with GOOS=wasip1 GOARCH=wasm.
module gohello

go 1.26
