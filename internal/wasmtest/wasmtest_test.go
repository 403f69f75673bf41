package wasmtest

import (
	"bytes"
	"testing"
)

func TestULEB(t *testing.T) {
	tests := []struct {
		v    uint32
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{300, []byte{0xac, 0x02}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{0xffffffff, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tt := range tests {
		if got := ULEB(uint64(tt.v)); !bytes.Equal(got, tt.want) {
			t.Errorf("ULEB(%d) = % x, want % x", tt.v, got, tt.want)
		}
	}
}

func TestWithCustomSectionLayout(t *testing.T) {
	payload := bytes.Repeat([]byte("p"), 200) // a size that takes two LEB128 bytes
	out := WithCustomSection(MinimalCommand, "nonce", payload)
	if !bytes.Equal(out[:len(MinimalCommand)], MinimalCommand) {
		t.Fatal("the module's own bytes changed")
	}
	sec := out[len(MinimalCommand):]
	content := append(append([]byte{5}, "nonce"...), payload...)
	want := append(append([]byte{0}, ULEB(uint64(len(content)))...), content...)
	if !bytes.Equal(sec, want) {
		t.Errorf("section = % x…, want % x…", sec[:12], want[:12])
	}
	if bytes.Equal(WithCustomSection(MinimalCommand, "n", []byte("a")), WithCustomSection(MinimalCommand, "n", []byte("b"))) {
		t.Error("different payloads gave the same module")
	}
}
