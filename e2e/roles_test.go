package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wispfaas/wisp/metrics"
)

// TestGatewayNodeAndAllInOneNode runs Wisp as two processes, as scaled
// out: an all-in-one wispd that lets others reach its NATS, and a
// `wispd gateway` node against it, sharing a code store. The all-in-one
// node hands its own blocking invokes to its invoker in process; the
// gateway node has no invoker, so its invokes cross JetStream to the other
// node's: both paths must give the same answers, and a record that can be
// read as soon as the caller has the result, from either node.
func TestGatewayNodeAndAllInOneNode(t *testing.T) {
	natsAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	code := filepath.Join(t.TempDir(), "blobs")
	// The Wasm memory bounds given reach the invoker's runtime (its metrics).
	all := startWispd(t, "--nats-listen", natsAddr, "--blobs", code, "--no-containers", "--invoker-id", "all-1", "--metrics-listen", metricsAddr,
		"--wasm-compiled-memory", "256MiB", "--wasm-idle-memory", "64MiB")
	gwMetricsAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	gw := startWispd(t, "gateway", "--nats", "nats://"+natsAddr, "--blobs", code, "--metrics-listen", gwMetricsAddr)
	auth := all.guestAuth(t)
	viaAll := all.guest(t)
	viaGateway := &api{url: gw.url, auth: auth}

	viaGateway.createAction(t, "hello", "hello", nil)
	for _, c := range []struct {
		name  string
		entry *api
	}{{"through the all-in-one node (in process)", viaAll}, {"through the gateway node (JetStream)", viaGateway}} {
		t.Run(c.name, func(t *testing.T) {
			a := c.entry.invoke(t, "hello", "blocking=true", map[string]any{"name": "Ada"}).want(t, http.StatusOK).activation(t)
			if a.Response == nil || !a.Response.Success || a.Response.Result["greeting"] != "Hello, Ada!" {
				t.Fatalf("record = %s", a.Raw)
			}
			var wait int64
			if !a.annotation(t, "waitTime", &wait) || wait < 0 {
				t.Fatalf("waitTime missing: %s", a.Raw)
			}
			checkLogs(t, a.Logs, "greeting Ada")
			// Readable at once, from both nodes: no polling.
			for _, reader := range []*api{viaAll, viaGateway} {
				stored := reader.get(t, activationsPath+"/"+a.ActivationID).want(t, http.StatusOK).activation(t)
				if ok, err := jsonEqual(stored.Raw, a.Raw); err != nil || !ok {
					t.Fatalf("stored record differs from the answer:\n%s\n%s", stored.Raw, a.Raw)
				}
			}
			// result=true, and an application error (502) the same way.
			r := c.entry.invoke(t, "hello", "blocking=true&result=true", map[string]any{"name": "Bo"}).want(t, http.StatusOK).object(t)
			if r["greeting"] != "Hello, Bo!" {
				t.Fatalf("result = %v", r)
			}
			c.entry.invoke(t, "hello", "blocking=true", map[string]any{"fail": "on purpose"}).want(t, http.StatusBadGateway)
			// A non-blocking invoke always goes through the queue.
			id, _ := c.entry.invoke(t, "hello", "", map[string]any{"name": "Cy"}).want(t, http.StatusAccepted).object(t)["activationId"].(string)
			if rec := c.entry.record(t, id); rec.Response.Result["greeting"] != "Hello, Cy!" {
				t.Fatalf("non-blocking record = %s", rec.Raw)
			}
		})
	}

	// Both paths ran on the all-in-one node's invoker, and its metrics
	// count them: 4 activations each way, one of them an application
	// error. Its API port and --metrics-listen serve the same counters;
	// the gateway node, which runs nothing, has none.
	for _, url := range []string{all.url, "http://" + metricsAddr} {
		r := (&api{url: url}).get(t, "/metrics").want(t, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("%s/metrics: Content-Type %q, want Prometheus's text format", url, ct)
		}
		wait, err := metrics.ReadHistogram(r.Body, "wisp_activation_wait_seconds", "wasm")
		if err != nil {
			t.Fatalf("%s/metrics: %v\n%s", url, err, r.Body)
		}
		if wait.Count() != 8 {
			t.Errorf("%s/metrics: %d wasm activations waited, want 8:\n%s", url, wait.Count(), r.Body)
		}
		for _, want := range []string{
			`wisp_activations_total{kind="wasm",status="success"} 6`,
			`wisp_activations_total{kind="wasm",status="application_error"} 2`,
			`wisp_activation_duration_seconds_count{kind="wasm"} 8`,
			"wisp_invoker_capacity 64",
			"wisp_wasm_compiled_modules 1",
			"wisp_wasm_compiled_memory_budget_bytes 268435456",
			"wisp_wasm_idle_memory_budget_bytes 67108864",
		} {
			if !strings.Contains(string(r.Body), want+"\n") {
				t.Errorf("%s/metrics lacks %q:\n%s", url, want, r.Body)
			}
		}
	}
	viaGateway.get(t, "/metrics").wantError(t, http.StatusNotFound)
	if r := (&api{url: "http://" + gwMetricsAddr}).get(t, "/metrics").want(t, http.StatusNotFound); !strings.Contains(string(r.Body), "no invoker") {
		t.Errorf("the gateway node's --metrics-listen answered %q, want why it has no metrics", r.Body)
	}
}
