package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// workerd is the peer: Cloudflare's open-source Workers runtime
// (https://github.com/cloudflare/workerd) serving a JavaScript hello world
// equivalent to the Wasm actions'. The benchmark installs it from npm (the
// package "workerd" ships the binary in a per-platform dependency,
// "@cloudflare/workerd-<os>-<arch>") into a cache directory outside the
// repository, at a pinned version, and reuses it on later runs.

// defaultWorkerdVersion is the npm version of workerd the benchmark pins.
// Change it on purpose: a new workerd moves the peer's numbers.
const defaultWorkerdVersion = "1.20261117.1"

// workerdCompatibilityDate is the Worker's compatibility date. It must not
// be later than the date of the workerd release.
const workerdCompatibilityDate = "2024-09-23"

// workerdJS is the Worker: POST a JSON object {"name": …} and it answers
// {"greeting": "Hello, <name>!"}; any other method answers "pong" (the
// readiness check).
const workerdJS = `export default {
  async fetch(request) {
    if (request.method !== "POST") {
      return new Response("pong");
    }
    const params = await request.json();
    const name = typeof params.name === "string" ? params.name : "world";
    return Response.json({ greeting: ` + "`Hello, ${name}!`" + ` });
  },
};
`

// workerdConfig is the workerd configuration (Cap'n Proto text, the schema
// is workerd.capnp in the npm package): one service running the ES module
// worker.js, and one HTTP socket on addr serving it.
func workerdConfig(addr string) string {
	return fmt.Sprintf(`using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "hello", worker = .helloWorker) ],
  sockets = [ (name = "http", address = %q, http = (), service = "hello") ],
);

const helloWorker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = %q,
);
`, addr, workerdCompatibilityDate)
}

// workerdCacheDir is where a version of workerd is installed:
// $XDG_CACHE_HOME/wisp-bench/workerd/VERSION, or ~/.cache/… when
// XDG_CACHE_HOME is not set (os.UserCacheDir).
func workerdCacheDir(version string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for workerd: %w", err)
	}
	return filepath.Join(base, "wisp-bench", "workerd", version), nil
}

// workerdPlatformPackage is the npm package that holds workerd's binary
// for this machine, e.g. "@cloudflare/workerd-linux-64".
func workerdPlatformPackage(goos, goarch string) (string, error) {
	arch := map[string]string{"amd64": "64", "arm64": "arm64"}[goarch]
	switch {
	case arch == "":
	case goos == "linux" || goos == "darwin":
		return "@cloudflare/workerd-" + goos + "-" + arch, nil
	case goos == "windows" && arch == "64":
		return "@cloudflare/workerd-windows-64", nil
	}
	return "", fmt.Errorf("workerd has no npm binary for %s/%s", goos, goarch)
}

// workerdBinaryIn returns the workerd binary installed under dir (an npm
// prefix), or "" if there is none. The platform package's binary comes
// first: "workerd/bin/workerd" may be a Node.js launcher when npm did not
// run the package's install script, and a launcher would be a process
// between the load generator and the server.
func workerdBinaryIn(dir, goos, goarch string) string {
	exe := "workerd"
	if goos == "windows" {
		exe = "workerd.exe"
	}
	var candidates []string
	if pkg, err := workerdPlatformPackage(goos, goarch); err == nil {
		candidates = append(candidates, filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "bin", exe))
	}
	candidates = append(candidates, filepath.Join(dir, "node_modules", "workerd", "bin", exe))
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return c
		}
	}
	return ""
}

// workerdVersionOf runs `workerd --version` ("workerd 2026-11-17"): a check
// that the binary runs here.
func workerdVersionOf(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// installWorkerd returns the binary of workerd at version, installing it
// from npm into the cache directory first if it is not there yet. The
// install goes to a directory of its own and is renamed into place when it
// is complete, so an interrupted install is never taken for a good one.
func installWorkerd(ctx context.Context, version string) (bin, versionLine string, err error) {
	dir, err := workerdCacheDir(version)
	if err != nil {
		return "", "", err
	}
	if bin := workerdBinaryIn(dir, runtime.GOOS, runtime.GOARCH); bin != "" {
		if v, err := workerdVersionOf(ctx, bin); err == nil {
			progress("workerd %s: using %s", version, bin)
			return bin, v, nil
		}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", "", errors.New("npm not found (scripts/deps.sh installs it)")
	}
	progress("installing workerd %s from npm into %s…", version, dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", "", err
	}
	staging, err := os.MkdirTemp(filepath.Dir(dir), version+".installing-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(staging) // after a successful rename there is nothing left to remove
	ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// --ignore-scripts: the binary comes in the platform package; the
	// postinstall script only copies it. No package.json or lock file is
	// written: the directory holds nothing but node_modules.
	cmd := exec.CommandContext(ictx, npm, "install", "--prefix", staging, "--no-save", "--no-package-lock",
		"--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", "workerd@"+version)
	if err := runCmd(cmd, "npm install workerd@"+version); err != nil {
		return "", "", err
	}
	if workerdBinaryIn(staging, runtime.GOOS, runtime.GOARCH) == "" {
		return "", "", fmt.Errorf("npm installed workerd@%s but no binary for %s/%s is in %s", version, runtime.GOOS, runtime.GOARCH, staging)
	}
	_ = os.RemoveAll(dir) // a broken earlier install
	if err := os.Rename(staging, dir); err != nil {
		return "", "", err
	}
	bin = workerdBinaryIn(dir, runtime.GOOS, runtime.GOARCH)
	v, err := workerdVersionOf(ctx, bin)
	if err != nil {
		return "", "", err
	}
	progress("installed %s (%s)", bin, v)
	return bin, v, nil
}

// workerdServer is a running workerd child process.
type workerdServer struct {
	base    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// startWorkerd writes the config and the worker into dir and starts bin
// on a free loopback port; it waits until the worker answers.
func startWorkerd(ctx context.Context, bin, dir string) (*workerdServer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "worker.js"), []byte(workerdJS), 0o644); err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // the free port may be taken between finding and binding it
		s, err := tryStartWorkerd(ctx, bin, dir)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func tryStartWorkerd(ctx context.Context, bin, dir string) (*workerdServer, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.capnp"), []byte(workerdConfig(addr)), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "workerd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "config.capnp", "config")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start workerd: %w", err)
	}
	s := &workerdServer{base: "http://" + addr, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := waitReady(ctx, s.base+"/ping", s.done, 30*time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("workerd: %w\n%s", err, tail(logPath, 10))
	}
	return s, nil
}

// stop sends SIGTERM and waits; workerd is killed if it has not exited
// within 5 s. Safe to call more than once.
func (s *workerdServer) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
