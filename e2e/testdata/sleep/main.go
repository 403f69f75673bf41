// Command sleep is a Wasm action that sleeps for params.ms milliseconds
// and returns {"slept": ms}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	var p struct {
		Ms int `json:"ms"`
	}
	_ = json.Unmarshal(in, &p)
	fmt.Fprintf(os.Stderr, "sleep: sleeping %d ms\n", p.Ms)
	time.Sleep(time.Duration(p.Ms) * time.Millisecond)
	fmt.Fprintf(os.Stderr, "sleep: woke up\n")
	fmt.Printf(`{"slept": %d}`+"\n", p.Ms)
}
