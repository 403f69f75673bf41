package container

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
)

var logLineRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (stdout|stderr): (.*)$`)

// texts strips the timestamps and stream names of log lines, checking
// their form.
func texts(t *testing.T, logs []string) []string {
	t.Helper()
	var out []string
	for _, l := range logs {
		m := logLineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("log line %q is not in OpenWhisk's form", l)
		}
		out = append(out, m[1]+": "+m[2])
	}
	return out
}

func TestInitAndManyRuns(t *testing.T) {
	m := newTestManager(t)
	c, err := m.Start(t.Context(), testSpec(t, "runs"))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := c.Init(t.Context(), InitMessage{Main: "main", Env: map[string]string{"K": "v"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(t, logs); !slices.Equal(got, []string{"stdout: init log"}) {
		t.Fatalf("init logs %q", got)
	}
	for i := 1; i <= 30; i++ {
		res, logs, err := run(t, c, "echo", 0)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if res["n"] != float64(i) {
			t.Fatalf("run %d: result %v", i, res)
		}
		got := texts(t, logs)
		slices.Sort(got)
		if want := []string{fmt.Sprintf("stderr: err %d", i), fmt.Sprintf("stdout: out %d", i)}; !slices.Equal(got, want) {
			t.Fatalf("run %d: logs %q, want %q", i, got, want)
		}
	}
	if st, err := c.State(t.Context()); err != nil || st != Running {
		t.Fatalf("state %v, %v", st, err)
	}
	if n, err := c.MemoryUsage(); err != nil || n <= 0 {
		t.Fatalf("memory usage %d, %v", n, err)
	}
}
