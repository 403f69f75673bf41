package runtimes

import (
	"path/filepath"
	"testing"
)

// The launchers' hot paths on the host (no container): a warm run's round
// trip (message in, reply on fd 3, both sentinels), and a cold start up to
// the init reply. Containers add their own costs; bench/ measures those.

func benchLoop(b *testing.B, args []string, file, code string) *loop {
	dir := b.TempDir()
	writeFiles(b, dir, map[string]string{file: code})
	l := startLoop(b, args, []string{"WISP_ACTION_DIR=" + dir, "PYTHONDONTWRITEBYTECODE=1"})
	l.send(`{"init":{"main":"main","binary":false,"entry":"` + filepath.Join(dir, file) + `","env":{}}}`)
	return l
}

func BenchmarkPythonWarmRun(b *testing.B) {
	l := benchLoop(b, pythonArgs(b), "__main__.py", pythonHello)
	msg := run(`{"name":"Ada"}`)
	b.ResetTimer()
	for range b.N {
		l.send(msg)
	}
}

func BenchmarkNodeWarmRun(b *testing.B) {
	l := benchLoop(b, nodeArgs(b), "index.js", nodeHello)
	msg := run(`{"name":"Ada"}`)
	b.ResetTimer()
	for range b.N {
		l.send(msg)
	}
}

func BenchmarkPythonStartInit(b *testing.B) {
	for range b.N {
		l := benchLoop(b, pythonArgs(b), "__main__.py", pythonHello)
		l.stdin.Close()
		l.wait()
	}
}

func BenchmarkNodeStartInit(b *testing.B) {
	for range b.N {
		l := benchLoop(b, nodeArgs(b), "index.js", nodeHello)
		l.stdin.Close()
		l.wait()
	}
}
