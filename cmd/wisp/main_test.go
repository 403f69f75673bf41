package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/internal/wasmtest"
	"github.com/wispfaas/wisp/internal/wisptest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := wisptest.StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// namespace is a namespace of the shared node, with its key.
type namespace struct {
	host, name, auth string
}

// newNamespace creates a namespace for the calling test on the node that
// wisptest runs in this process.
func newNamespace(t *testing.T) *namespace {
	t.Helper()
	ns := wisptest.NewNamespace(t)
	return &namespace{host: ns.Host, name: ns.Name, auth: ns.Auth}
}

// client returns an API client of the namespace, to check what the CLI did.
func (ns *namespace) client(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.New(ns.host, ns.auth)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cli runs the CLI in-process with its own environment.
type cli struct {
	t   *testing.T
	env map[string]string
}

// newCLI returns a CLI whose properties file is in a temporary directory
// and whose environment points at the namespace ns (when ns is not nil).
func newCLI(t *testing.T, ns *namespace) *cli {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"HOME": dir, "WISP_CONFIG_FILE": filepath.Join(dir, "wisprc")}
	if ns != nil {
		env["WISP_APIHOST"], env["WISP_AUTH"] = ns.host, ns.auth
	}
	return &cli{t: t, env: env}
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := runContext(context.Background(), args, func(k string) string { return c.env[k] }, &out, &errb)
	return result{out.String(), errb.String(), code}
}

// ok runs args and fails the test unless the exit code is 0.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("wisp %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wasmModule is the smallest valid WebAssembly module, for the checks the
// CLI makes before sending a request. The server refuses it: it is no WASI
// command.
var wasmModule = []byte("\x00asm\x01\x00\x00\x00")

// echoLog is the log line of the actions wasmFile makes by default.
const echoLog = "echo: returning the parameters"

// wasmFile writes the module of a to a file name.wasm and returns its
// path. The zero Action stands for one that logs echoLog and returns its
// parameters.
func wasmFile(t *testing.T, name string, a wasmtest.Action) string {
	t.Helper()
	if a.Logs == nil && a.Sleep == 0 && a.Exit == 0 {
		a.Logs = []string{echoLog}
	}
	return writeFile(t, name+".wasm", a.Wasm())
}

// logLine is a log line as the Wasm runtime records it.
var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stderr: `)

var idRE = regexp.MustCompile(`[0-9a-f]{32}`)

// closedHost returns the URL of a loopback port nothing listens on.
func closedHost(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

func TestRunUsesProcessEnvironment(t *testing.T) {
	t.Setenv("WISP_CONFIG_FILE", filepath.Join(t.TempDir(), "rc"))
	t.Setenv("WISP_APIHOST", "http://example.invalid:1")
	t.Setenv("WISP_AUTH", "a:b")
	var out, errb bytes.Buffer
	if code := run([]string{"property", "get", "--apihost"}, &out, &errb); code != 0 || out.String() != "whisk API host\t\thttp://example.invalid:1\n" {
		t.Fatalf("run: %d %q %q", code, out.String(), errb.String())
	}
}

func TestErrorsAndExitCodes(t *testing.T) {
	ns := newNamespace(t)
	closed := closedHost(t)

	tests := []struct {
		name   string
		env    map[string]string // replaces the server's settings
		args   []string
		code   int
		stderr string // a substring
		stdout string // a substring
	}{
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `error: unknown command "frobnicate" for "wisp"` + "\nRun 'wisp --help' for usage."},
		{name: "unknown subcommand", args: []string{"action", "crate"}, code: 2, stderr: `unknown command "crate" for "wisp action" (did you mean "create"?)`},
		{name: "unknown flag", args: []string{"action", "list", "--bogus"}, code: 2, stderr: "unknown flag: --bogus\nRun 'wisp action list --help' for usage."},
		{name: "missing argument", args: []string{"action", "create", "x"}, code: 2, stderr: "wisp action create takes NAME FILE, got 1 argument(s)"},
		{name: "too many arguments", args: []string{"action", "get", "a", "b"}, code: 2, stderr: "takes NAME, got 2"},
		{name: "bad flag value", args: []string{"action", "list", "--limit", "x"}, code: 2, stderr: "invalid argument"},
		{name: "activation get needs an id", args: []string{"activation", "get"}, code: 2, stderr: "takes an activation ID (or --last)"},
		{name: "help", args: []string{"action", "create", "--help"}, code: 0, stdout: "Examples:\n  wisp action create hello hello.wasm"},
		{name: "group alone prints help", args: []string{"activation"}, code: 0, stdout: "Available Commands:"},
		{name: "no API host", env: map[string]string{}, args: []string{"action", "list"}, code: 1, stderr: "error: no API host set: run `wisp property set --apihost HOST`"},
		{name: "no auth", env: map[string]string{"WISP_APIHOST": ns.host}, args: []string{"action", "list"}, code: 1, stderr: "error: no auth key set: run `wisp property set --auth UUID:KEY`"},
		{name: "unreachable", env: map[string]string{"WISP_APIHOST": closed, "WISP_AUTH": "a:b"}, args: []string{"action", "list"}, code: 1, stderr: "error: the server at " + closed + " is not reachable: "},
		{name: "auth refused", env: map[string]string{"WISP_APIHOST": ns.host, "WISP_AUTH": "a:b"}, args: []string{"action", "list"}, code: 1, stderr: "error: the auth key was refused: check `wisp property get --auth` (The supplied authentication is invalid. (401, code "},
		{name: "not found", args: []string{"activation", "logs", strings.Repeat("0", 32)}, code: 1, stderr: "error: get the logs of activation 00000000000000000000000000000000: The requested resource does not exist. (404, code "},
		{name: "insecure accepted", args: []string{"-i", "namespace", "list"}, code: 0, stdout: "namespaces\n" + ns.name + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCLI(t, ns)
			if tt.env != nil {
				delete(c.env, "WISP_APIHOST")
				delete(c.env, "WISP_AUTH")
				for k, v := range tt.env {
					c.env[k] = v
				}
			}
			r := c.run(tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) || !strings.Contains(r.stdout, tt.stdout) {
				t.Fatalf("wisp %s:\nexit %d (want %d)\nstdout: %q (want %q in it)\nstderr: %q (want %q in it)",
					strings.Join(tt.args, " "), r.code, tt.code, r.stdout, tt.stdout, r.stderr, tt.stderr)
			}
		})
	}
}

// TestHelpEverywhere checks that every command explains itself, and every
// command that does something shows an example.
func TestHelpEverywhere(t *testing.T) {
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Hidden || cmd.Name() == "help" || cmd.Name() == "completion" {
			return
		}
		if cmd.Short == "" {
			t.Errorf("%s has no Short", cmd.CommandPath())
		}
		if !cmd.HasSubCommands() && cmd.Example == "" {
			t.Errorf("%s has no Example", cmd.CommandPath())
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(&app{getenv: func(string) string { return "" }}))
}
