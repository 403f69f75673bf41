// Command wisp is the command-line interface of Wisp, with the verbs of
// OpenWhisk's wsk: property, namespace, action and activation.
//
// Exit codes: 0 on success, 1 when a command fails (a refused request, an
// action that failed, an unreadable file), 2 for a usage error (an unknown
// command or flag, a wrong number of arguments).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := runContext(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the CLI with args (without the program name) in this process,
// reading the environment of the process, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, os.Getenv, stdout, stderr)
}

// runContext runs the CLI with args and the environment getenv and returns
// the exit code. Cancelling ctx interrupts a waiting command.
func runContext(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	a := &app{getenv: getenv, stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(joinPairFlags(args))
	root.SetContext(ctx)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	if ue := (*usageError)(nil); errors.As(err, &ue) {
		fmt.Fprintf(stderr, "error: %v\nRun '%s --help' for usage.\n", ue.err, cmd.CommandPath())
		return 2
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	return 1
}

// app is one run of the CLI: where it writes, its environment and the
// global flags.
type app struct {
	getenv         func(string) string
	stdout, stderr io.Writer

	// Global flags.
	apihost, auth string
	insecure      bool
	json          bool
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "wisp",
		Short: "Manage and run actions on a Wisp server",
		Long: `wisp is the command-line interface of Wisp, a functions-as-a-service platform
that speaks Apache OpenWhisk's REST API. Its verbs are those of OpenWhisk's wsk.

The API host and auth key come from, in order of precedence: the global flags
--apihost and --auth, the environment variables WISP_APIHOST and WISP_AUTH, and
the properties file (~/.wisprc, or $WISP_CONFIG_FILE) written by
'wisp property set'.`,
		Example: `  wisp property set --apihost 127.0.0.1:3233 --auth UUID:KEY
  wisp action create hello hello.wasm
  wisp action invoke hello -p name world --result
  wisp activation list`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	groupCommand(root)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	pf := root.PersistentFlags()
	pf.StringVar(&a.apihost, "apihost", "", "the Wisp API `HOST` (host:port or a URL)")
	pf.StringVarP(&a.auth, "auth", "u", "", "the auth `KEY` (UUID:KEY)")
	pf.BoolVarP(&a.insecure, "insecure", "i", false, "skip the check of the server's TLS certificate")
	pf.BoolVar(&a.json, "json", false, "print JSON only: no \"ok:\" lines, no tables")

	root.AddCommand(newPropertyCmd(a), newNamespaceCmd(a), newActionCmd(a), newActivationCmd(a))
	return root
}

// groupCommand makes cmd, a command that only holds subcommands, print its
// help when called alone and refuse an unknown subcommand as a usage error.
func groupCommand(cmd *cobra.Command) {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %q?)", s[0])
		}
		return &usageError{errors.New(msg)}
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
}
