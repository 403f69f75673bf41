// Command hello is a Wasm action: it greets params.name, logs two lines to
// stderr, and echoes every parameter it got under "params". With
// params.fail it returns {"error": ...}, an application error. With
// params.env true it adds the __OW_* environment variables under "env".
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read stdin:", err)
		os.Exit(1)
	}
	params := map[string]any{}
	if err := json.Unmarshal(in, &params); err != nil {
		fmt.Fprintln(os.Stderr, "parameters are not a JSON object:", err)
		os.Exit(1)
	}
	name, _ := params["name"].(string)
	if name == "" {
		name = "stranger"
	}
	fmt.Fprintf(os.Stderr, "hello: greeting %s\n", name)
	fmt.Fprintf(os.Stderr, "hello: activation %s\n", os.Getenv("__OW_ACTIVATION_ID"))
	out := map[string]any{"greeting": "Hello, " + name + "!", "params": params}
	if params["env"] == true {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "__OW_") {
				env[k] = v
			}
		}
		out["env"] = env
	}
	if msg, ok := params["fail"].(string); ok {
		out = map[string]any{"error": msg}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
