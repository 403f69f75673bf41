// Command reactor is built with -buildmode=c-shared: a WASI reactor that
// exports _initialize and a function, but no _start. Wisp must refuse it
// as an action.
package main

//go:wasmexport add
func add(a, b int32) int32 { return a + b }

func main() {}
