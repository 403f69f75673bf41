package actioncode

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkPlaceZip places a python zip of 1,000 files of 4 KiB (a small
// virtualenv), check included, as an invoker does for a cold container.
func BenchmarkPlaceZip(b *testing.B) {
	ents := []zent{{name: "__main__.py", body: "def main(a): return a"}}
	for i := range 1000 {
		body := make([]byte, 4096)
		for j := range body {
			body[j] = byte(i*31 + j*7)
		}
		ents = append(ents, zent{name: fmt.Sprintf("virtualenv/lib/site-packages/p%d/m%d.py", i/50, i), body: string(body)})
	}
	code := mkzip(b, ents...)
	dir := b.TempDir()
	b.SetBytes(int64(len(code)))
	i := 0
	for b.Loop() {
		i++
		if _, err := Place(filepath.Join(dir, fmt.Sprint(i)), KindPython, code, true); err != nil {
			b.Fatal(err)
		}
	}
}
