// Command exit3 is a Wasm action that writes a valid result and then exits
// with status 3: the exit status wins, so the activation fails.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println(`{"ignored": true}`)
	fmt.Fprintln(os.Stderr, "exit3: exiting with status 3")
	os.Exit(3)
}
