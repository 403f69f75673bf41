package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary be the floor server too: startFloor
// re-executes the running program with floorAddrEnv set, as main does.
func TestMain(m *testing.M) {
	if addr := os.Getenv(floorAddrEnv); addr != "" {
		if err := serveFloor(addr); err != nil {
			fmt.Fprintln(os.Stderr, "floor server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
