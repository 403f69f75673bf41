package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/queue"
	"github.com/wispfaas/wisp/store"
)

// The admin socket lets `wispd namespace …` manage namespaces while a
// wispd runs on the same data directory (whose store only that process
// may open). It is a Unix socket, readable by the data directory's owner
// only: no TCP port is opened for administration.
func adminSocket(data string) string { return filepath.Join(data, "admin.sock") }

// namespaceAdmin is what the admin operations need of the store.
type namespaceAdmin interface {
	CreateNamespace(ctx context.Context, name, auth string) (*core.Namespace, error)
	ListNamespaces(ctx context.Context) []*core.Namespace
	DeleteNamespace(ctx context.Context, name string) error
}

type adminServer struct {
	srv  *http.Server
	path string
}

// AdminRequest is one namespace operation, or a garbage collection of
// code blobs (op "blobs-gc", see BlobsGC).
type AdminRequest struct {
	Op   string `json:"op"` // create, list, delete, blobs-gc
	Name string `json:"name,omitempty"`
	Auth string `json:"auth,omitempty"`
	// Grace and DryRun are blobs-gc's: a duration ("1h") and whether to
	// only report.
	Grace  string `json:"grace,omitempty"`
	DryRun bool   `json:"dryRun,omitempty"`
}

// AdminResponse is the answer to an AdminRequest over the socket.
type AdminResponse struct {
	Namespaces []*core.Namespace `json:"namespaces,omitempty"`
	GC         *blobs.GCReport   `json:"gc,omitempty"`
	Error      string            `json:"error,omitempty"`
	Code       core.ErrorCode    `json:"code,omitempty"`
}

// gcFunc runs a garbage collection of code blobs for the admin socket.
type gcFunc func(ctx context.Context, req GCRequest) (*blobs.GCReport, error)

func startAdmin(data string, s namespaceAdmin, gc gcFunc, log *slog.Logger) (*adminServer, error) {
	path := adminSocket(data)
	_ = os.Remove(path) // a leftover of a crash; the data lock says no one else owns it
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req AdminRequest
		var resp AdminResponse
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
			resp.Error, resp.Code = "malformed admin request: "+err.Error(), core.CodeInvalid
		} else if req.Op == "blobs-gc" {
			if resp.GC, err = adminGC(r.Context(), gc, req); err != nil {
				resp.Error, resp.Code = err.Error(), core.ErrorCodeOf(err)
			} else {
				log.Info("code blobs collected", "dryRun", req.DryRun, "deleted", len(resp.GC.Deleted), "bytes", resp.GC.DeletedBytes)
			}
		} else if resp.Namespaces, err = adminDo(r.Context(), s, req); err != nil {
			resp.Error, resp.Code = err.Error(), core.ErrorCodeOf(err)
			if resp.Code == core.CodeInternal {
				log.Error("admin operation failed", "op", req.Op, "err", err)
			}
		} else if req.Op != "list" {
			log.Info("namespace changed", "op", req.Op, "namespace", req.Name)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})}
	go func() { _ = srv.Serve(ln) }()
	return &adminServer{srv: srv, path: path}, nil
}

func (a *adminServer) close() {
	_ = a.srv.Close()
	_ = os.Remove(a.path)
}

func adminDo(ctx context.Context, s namespaceAdmin, req AdminRequest) ([]*core.Namespace, error) {
	switch req.Op {
	case "create":
		ns, err := s.CreateNamespace(ctx, req.Name, req.Auth)
		if err != nil {
			return nil, err
		}
		return []*core.Namespace{ns}, nil
	case "list":
		return s.ListNamespaces(ctx), nil
	case "delete":
		return nil, s.DeleteNamespace(ctx, req.Name)
	}
	return nil, core.Errorf(core.CodeInvalid, "unknown admin operation %q", req.Op)
}

// Admin performs req through the admin socket of a wispd running on the
// data directory cfg.Data, or, when none runs there, on the store directly
// (or on the cluster at cfg.NATSURL). Errors carry core error codes.
func Admin(ctx context.Context, cfg Config, req AdminRequest) ([]*core.Namespace, error) {
	if cfg.NATSURL == "" {
		if nss, err, reached := adminViaSocket(ctx, cfg.Data, req); reached {
			return nss, err
		}
	}
	s, closeStore, err := openStoreDirect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	return adminDo(ctx, s, req)
}

// openStoreDirect opens the entity store when no wispd serves the data
// directory: on cfg.Data's JetStream, holding the data lock so that no
// wispd starts meanwhile (or on the cluster at cfg.NATSURL). closeStore
// releases all of it.
func openStoreDirect(ctx context.Context, cfg Config) (s *store.Store, closeStore func(), err error) {
	var lock *dataLock
	if cfg.NATSURL == "" {
		if _, err := os.Stat(cfg.Data); err != nil {
			return nil, nil, fmt.Errorf("data directory %s: %w (start wispd once, or pass --data)", cfg.Data, err)
		}
		if lock, err = lockData(cfg.Data); err != nil {
			return nil, nil, err
		}
	}
	release := func() {
		if lock != nil {
			lock.release()
		}
	}
	broker, err := queue.Open(ctx, queue.Config{StoreDir: filepath.Join(cfg.Data, "jetstream"), URL: cfg.NATSURL})
	if err != nil {
		release()
		return nil, nil, err
	}
	s, err = store.Open(ctx, broker.JetStream(), store.Config{ActivationRetention: cfg.ActivationRetention, ActivationBytes: cfg.ActivationBytes, Replicas: broker.Replicas()})
	if err != nil {
		broker.Close()
		release()
		return nil, nil, err
	}
	return s, func() { s.Close(); broker.Close(); release() }, nil
}

// adminViaSocket sends req to a running wispd. reached is false when no
// wispd listens on the socket.
func adminViaSocket(ctx context.Context, data string, req AdminRequest) (nss []*core.Namespace, err error, reached bool) {
	out, err, reached := adminCall(ctx, data, req)
	if err != nil || !reached {
		return nil, err, reached
	}
	return out.Namespaces, nil, true
}

// adminGC runs a blobs-gc request.
func adminGC(ctx context.Context, gc gcFunc, req AdminRequest) (*blobs.GCReport, error) {
	if gc == nil {
		return nil, core.Errorf(core.CodeInvalid, "this wispd has no blob store")
	}
	grace := time.Duration(0)
	if req.Grace != "" {
		var err error
		if grace, err = time.ParseDuration(req.Grace); err != nil || grace < 0 {
			return nil, core.Errorf(core.CodeInvalid, "the grace period %q is not a duration like 1h", req.Grace)
		}
	}
	return gc(ctx, GCRequest{Grace: grace, DryRun: req.DryRun})
}

// adminCall sends req to a running wispd. reached is false when no wispd
// listens on the socket.
func adminCall(ctx context.Context, data string, req AdminRequest) (resp *AdminResponse, err error, reached bool) {
	path := adminSocket(data)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	body, _ := json.Marshal(req)
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://wispd/admin", bytes.NewReader(body))
	hresp, err := client.Do(hreq)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) || errors.Is(err, os.ErrNotExist) {
			return nil, nil, false
		}
		return nil, fmt.Errorf("talk to wispd on %s: %w", path, err), true
	}
	defer hresp.Body.Close()
	var out AdminResponse
	if err := json.NewDecoder(hresp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("read wispd's admin answer: %w", err), true
	}
	if out.Error != "" {
		return nil, &core.Error{Code: out.Code, Message: out.Error}, true
	}
	return &out, nil, true
}
