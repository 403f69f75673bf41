package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/labstack/echo/v4"
)

// The floor is a bare echo server answering a hello-world JSON object: the
// least any Go HTTP service on echo can cost, measured by the same client
// as Wisp.
//
// It runs as a child process (this same binary, re-executed with
// floorAddrEnv set), not in the benchmark's process: wispd is a process of
// its own, so the floor must be one too. In-process, the floor would share
// the load generator's Go runtime — its scheduler, its garbage collector,
// its GOMAXPROCS with 50 client goroutines — and loopback round trips
// between goroutines of one process are scheduled differently from those
// between two processes. Both servers being children, their only
// difference is what they do per request.
const floorAddrEnv = "WISP_BENCH_FLOOR_ADDR"

// floorPath is the floor's endpoint. Like Wisp's invoke it takes a POST
// with a JSON body, which it reads, and answers a small JSON object.
const floorPath = "/hello"

// serveFloor runs the floor server on addr until its standard input closes
// (the parent exited or stopped it) or the server fails.
func serveFloor(addr string) error {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/ping", func(c echo.Context) error { return c.String(http.StatusOK, "pong") })
	e.POST(floorPath, func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"greeting": "Hello, world!"})
	})
	served := make(chan error, 1)
	go func() { served <- e.Start(addr) }()
	// The parent holds our stdin; when it goes away, so do we.
	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case err := <-served:
		return err
	case <-stdinClosed:
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return e.Shutdown(ctx)
	}
}

// floor is the running floor server child.
type floor struct {
	base  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// startFloor starts the floor server as a child process on a free
// loopback port and waits until it answers.
func startFloor(ctx context.Context) (*floor, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), floorAddrEnv+"="+addr)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = childProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the floor server: %w", err)
	}
	f := &floor{base: "http://" + addr, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(f.done) }()
	if err := waitReady(ctx, f.base+"/ping", f.done, 10*time.Second); err != nil {
		f.stop()
		return nil, fmt.Errorf("floor server: %w", err)
	}
	return f, nil
}

// stop ends the floor server: closing its stdin asks it to exit; it is
// killed if it has not within a few seconds.
func (f *floor) stop() {
	_ = f.stdin.Close()
	select {
	case <-f.done:
	case <-time.After(3 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
	}
}

// waitReady polls url until it answers 200, the process behind it exits
// (exited closes) or timeout passes.
func waitReady(ctx context.Context, url string, exited <-chan struct{}, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the process exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s", url, timeout)
		}
	}
}
