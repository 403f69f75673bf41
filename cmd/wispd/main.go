// Command wispd is the Wisp daemon. By default (role "all") one process
// serves the OpenWhisk API, runs an embedded NATS JetStream, and invokes
// actions. `wispd namespace …` manages namespaces and their keys.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/containerrt/container"
	"github.com/wispfaas/wisp/daemon"
)

func main() {
	// libcontainer re-executes wispd as "wispd init" inside each new
	// container; there this call becomes the container's init and never
	// returns.
	container.MaybeInit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wispd: error:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks a mistake in how wispd was called (exit code 2).
type usageError struct{ error }

func newRootCommand() *cobra.Command {
	opts := defaultOptions()
	root := &cobra.Command{
		Use:   "wispd",
		Short: "Wisp: OpenWhisk-compatible functions, with Wasm actions that start in microseconds",
		Long: `wispd runs Wisp. With no subcommand it runs every role in one process:
the OpenWhisk REST API on --listen, an embedded NATS JetStream for the
activation queue and the entity store (in --data), and an invoker that runs
Wasm actions. Nothing else needs to be started.

On first start wispd creates the "guest" namespace, stores its key in the
data directory and prints the line that points the wisp CLI at it.

Every flag has an environment variable (shown in its help); a flag given on
the command line wins over the variable. Go's own variables apply too: wispd
runs its garbage collector with GOGC=200 unless GOGC is set (GOGC=100 is
Go's default: less memory, more CPU per request).`,
		Example: `  wispd                                  # serve on 127.0.0.1:3233, data in ./wisp-data
  WISP_LISTEN=0.0.0.0:3233 wispd --data /var/lib/wisp
  wispd namespace create alice           # prints alice's new key`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), opts, daemon.RoleAll, cmd.OutOrStdout())
		},
	}
	opts.bind(root)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newNamespaceCommand(opts), newBlobsCommand(opts))
	root.AddCommand(newRuntimesCommand(opts))
	for _, role := range []daemon.Role{daemon.RoleGateway, daemon.RoleInvoker} {
		root.AddCommand(newRoleCommand(opts, role))
	}
	return root
}

func newRoleCommand(opts *options, r daemon.Role) *cobra.Command {
	short := map[daemon.Role]string{
		daemon.RoleGateway: "Run only the API gateway, against a NATS cluster (--nats)",
		daemon.RoleInvoker: "Run only an invoker, against a NATS cluster (--nats)",
	}[r]
	return &cobra.Command{
		Use:   string(r),
		Short: short,
		Long: short + `.

Scaled out, gateways and invokers are separate processes that share a NATS
JetStream cluster (--nats) and a blob store. Each invoker needs a stable
--invoker-id so that activations queued for it survive its restart.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.natsURL == "" {
				return usageError{fmt.Errorf("wispd %s needs --nats (or WISP_NATS): the address of the NATS cluster the other roles use", r)}
			}
			return runDaemon(cmd.Context(), opts, r, cmd.OutOrStdout())
		},
	}
}
