package main

import "testing"

// TestFreshPageCost checks that the fresh-memory row measures something
// (its value is the machine's, never judged here).
func TestFreshPageCost(t *testing.T) {
	if d := freshPageCost(); d <= 0 {
		t.Fatalf("freshPageCost() = %v, want a positive duration", d)
	}
}
