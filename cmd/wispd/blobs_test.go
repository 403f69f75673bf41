package main

import "testing"

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1GiB", 1 << 30, true},
		{"512MiB", 512 << 20, true},
		{"512 MiB", 512 << 20, true},
		{"2G", 2 << 30, true},
		{"1.5GiB", 3 << 29, true},
		{"100MB", 100_000_000, true},
		{"4096", 4096, true},
		{"10KiB", 10 << 10, true},
		{"", 0, false},
		{"0", 0, false},
		{"-1GiB", 0, false},
		{"12XB", 0, false},
		{"GiB", 0, false},
		{"1e30", 0, false},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
