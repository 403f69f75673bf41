package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/wispfaas/wisp/daemon"
)

// runDaemon starts a node of role r, tells the user how to reach it,
// waits for ctx to end (SIGINT or SIGTERM), then shuts it down.
func runDaemon(ctx context.Context, opts *options, r daemon.Role, out io.Writer) error {
	if err := opts.check(); err != nil {
		return err
	}
	cfg, err := opts.config(r)
	if err != nil {
		return err
	}
	log := cfg.Logger
	started := time.Now()
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("wispd ready", "role", string(r), "took", time.Since(started).Round(time.Millisecond))
	if host := d.APIHost(); host != "" {
		auth, created := d.GuestAuth()
		file := daemon.GuestAuthFile(cfg.Data)
		if created {
			fmt.Fprintf(out, "Created the guest namespace. Point the wisp CLI at this server with:\n\n    wisp property set --apihost %s --auth %s\n\n", host, auth)
		} else {
			fmt.Fprintf(out, "Wisp is serving on %s. The guest key is in %s; to use it:\n\n    wisp property set --apihost %s --auth $(cat %s)\n\n", host, file, host, file)
		}
	}
	<-ctx.Done()
	log.Info("shutting down: no new requests; running activations may finish", "grace", cfg.ShutdownGrace)
	if err := d.Stop(); err != nil {
		return err
	}
	log.Info("wispd stopped")
	return nil
}
