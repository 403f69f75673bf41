package containerrt

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/wispfaas/wisp/containerrt/image/imagetest"
)

func TestBlackboxImage(t *testing.T) {
	var tarball bytes.Buffer
	if err := imagetest.WriteBusyboxDockerSave(&tarball); err != nil {
		t.Fatal(err)
	}
	images, err := NewImageCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := newRuntime(t, Config{Images: images})
	if !strings.Contains(strings.Join(r.Kinds(), " "), "blackbox") {
		t.Errorf("Kinds() = %v lacks blackbox", r.Kinds())
	}
	loads := 0
	req := request("bb", 32, `{"name":"Ada"}`)
	req.Kind, req.Digest = "blackbox", "sha256/0123abcd"
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
	bad.Digest, bad.Owner = "sha256/badbad", "/guest/bad@0.0.1/1"
	bad.Load = func(context.Context) ([]byte, error) { return []byte("not a tarball at all"), nil }
	res := run(t, r, bad)
	if res.Err == nil || !res.ActionFailed || !strings.Contains(string(res.Result), "image cannot be used") {
		t.Errorf("a corrupt image: err %v, ActionFailed %v, result %s", res.Err, res.ActionFailed, res.Result)
	}
	// A digest that is not one is refused, never used as a path.
	bad.Digest = "sha256/../../etc"
	if res := run(t, r, bad); res.Err == nil || res.ActionFailed {
		t.Errorf("a digest with ..: err %v, ActionFailed %v", res.Err, res.ActionFailed)
	}
}
