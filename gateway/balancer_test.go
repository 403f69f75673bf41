package gateway

import (
	"hash/fnv"
	"testing"
)

// weight must stay FNV-1a of key, 0, invoker: gateways of different
// versions must agree on every action's home invoker.
func TestWeightIsFNV1a(t *testing.T) {
	for _, c := range [][2]string{{"", ""}, {"guest/hello", "inv0"}, {"/ns/pkg/a b", "host-1"}, {"ü", "x"}} {
		h := fnv.New64a()
		h.Write([]byte(c[0]))
		h.Write([]byte{0})
		h.Write([]byte(c[1]))
		if got, want := weight(c[0], c[1]), h.Sum64(); got != want {
			t.Errorf("weight(%q, %q) = %x, want %x", c[0], c[1], got, want)
		}
	}
}

func BenchmarkBalancerPick(b *testing.B) {
	live := fixedInvokers{{ID: "a", Capacity: 4}, {ID: "b", Capacity: 4}, {ID: "c", Capacity: 4}}
	bal := newBalancer(live)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = bal.pick("guest/hello", "wasm")
	}
}
