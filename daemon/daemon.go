// Package daemon assembles Wisp's parts into one running node: the queue
// (embedded NATS JetStream or a cluster), the stores, the Wasm runtime,
// and, by role, the invoker and the API gateway. cmd/wispd runs it; tests
// start it in-process on a temporary data directory.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/containerrt"
	"github.com/wispfaas/wisp/gateway"
	"github.com/wispfaas/wisp/invoker"
	"github.com/wispfaas/wisp/metrics"
	"github.com/wispfaas/wisp/queue"
	"github.com/wispfaas/wisp/store"
	"github.com/wispfaas/wisp/wasmrt"
)

// Role is which parts of Wisp a node runs.
type Role string

// The roles.
const (
	RoleAll     Role = "all"     // gateway, invoker and embedded NATS in one process
	RoleGateway Role = "gateway" // the API only, against a NATS cluster
	RoleInvoker Role = "invoker" // an invoker only, against a NATS cluster
)

// Config configures a node. Immutable once passed to Start.
type Config struct {
	Role Role
	// Data is the data directory: JetStream store, code blobs, the Wasm
	// compilation cache, the guest key and the admin socket. Required.
	Data string
	// Listen is the HTTP address of the API (gateway roles).
	Listen string
	// GuestAuth is the "uuid:key" of the guest namespace; "" keeps the
	// stored one, or generates one on first start.
	GuestAuth string
	// NATSURL connects to a NATS cluster instead of embedding a server.
	NATSURL string
	// NATSListen exposes the embedded server on a TCP address ("" = none).
	NATSListen string
	// ActivationRetention is how long activation records are kept.
	ActivationRetention time.Duration
	// ActivationBytes bounds the storage of activation records, the
	// oldest removed first; store.DefaultActivationBytes when 0.
	ActivationBytes int64
	// InvokerCapacity is how many activations the invoker runs at once.
	InvokerCapacity int
	// InvokerID names the invoker; stable across restarts.
	InvokerID string
	// APIHost is the URL actions are told to reach the API at; defaults
	// to http://<the gateway's address>.
	APIHost string
	// Blobs names the code store: "" for <Data>/blobs, "s3://bucket/
	// prefix?endpoint=…" for S3, or a directory (see blobs.Open).
	Blobs string
	// BlobCacheBytes bounds the invoker's disk cache of code blobs in
	// <Data>/cache/blobs; DefaultBlobCacheBytes when 0.
	BlobCacheBytes int64
	// WasmCompiledBytes bounds the estimated memory of the compiled Wasm
	// modules the invoker keeps; WasmIdleBytes the linear memory of its
	// idle Wasm instances, all actions together. wasmrt's defaults when 0.
	WasmCompiledBytes, WasmIdleBytes int64
	// WasmCacheBytes bounds the files of the on-disk cache of compiled
	// Wasm modules, <Data>/wasm-cache; 0 means no bound.
	WasmCacheBytes int64
	// UploadTTL is how long an upload URL (large code) stays valid; 15
	// minutes when 0.
	UploadTTL time.Duration
	// Containers configures container actions (invoker roles).
	Containers ContainerConfig
	// ShutdownGrace bounds how long Stop lets running activations finish.
	ShutdownGrace time.Duration
	// MetricsListen, when set, also serves GET /metrics on this address,
	// for a node without the API (RoleInvoker) or a scraper kept off the
	// API's port. Nodes with both a gateway and an invoker serve it on
	// the API's port anyway.
	MetricsListen string
	// AckWait overrides the queue's redelivery timeout (tests).
	AckWait time.Duration
	Logger  *slog.Logger
}

// Daemon is a running node. Start builds it; Stop shuts it down.
type Daemon struct {
	cfg          Config
	log          *slog.Logger
	lock         *dataLock
	broker       *queue.Broker
	store        *store.Store
	wasm         *wasmrt.Runtime
	containers   *containerrt.Runtime // nil when container actions are off
	reg          *queue.Registry
	invoker      *invoker.Invoker
	gateway      *gateway.Gateway
	admin        *adminServer
	metrics      *metrics.Registry // the invoker's; nil without one
	metricsSrv   *http.Server      // on MetricsListen, when set
	metricsAddr  string            // where metricsSrv listens
	ln           net.Listener      // the API port, owned by the gateway once it serves
	guestAuth    string
	guestCreated bool
	stopOnce     sync.Once
	stopErr      error
}

// Start starts the parts of cfg.Role and returns once the node serves.
// On error, whatever was started is stopped again.
func Start(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.Role == "" {
		cfg.Role = RoleAll
	}
	if cfg.Data == "" {
		return nil, errors.New("daemon: a data directory is required")
	}
	if cfg.Role != RoleAll && cfg.NATSURL == "" {
		return nil, fmt.Errorf("role %s needs the URL of the NATS cluster the other roles use", cfg.Role)
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 30 * time.Second
	}
	if cfg.InvokerID == "" {
		cfg.InvokerID, _ = os.Hostname()
		if cfg.InvokerID == "" {
			cfg.InvokerID = "invoker0"
		}
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if err := d.start(ctx); err != nil {
		return nil, errors.Join(err, d.Stop())
	}
	return d, nil
}

func (d *Daemon) start(ctx context.Context) error {
	c := d.cfg
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", c.Data, err)
	}
	var err error
	if c.NATSURL == "" {
		if d.lock, err = lockData(c.Data); err != nil {
			return err
		}
	}
	// One Wasm runtime serves both the gateway (which compiles a module
	// when it is created) and the invoker, so the first invoke finds the
	// module compiled; the directory cache carries it across restarts, and
	// the modules used in the last day are compiled again in the background
	// at start, so a busy action's first invoke after a restart finds its
	// module ready or being compiled. It needs nothing but the data
	// directory, so it starts first: that warming overlaps JetStream's
	// recovery of its streams, the longest part of a restart.
	if d.wasm, err = wasmrt.New(ctx, wasmrt.Config{
		CacheDir:       filepath.Join(c.Data, "wasm-cache"),
		CompiledMemory: c.WasmCompiledBytes,
		IdleMemory:     c.WasmIdleBytes,
		CacheBytes:     c.WasmCacheBytes,
		WarmRecent:     24 * time.Hour,
		PruneUnused:    30 * 24 * time.Hour,
		Logger:         d.log,
	}); err != nil {
		return err
	}
	d.broker, err = queue.Open(ctx, queue.Config{
		StoreDir: filepath.Join(c.Data, "jetstream"),
		Listen:   c.NATSListen,
		URL:      c.NATSURL,
		AckWait:  c.AckWait,
		Logger:   d.log,
	})
	if err != nil {
		return err
	}
	if d.store, err = store.Open(ctx, d.broker.JetStream(), store.Config{ActivationRetention: c.ActivationRetention, ActivationBytes: c.ActivationBytes, Replicas: d.broker.Replicas(), Logger: d.log}); err != nil {
		return err
	}
	if d.reg, err = d.broker.OpenRegistry(ctx); err != nil {
		return err
	}
	codeStore, code, err := d.openCode(ctx)
	if err != nil {
		return err
	}
	// The API port is bound before anything runs so that actions learn
	// its real address (__OW_API_HOST), also when Listen asks for port 0.
	var ln net.Listener
	if c.Role == RoleAll || c.Role == RoleGateway {
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", c.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", c.Listen, err)
		}
		d.ln = ln
	}
	apiHost := c.APIHost
	if apiHost == "" && ln != nil {
		apiHost = "http://" + ln.Addr().String()
	}
	if c.Role == RoleAll || c.Role == RoleInvoker {
		runtimesByKind := map[string]invoker.Runtime{"wasm": invoker.WasmRuntime{RT: d.wasm}}
		if err := d.startContainers(ctx, runtimesByKind); err != nil {
			return err
		}
		kinds := make([]string, 0, len(runtimesByKind))
		for k := range runtimesByKind {
			kinds = append(kinds, k)
		}
		d.metrics = metrics.NewRegistry(kinds...)
		d.metrics.Collect(wasmMetrics(d.wasm))
		if d.containers != nil {
			d.metrics.Collect(containerMetrics(d.containers))
		}
		d.invoker, err = invoker.New(invoker.Config{ID: c.InvokerID, Capacity: c.InvokerCapacity, APIHost: apiHost}, invoker.Deps{
			Queue:      d.broker,
			Records:    d.store,
			Heartbeats: d.reg,
			Code:       code,
			Runtimes:   runtimesByKind,
			Metrics:    d.metrics,
			Logger:     d.log,
		})
		if err != nil {
			return err
		}
		if err := d.invoker.Start(ctx); err != nil {
			return err
		}
	}
	if c.Role == RoleAll || c.Role == RoleGateway {
		if d.guestAuth, d.guestCreated, err = ensureGuest(ctx, d.store, c.Data, c.GuestAuth); err != nil {
			return err
		}
		key, err := uploadKey(c.Data)
		if err != nil {
			return err
		}
		validators := containerValidators()
		validators["wasm"] = gateway.CodeValidatorFunc(func(ctx context.Context, digest string, code io.ReaderAt, size int64, _ bool) error {
			// The compiler needs the module whole.
			wasm, err := readAllAt(code, size)
			if err != nil {
				return err
			}
			return d.wasm.Validate(ctx, digest, wasm)
		})
		deps := gateway.Deps{
			Store:      d.store,
			Blobs:      codeStore,
			Dispatcher: d.broker,
			Invokers:   d.reg,
			Validators: validators,
			Logger:     d.log,
		}
		if d.invoker != nil {
			deps.Local = d.invoker
			deps.Metrics = d.metrics
		}
		d.gateway, err = gateway.New(gateway.Config{Listener: ln, ID: gatewayID(), APIHost: apiHost, UploadKey: key, UploadTTL: c.UploadTTL}, deps)
		if err != nil {
			return err
		}
		if err := d.gateway.Start(ctx); err != nil {
			return err
		}
		gc := func(ctx context.Context, req GCRequest) (*blobs.GCReport, error) {
			return runGC(ctx, codeStore, d.store, req)
		}
		if d.admin, err = startAdmin(c.Data, d.store, gc, d.log); err != nil {
			return err
		}
	}
	if c.MetricsListen != "" {
		if err := d.serveMetrics(ctx, c.MetricsListen); err != nil {
			return err
		}
	}
	return nil
}

// serveMetrics serves GET /metrics on addr, as the gateway does on the
// API's port: the invoker's metrics, or 404 on a gateway-only node.
func (d *Daemon) serveMetrics(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		if d.metrics == nil {
			http.Error(w, "This node runs no invoker: it has no activation metrics.", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", metrics.ContentType)
		_, _ = d.metrics.WriteTo(w)
	})
	d.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	d.metricsAddr = ln.Addr().String()
	go func() {
		if err := d.metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("serve metrics", "addr", addr, "err", err)
		}
	}()
	d.log.Info("serving metrics", "url", "http://"+d.metricsAddr+"/metrics")
	return nil
}

// MetricsAddr is the address MetricsListen serves on, or "" when it is not
// set.
func (d *Daemon) MetricsAddr() string {
	return d.metricsAddr
}

// APIHost is the URL of the API ("http://127.0.0.1:3233"), or "" for an
// invoker-only node.
func (d *Daemon) APIHost() string {
	if d.gateway == nil {
		return ""
	}
	return "http://" + d.gateway.Addr()
}

// GuestAuth is the guest namespace's "uuid:key", and whether this start
// created the namespace. Empty for an invoker-only node.
func (d *Daemon) GuestAuth() (auth string, created bool) { return d.guestAuth, d.guestCreated }

// Stop shuts the node down: the gateway and the invoker together
// (blocking callers get the results of activations that finish within the
// grace; the rest are recorded as interrupted), then the stores and the
// queue. Calling it again returns the first result.
func (d *Daemon) Stop() error {
	d.stopOnce.Do(func() { d.stopErr = d.stop() })
	return d.stopErr
}

func (d *Daemon) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	record := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	if d.admin != nil {
		d.admin.close()
	}
	if d.metricsSrv != nil {
		record(d.metricsSrv.Shutdown(ctx))
	}
	if d.gateway != nil {
		wg.Add(1)
		go func() { defer wg.Done(); record(d.gateway.Shutdown(ctx)) }()
	}
	if d.invoker != nil {
		wg.Add(1)
		go func() { defer wg.Done(); record(d.invoker.Shutdown(ctx)) }()
	}
	wg.Wait()
	if d.ln != nil {
		_ = d.ln.Close() // in case the gateway never took it over
	}
	if d.reg != nil {
		d.reg.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
	if d.wasm != nil {
		record(d.wasm.Close(context.Background()))
	}
	if d.containers != nil {
		// Every container is removed: none outlives its wispd.
		record(d.containers.Close(context.Background()))
	}
	if d.broker != nil {
		record(d.broker.Close())
	}
	if d.lock != nil {
		d.lock.release()
	}
	return errors.Join(errs...)
}

func gatewayID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r == ' ' {
			return '_'
		}
		return r
	}, host)
	return fmt.Sprintf("%s-%d-%d", host, os.Getpid(), gatewaySeq.Add(1))
}

// gatewaySeq keeps gateway ids unique when one process runs several (tests).
var gatewaySeq atomic.Int64

// readAllAt reads the size bytes of r into memory; code the gateway holds
// already (gateway.CodeBytes) is taken as it is.
func readAllAt(r io.ReaderAt, size int64) ([]byte, error) {
	if cb, ok := r.(interface{ Bytes() []byte }); ok && int64(len(cb.Bytes())) == size {
		return cb.Bytes(), nil
	}
	b := make([]byte, size)
	if n, err := r.ReadAt(b, 0); int64(n) != size || err != nil && err != io.EOF {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read the action's code: %w", err)
	}
	return b, nil
}
