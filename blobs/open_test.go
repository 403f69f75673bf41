package blobs

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wispfaas/wisp/internal/miniotest"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	dir := filepath.Join(t.TempDir(), "elsewhere")
	tests := []struct {
		spec    string
		wantDir string // of the Local store; "" for an error
		err     string
	}{
		{"", filepath.Join(data, "blobs"), ""},
		{dir, dir, ""},
		{"file://" + dir, dir, ""},
		{"http://example.com/blobs", "", "use a directory"},
		{"s3://", "", "no bucket"},
		{"s3://b?nope=1", "", "unknown parameter"},
	}
	for _, tt := range tests {
		s, err := Open(ctx, tt.spec, data, nil)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Open(%q) = %v, want an error with %q", tt.spec, err, tt.err)
			}
			continue
		}
		l, ok := s.(*Local)
		if err != nil || !ok || l.dir != tt.wantDir {
			t.Errorf("Open(%q) = %T %v, %v; want a local store in %s", tt.spec, s, s, err, tt.wantDir)
		}
	}
	srv := sharedMinIO(t)
	t.Setenv("AWS_ACCESS_KEY_ID", miniotest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", miniotest.SecretKey)
	s, err := Open(ctx, srv.BlobsURL("wisp-open", "p"), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s3, ok := s.(*S3); !ok || s3.Bucket() != "wisp-open" || s3.Prefix() != "p/" {
		t.Fatalf("Open of an s3 URL = %T %v", s, s)
	}
}
