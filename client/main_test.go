package client_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/daemon"
	"github.com/wispfaas/wisp/internal/wasmtest"
)

// The tests talk to a real Wisp node (gateway, invoker and embedded
// JetStream) running in this process. One node serves them all; each test
// that keeps state gets a namespace of its own on it, so that the tests
// neither see each other's actions and activations nor depend on their
// order.
var shared struct {
	once sync.Once
	dir  string
	node *daemon.Daemon
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.node != nil {
		if err := shared.node.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the Wisp node:", err)
			code = max(code, 1)
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// node returns the shared node, starting it on first use.
func node(tb testing.TB) *daemon.Daemon {
	tb.Helper()
	shared.once.Do(func() {
		// Not tb.TempDir(): the node outlives the test that starts it. A
		// short path, too: the admin socket lives in it.
		if shared.dir, shared.err = os.MkdirTemp("", "wisp-client-"); shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.node, shared.err = daemon.Start(ctx, daemon.Config{Data: shared.dir, Listen: "127.0.0.1:0", ShutdownGrace: 5 * time.Second})
	})
	if shared.err != nil {
		tb.Fatalf("start a Wisp node: %v", shared.err)
	}
	return shared.node
}

// namespace is a namespace of the shared node, with its key.
type namespace struct {
	host, name, auth string
}

var namespaceSeq atomic.Int64

// newNamespace creates a namespace for the calling test on the shared node.
func newNamespace(t *testing.T) namespace {
	t.Helper()
	d := node(t)
	name := fmt.Sprintf("%s_%d", strings.Map(func(r rune) rune {
		if r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, t.Name()), namespaceSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nss, err := daemon.Admin(ctx, daemon.Config{Data: shared.dir}, daemon.AdminRequest{Op: "create", Name: name})
	if err != nil || len(nss) != 1 {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return namespace{host: d.APIHost(), name: name, auth: nss[0].Auth()}
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
