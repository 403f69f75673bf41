package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCopySourcesLeavesOutDependenciesAndOutputs(t *testing.T) {
	from, to := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	writeTree(t, from, map[string]string{
		"package.json":                         "{}",
		"assembly/index.ts":                    "export {}",
		"node_modules/assemblyscript/x.js":     "big",
		"examples/hello/package.json":          "{}",
		"examples/hello/build/hello.wasm":      "old output",
		"examples/hello/node_modules/a/b.js":   "dep",
		"examples/hello/assembly/index.ts":     "hello",
		"examples/hello/.git/HEAD":             "ref",
		"examples/hello/build-notes/readme.md": "kept: only a directory named build is left out",
	})
	if err := os.Symlink("../..", filepath.Join(from, "examples", "hello", "link")); err != nil {
		t.Fatal(err)
	}
	if err := copySources(from, to); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"package.json", "assembly/index.ts", "examples/hello/package.json", "examples/hello/assembly/index.ts", "examples/hello/build-notes/readme.md"} {
		if !fileExists(filepath.Join(to, filepath.FromSlash(rel))) {
			t.Errorf("%s was not copied", rel)
		}
	}
	for _, rel := range []string{"node_modules", "examples/hello/build", "examples/hello/node_modules", "examples/hello/.git", "examples/hello/link"} {
		if _, err := os.Lstat(filepath.Join(to, filepath.FromSlash(rel))); err == nil {
			t.Errorf("%s was copied", rel)
		}
	}
}

func TestTreeDigestChangesWithTheSourcesOnly(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.ts": "1", "examples/hello/index.ts": "2"})
	d1, err := treeDigest(dir, "node v20")
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"node_modules/x.js": "ignored", "examples/hello/build/hello.wasm": "ignored"})
	if d2, _ := treeDigest(dir, "node v20"); d2 != d1 {
		t.Error("dependencies or build outputs changed the digest")
	}
	if d3, _ := treeDigest(dir, "node v22"); d3 == d1 {
		t.Error("the extra key did not change the digest")
	}
	writeTree(t, dir, map[string]string{"examples/hello/index.ts": "3"})
	if d4, _ := treeDigest(dir, "node v20"); d4 == d1 {
		t.Error("a changed source did not change the digest")
	}
}

func TestNewestWasm(t *testing.T) {
	dir := t.TempDir()
	if _, err := newestWasm(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory gave no error")
	}
	writeTree(t, dir, map[string]string{"old.wasm": "a", "hello.debug.wasm": "d", "notes.txt": "n"})
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "old.wasm"), past, past); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"hello.wasm": "b"})
	if got, err := newestWasm(dir); err != nil || filepath.Base(got) != "hello.wasm" {
		t.Errorf("newestWasm = %q, %v; want hello.wasm", got, err)
	}
}

func TestMissingExampleIsNotWrittenYet(t *testing.T) {
	err := needFiles(t.TempDir(), "examples/hello/hello.c")
	if !errors.Is(err, errNotWritten) {
		t.Errorf("needFiles = %v, want errNotWritten", err)
	}
}
