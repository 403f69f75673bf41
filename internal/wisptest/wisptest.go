// Package wisptest runs a real Wisp node (gateway, invoker and embedded
// JetStream) in a test process and gives each test a namespace of its own
// on it, so that tests neither see each other's actions and activations
// nor depend on their order. One node serves all the tests of a binary;
// TestMain stops it with StopShared.
package wisptest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispfaas/wisp/daemon"
)

var shared struct {
	once sync.Once
	dir  string
	node *daemon.Daemon
	err  error
}

// Node returns the shared node, starting it on first use.
func Node(tb testing.TB) *daemon.Daemon {
	tb.Helper()
	shared.once.Do(func() {
		// Not tb.TempDir(): the node outlives the test that starts it. A
		// short path, too: the admin socket lives in it.
		if shared.dir, shared.err = os.MkdirTemp("", "wisptest-"); shared.err != nil {
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

// StopShared stops the shared node, if one was started, and removes its
// data directory.
func StopShared() error {
	var err error
	if shared.node != nil {
		if err = shared.node.Stop(); err != nil {
			err = fmt.Errorf("stop the Wisp node: %w", err)
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return err
}

// Namespace is a namespace of the shared node, with its key.
type Namespace struct {
	Host, Name, Auth string
}

var namespaceSeq atomic.Int64

// NewNamespace creates a namespace for the calling test on the shared node,
// named after the test.
func NewNamespace(tb testing.TB) Namespace {
	tb.Helper()
	d := Node(tb)
	name := fmt.Sprintf("%s_%d", strings.Map(func(r rune) rune {
		if r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, tb.Name()), namespaceSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nss, err := daemon.Admin(ctx, daemon.Config{Data: shared.dir}, daemon.AdminRequest{Op: "create", Name: name})
	if err != nil || len(nss) != 1 {
		tb.Fatalf("create namespace %s: %v", name, err)
	}
	return Namespace{Host: d.APIHost(), Name: name, Auth: nss[0].Auth()}
}
