package containerrt

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wispfaas/wisp/internal/mounttest"
	"github.com/wispfaas/wisp/runtimes"
	"golang.org/x/sys/unix"
)

// TestCopyTree copies a tree with what a runtime's root filesystem holds
// and checks every property containers and interpreters rely on.
func TestCopyTree(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+7) // past one 2 MB page
	writeTree(t, src, map[string][]byte{
		"usr/bin/tool":          big,
		"usr/lib/x/__init__.py": []byte("x = 1\n"),
		"etc/empty":             nil,
	})
	must(t, os.Chmod(filepath.Join(src, "usr/bin/tool"), 0o755))
	must(t, os.Link(filepath.Join(src, "usr/bin/tool"), filepath.Join(src, "usr/bin/tool2")))
	must(t, os.Symlink("tool", filepath.Join(src, "usr/bin/alias")))
	must(t, os.Symlink("/nowhere", filepath.Join(src, "dangling")))
	must(t, os.Mkdir(filepath.Join(src, "locked"), 0o755))
	writeTree(t, filepath.Join(src, "locked"), map[string][]byte{"inside": []byte("in")})
	must(t, os.Chmod(filepath.Join(src, "locked"), 0o555))
	must(t, os.Chown(filepath.Join(src, "etc/empty"), 1234, 5678))
	old := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC)
	must(t, os.Chtimes(filepath.Join(src, "usr/lib/x/__init__.py"), old, old))
	must(t, os.Chtimes(filepath.Join(src, "usr/lib/x"), old, old))

	m := &memRootfs{stop: make(chan struct{})}
	dst := filepath.Join(t.TempDir(), "dst")
	size, err := m.copyTree(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(big) + len("x = 1\n") + len("in")); size != want {
		t.Errorf("copied %d bytes, want %d (a hard link once)", size, want)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "usr/bin/tool")); err != nil || !bytes.Equal(b, big) {
		t.Errorf("usr/bin/tool: %d bytes, %v", len(b), err)
	}
	stat := func(p string) *unix.Stat_t {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dst, p), &st); err != nil {
			t.Fatal(err)
		}
		return &st
	}
	if a, b := stat("usr/bin/tool"), stat("usr/bin/tool2"); a.Ino != b.Ino {
		t.Error("the hard link became two files")
	}
	if st := stat("usr/bin/tool"); st.Mode&0o7777 != 0o755 {
		t.Errorf("usr/bin/tool mode %#o", st.Mode&0o7777)
	}
	if st := stat("locked"); st.Mode&0o7777 != 0o555 {
		t.Errorf("locked mode %#o", st.Mode&0o7777)
	}
	if st := stat("etc/empty"); st.Uid != 1234 || st.Gid != 5678 || st.Size != 0 {
		t.Errorf("etc/empty: owner %d:%d, size %d", st.Uid, st.Gid, st.Size)
	}
	for _, p := range []string{"usr/lib/x/__init__.py", "usr/lib/x"} {
		if st := stat(p); time.Unix(st.Mtim.Unix()).UTC() != old {
			t.Errorf("%s modified %v, want %v (Python checks its compiled files against it)", p, time.Unix(st.Mtim.Unix()).UTC(), old)
		}
	}
	for link, want := range map[string]string{"usr/bin/alias": "tool", "dangling": "/nowhere"} {
		if got, err := os.Readlink(filepath.Join(dst, link)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %q", link, got, err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "locked/inside")); err != nil || string(b) != "in" {
		t.Errorf("locked/inside: %q %v", b, err)
	}
}

// TestCopyTreeRefusesSpecialFiles: a device or a pipe fails the copy with
// its path (the runtime then stays on disk).
func TestCopyTreeRefusesSpecialFiles(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"a": []byte("a")})
	must(t, unix.Mkfifo(filepath.Join(src, "pipe"), 0o644))
	m := &memRootfs{stop: make(chan struct{})}
	_, err := m.copyTree(src, filepath.Join(t.TempDir(), "dst"))
	if err == nil || !strings.Contains(err.Error(), "pipe is not a file, directory or symbolic link") {
		t.Fatalf("err %v", err)
	}
}

// TestRootfsInMemory: with RootfsInMemory, a runtime marked inMemory is
// copied to a tmpfs under the state directory, its containers start from
// there, a runtime not marked stays on disk, and Close unmounts the tmpfs.
// A tmpfs left mounted by a crashed predecessor is replaced.
func TestRootfsInMemory(t *testing.T) {
	if ok, why := hugeShmem(); !ok {
		t.Fatalf("this machine cannot give a tmpfs huge pages, which CI's can: %s", why)
	}
	dir := t.TempDir()
	rts := filepath.Join(dir, "runtimes")
	// The test runtime, marked inMemory, and another one that is not.
	if err := writeBusyboxRuntime(filepath.Join(rts, "native"), "native", testLauncher); err != nil {
		t.Fatal(err)
	}
	rj, _ := json.Marshal(runtimes.Spec{Kind: "native", Args: []string{"/bin/sh", "/wisp/launcher.sh"}, Env: []string{"PATH=/bin"}, Cwd: "/action", InMemory: true})
	must(t, os.WriteFile(filepath.Join(rts, "native", "runtime.json"), rj, 0o644))
	if err := writeBusyboxRuntime(filepath.Join(rts, "disk"), "disk:1", testLauncher); err != nil {
		t.Fatal(err)
	}
	// And one marked inMemory that cannot be copied: it stays on disk.
	if err := writeBusyboxRuntime(filepath.Join(rts, "odd"), "odd:1", testLauncher); err != nil {
		t.Fatal(err)
	}
	rj, _ = json.Marshal(runtimes.Spec{Kind: "odd:1", Args: []string{"/bin/sh", "/wisp/launcher.sh"}, Env: []string{"PATH=/bin"}, Cwd: "/action", InMemory: true})
	must(t, os.WriteFile(filepath.Join(rts, "odd", "runtime.json"), rj, 0o644))
	must(t, unix.Mkfifo(filepath.Join(rts, "odd", "rootfs", "tmp", "fifo"), 0o644))

	state := filepath.Join(dir, "state")
	memDir := filepath.Join(state, memRootfsDir)
	// What a crash leaves: the tmpfs still mounted, with a copy in it.
	must(t, os.MkdirAll(memDir, 0o755))
	must(t, unix.Mount("leftover", memDir, "tmpfs", 0, "size=1m"))
	must(t, os.WriteFile(filepath.Join(memDir, "stale"), []byte("x"), 0o644))
	t.Cleanup(func() { _ = unmountAll(memDir) })

	r := newRuntime(t, Config{StateDir: state, RuntimesDir: rts, RootfsInMemory: true})
	waitFor(t, "the copy in memory", func() bool {
		img := r.builtImage("native")
		return img != nil && strings.HasPrefix(img.Rootfs, memDir+"/")
	})
	// (Not read from /proc/self/mountinfo, which can miss a line while
	// other processes mount and unmount, as other packages' tests do.)
	var fs unix.Statfs_t
	must(t, unix.Statfs(memDir, &fs))
	if size := uint64(fs.Blocks) * uint64(fs.Bsize); fs.Type != unix.TMPFS_MAGIC || size != memRootfsMaxMB<<20 {
		t.Errorf("%s: file system type %#x of %d bytes: want Wisp's tmpfs of %d MB (the leftover is 1 MB)", memDir, fs.Type, size, memRootfsMaxMB)
	}
	if _, err := os.Stat(filepath.Join(memDir, "stale")); err == nil {
		t.Error("the leftover copy is still there")
	}
	if n := mounttest.SourcesAt(t, memDir); slices.Contains(n, "leftover") {
		t.Errorf("mounts at %s: %q: the leftover is still mounted, under Wisp's", memDir, n)
	}
	if img := r.builtImage("disk:1"); img == nil || strings.HasPrefix(img.Rootfs, memDir) {
		t.Errorf("disk:1 (not marked inMemory): %+v", img)
	}
	r.mem.mu.Lock()
	odd := r.mem.copies[copyName(r.builtImage("odd:1"))]
	r.mem.mu.Unlock()
	<-odd.done
	if img := r.builtImage("odd:1"); img == nil || strings.HasPrefix(img.Rootfs, memDir) {
		t.Errorf("odd:1 (its copy failed): %+v", img)
	}
	if st := r.Stats(); !slices.Equal(st.InMemory, []string{"native"}) {
		t.Errorf("Stats().InMemory = %q, want only native", st.InMemory)
	}
	if _, err := os.Stat(filepath.Join(memDir, copyName(r.builtImage("odd:1"))+".tmp")); err == nil {
		t.Error("the failed copy's files are left in memory")
	}

	req := request("mem", 64, `{"mode":"sleep","ms":2000}`)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res := run(t, r, req); res.Err != nil {
			t.Errorf("Run: %v %s", res.Err, res.Result)
		}
	}()
	pids := waitPids(t, r, req.Owner)
	var root, tmpfs unix.Stat_t
	must(t, unix.Stat("/proc/"+strconv.Itoa(pids[0])+"/root/bin", &root))
	must(t, unix.Stat(memDir, &tmpfs))
	if root.Dev != tmpfs.Dev {
		t.Errorf("the container's root is not on the tmpfs (device %#x, the tmpfs's %#x)", root.Dev, tmpfs.Dev)
	}
	<-done

	must(t, r.Close(t.Context()))
	if _, err := os.Stat(memDir); err == nil {
		t.Errorf("after Close, %s is still there", memDir)
	}
}

// TestNodeStartsFromHugePages: the nodejs20 runtime's node runs from the
// copy in memory with its executable mapped by 2 MB pages, the point of
// the copy.
func TestNodeStartsFromHugePages(t *testing.T) {
	if ok, why := hugeShmem(); !ok {
		t.Fatalf("this machine cannot give a tmpfs huge pages, which CI's can: %s", why)
	}
	r := newRuntime(t, Config{RuntimesDir: nodeRuntimes(t), RootfsInMemory: true})
	waitFor(t, "the copy in memory", func() bool {
		img := r.builtImage("nodejs:20")
		return img != nil && strings.Contains(img.Rootfs, "/"+memRootfsDir+"/")
	})
	req := pyRequest("nodemem", "function main(p) { return new Promise((ok) => setTimeout(() => ok({ slept: true }), p.ms)); }\n", `{"ms":3000}`)
	req.Kind = "nodejs:20"
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res := run(t, r, req); res.Err != nil || !jsonEqual(res.Result, `{"slept":true}`) {
			t.Errorf("Run: %v %s", res.Err, res.Result)
		}
	}()
	pids := waitPids(t, r, req.Owner)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pids[0]) + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	var pmdKB int
	for _, line := range strings.Split(string(b), "\n") {
		// A tmpfs's file pages are shared memory to the kernel.
		if v, ok := strings.CutPrefix(line, "ShmemPmdMapped:"); ok {
			pmdKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	if pmdKB < 2048 {
		t.Errorf("node maps %d kB of files by 2 MB pages, want some (smaps_rollup:\n%s)", pmdKB, b)
	}
	t.Logf("node maps %d MB of its files by 2 MB pages", pmdKB>>10)
	<-done
}

// waitPids waits for owner's container and returns its processes.
func waitPids(t *testing.T, r *Runtime, owner string) []int {
	t.Helper()
	var pids []int
	waitFor(t, "the container's processes", func() bool {
		ms := r.testMembers(owner)
		if len(ms) == 0 {
			return false
		}
		pids = cgroupPids(r.mgr.CgroupParent(), ms[0].id)
		return len(pids) > 0
	})
	return pids
}

// writeTree writes files (path → content) under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, content, 0o644))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRootfsInMemoryAfterStemsAfter: the copies wait for StemsAfter, as
// the stem cells do, so that a daemon's first invokes come first.
func TestRootfsInMemoryAfterStemsAfter(t *testing.T) {
	if ok, why := hugeShmem(); !ok {
		t.Fatalf("this machine cannot give a tmpfs huge pages, which CI's can: %s", why)
	}
	rts := filepath.Join(t.TempDir(), "runtimes")
	if err := writeBusyboxRuntime(filepath.Join(rts, "native"), "native", testLauncher); err != nil {
		t.Fatal(err)
	}
	rj, _ := json.Marshal(runtimes.Spec{Kind: "native", Args: []string{"/bin/sh", "/wisp/launcher.sh"}, Env: []string{"PATH=/bin"}, Cwd: "/action", InMemory: true})
	must(t, os.WriteFile(filepath.Join(rts, "native", "runtime.json"), rj, 0o644))
	gate := make(chan struct{})
	r := newRuntime(t, Config{RuntimesDir: rts, RootfsInMemory: true, StemsAfter: gate})
	time.Sleep(300 * time.Millisecond) // the copy of this runtime takes a few milliseconds
	entries, err := os.ReadDir(r.mem.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 || len(r.Stats().InMemory) != 0 {
		t.Fatalf("before StemsAfter: %d entries in memory, Stats().InMemory = %q", len(entries), r.Stats().InMemory)
	}
	close(gate)
	waitFor(t, "the copy in memory", func() bool { return slices.Equal(r.Stats().InMemory, []string{"native"}) })
}
