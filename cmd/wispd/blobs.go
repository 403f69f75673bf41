package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/daemon"
)

func newBlobsCommand(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blobs",
		Short: "Manage the code store (--blobs): garbage collection of unused code",
	}
	var (
		dryRun, asJSON bool
		grace          time.Duration
	)
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Delete code blobs that no action references",
		Long: `gc deletes the code blobs that no action (of any namespace, deleted
namespaces included) references and that were written or last used longer
ago than --grace, and the leftovers of interrupted uploads older than that.
The grace period protects code uploaded for an action not created yet.

It works through the running wispd when there is one on --data, else
directly on its store and on the blob store --blobs names.`,
		Example: `  wispd blobs gc --dry-run          # what would go
  wispd blobs gc --grace 24h
  wispd blobs gc --blobs 's3://wisp/code?endpoint=127.0.0.1:9000&secure=false'`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.check(); err != nil {
				return err
			}
			if grace < 0 {
				return usageError{fmt.Errorf("--grace must not be negative, not %s", grace)}
			}
			cfg, err := opts.config(daemon.RoleAll)
			if err != nil {
				return err
			}
			if grace == 0 {
				grace = time.Nanosecond // "no grace" (0 means the default below wispd)
			}
			rep, err := daemon.BlobsGC(cmd.Context(), cfg, daemon.GCRequest{Grace: grace, DryRun: dryRun})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "    ")
				return enc.Encode(rep)
			}
			verb := "deleted"
			if rep.DryRun {
				verb = "would delete"
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, o := range rep.Deleted {
				name := o.Digest
				if o.Staged != "" {
					name = "upload leftover " + o.Staged
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s old\n", verb, name, humanBytes(o.Size), time.Since(o.Modified).Round(time.Second))
			}
			_ = w.Flush()
			fmt.Fprintf(out, "%d blobs: %d used by actions, %d younger than %s; %s %d (%s)\n",
				rep.Blobs, rep.Referenced, rep.Young, rep.Grace, verb, len(rep.Deleted), humanBytes(rep.DeletedBytes))
			if len(rep.Errors) > 0 {
				return fmt.Errorf("%d deletions failed:\n  %s", len(rep.Errors), strings.Join(rep.Errors, "\n  "))
			}
			return nil
		},
	}
	gc.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be deleted; delete nothing")
	gc.Flags().DurationVar(&grace, "grace", time.Hour, "keep blobs written or used more recently than this (0: keep none for being new)")
	gc.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(gc)
	return cmd
}

// parseBytes reads a size like "512MiB", "2GiB", "1G", "1048576".
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 || n*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("%q is not a size like 512MiB or 2GiB", s)
	}
	return int64(n * float64(mult)), nil
}

// humanBytes writes n as "512 B", "3.3 MiB".
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
