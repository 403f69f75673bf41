// Command echo is a test action: it returns its parameters, logs a line,
// and sleeps for params.sleep_ms when asked.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

func main() {
	var p map[string]any
	_ = json.NewDecoder(os.Stdin).Decode(&p)
	fmt.Fprintln(os.Stderr, "echoing")
	if ms, ok := p["sleep_ms"].(float64); ok {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	if code, ok := p["exit"].(float64); ok {
		os.Exit(int(code))
	}
	_ = json.NewEncoder(os.Stdout).Encode(p)
}
