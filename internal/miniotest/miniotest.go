// Package miniotest starts real MinIO servers on loopback for tests and the
// benchmark: each on a free port with its data in a directory of its own.
// The server binary is built once by scripts/minio.sh (the Taskfile's deps
// task runs it) and found through $WISP_MINIO or the script's cache,
// ~/.cache/wisp/minio/bin/minio.
package miniotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/wispfaas/wisp/internal/syncbuf"
)

// The root credentials every test server is started with.
const (
	AccessKey = "wispadmin"
	SecretKey = "wispadmin-secret"
)

// readyDeadline bounds a server's start on a loaded machine.
const readyDeadline = 90 * time.Second

// Binary returns the path of the MinIO server: $WISP_MINIO, else the cache
// of scripts/minio.sh. Its error says how to install it.
func Binary() (string, error) {
	if p := os.Getenv("WISP_MINIO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$WISP_MINIO=%s: %w", p, err)
		}
		return p, nil
	}
	cache := os.Getenv("WISP_MINIO_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the MinIO server: %w", err)
		}
		cache = filepath.Join(home, ".cache", "wisp", "minio", "bin")
	}
	p := filepath.Join(cache, "minio")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no MinIO server at %s: run scripts/minio.sh install (or go tool task deps) once; it builds MinIO in about 10 minutes", p)
	}
	return p, nil
}

// Server is one MinIO server process. Stop and Start may be called in turn
// (a test of the store going away); the port and data stay the same.
type Server struct {
	// Addr is "127.0.0.1:port"; Endpoint the same, as minio-go wants it.
	Addr string
	Dir  string
	bin  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncbuf.Buffer
}

// Start starts a server for tb, stopped (and its data removed) when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartIn(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("stop MinIO: %v", err)
		}
	})
	return s
}

// StartIn starts a server with its data in dir; the caller stops it.
func StartIn(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, Dir: dir, bin: bin}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr }

// BlobsURL is the --blobs value of a store in bucket/prefix on this server.
func (s *Server) BlobsURL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&secure=false", bucket, prefix, s.Addr)
}

// Start (re)starts the process and waits until the server is ready.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("MinIO is already running")
	}
	s.out = &syncbuf.Buffer{}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.Addr, "--console-address", "127.0.0.1:0", s.Dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start MinIO %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyDeadline)
	for {
		// /minio/health/ready answers before the object layer is up; an
		// anonymous S3 request is refused with 403 only once it is (503
		// "Server not initialized" before).
		// Root's requests work before the IAM subsystem is, other keys'
		// get 503 "IAM sub-system not initialized yet": a request signed
		// with an unknown key is refused with 403 only once it is.
		resp, err := hc.Get(s.URL() + "/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusOK) && s.iamReady() {
				return nil
			}
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("MinIO exited before it was ready:\n%s", s.out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("MinIO on %s was not ready within %s:\n%s", s.Addr, readyDeadline, s.out.String())
		}
	}
}

// iamReady says whether the server judges other keys than root's yet.
func (s *Server) iamReady() bool {
	c, err := minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4("wisp-probe-unknown", "wisp-probe-unknown", "")})
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.ListBuckets(ctx)
	return minio.ToErrorResponse(err).Code == "InvalidAccessKeyId"
}

// Stop stops the process (SIGTERM, then SIGKILL after 20 s). Stopping a
// stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	return nil
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Output is what the server printed since its last start.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}
