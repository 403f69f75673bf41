package imagestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wispfaas/wisp/containerrt"
	"github.com/wispfaas/wisp/containerrt/image/imagetest"
)

func busyboxTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := imagetest.WriteBusyboxDockerSave(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Concurrent first uses of one image import it once; later uses answer
// from the directory.
func TestImageImportsOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	code := busyboxTar(t)
	digest := digestOf(code)
	var loads atomic.Int32
	load := func(context.Context) ([]byte, error) { loads.Add(1); return code, nil }
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = s.Image(context.Background(), digest, containerrt.CodeBytes(load))
		}()
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Fatalf("call %d: %q, %v (first: %q)", i, dirs[i], errs[i], dirs[0])
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("the image was loaded %d times, want 1", n)
	}
	for _, f := range []string{"rootfs/bin/busybox", "runtime.json", "stamp"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("imported image lacks %s: %v", f, err)
		}
	}
	// A new Store on the same directory (a restart) finds it.
	s2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Image(context.Background(), digest, containerrt.CodeBytes(load)); err != nil || got != dirs[0] || loads.Load() != 1 {
		t.Fatalf("after reopening: %q, %v, %d loads", got, err, loads.Load())
	}
}

func TestImageRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	// A crash's half import is removed on Open.
	half := filepath.Join(dir, ".abc.import-123")
	if err := os.MkdirAll(filepath.Join(half, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Fatalf("half import left: %v", err)
	}
	garbage := []byte("this is not an image")
	tests := []struct {
		name, digest string
		load         func(context.Context) ([]byte, error)
		invalidImage bool
	}{
		{"bad digest", "sha256:../../etc", nil, false},
		{"not sha256", "md5:0123", nil, false},
		{"load fails", digestOf(garbage), func(context.Context) ([]byte, error) { return nil, errors.New("store down") }, false},
		{"not an image", digestOf(garbage), func(context.Context) ([]byte, error) { return garbage, nil }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Image(context.Background(), tt.digest, containerrt.CodeBytes(tt.load))
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, containerrt.ErrInvalidImage); got != tt.invalidImage {
				t.Fatalf("errors.Is(%v, ErrInvalidImage) = %v", err, got)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("bad input left %d entries in the store", len(entries))
	}
}
