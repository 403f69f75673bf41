// Command notjson is a Wasm action whose output is not a JSON object.
package main

import "fmt"

func main() {
	fmt.Print("hello, world")
}
