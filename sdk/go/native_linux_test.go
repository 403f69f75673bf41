//go:build linux

package wisp

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestActionLoop(t *testing.T) {
	tests := []struct {
		name          string
		handler       handler
		in            string
		code          int
		reply, stderr string
		env           map[string]string
	}{
		{
			name:    "runs",
			handler: typed(greet),
			in:      `{"init":{"main":"main"}}` + "\n" + `{"value":{"name":"Ada"},"activation_id":"a1","deadline":"4102444800000"}` + "\n" + `{"value":{}}` + "\n" + "\n",
			reply:   `{"ok":true}` + "\n" + `{"greeting":"hi Ada "}` + "\n" + `{"error":"no name"}` + "\n",
			stderr:  strings.Repeat(sentinel, 3),
		},
		{
			name: "the activation in the environment and the context",
			handler: func(ctx context.Context, _, _ []byte) ([]byte, error) {
				a, _ := FromContext(ctx)
				return []byte(`{"id":"` + a.ID + `","ns":"` + os.Getenv("__OW_NAMESPACE") + `"}`), nil
			},
			in:     `{"value":{},"activation_id":"a1","namespace":"guest"}` + "\n" + `{"value":{},"activation_id":"a2"}`,
			reply:  `{"id":"a1","ns":"guest"}` + "\n" + `{"id":"a2","ns":""}` + "\n",
			stderr: strings.Repeat(sentinel, 2),
		},
		{
			name:    "a result that is not an object ends the process",
			handler: typed(func(context.Context, in) ([]int, error) { return []int{1}, nil }),
			in:      `{"value":{}}` + "\n",
			code:    1,
			stderr:  "wisp: the handler's result ([]int) is [1], not a JSON object: an action's result must be an object (a struct or a map)\n",
		},
		{
			name:   "no handler",
			in:     `{"value":{}}` + "\n",
			code:   1,
			stderr: "wisp: " + errNoHandler.Error() + "\n",
		},
		{
			name:    "not JSON",
			handler: typed(greet),
			in:      "{oops\n",
			code:    1,
			stderr:  "wisp: the message is not a JSON object: invalid character 'o' looking for beginning of object key string\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			register(t, tc.handler)
			env := map[string]string{}
			var reply, stdout, stderr strings.Builder
			code := actionLoop(strings.NewReader(tc.in), &reply, &stdout, &stderr,
				func(k, v string) error { env[k] = v; return os.Setenv(k, v) },
				func(k string) error { delete(env, k); return os.Unsetenv(k) })
			t.Cleanup(func() {
				for k := range env {
					os.Unsetenv(k)
				}
			})
			if code != tc.code || reply.String() != tc.reply || stderr.String() != tc.stderr {
				t.Errorf("actionLoop = %d\nreply  %q\nstderr %q\nwant %d\nreply  %q\nstderr %q", code, reply.String(), stderr.String(), tc.code, tc.reply, tc.stderr)
			}
			if n := strings.Count(stdout.String(), sentinel); n != strings.Count(tc.reply, "\n") {
				t.Errorf("%d sentinels on stdout for %d replies", n, strings.Count(tc.reply, "\n"))
			}
		})
	}
}
