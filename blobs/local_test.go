package blobs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// localHarness runs the store suite on a Local store in a temporary
// directory.
func localHarness(t *testing.T) *harness {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{
		store: s,
		corrupt: func(digest string) {
			p, _ := s.path(digest)
			if err := os.WriteFile(p, []byte("tampered"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		leaveStaged: func() {
			p := filepath.Join(dir, "tmp", "upload-crashed")
			if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func TestLocalStore(t *testing.T) {
	runStoreSuite(t, localHarness)
}

func TestLocalStoreLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := []byte("some code")
	if _, err := PutBytes(ctx, s, data); err != nil {
		t.Fatal(err)
	}
	bad := Info{Digest: Digest([]byte("other code")), Size: int64(len(data))}
	if _, err := s.PutVerified(ctx, bytesReader(data), bad); err == nil {
		t.Fatal("a mismatched upload was accepted")
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %d", len(left))
	}
}
