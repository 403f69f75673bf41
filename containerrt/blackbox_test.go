package containerrt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wispfaas/wisp/containerrt/image"
	"github.com/wispfaas/wisp/containerrt/image/imagetest"
)

func TestBlackboxImage(t *testing.T) {
	var tarball bytes.Buffer
	if err := imagetest.WriteBusyboxDockerSave(&tarball); err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t, Config{Images: &importer{dir: t.TempDir()}})
	if !strings.Contains(strings.Join(r.Kinds(), " "), "blackbox") {
		t.Errorf("Kinds() = %v lacks blackbox", r.Kinds())
	}
	loads := 0
	req := request("bb", 32, `{"name":"Ada"}`)
	req.Kind, req.Digest = "blackbox", "sha256:0123abcd"
	req.Load = func(context.Context) ([]byte, error) { loads++; return tarball.Bytes(), nil }
	for i := range 2 {
		res := run(t, r, req)
		if res.Err != nil {
			t.Fatalf("run %d: %v (%s)", i, res.Err, res.Result)
		}
		if !bytes.Contains(res.Result, []byte(`"greeting": "hello from busybox"`)) || !bytes.Contains(res.Result, []byte(`"name":"Ada"`)) {
			t.Errorf("run %d: result %s", i, res.Result)
		}
		if (i == 0) != (res.InitTime > 0) {
			t.Errorf("run %d: InitTime %v", i, res.InitTime)
		}
	}
	if loads != 1 {
		t.Errorf("the image was loaded %d times, want once", loads)
	}
	// An image whose layer escapes its root is the action's fault.
	bad := req
	bad.Digest, bad.Owner = "sha256:badbad", "/guest/bad@0.0.1/1"
	bad.Load = func(context.Context) ([]byte, error) { return []byte("not a tarball at all"), nil }
	res := run(t, r, bad)
	if res.Err == nil || !res.ActionFailed || !strings.Contains(string(res.Result), "image cannot be used") {
		t.Errorf("a corrupt image: err %v, ActionFailed %v, result %s", res.Err, res.ActionFailed, res.Result)
	}
}

// importer is the simplest ImageSource on package image (wispd uses
// package imagestore, which imports containerrt and so cannot be used
// here): one import per digest, sequential.
type importer struct {
	dir string
	mu  sync.Mutex
}

func (im *importer) Image(ctx context.Context, digest string, load CodeReader) (string, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	dst := filepath.Join(im.dir, strings.TrimPrefix(digest, "sha256:"))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	code, size, done, err := load(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	if _, err := image.Import(ctx, code, size, dst); err != nil {
		if errors.Is(err, image.ErrInvalid) {
			return "", fmt.Errorf("%w: %w", ErrInvalidImage, err)
		}
		return "", err
	}
	return dst, nil
}
