package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
)

func newActivationCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "activation",
		Short: "Inspect activations: the records of action runs",
		Long: `Every run of an action is recorded as an activation: its id, start and
duration, its response (status and result) and its logs.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(newActivationListCmd(a), newActivationGetCmd(a), newActivationLogsCmd(a),
		newActivationResultCmd(a), newActivationPollCmd(a))
	return cmd
}

func newActivationListCmd(a *app) *cobra.Command {
	var (
		limit, skip int
		since, upto int64
		full        bool
	)
	cmd := &cobra.Command{
		Use:     "list [NAME]",
		Aliases: []string{"ls"},
		Short:   "List activations, newest first",
		Long: `list shows the activations of your namespace, newest first, or those of the
action NAME: when each started, its id, the action's kind, whether its sandbox
started cold or was warm, how long it ran, its status and the action. --since
and --upto bound the start time (milliseconds since the epoch); --full prints
the whole records as JSON.`,
		Example: `  wisp activation list
  wisp activation list hello --limit 5
  wisp activation list --since 1700000000000 --full`,
		Args: argsUsage(0, 1, "[NAME]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 || skip < 0 || since < 0 || upto < 0 {
				return usagef("--limit, --skip, --since and --upto cannot be negative")
			}
			f := client.ActivationFilter{Limit: limit, Skip: skip, Since: since, Upto: upto, Docs: full}
			if len(args) == 1 {
				f.Name = args[0]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			acts, err := c.ListActivations(cmd.Context(), f)
			if err != nil {
				return failed(c.Host(), "list activations", err)
			}
			if a.json || full {
				if acts == nil {
					acts = []core.Activation{}
				}
				if !full {
					return printJSON(a.stdout, summaries(acts))
				}
				return printJSON(a.stdout, acts)
			}
			printActivationList(a.stdout, acts)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&limit, "limit", "l", 0, "show at most `N` activations (the server's default: 30)")
	fl.IntVarP(&skip, "skip", "s", 0, "skip the newest `N` activations")
	fl.Int64Var(&since, "since", 0, "only activations started at or after `MS` (milliseconds since the epoch)")
	fl.Int64Var(&upto, "upto", 0, "only activations started at or before `MS` (milliseconds since the epoch)")
	fl.BoolVarP(&full, "full", "f", false, "print the whole records, with results and logs, as JSON")
	return cmd
}

// summaries drops what a listing without docs does not carry.
func summaries(acts []core.Activation) []core.ActivationSummary {
	out := make([]core.ActivationSummary, len(acts))
	for i := range acts {
		out[i] = acts[i].Summary()
	}
	return out
}

// activationID returns the ID argument, or with --last the id of the newest
// activation.
func activationID(ctx context.Context, c *client.Client, args []string, last bool) (string, error) {
	if !last {
		return args[0], nil
	}
	acts, err := c.ListActivations(ctx, client.ActivationFilter{Limit: 1})
	if err != nil {
		return "", failed(c.Host(), "find the last activation", err)
	}
	if len(acts) == 0 {
		return "", fmt.Errorf("there are no activations yet")
	}
	return acts[0].ActivationID, nil
}

// activationArgs checks "ID" or "--last".
func activationArgs(last *bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case *last && len(args) > 0:
			return usagef("give an activation ID or --last, not both")
		case !*last && len(args) != 1:
			return usagef("%s takes an activation ID (or --last), got %d argument(s)", cmd.CommandPath(), len(args))
		}
		return nil
	}
}

// newActivationShowCmd builds get, logs and result, which differ in what
// they fetch and print.
func newActivationShowCmd(a *app, use, short, long, example string, show func(context.Context, *client.Client, string) error) *cobra.Command {
	var last bool
	cmd := &cobra.Command{
		Use: use + " ID", Short: short, Long: long, Example: example,
		Args: activationArgs(&last),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			id, err := activationID(cmd.Context(), c, args, last)
			if err != nil {
				return err
			}
			return show(cmd.Context(), c, id)
		},
	}
	cmd.Flags().BoolVarP(&last, "last", "l", false, "use the newest activation instead of an ID")
	return cmd
}

func newActivationGetCmd(a *app) *cobra.Command {
	return newActivationShowCmd(a, "get", "Show an activation record as JSON",
		`get shows the record of activation ID: the action, start, end and duration,
the response with its result, the logs and the annotations (kind, limits,
waitTime, initTime).`,
		`  wisp activation get 2b9e5c6c1f0d4e8f9e5c6c1f0d4e8f9e
  wisp activation get --last`,
		func(ctx context.Context, c *client.Client, id string) error {
			act, err := c.GetActivation(ctx, id)
			if err != nil {
				return failed(c.Host(), "get activation "+id, err)
			}
			a.ok("got activation %s", id)
			return printJSON(a.stdout, act)
		})
}

func newActivationLogsCmd(a *app) *cobra.Command {
	return newActivationShowCmd(a, "logs", "Show the logs of an activation",
		`logs prints the log lines of activation ID, one a line: what the action wrote
to stderr (Wasm) or to stdout and stderr (containers).`,
		`  wisp activation logs 2b9e5c6c1f0d4e8f9e5c6c1f0d4e8f9e
  wisp activation logs --last`,
		func(ctx context.Context, c *client.Client, id string) error {
			logs, err := c.ActivationLogs(ctx, id)
			if err != nil {
				return failed(c.Host(), "get the logs of activation "+id, err)
			}
			if a.json {
				if logs == nil {
					logs = []string{}
				}
				return printJSON(a.stdout, map[string][]string{"logs": logs})
			}
			for _, l := range logs {
				fmt.Fprintln(a.stdout, l)
			}
			return nil
		})
}

func newActivationResultCmd(a *app) *cobra.Command {
	return newActivationShowCmd(a, "result", "Show the result of an activation",
		`result prints the result object of activation ID as JSON. With --json it prints
the whole response: status, statusCode, success and result.`,
		`  wisp activation result 2b9e5c6c1f0d4e8f9e5c6c1f0d4e8f9e
  wisp activation result --last`,
		func(ctx context.Context, c *client.Client, id string) error {
			res, err := c.ActivationResult(ctx, id)
			if err != nil {
				return failed(c.Host(), "get the result of activation "+id, err)
			}
			if a.json {
				return printJSON(a.stdout, res)
			}
			return printJSON(a.stdout, res.Result)
		})
}

func newActivationPollCmd(a *app) *cobra.Command {
	var (
		exit     int
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "poll [NAME]",
		Short: "Print the logs and results of new activations as they arrive",
		Long: `poll watches for activations that start after it does, of every action or of
the action NAME, and prints each one's logs and result as it arrives. It runs
until interrupted (Ctrl-C), or for SECONDS with --exit.`,
		Example: `  wisp activation poll
  wisp activation poll hello --exit 60`,
		Args: argsUsage(0, 1, "[NAME]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if exit < 0 || interval <= 0 {
				return usagef("--exit cannot be negative and --interval must be positive")
			}
			var name string
			if len(args) == 1 {
				name = args[0]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if exit > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(exit)*time.Second)
				defer cancel()
			}
			return poll(ctx, a, c, name, interval)
		},
	}
	cmd.Flags().IntVarP(&exit, "exit", "e", 0, "stop after `SECONDS` (0: run until interrupted)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to ask the server")
	cmd.Flags().MarkHidden("interval")
	return cmd
}

// poll lists the activations started since it began every interval and
// prints the ones it has not printed yet, oldest first, until ctx ends.
func poll(ctx context.Context, a *app, c *client.Client, name string, interval time.Duration) error {
	// The start of the window is taken before saying that polling began,
	// so that an activation started on seeing that line is in it.
	since := time.Now().UnixMilli()
	if !a.json {
		fmt.Fprintln(a.stdout, "Enter Ctrl-c to exit.")
		fmt.Fprintln(a.stdout, "Polling for activation logs")
	}
	seen := map[string]int64{} // id → start
	for first := true; ; first = false {
		acts, err := c.ListActivations(ctx, client.ActivationFilter{Name: name, Since: since, Limit: 200, Docs: true})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && first:
			return failed(c.Host(), "poll activations", err)
		case err != nil:
			fmt.Fprintf(a.stderr, "warning: %v (still polling)\n", failed(c.Host(), "poll activations", err))
		default:
			var newest int64
			for i := len(acts) - 1; i >= 0; i-- {
				act := acts[i]
				newest = max(newest, act.Start)
				if _, ok := seen[act.ActivationID]; ok {
					continue
				}
				seen[act.ActivationID] = act.Start
				printPolled(a, &act)
			}
			// An activation can be recorded up to its time limit after it
			// started: keep looking back that far, and no further.
			if low := newest - core.MaxTimeoutMs; low > since {
				since = low
				for id, start := range seen {
					if start < since {
						delete(seen, id)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// printPolled prints one activation found by poll.
func printPolled(a *app, act *core.Activation) {
	if a.json {
		fmt.Fprintln(a.stdout, compactJSONValue(act))
		return
	}
	fmt.Fprintf(a.stdout, "\nActivation: '%s' (%s)\n", act.Name, act.ActivationID)
	for _, l := range act.Logs {
		fmt.Fprintf(a.stdout, "    %s\n", l)
	}
	fmt.Fprintf(a.stdout, "Result (%s, %dms): %s\n", activationStatus(*act), act.Duration, compactJSON(act.Response.Result))
}
