package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wispd is a wispd child process the benchmark started, with its own data
// directory and port.
type wispd struct {
	bin     string
	addr    string // 127.0.0.1:PORT
	data    string // its data directory
	base    string // http://127.0.0.1:PORT
	auth    string // the guest namespace's "uuid:key"
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// startWispd runs bin with a fresh data directory under dir on a free
// loopback port, waits until it answers /ping and reads the guest key it
// wrote. Its output goes to dir/wispd.log.
func startWispd(ctx context.Context, bin, dir string) (*wispd, error) {
	var lastErr error
	// The free port is found by binding :0 and closing it, so another
	// process may take it in between; try again with another port.
	for attempt := range 3 {
		w, err := tryStartWispd(ctx, bin, filepath.Join(dir, fmt.Sprintf("wispd-%d", attempt)))
		if err == nil {
			return w, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func tryStartWispd(ctx context.Context, bin, dir string) (*wispd, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &wispd{bin: bin, addr: addr, data: filepath.Join(dir, "data"), base: "http://" + addr, logPath: filepath.Join(dir, "wispd.log")}
	if err := w.launch(ctx); err != nil {
		return nil, err
	}
	auth, err := os.ReadFile(filepath.Join(w.data, "guest.auth"))
	if err != nil {
		w.stop()
		return nil, fmt.Errorf("read the guest key: %w", err)
	}
	w.auth = strings.TrimSpace(string(auth))
	return w, nil
}

// launch starts the wispd process on w's data directory and address, its
// output appended to w's log, and waits until it answers /ping.
func (w *wispd) launch(ctx context.Context) error {
	logFile, err := os.OpenFile(w.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(w.bin, "--data", w.data, "--listen", w.addr, "--shutdown-grace", "5s")
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", w.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	w.cmd, w.done = cmd, done
	if err := waitReady(ctx, w.base+"/ping", w.done, 60*time.Second); err != nil {
		w.stop()
		return fmt.Errorf("wispd: %w\n%s", err, tail(w.logPath, 15))
	}
	return nil
}

// restart stops wispd (SIGTERM) and starts it again on the same data
// directory and address. It returns how long each took: stopping until the
// process exited, starting until it answered /ping.
func (w *wispd) restart(ctx context.Context) (stopped, ready time.Duration, err error) {
	t0 := time.Now()
	w.stop()
	stopped = time.Since(t0)
	if !w.exitedCleanly() {
		progress("  wispd did not exit cleanly on SIGTERM (%v)", w.cmd.ProcessState)
	}
	t1 := time.Now()
	if err := w.launch(ctx); err != nil {
		return stopped, 0, err
	}
	return stopped, time.Since(t1), nil
}

// childEnv is the environment without WISP_* variables, so that nothing in
// the caller's environment (WISP_NATS, WISP_INVOKER_CAPACITY, …) changes
// the daemon under test; it runs with its defaults.
// wispdProcs is -wispd-procs: GOMAXPROCS for wispd, 0 for Go's default.
var wispdProcs int

func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WISP_") {
			env = append(env, kv)
		}
	}
	if wispdProcs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(wispdProcs))
	}
	return env
}

// stop sends SIGTERM and waits for wispd to exit; it is killed if it has
// not within 15 s. Safe to call more than once.
func (w *wispd) stop() {
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(15 * time.Second):
		fmt.Fprintln(os.Stderr, "wispd did not stop within 15 s of SIGTERM; killing it")
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// exitedCleanly reports whether wispd, once stopped, exited with status 0.
func (w *wispd) exitedCleanly() bool {
	return w.cmd.ProcessState != nil && w.cmd.ProcessState.Success()
}

func (w *wispd) authHeader() http.Header {
	return http.Header{
		"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(w.auth))},
		"Content-Type":  {"application/json"},
	}
}

// createWasmAction creates (or replaces) action name from a Wasm module
// with client c. wispd compiles the module (and prewarms it) before it
// answers; serverCompile is the compile time it reports (X-Wisp-Compile-Ms),
// "" when it did not compile.
func (w *wispd) createWasmAction(ctx context.Context, c *http.Client, name string, module []byte) (serverCompile string, err error) {
	body, _ := json.Marshal(map[string]any{
		"exec": map[string]any{"kind": "wasm", "binary": true, "code": base64.StdEncoding.EncodeToString(module)},
	})
	u := w.base + "/api/v1/namespaces/_/actions/" + url.PathEscape(name) + "?overwrite=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header = w.authHeader()
	if c == nil {
		c = &http.Client{}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("create action %s: %w", name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("create action %s: %s: %s", name, resp.Status, bytes.TrimSpace(msg))
	}
	return resp.Header.Get("X-Wisp-Compile-Ms"), nil
}

// invokeBody is the parameters of every invoke (and of the floor's and
// workerd's requests): the SDK examples greet params.name.
const invokeBody = `{"name":"wisp"}`

// invokeRequest is a warm, blocking invoke of action name that answers
// the result only.
func (w *wispd) invokeRequest(name string) *request {
	return &request{
		method:   http.MethodPost,
		url:      w.base + "/api/v1/namespaces/_/actions/" + url.PathEscape(name) + "?blocking=true&result=true",
		body:     []byte(invokeBody),
		header:   w.authHeader(),
		idHeader: "X-Openwhisk-Activation-Id",
	}
}

// logProblems counts the WARN and ERROR lines in wispd's log and returns
// the first few.
func (w *wispd) logProblems() (n int, first []string) {
	f, err := os.Open(w.logPath)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			n++
			if len(first) < 3 {
				first = append(first, line)
			}
		}
	}
	return n, first
}

// freeLoopbackAddr returns 127.0.0.1:PORT with a port that was free a
// moment ago (bound on :0 and closed).
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return addr, nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
