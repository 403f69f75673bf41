package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/gateway"
	"github.com/wispfaas/wisp/invoker"
	"github.com/wispfaas/wisp/queue"
	"github.com/wispfaas/wisp/store"
	"github.com/wispfaas/wisp/wasmrt"
)

// daemon is one wispd process's parts, in the order they start.
type daemon struct {
	opts    *options
	log     *slog.Logger
	lock    *dataLock
	broker  *queue.Broker
	store   *store.Store
	wasm    *wasmrt.Runtime
	reg     *queue.Registry
	invoker *invoker.Invoker
	gateway *gateway.Gateway
	admin   *adminServer
}

// runDaemon starts the parts of role, waits for ctx to end (SIGINT or
// SIGTERM), then shuts them down in order.
func runDaemon(ctx context.Context, opts *options, r role, out io.Writer) error {
	if err := opts.check(); err != nil {
		return err
	}
	log, err := opts.logger()
	if err != nil {
		return err
	}
	d := &daemon{opts: opts, log: log}
	started := time.Now()
	if err := d.start(ctx, r, out); err != nil {
		d.stop()
		return err
	}
	log.Info("wispd ready", "role", string(r), "took", time.Since(started).Round(time.Millisecond))
	<-ctx.Done()
	log.Info("shutting down: no new requests; running activations may finish", "grace", opts.drain)
	return d.stop()
}

func (d *daemon) start(ctx context.Context, r role, out io.Writer) error {
	o := d.opts
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", o.data, err)
	}
	var err error
	if o.natsURL == "" {
		if d.lock, err = lockData(o.data); err != nil {
			return err
		}
	}
	d.broker, err = queue.Open(ctx, queue.Config{
		StoreDir: filepath.Join(o.data, "jetstream"),
		Listen:   o.natsListen,
		URL:      o.natsURL,
		Logger:   d.log,
	})
	if err != nil {
		return err
	}
	if d.store, err = store.Open(ctx, d.broker.JetStream(), store.Config{ActivationRetention: o.retention, Replicas: d.broker.Replicas(), Logger: d.log}); err != nil {
		return err
	}
	if d.reg, err = d.broker.OpenRegistry(ctx); err != nil {
		return err
	}
	codeStore, err := blobs.NewLocal(filepath.Join(o.data, "blobs"))
	if err != nil {
		return err
	}
	// One Wasm runtime serves both the gateway (which compiles a module
	// when it is created) and the invoker, so the first invoke finds the
	// module compiled; the directory cache carries it across restarts.
	if d.wasm, err = wasmrt.New(ctx, wasmrt.Config{CacheDir: filepath.Join(o.data, "wasm-cache"), Logger: d.log}); err != nil {
		return err
	}
	apiHost := o.apiHost
	if apiHost == "" {
		apiHost = "http://" + o.listen
	}
	if r == roleAll || r == roleInvoker {
		d.invoker, err = invoker.New(invoker.Config{ID: o.invokerID, Capacity: o.capacity, APIHost: apiHost}, invoker.Deps{
			Queue:      d.broker,
			Records:    d.store,
			Heartbeats: d.reg,
			Code:       invoker.BlobCode{Store: codeStore},
			Runtimes:   map[string]invoker.Runtime{"wasm": invoker.WasmRuntime{RT: d.wasm}},
			Logger:     d.log,
		})
		if err != nil {
			return err
		}
		if err := d.invoker.Start(ctx); err != nil {
			return err
		}
	}
	if r == roleAll || r == roleGateway {
		auth, created, err := ensureGuest(ctx, d.store, o)
		if err != nil {
			return err
		}
		d.gateway, err = gateway.New(gateway.Config{Listen: o.listen, ID: gatewayID(), APIHost: o.apiHost}, gateway.Deps{
			Store:      d.store,
			Blobs:      codeStore,
			Dispatcher: d.broker,
			Invokers:   d.reg,
			Validators: map[string]gateway.CodeValidator{"wasm": d.wasm},
			Logger:     d.log,
		})
		if err != nil {
			return err
		}
		if err := d.gateway.Start(ctx); err != nil {
			return err
		}
		if d.admin, err = startAdmin(o.data, d.store, d.log); err != nil {
			return err
		}
		host := "http://" + d.gateway.Addr()
		if created {
			fmt.Fprintf(out, "Created the guest namespace. Point the wisp CLI at this server with:\n\n    wisp property set --apihost %s --auth %s\n\n", host, auth)
		} else {
			fmt.Fprintf(out, "Wisp is serving on %s. The guest key is in %s; to use it:\n\n    wisp property set --apihost %s --auth $(cat %s)\n\n",
				host, guestAuthFile(o.data), host, guestAuthFile(o.data))
		}
	}
	return nil
}

// stop shuts the parts down: the gateway and invoker together (blocking
// callers get the results of activations that finish within the grace),
// then the stores.
func (d *daemon) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.drain)
	defer cancel()
	var wg sync.WaitGroup
	var errs []error
	var mu sync.Mutex
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
	if d.gateway != nil {
		wg.Add(1)
		go func() { defer wg.Done(); record(d.gateway.Shutdown(ctx)) }()
	}
	if d.invoker != nil {
		wg.Add(1)
		go func() { defer wg.Done(); record(d.invoker.Shutdown(ctx)) }()
	}
	wg.Wait()
	if d.reg != nil {
		d.reg.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
	if d.wasm != nil {
		record(d.wasm.Close(context.Background()))
	}
	if d.broker != nil {
		record(d.broker.Close())
	}
	if d.lock != nil {
		d.lock.release()
	}
	if len(errs) == 0 {
		d.log.Info("wispd stopped")
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
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
