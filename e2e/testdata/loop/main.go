// Command loop is a Wasm action that never ends: it spins forever.
package main

import "os"

var sink int

func main() {
	os.Stderr.WriteString("loop: spinning\n")
	for i := 0; ; i++ {
		sink = i
	}
}
