package wasmtest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wispfaas/wisp/internal/wasmtest"
	"github.com/wispfaas/wisp/wasmrt"
)

// TestActions runs the modules on Wisp's own Wasm runtime: it must accept
// them as WASI commands and they must do what Action says.
func TestActions(t *testing.T) {
	ctx := context.Background()
	rt, err := wasmrt.New(ctx, wasmrt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)

	big := `{"big":"` + strings.Repeat("x", 100<<10) + `"}`
	tests := []struct {
		name   string
		action wasmtest.Action
		params string
		result string   // the expected result; "" for a failure
		exit   string   // the expected reason of a failure
		logs   []string // the expected log lines, without their prefix
	}{
		{name: "echo", params: `{"a": [1, 2]}`, result: `{"a": [1, 2]}`},
		{name: "empty", params: ``, result: `{}`},
		{name: "large parameters", params: big, result: big},
		{name: "logs", action: wasmtest.Action{Logs: []string{"one", "", "three  "}}, params: `{}`, result: `{}`, logs: []string{"one", "", "three  "}},
		{name: "exit", action: wasmtest.Action{Exit: 3, Logs: []string{"leaving"}}, params: `{}`, exit: "the action exited with code 3", logs: []string{"leaving"}},
		{name: "sleep", action: wasmtest.Action{Sleep: 30 * time.Millisecond}, params: `{"slept":true}`, result: `{"slept":true}`},
	}
	logRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stderr: (.*)$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := tt.action.Wasm()
			sum := sha256.Sum256(wasm)
			digest := "sha256:" + hex.EncodeToString(sum[:])
			if err := rt.Validate(ctx, digest, wasm); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			start := time.Now()
			out := rt.Run(ctx, wasmrt.Code{Digest: digest}, wasmrt.Invocation{Params: []byte(tt.params)})
			took := time.Since(start)
			if tt.exit != "" {
				var ae *wasmrt.ActionError
				if !errors.As(out.Err, &ae) || ae.Kind != wasmrt.KindExit || ae.Reason != tt.exit {
					t.Fatalf("Err = %v, want the action error %q", out.Err, tt.exit)
				}
			} else if out.Err != nil || !bytes.Equal(out.Result, []byte(tt.result)) {
				t.Fatalf("Run = %.100s, %v; want %.100s", out.Result, out.Err, tt.result)
			}
			var logs []string
			for _, l := range out.Logs {
				m := logRE.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("log line %q", l)
				}
				logs = append(logs, m[1])
			}
			if strings.Join(logs, "|") != strings.Join(tt.logs, "|") || len(logs) != len(tt.logs) {
				t.Fatalf("logs %q, want %q", logs, tt.logs)
			}
			if took < tt.action.Sleep {
				t.Fatalf("the activation took %v; it should sleep %v", took, tt.action.Sleep)
			}
		})
	}
}

func TestWasmIsDeterministic(t *testing.T) {
	a := wasmtest.Action{Logs: []string{"x"}, Sleep: time.Second}
	if !bytes.Equal(a.Wasm(), a.Wasm()) {
		t.Fatal("one Action gave two modules")
	}
	if bytes.Equal(a.Wasm(), wasmtest.Action{Logs: []string{"y"}, Sleep: time.Second}.Wasm()) {
		t.Fatal("two Actions gave one module")
	}
}

func TestWasmRefusesBadLogs(t *testing.T) {
	for _, logs := range [][]string{{"two\nlines"}, {"nul\x00"}, {strings.Repeat("x", 61<<10)}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Wasm accepted the logs %.20q", logs)
				}
			}()
			wasmtest.Action{Logs: logs}.Wasm()
		}()
	}
}
