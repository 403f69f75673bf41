package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The handler is a plain Go function: test it directly.
func TestHello(t *testing.T) {
	calls = 0
	got, err := hello(context.Background(), In{Name: "Ada"})
	if err != nil || got.Greeting != "Hello, Ada!" || got.Calls != 1 {
		t.Errorf("hello(Ada) = %+v, %v", got, err)
	}
	if _, err := hello(context.Background(), In{}); err == nil {
		t.Error("hello without a name did not fail")
	}
}

// TestMain runs the action as Wisp's command form does when the test binary
// is started with WISP_EXAMPLE_MAIN set: params on stdin, result on stdout.
func TestMain(m *testing.M) {
	if os.Getenv("WISP_EXAMPLE_MAIN") != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCommand runs main natively, as `echo '{"name":"Ada"}' | go run .`
// would, and checks that stdout holds only the result.
func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		params, result, logs string
	}{
		{`{"name":"Ada"}`, `{"greeting":"Hello, Ada!","activationId":"0123","action":"/guest/hello","calls":1}`,
			"hello: greeting Ada in activation 0123 call 1\n"},
		{`{}`, `{"error":"hello: a name is required"}`, "hello: no name in activation 0123\n"}, // fmt.Println's line: stdout is the result
		{`{"name":42}`, `{"error":"the parameters do not fit main.In: json: cannot unmarshal number into Go struct field In.name of type string"}`, ""},
	} {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "WISP_EXAMPLE_MAIN=1", "__OW_ACTIVATION_ID=0123", "__OW_ACTION_NAME=/guest/hello")
		cmd.Stdin = strings.NewReader(tc.params)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.params, err, stderr.String())
		}
		if strings.TrimSpace(string(stdout)) != tc.result || !json.Valid(stdout) {
			t.Errorf("%s: stdout %q, want %s", tc.params, stdout, tc.result)
		}
		if stderr.String() != tc.logs {
			t.Errorf("%s: stderr %q", tc.params, stderr.String())
		}
	}
}
