package image_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wispfaas/wisp/containerrt/image"
	it "github.com/wispfaas/wisp/containerrt/image/imagetest"
)

const sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"

// TestBusyboxLoop imports the busybox test image and runs its entrypoint
// chrooted in the imported rootfs as uid 65534 (the container's user), as
// the container protocol would: init, a run, then a run that asks it to
// exit. It proves the image the pool's tests use is importable and speaks
// the protocol; containers themselves are the pool's tests.
func TestBusyboxLoop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test chroots and must run as root (as CI does)")
	}
	var buf bytes.Buffer
	if err := it.WriteBusyboxDockerSave(&buf); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "busybox")
	cfg, err := image.Import(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), dst)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cfg.Args[0], cfg.Args[1:]...)
	cmd.Env = cfg.Env
	cmd.Dir = cfg.Cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     filepath.Join(dst, "rootfs"),
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534},
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	r3, w3, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles = []*os.File{w3}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w3.Close()
	defer cmd.Process.Kill()
	replies := bufio.NewReader(r3)
	logs := bufio.NewReader(stdout)

	// untilSentinel returns an activation's stdout lines.
	untilSentinel := func() []string {
		var lines []string
		for {
			l, err := logs.ReadString('\n')
			if err != nil {
				t.Fatalf("stdout: %v (stderr: %s)", err, stderr.String())
			}
			l = strings.TrimSuffix(l, "\n")
			if l == sentinel {
				return lines
			}
			lines = append(lines, l)
		}
	}
	send := func(line string) map[string]any {
		t.Helper()
		if _, err := stdin.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		reply, err := replies.ReadString('\n')
		if err != nil {
			t.Fatalf("fd 3: %v (stderr: %s)", err, stderr.String())
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(reply), &m); err != nil {
			t.Fatalf("reply %q is not a JSON object: %v", reply, err)
		}
		return m
	}

	if r := send(`{"init": {"main": "main", "binary": true, "entry": "", "env": {}}}`); r["ok"] != true {
		t.Fatalf("init reply %v", r)
	}
	if l := untilSentinel(); len(l) != 1 || l[0] != "blackbox: init" {
		t.Errorf("init logs %q", l)
	}
	run := `{"value": {"name": "Ada"}, "namespace": "guest", "activation_id": "0123"}`
	r := send(run)
	if r["blackbox"] != true || r["greeting"] != "hello from busybox" {
		t.Errorf("run reply %v", r)
	}
	if req, _ := r["request"].(map[string]any); req["activation_id"] != "0123" {
		t.Errorf("run reply's request %v", r["request"])
	}
	if l := untilSentinel(); len(l) != 1 || l[0] != "blackbox: run on stdout" {
		t.Errorf("run logs %q", l)
	}
	stdin.Write([]byte(`{"value": {"exit": 1}}` + "\n"))
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("after an exit run: %v, want exit status 3", err)
	}
	if n := strings.Count(stderr.String(), sentinel); n != 2 {
		t.Errorf("stderr has %d sentinels, want 2: %s", n, stderr.String())
	}
}
