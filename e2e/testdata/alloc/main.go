// Command alloc is a Wasm action that allocates (and touches) memory one
// MB at a time, without end, until its memory limit stops it.
package main

import "os"

var keep [][]byte

func main() {
	os.Stderr.WriteString("alloc: allocating\n")
	for {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1
		}
		keep = append(keep, b)
	}
}
