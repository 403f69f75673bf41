package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
)

func newActionCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "action",
		Short: "Create, inspect, invoke and delete actions",
		Long: `An action is a function: code plus its kind, default parameters and limits.
Wisp runs it on demand and records each run as an activation.`,
	}
	groupCommand(cmd)
	cmd.AddCommand(
		newActionPutCmd(a, false), newActionPutCmd(a, true),
		newActionGetCmd(a), newActionListCmd(a), newActionDeleteCmd(a), newActionInvokeCmd(a),
	)
	return cmd
}

// kindsByExt are the kinds inferred from a file's extension.
var kindsByExt = map[string]string{
	".wasm": "wasm",
	".py":   "python:default",
	".js":   "nodejs:default",
}

// binaryKinds take their code base64-encoded whatever the file's name.
var binaryKinds = map[string]bool{"wasm": true, "native": true, "blackbox": true}

// wasmMagic starts every WebAssembly binary module.
var wasmMagic = []byte("\x00asm")

// readActionExec reads the action's code from file and returns its exec:
// the kind from --kind or the extension, the code base64 when it is binary.
// Every error is a person's mistake found before any request is sent.
func readActionExec(file, kind, main string) (*core.Exec, error) {
	ext := strings.ToLower(filepath.Ext(file))
	if kind == "" {
		switch k, ok := kindsByExt[ext]; {
		case ok:
			kind = k
		case ext == ".zip":
			return nil, fmt.Errorf("%s is a zip archive: give its kind with --kind (for example --kind python:3 or --kind nodejs:20)", file)
		case ext == "":
			return nil, fmt.Errorf("cannot tell the kind of %s from its name: give --kind (one of %s)", file, strings.Join(core.KnownKinds(), ", "))
		default:
			return nil, fmt.Errorf("cannot tell the kind of %s from the extension %s: give --kind (one of %s), or use .wasm, .py or .js", file, ext, strings.Join(core.KnownKinds(), ", "))
		}
	}
	fi, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("the action file %s does not exist", file)
	case err != nil:
		return nil, fmt.Errorf("cannot read the action file: %w", err)
	case fi.IsDir():
		return nil, fmt.Errorf("the action file %s is a directory: zip it (with the kind's entry point at its root) and give the zip", file)
	case fi.Size() == 0:
		return nil, fmt.Errorf("the action file %s is empty", file)
	}
	if fi.Size() > uploadThreshold {
		// Large code goes through the upload workflow, read from the
		// file as it is sent: only its first bytes are read here.
		head := make([]byte, len(wasmMagic))
		if f, err := os.Open(file); err != nil {
			return nil, fmt.Errorf("cannot read the action file: %w", err)
		} else {
			_, _ = io.ReadFull(f, head)
			f.Close()
		}
		if kind == "wasm" && !bytes.Equal(head, wasmMagic) {
			return nil, fmt.Errorf("%s is not a WebAssembly binary module (it does not start with \\0asm)", file)
		}
		return &core.Exec{Kind: kind, Main: main, Binary: binaryKinds[kind] || ext == ".wasm" || ext == ".zip", Size: fi.Size()}, nil
	}
	code, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read the action file: %w", err)
	}
	if kind == "wasm" && !bytes.HasPrefix(code, wasmMagic) {
		return nil, fmt.Errorf("%s is not a WebAssembly binary module (it does not start with \\0asm)", file)
	}
	exec := &core.Exec{Kind: kind, Main: main}
	if binaryKinds[kind] || ext == ".wasm" || ext == ".zip" || !utf8.Valid(code) {
		exec.Binary = true
		exec.Code = base64.StdEncoding.EncodeToString(code)
	} else {
		exec.Code = string(code)
	}
	return exec, nil
}

func newActionPutCmd(a *app, update bool) *cobra.Command {
	var (
		params, annots       keyValueFlag
		paramFile, annotFile string
		kind, main           string
		timeout, memory, log int
	)
	verb, done := "create", "created"
	use, args := "create NAME FILE", argsUsage(2, 2, "NAME FILE")
	short := "Create an action from a file of code"
	long := `create uploads FILE as the action NAME. The kind comes from the file's
extension: .wasm is a WebAssembly (WASI) module, .py Python, .js Node.js; give
--kind for any other file, and always for a .zip archive (Python with
__main__.py and an optional virtualenv folder; Node.js with package.json and
node_modules). --kind native takes a static Linux executable that speaks
Wisp's container protocol (sdk/go builds one); --kind blackbox takes your own
OCI image, as an OCI image layout tarball or a 'docker save' tarball, whose
entrypoint speaks that protocol. Containers have no network unless the
action is annotated -a network true. Creating an action that exists fails:
use 'wisp action update' to replace it.`
	example := `  wisp action create hello hello.wasm
  wisp action create greet greet.py -p greeting hello --timeout 10000 --memory 128
  wisp action create app app.zip --kind nodejs:20 --main handler
  wisp action create tool ./tool --kind native
  wisp action create box image.tar --kind blackbox -a network true
  wisp action create mypkg/hello hello.js -a description "says hello"`
	if update {
		verb, done = "update", "updated"
		use, args = "update NAME [FILE]", argsUsage(1, 2, "NAME [FILE]")
		short = "Update an action, or create it if it does not exist"
		long = `update replaces the parts of the action NAME given on the command line and
keeps the rest: the code when FILE is given (its kind as for create), the
parameters with -p/-P, the annotations with -a/-A, the limits with --timeout,
--memory and --logsize. Parameters and annotations given replace all the old
ones. An action that does not exist is created.`
		example = `  wisp action update hello hello.wasm
  wisp action update hello -p name world
  wisp action update hello --timeout 30000`
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Example: example, Args: args,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			put := core.ActionPut{}
			if len(args) == 2 {
				exec, err := readActionExec(args[1], kind, main)
				if err != nil {
					return err
				}
				put.Exec = exec
			} else if kind != "" || main != "" {
				return usagef("--kind and --main need the FILE of the action's code")
			}
			var err error
			if put.Parameters, err = mergeKeyValues(paramFile, &params); err != nil {
				return err
			}
			if put.Annotations, err = mergeKeyValues(annotFile, &annots); err != nil {
				return err
			}
			limits := &core.LimitsPut{}
			for _, l := range []struct {
				flag string
				v    int
				dst  **int
			}{{"timeout", timeout, &limits.Timeout}, {"memory", memory, &limits.Memory}, {"logsize", log, &limits.Logs}} {
				if cmd.Flags().Changed(l.flag) {
					v := l.v
					*l.dst = &v
				}
			}
			if *limits != (core.LimitsPut{}) {
				put.Limits = limits
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if put.Exec != nil && (len(put.Exec.Code) >= progressThreshold || needsUpload(put.Exec)) {
				ctx = client.WithUploadProgress(ctx, a.uploadProgress(args[1]))
			}
			if put.Exec != nil && needsUpload(put.Exec) {
				if err := uploadActionCode(ctx, c, args[1], put.Exec); err != nil {
					return failed(c.Host(), "upload the code of action "+name, err)
				}
				ctx = cmd.Context() // the action's JSON is small now: no second progress line
			}
			saved, err := c.SaveAction(ctx, name, put, update)
			if err != nil {
				return failed(c.Host(), verb+" action "+name, err)
			}
			if saved.CompileTime > 0 {
				// A Wasm module is compiled when it is saved; other kinds'
				// code is only checked (a zip read, an executable's header).
				what := "checked"
				if saved.Action != nil && saved.Action.Exec.Kind == "wasm" {
					what = "compiled"
				}
				a.ok("%s action %s (%s in %s)", done, name, what, roundDuration(saved.CompileTime))
			} else {
				a.ok("%s action %s", done, name)
			}
			if a.json {
				return printJSON(a.stdout, saved.Action)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.VarP(&params, "param", "p", "a default parameter `KEY VALUE` (VALUE is JSON if it parses, else a string); repeatable")
	f.StringVarP(&paramFile, "param-file", "P", "", "default parameters from a JSON object in `FILE`")
	f.VarP(&annots, "annotation", "a", "an annotation `KEY VALUE` (VALUE as for -p); repeatable")
	f.StringVarP(&annotFile, "annotation-file", "A", "", "annotations from a JSON object in `FILE`")
	f.StringVar(&kind, "kind", "", "the `KIND` of the action (wasm, python:3, nodejs:20, native, ...)")
	f.StringVar(&main, "main", "", "the name of the entry `FUNCTION` (OpenWhisk's main)")
	f.IntVarP(&timeout, "timeout", "t", 0, "the time limit of one activation, in `MS`")
	f.IntVarP(&memory, "memory", "m", 0, "the memory limit, in `MB`")
	f.IntVarP(&log, "logsize", "l", 0, "the limit of log output kept, in `MB`")
	return cmd
}

func newActionGetCmd(a *app) *cobra.Command {
	var summary, showURL, code bool
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show an action",
		Long: `get shows the action NAME as JSON: kind, parameters, annotations, limits and
the digest and size of its code. --code includes the code itself (base64 for
binary kinds); --summary shows a short summary; --url the action's URL.`,
		Example: `  wisp action get hello
  wisp action get hello --summary
  wisp action get hello --url`,
		Args: argsUsage(1, 1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			c, err := a.client()
			if err != nil {
				return err
			}
			act, err := c.GetAction(cmd.Context(), name, code)
			if err != nil {
				return failed(c.Host(), "get action "+name, err)
			}
			switch {
			case showURL:
				u := c.Host() + "/api/v1/namespaces/" + escapePath(act.Path().Namespace) + "/actions/" + escapePath(act.Path().Relative())
				if a.json {
					return printJSON(a.stdout, map[string]string{"url": u})
				}
				a.ok("got action %s", name)
				fmt.Fprintln(a.stdout, u)
				return nil
			case summary && !a.json:
				printActionSummary(a, act)
				return nil
			}
			a.ok("got action %s", name)
			return printJSON(a.stdout, act)
		},
	}
	cmd.Flags().BoolVarP(&summary, "summary", "s", false, "show a short summary")
	cmd.Flags().BoolVarP(&showURL, "url", "r", false, "show the action's URL")
	cmd.Flags().BoolVar(&code, "code", false, "include the code")
	cmd.MarkFlagsMutuallyExclusive("summary", "url")
	return cmd
}

// escapePath escapes each segment of a '/'-separated path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func printActionSummary(a *app, act *core.Action) {
	title := "action " + act.Path().String()
	if d, ok := annotationString(act.Annotations, "description"); ok {
		title += ": " + d
	}
	fmt.Fprintln(a.stdout, title)
	var keys []string
	for _, p := range act.Parameters {
		keys = append(keys, p.Key)
	}
	params := "none defined"
	if len(keys) > 0 {
		params = strings.Join(keys, ", ")
	}
	fmt.Fprintf(a.stdout, "   (parameters: %s)\n", params)
	fmt.Fprintf(a.stdout, "   (kind: %s, version: %s, timeout: %d ms, memory: %d MB, logs: %d MB)\n",
		act.Exec.Kind, act.Version, act.Limits.Timeout, act.Limits.Memory, act.Limits.Logs)
}

func newActionListCmd(a *app) *cobra.Command {
	var limit, skip int
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the actions of your namespace",
		Long: `list shows the actions of your namespace, one a line: the fully qualified
name, private or shared, and the kind.`,
		Example: `  wisp action list
  wisp action list --limit 10 --skip 10`,
		Args: argsUsage(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 || skip < 0 {
				return usagef("--limit and --skip cannot be negative")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			acts, err := c.ListActions(cmd.Context(), limit, skip)
			if err != nil {
				return failed(c.Host(), "list actions", err)
			}
			if a.json {
				if acts == nil {
					acts = []core.Action{}
				}
				return printJSON(a.stdout, acts)
			}
			printActionList(a.stdout, acts)
			return nil
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "l", 0, "show at most `N` actions (the server's default: 30)")
	cmd.Flags().IntVarP(&skip, "skip", "s", 0, "skip the first `N` actions")
	return cmd
}

func newActionDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete an action",
		Example: `  wisp action delete hello`,
		Args:    argsUsage(1, 1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			c, err := a.client()
			if err != nil {
				return err
			}
			act, err := c.DeleteAction(cmd.Context(), name)
			if err != nil {
				return failed(c.Host(), "delete action "+name, err)
			}
			a.ok("deleted action %s", name)
			if a.json {
				if act == nil {
					return printJSON(a.stdout, map[string]string{"name": name})
				}
				return printJSON(a.stdout, act)
			}
			return nil
		},
	}
}

func newActionInvokeCmd(a *app) *cobra.Command {
	var (
		params           keyValueFlag
		paramFile        string
		blocking, result bool
		timeout          int
	)
	cmd := &cobra.Command{
		Use:   "invoke NAME",
		Short: "Run an action",
		Long: `invoke runs the action NAME with the parameters given by -p and -P (over its
default parameters). By default it does not wait: it prints the activation id,
for 'wisp activation get'. --blocking waits for the activation and prints its
record; --result waits and prints only the result. An action that fails prints
its record or result too, and wisp exits with status 1.`,
		Example: `  wisp action invoke hello
  wisp action invoke hello -p name world --blocking
  wisp action invoke hello -P params.json --result
  wisp action invoke slow --blocking --timeout 5000`,
		Args: argsUsage(1, 1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			kvs, err := mergeKeyValues(paramFile, &params)
			if err != nil {
				return err
			}
			if timeout < 0 {
				return usagef("--timeout cannot be negative")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			opts := client.InvokeOptions{Blocking: blocking, Result: result, Timeout: time.Duration(timeout) * time.Millisecond}
			r, err := c.Invoke(cmd.Context(), name, paramsObject(kvs), opts)
			if err != nil {
				return failed(c.Host(), "invoke action "+name, err)
			}
			return printInvocation(a, qualifiedName(name), r, opts)
		},
	}
	f := cmd.Flags()
	f.VarP(&params, "param", "p", "a parameter `KEY VALUE` (VALUE is JSON if it parses, else a string); repeatable")
	f.StringVarP(&paramFile, "param-file", "P", "", "parameters from a JSON object in `FILE`")
	f.BoolVarP(&blocking, "blocking", "b", false, "wait for the activation and print its record")
	f.BoolVarP(&result, "result", "r", false, "wait for the activation and print only its result")
	f.IntVarP(&timeout, "timeout", "t", 0, "with --blocking or --result, wait at most `MS` milliseconds (the server's limit otherwise)")
	return cmd
}

// printInvocation prints the answer to an invocation and returns an error
// when the action failed.
func printInvocation(a *app, name string, r *client.InvokeResponse, opts client.InvokeOptions) error {
	if r.Status == http.StatusAccepted {
		if a.json {
			return printJSON(a.stdout, r.Body)
		}
		if opts.Blocking || opts.Result {
			fmt.Fprintf(a.stdout, "ok: invoked %s, but the request has not yet finished, with id %s\n", name, r.ActivationID)
			return nil
		}
		a.ok("invoked %s with id %s", name, r.ActivationID)
		return nil
	}
	if !r.Failed() {
		if !opts.Result {
			a.ok("invoked %s with id %s", name, r.ActivationID)
		}
		return printJSON(a.stdout, r.Body)
	}
	if err := printJSON(a.stdout, r.Body); err != nil {
		return err
	}
	msg := "action " + name + " failed"
	if r.ActivationID != "" {
		msg += " with id " + r.ActivationID
	}
	if r.Activation != nil {
		msg += ": " + activationStatus(*r.Activation)
	}
	return errors.New(msg)
}
