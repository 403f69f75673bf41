package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/runtimes"
)

// newRuntimesCommand is `wispd runtimes build|list`: the root filesystems
// container actions run in.
func newRuntimesCommand(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runtimes",
		Short: "Build and list the container runtimes (python:3, nodejs:20, native)",
		Long: `Container actions run in a runtime: a root filesystem with the language's
interpreter and Wisp's launcher. "wispd runtimes build" makes them offline
from what the machine has installed (Debian's python3.11 packages, the node
executable, the Go toolchain for the native launcher), in --runtimes
(default $WISP_RUNTIMES, else ~/.cache/wisp/runtimes). A runtime whose inputs
have not changed is not built again.`,
	}
	// --runtimes is wispd's own flag (the daemon reads the same directory).
	resolve := func() (string, error) {
		if opts.runtimesDir != "" {
			return opts.runtimesDir, nil
		}
		return runtimes.DefaultDir()
	}
	build := &cobra.Command{
		Use:       "build [NAME...]",
		Short:     "Build the runtimes (all of them unless named) that are missing or out of date",
		Example:   "  wispd runtimes build\n  wispd runtimes build python3 --runtimes /var/lib/wisp/runtimes",
		ValidArgs: runtimes.Names(),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if _, ok := runtimesByName()[a]; !ok {
					return usageError{fmt.Errorf("unknown runtime %q (known: %v)", a, runtimes.Names())}
				}
			}
			d, err := resolve()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "runtimes in %s\n", d)
			return runtimes.Build(cmd.Context(), d, args, cmd.OutOrStdout())
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the built runtimes",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := resolve()
			if err != nil {
				return err
			}
			rts, err := runtimes.List(d)
			if err != nil {
				return err
			}
			if len(rts) == 0 {
				fmt.Fprintf(os.Stderr, "no runtimes built in %s: run `wispd runtimes build`\n", d)
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tKIND\tVERSION\tSTAMP\tROOTFS")
			for _, r := range rts {
				v := r.Version
				if v == "" {
					v = "-"
				}
				stamp := r.Stamp
				if len(stamp) > len("sha256:")+12 {
					stamp = stamp[:len("sha256:")+12]
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Spec.Kind, v, stamp, r.RootFS)
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(build, list)
	return cmd
}

func runtimesByName() map[string]bool {
	m := map[string]bool{}
	for _, n := range runtimes.Names() {
		m[n] = true
	}
	return m
}
