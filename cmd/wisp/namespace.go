package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNamespaceCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "namespace",
		Short: "Show the namespaces of your auth key",
		Long: `A namespace holds actions and their activations. In Wisp each auth key
belongs to one namespace, which "_" stands for in names and paths.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the namespaces your auth key may use",
		Long: `list shows the namespaces of your auth key. It is the quickest check that the
API host and the auth key are right.`,
		Example: `  wisp namespace list`,
		Args:    argsUsage(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ns, err := c.ListNamespaces(cmd.Context())
			if err != nil {
				return failed(c.Host(), "list namespaces", err)
			}
			if a.json {
				if ns == nil {
					ns = []string{}
				}
				return printJSON(a.stdout, ns)
			}
			fmt.Fprintln(a.stdout, "namespaces")
			for _, n := range ns {
				fmt.Fprintln(a.stdout, n)
			}
			return nil
		},
	})
	return cmd
}
