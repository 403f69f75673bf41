package blobs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storeSuite is the behaviour every Store must have; the S3 store runs it too.
func storeSuite(t *testing.T, s Store, corrupt func(digest string)) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("wisp"), 100_000)
	info, err := PutBytes(ctx, s, data)
	if err != nil {
		t.Fatal(err)
	}
	if info.Digest != Digest(data) || info.Size != int64(len(data)) {
		t.Fatalf("Put = %+v", info)
	}
	if _, err := PutBytes(ctx, s, data); err != nil {
		t.Fatalf("second Put of the same bytes: %v", err)
	}
	got, err := ReadAll(ctx, s, info.Digest)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
	}
	if st, err := s.Stat(ctx, info.Digest); err != nil || st.Size != info.Size {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	missing := Digest([]byte("never stored"))
	if _, err := s.Get(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	if _, err := s.Stat(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat missing: %v", err)
	}
	for _, bad := range []string{"", "md5:abc", "sha256:xyz", "sha256:../../etc/passwd"} {
		if _, err := s.Get(ctx, bad); !errors.Is(err, ErrBadDigest) {
			t.Errorf("Get(%q): %v", bad, err)
		}
	}
	corrupt(info.Digest)
	if _, err := ReadAll(ctx, s, info.Digest); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupted blob read: %v", err)
	}
	if err := s.Delete(ctx, info.Digest); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, info.Digest); err != nil {
		t.Fatalf("Delete twice: %v", err)
	}
	if _, err := s.Stat(ctx, info.Digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after delete: %v", err)
	}
	// A failed upload leaves nothing behind.
	ctxDone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(ctxDone, strings.NewReader("cut short")); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if _, err := s.Stat(ctx, Digest([]byte("cut short"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed upload is visible: %v", err)
	}
}

func TestLocalStore(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	storeSuite(t, s, func(digest string) {
		p, _ := s.path(digest)
		if err := os.WriteFile(p, []byte("tampered"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %d", len(left))
	}
}
