package image_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wispfaas/wisp/containerrt/image"
	"github.com/wispfaas/wisp/internal/treetest"
)

// TestUmociInterop builds an image with umoci (a real OCI tool, from
// scripts/deps.sh) in three layers — files, a hard link, setuid, then
// deletions umoci writes as whiteouts, a directory replaced, a symlink —
// and checks that Import, from the layout directory and from a tar of it,
// produces what umoci's own unpack does, setuid bits aside.
func TestUmociInterop(t *testing.T) {
	if _, err := exec.LookPath("umoci"); err != nil {
		t.Fatal("umoci is needed (scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	umoci := func(args ...string) {
		t.Helper()
		cmd := exec.Command("umoci", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("umoci %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	write := func(p, body string, mode os.FileMode) {
		t.Helper()
		p = filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	umoci("init", "--layout", "img")
	umoci("new", "--image", "img:latest")
	umoci("unpack", "--image", "img:latest", "b1")
	write("b1/rootfs/etc/keep", "keep", 0o4755)
	write("b1/rootfs/etc/gone", "gone", 0o644)
	write("b1/rootfs/etc/conf/a", "a", 0o644)
	write("b1/rootfs/opt/old/x", "x", 0o600)
	if err := os.Link(filepath.Join(dir, "b1/rootfs/etc/keep"), filepath.Join(dir, "b1/rootfs/etc/keep-hard")); err != nil {
		t.Fatal(err)
	}
	umoci("repack", "--image", "img:latest", "b1")
	umoci("unpack", "--image", "img:latest", "b2")
	os.Remove(filepath.Join(dir, "b2/rootfs/etc/gone"))
	os.RemoveAll(filepath.Join(dir, "b2/rootfs/opt"))
	os.RemoveAll(filepath.Join(dir, "b2/rootfs/etc/conf"))
	write("b2/rootfs/etc/conf/b", "b", 0o644)
	os.Symlink("/usr/share/zoneinfo/UTC", filepath.Join(dir, "b2/rootfs/etc/localtime"))
	umoci("repack", "--image", "img:latest", "b2")
	umoci("unpack", "--image", "img:latest", "b3")
	write("b3/rootfs/srv/app", "app", 0o755)
	umoci("repack", "--image", "img:latest", "b3")
	umoci("config", "--image", "img:latest", "--config.entrypoint", "/srv/app", "--config.cmd", "serve",
		"--config.workingdir", "/srv", "--config.env", "GREETING=hi")
	umoci("unpack", "--image", "img:latest", "ref")
	tarball := filepath.Join(dir, "img.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(dir, "img"), "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}

	want := treetest.Describe(t, filepath.Join(dir, "ref/rootfs"), treetest.Options{Links: true})
	for _, src := range []string{filepath.Join(dir, "img"), tarball} {
		dst := filepath.Join(t.TempDir(), "img")
		cfg, err := image.ImportPath(context.Background(), src, dst)
		if err != nil {
			t.Fatalf("Import %s: %v", src, err)
		}
		wantCfg := &image.Config{Args: []string{"/srv/app", "serve"}, Cwd: "/srv"}
		if !reflect.DeepEqual(cfg.Args, wantCfg.Args) || cfg.Cwd != wantCfg.Cwd || !strings.Contains(strings.Join(cfg.Env, " "), "GREETING=hi") {
			t.Errorf("config %+v", cfg)
		}
		if got := treetest.Describe(t, filepath.Join(dst, "rootfs"), treetest.Options{Links: true}); !reflect.DeepEqual(got, want) {
			t.Errorf("Import of %s:\n%s\numoci unpack:\n%s", filepath.Base(src), show(got), show(want))
		}
	}
	if want["etc/keep"] != "f 755 2 keep" || want["etc/gone"] != "" || want["opt"] != "" || want["etc/conf/a"] != "" {
		t.Errorf("umoci's unpack is not the image this test meant to build:\n%s", show(want))
	}
}
