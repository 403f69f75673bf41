// Command gohello is the Go hello world for the benchmark: a WASI command
// (GOOS=wasip1 GOARCH=wasm) that reads the parameters as a JSON object on
// stdin and writes the result as a JSON object on stdout.
package main

import (
	"encoding/json"
	"os"
)

func main() {
	var params struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&params); err != nil {
		params.Name = ""
	}
	if params.Name == "" {
		params.Name = "world"
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{"greeting": "Hello, " + params.Name + "!"})
}
