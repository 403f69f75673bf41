package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/daemon"
)

func newNamespaceCommand(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "namespace",
		Short: "Create, list and delete namespaces and their keys (the operator's wskadmin)",
		Long: `Manage namespaces. Each namespace has one key, "UUID:KEY", that the wisp CLI
and OpenWhisk clients send as HTTP Basic credentials.

These commands work on the data directory (--data): through the running
wispd when there is one, else directly on its store.`,
	}
	var auth string
	create := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a namespace and print its key",
		Example: "  wispd namespace create alice\n  wispd namespace create bob --auth 23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nss, err := admin(cmd, opts, daemon.AdminRequest{Op: "create", Name: args[0], Auth: auth})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), nss[0].Auth())
			return nil
		},
	}
	create.Flags().StringVar(&auth, "auth", "", "use this UUID:KEY instead of a generated one")
	list := &cobra.Command{
		Use:   "list",
		Short: "List namespaces and their keys",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			nss, err := admin(cmd, opts, daemon.AdminRequest{Op: "list"})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAMESPACE\tAUTH")
			for _, ns := range nss {
				fmt.Fprintf(w, "%s\t%s\n", ns.Name, ns.Auth())
			}
			return w.Flush()
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a namespace, revoking its key (its actions and activations stay)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := admin(cmd, opts, daemon.AdminRequest{Op: "delete", Name: args[0]}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: deleted namespace %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

// admin runs one namespace operation on the data directory of opts.
func admin(cmd *cobra.Command, opts *options, req daemon.AdminRequest) ([]*core.Namespace, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	cfg, err := opts.config(daemon.RoleAll)
	if err != nil {
		return nil, err
	}
	return daemon.Admin(cmd.Context(), cfg, req)
}

// exactArgs is cobra.ExactArgs with wispd's usage exit code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n && n == 0 {
			return usageError{fmt.Errorf("unexpected argument %q (see %s --help)\nusage: %s", args[0], cmd.CommandPath(), cmd.UseLine())}
		}
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w\nusage: %s", err, cmd.UseLine())}
		}
		return nil
	}
}
