// Package gateway serves OpenWhisk's REST API v1 on echo: authentication,
// actions, invocations (with blocking waiters) and activations. It hands
// every activation to an invoker through the queue and hears the result
// back over NATS; it never calls an invoker directly.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/queue"
	"github.com/wispfaas/wisp/store"
)

// Store is what the gateway needs of the entity and record store.
type Store interface {
	Authenticate(uuid, key string) (*core.Namespace, error)
	GetAction(ctx context.Context, p core.EntityPath) (*core.Action, error)
	PutAction(ctx context.Context, p core.EntityPath, overwrite bool, build func(old *core.Action) (*core.Action, error)) (*core.Action, error)
	DeleteAction(ctx context.Context, p core.EntityPath) (*core.Action, error)
	ListActions(ctx context.Context, ns string, limit, skip int) []*core.Action
	// NamespaceUsesDigest: an action of ns has the blob digest as code.
	NamespaceUsesDigest(ns, digest string) bool
	GetActivation(ctx context.Context, ns, id string) (*core.Activation, error)
	ListActivations(ctx context.Context, ns string, f store.ActivationFilter) ([]*core.Activation, error)
	CountActivations(ctx context.Context, ns string, f store.ActivationFilter) (int, error)
}

// Dispatcher carries activations to invokers and results back.
type Dispatcher interface {
	// PublishInvocation returns once the activation is stored in the queue.
	PublishInvocation(ctx context.Context, invokerID string, inv *core.Invocation) error
	// PublishInvocationAsync returns at once; the activation's fate
	// (stored or refused, then its result) reaches Results.
	PublishInvocationAsync(invokerID string, inv *core.Invocation) error
	// RequestPrewarm asks invokerID to get action ready for its first
	// activation and waits until it has, or ctx ends.
	RequestPrewarm(ctx context.Context, invokerID string, action *core.Action) error
	// OpenResults follows the results addressed to gatewayID until closed.
	OpenResults(gatewayID string, log *slog.Logger) (*queue.Results, error)
}

// LocalInvoker is an invoker in the gateway's own process (the "all"
// role), to which a blocking activation whose home it is goes directly,
// without the queue's three messages through JetStream
// (docs/rationale.md).
type LocalInvoker interface {
	// ID is the invoker's id in the directory of invokers.
	ID() string
	// Offer runs inv at once if the invoker has a free slot, reporting
	// false, having done nothing, otherwise. done is called once with the
	// result, after the record is stored; it must not block, and the
	// receiver calls the result's Release once it has answered. wait is
	// how long the caller waits for the result: an activation sure to end
	// sooner may run before Offer returns (ranHere), and its result then
	// comes as soon as the store has answered.
	Offer(inv *core.Invocation, wait time.Duration, done func(queue.Result)) (taken, ranHere bool)
}

// CodeValidator checks an action's code for its kind before it is stored
// (for wasm: that it compiles and is a runnable command module; for a zip:
// that it unpacks safely and has the kind's entry point). The code is size
// bytes read in place from code (a file, for code created by digest: up to
// a gigabyte, it is never whole in the gateway's memory unless the check
// needs it so, as a compiler does). binary is the action's exec.binary.
// Its errors are shown to the user.
type CodeValidator interface {
	Validate(ctx context.Context, digest string, code io.ReaderAt, size int64, binary bool) error
}

// CodeBytes is code already in memory (inline exec.code) as a validator
// reads it: an io.ReaderAt whose Bytes a validator that needs the code
// whole (a compiler) takes without a copy.
type CodeBytes []byte

// ReadAt implements io.ReaderAt.
func (b CodeBytes) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("gateway: negative offset")
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Bytes returns the code itself.
func (b CodeBytes) Bytes() []byte { return b }

// CodeValidatorFunc adapts a function to CodeValidator.
type CodeValidatorFunc func(ctx context.Context, digest string, code io.ReaderAt, size int64, binary bool) error

// Validate implements CodeValidator.
func (f CodeValidatorFunc) Validate(ctx context.Context, digest string, code io.ReaderAt, size int64, binary bool) error {
	return f(ctx, digest, code, size, binary)
}

// InvokerDirectory lists the invokers that are alive.
type InvokerDirectory interface {
	Live() []queue.InvokerStatus
}

// Config configures a Gateway. Immutable once passed to New.
type Config struct {
	// Listen is the HTTP address, "127.0.0.1:3233" by default.
	Listen string
	// Listener, when set, is used instead of listening on Listen (the
	// daemon binds first to learn the address of port 0).
	Listener net.Listener
	// ID names this gateway in result subjects; unique per gateway.
	ID string
	// BlockingWait is how long a blocking invoke waits before answering
	// 202 with the activation id; 60 s by default, as OpenWhisk.
	BlockingWait time.Duration
	// APIHost is the address actions are told to call back on
	// (__OW_API_HOST); defaults to http://Listen.
	APIHost string
	// UploadKey signs the gateway's own upload URLs (the upload workflow
	// on a store without presigned URLs); random per process when empty.
	UploadKey []byte
	// UploadTTL is how long an upload URL is valid; 15 minutes when 0.
	UploadTTL time.Duration
	// UploadThroughGateway makes clients upload to the gateway even when
	// the store can presign URLs (clients that cannot reach the store).
	// An upload through a gateway lets its namespace create actions from
	// it on that gateway only (the grant is in its memory): behind a load
	// balancer of several gateways, leave it off.
	UploadThroughGateway bool
}

// Deps are the parts the gateway works with.
type Deps struct {
	Store      Store
	Blobs      blobs.Store
	Dispatcher Dispatcher
	Invokers   InvokerDirectory
	// Local is the invoker of this process, nil when there is none.
	Local LocalInvoker
	// Validators by canonical kind; a kind without one is stored unchecked.
	Validators map[string]CodeValidator
	// Metrics, when set, is served at GET /metrics in Prometheus's text
	// format (metrics.ContentType), without authentication, like /ping:
	// the local invoker's activation histograms and gauges.
	Metrics io.WriterTo
	Logger  *slog.Logger
}

// Gateway is the HTTP front door. New builds it, Start listens, Shutdown
// stops it. Safe for concurrent use.
type Gateway struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	echo     *echo.Echo
	results  *queue.Results
	balancer *balancer
	ln       net.Listener
	served   chan error
	// uploadKey signs upload tokens (gateway/blobs.go).
	uploadKey []byte
	// uploaded remembers the blobs each namespace uploaded through this
	// gateway's own upload URLs, for an hour after each upload: the proof
	// that it has the bytes, which an action create by digest needs.
	uploaded uploadGrants
}

// New builds a gateway. It fails when a dependency is missing.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if deps.Store == nil || deps.Blobs == nil || deps.Dispatcher == nil || deps.Invokers == nil {
		return nil, errors.New("gateway: Store, Blobs, Dispatcher and Invokers are required")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:3233"
	}
	if cfg.ID == "" {
		cfg.ID = "gw0"
	}
	if cfg.BlockingWait == 0 {
		cfg.BlockingWait = 60 * time.Second
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, deps: deps, log: log, balancer: newBalancer(deps.Invokers)}
	g.uploadKey = cfg.UploadKey
	if len(g.uploadKey) == 0 {
		g.uploadKey = newUploadKey()
	}
	g.echo = g.routes()
	return g, nil
}

// Handler returns the HTTP handler (for tests and embedding).
func (g *Gateway) Handler() http.Handler { return g.echo }

// Start subscribes to results and starts serving HTTP. It returns once the
// port is bound, or with the error that prevented it.
func (g *Gateway) Start(ctx context.Context) error {
	results, err := g.deps.Dispatcher.OpenResults(g.cfg.ID, g.log)
	if err != nil {
		return err
	}
	g.results = results
	ln := g.cfg.Listener
	if ln == nil {
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", g.cfg.Listen); err != nil {
			_ = results.Close()
			return fmt.Errorf("listen on %s: %w", g.cfg.Listen, err)
		}
	}
	g.ln = ln
	if g.cfg.APIHost == "" {
		g.cfg.APIHost = "http://" + ln.Addr().String()
	}
	g.echo.Listener = ln
	g.echo.Server.ReadHeaderTimeout = 10 * time.Second
	g.served = make(chan error, 1)
	go func() { g.served <- g.echo.Server.Serve(ln) }()
	g.log.Info("gateway listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the gateway listens on, once started.
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// Shutdown stops taking requests and waits for those in flight (blocking
// invokes included) until ctx ends.
func (g *Gateway) Shutdown(ctx context.Context) error {
	err := g.echo.Server.Shutdown(ctx)
	if g.results != nil {
		_ = g.results.Close()
	}
	if err != nil {
		return fmt.Errorf("stop gateway: %w", err)
	}
	if serr := <-g.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("gateway server: %w", serr)
	}
	return nil
}
