package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
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
	gogc := setGCPercent()
	started := time.Now()
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("wispd ready", "role", string(r), "took", time.Since(started).Round(time.Millisecond), "gogc", gogc)
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

// defaultGCPercent is wispd's GOGC when its environment sets none: the
// heap may grow to three times what is live between two collections,
// rather than Go's two. Under load the collector then costs ~5% less of
// wispd's CPU per invoke, for ~40% more resident memory
// (docs/rationale.md).
const defaultGCPercent = 200

// setGCPercent applies defaultGCPercent unless GOGC is set, and returns
// the setting in force, as GOGC would spell it.
func setGCPercent() string {
	if v, set := os.LookupEnv("GOGC"); set {
		return v
	}
	debug.SetGCPercent(defaultGCPercent)
	return strconv.Itoa(defaultGCPercent)
}
