// Package queue carries activations from gateways to invokers and results
// back. It embeds nats-server with JetStream (or connects to a NATS cluster),
// owns the stream and subject names, and encodes messages.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where JetStream lives. Immutable once passed to Open.
type Config struct {
	// StoreDir is the embedded server's JetStream file store. Required
	// unless URL is set.
	StoreDir string
	// Listen, when not empty ("127.0.0.1:4222"), lets other processes reach
	// the embedded server over TCP. Empty means in-process only.
	Listen string
	// URL connects to an external NATS cluster instead of embedding one.
	URL string
	// Replicas is the replica count of streams and buckets (1 embedded,
	// 3 on a cluster).
	Replicas int
	// AckWait is how long an invoker may hold an activation without a sign
	// of life before it is handed out again; DefaultAckWait when 0.
	AckWait time.Duration
	// Logger receives the server's notices; nil discards them.
	Logger *slog.Logger
}

// Broker is a connection to JetStream, with the embedded server when there
// is one. Open starts it; Close stops it. Safe for concurrent use.
type Broker struct {
	cfg Config
	srv *server.Server // nil when connected to an external cluster
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
}

// Open starts the embedded server (or dials cfg.URL), connects, and makes
// sure the invocation stream exists. It fails if the store directory is
// unusable or the server does not become ready within 10 seconds.
func Open(ctx context.Context, cfg Config) (*Broker, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = DefaultAckWait
	}
	b := &Broker{cfg: cfg, log: log}
	var opts []nats.Option
	opts = append(opts, nats.Name("wispd"), nats.MaxReconnects(-1))
	url := cfg.URL
	if url == "" {
		if cfg.StoreDir == "" {
			return nil, errors.New("queue: a JetStream store directory is required")
		}
		if err := os.MkdirAll(cfg.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("create JetStream store %s: %w", cfg.StoreDir, err)
		}
		sopts := &server.Options{
			ServerName: "wispd",
			JetStream:  true,
			StoreDir:   cfg.StoreDir,
			DontListen: cfg.Listen == "",
			NoSigs:     true,
			// Activations of 1 MB parameters plus the action record must fit.
			MaxPayload: 8 << 20,
		}
		if cfg.Listen != "" {
			host, port, err := net.SplitHostPort(cfg.Listen)
			if err != nil {
				return nil, fmt.Errorf("queue: NATS listen address %q: %w", cfg.Listen, err)
			}
			sopts.Host = host
			if sopts.Port, err = strconv.Atoi(port); err != nil {
				return nil, fmt.Errorf("queue: NATS listen port %q: %w", port, err)
			}
		}
		srv, err := server.NewServer(sopts)
		if err != nil {
			return nil, fmt.Errorf("configure embedded NATS: %w", err)
		}
		srv.SetLoggerV2(&natsLogger{log: log}, false, false, false)
		go srv.Start()
		if !srv.ReadyForConnections(10 * time.Second) {
			srv.Shutdown()
			return nil, fmt.Errorf("embedded NATS with store %s did not become ready in 10s", cfg.StoreDir)
		}
		b.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	b.nc = nc
	b.js, err = jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	if err := b.ensureInvokeStream(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Conn is the core NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream context.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Replicas is the replica count to give new streams and buckets.
func (b *Broker) Replicas() int { return b.cfg.Replicas }

// Close flushes and closes the connection and shuts the embedded server
// down, waiting until its store is closed.
func (b *Broker) Close() error {
	var err error
	if b.nc != nil {
		if ferr := b.nc.FlushTimeout(2 * time.Second); ferr != nil && !errors.Is(ferr, nats.ErrConnectionClosed) {
			err = fmt.Errorf("flush NATS connection: %w", ferr)
		}
		b.nc.Close()
	}
	b.shutdownServer()
	return err
}

func (b *Broker) shutdownServer() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// natsLogger sends the embedded server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "nats")
}
func (l *natsLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...), "component", "nats")
}
func (l *natsLogger) Fatalf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...), "component", "nats")
}
func (l *natsLogger) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...), "component", "nats")
}
func (l *natsLogger) Debugf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...), "component", "nats")
}
func (l *natsLogger) Tracef(format string, v ...any) {}
