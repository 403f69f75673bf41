package client_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"testing"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
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
func newNamespace(t *testing.T) namespace {
	t.Helper()
	ns := wisptest.NewNamespace(t)
	return namespace{host: ns.Host, name: ns.Name, auth: ns.Auth}
}

// newClient returns a client of a new namespace of the shared node.
func newClient(t *testing.T) (*client.Client, namespace) {
	t.Helper()
	ns := newNamespace(t)
	c, err := client.New(ns.host, ns.auth)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, ns
}

// wasmExec is the exec of an action running a.
func wasmExec(a wasmtest.Action) *core.Exec {
	return &core.Exec{Kind: "wasm", Binary: true, Code: base64.StdEncoding.EncodeToString(a.Wasm())}
}

// echoLog is the log line of the actions putAction creates.
const echoLog = "echo: returning the parameters"

// putAction creates the action name running a, or, when a is the zero
// Action, one that logs echoLog and returns its parameters.
func putAction(t *testing.T, c *client.Client, name string, a wasmtest.Action) *core.Action {
	t.Helper()
	if a.Logs == nil && a.Sleep == 0 && a.Exit == 0 {
		a.Logs = []string{echoLog}
	}
	act, err := c.PutAction(context.Background(), name, core.ActionPut{Exec: wasmExec(a)}, false)
	if err != nil {
		t.Fatalf("PutAction %s: %v", name, err)
	}
	return act
}
