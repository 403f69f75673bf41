package image_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/wispfaas/wisp/containerrt/image"
	it "github.com/wispfaas/wisp/containerrt/image/imagetest"
)

// benchImages are the busybox test image and a synthetic one of 2,000
// files of 32 KiB (64 MiB, half of it incompressible) in two gzip layers.
func benchImages(b *testing.B) map[string][]byte {
	out := map[string][]byte{}
	var buf bytes.Buffer
	if err := it.WriteBusyboxDockerSave(&buf); err != nil {
		b.Fatal(err)
	}
	out["busybox"] = buf.Bytes()
	rng := rand.New(rand.NewPCG(1, 2))
	var layers []it.Layer
	for l := range 2 {
		var ents []it.Entry
		for i := range 1000 {
			body := make([]byte, 32<<10)
			for j := 0; j < len(body)/2; j += 8 {
				v := rng.Uint64()
				for k := range 8 {
					body[j+k] = byte(v >> (8 * k))
				}
			}
			ents = append(ents, it.Entry{Name: fmt.Sprintf("l%d/d%d/f%d", l, i/100, i), Body: body})
		}
		layers = append(layers, it.Layer{Entries: ents, Compression: it.Gzip})
	}
	f, err := it.Image{Layers: layers, Entrypoint: []string{"/x"}}.OCI(false)
	if err != nil {
		b.Fatal(err)
	}
	if out["64MiB"], err = f.Tar(); err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkInspect(b *testing.B) {
	for name, img := range benchImages(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(img)))
			for b.Loop() {
				if _, err := image.Inspect(context.Background(), bytes.NewReader(img), int64(len(img))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkImport(b *testing.B) {
	for name, img := range benchImages(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(img)))
			dir := b.TempDir()
			i := 0
			for b.Loop() {
				i++
				if _, err := image.Import(context.Background(), bytes.NewReader(img), int64(len(img)), filepath.Join(dir, fmt.Sprint(i))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
