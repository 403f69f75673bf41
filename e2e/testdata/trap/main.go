// Command trap is a Wasm action that fails hard. By default it stores to
// an address far past its linear memory, which is a WebAssembly trap
// ("out of bounds memory access"). With {"mode": "panic"} it panics, which
// the Go runtime turns into exit status 2.
package main

import (
	"encoding/json"
	"io"
	"os"
	"unsafe"
)

var far uintptr = 0xFFFF_FFF0

func main() {
	in, _ := io.ReadAll(os.Stdin)
	var p struct {
		Mode string `json:"mode"`
	}
	_ = json.Unmarshal(in, &p)
	if p.Mode == "panic" {
		panic("trap: deliberate panic")
	}
	os.Stderr.WriteString("trap: storing out of bounds\n")
	*(*uint64)(unsafe.Pointer(far)) = 42
	os.Stdout.WriteString(`{"unreachable": true}`)
}
