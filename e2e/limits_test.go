package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestLogsLimitZero: "logs": 0 is a valid limit (0 to 10 MB) and means
// that no log output is kept, as in OpenWhisk.
func TestLogsLimitZero(t *testing.T) {
	t.Parallel()
	a := shared(t).namespace(t)
	act := a.createAction(t, "quiet", "hello", map[string]any{"limits": map[string]any{"logs": 0}})
	if lim, _ := act["limits"].(map[string]any); lim["logs"] != 0.0 {
		t.Fatalf("created with logs 0, stored limits %v", lim)
	}
	rec := a.invoke(t, "quiet", "blocking=true", map[string]any{"name": "Hush"}).want(t, http.StatusOK).activation(t)
	for _, l := range rec.Logs {
		if strings.Contains(l, "hello: greeting Hush") {
			t.Errorf("an action with a logs limit of 0 MB kept its log output: %q", rec.Logs)
			break
		}
	}
}
