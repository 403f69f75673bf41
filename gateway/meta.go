package gateway

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/metrics"
)

// Version is the Wisp build reported by GET /api/v1.
var Version = "dev"

func (g *Gateway) makePingHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"ping": "pong"})
	}
}

// makeMetricsHandler serves Deps.Metrics. A scrape reads counters, never
// the store: it costs microseconds and cannot fail but in writing.
func (g *Gateway) makeMetricsHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderContentType, metrics.ContentType)
		c.Response().WriteHeader(http.StatusOK)
		_, err := g.deps.Metrics.WriteTo(c.Response())
		return err
	}
}

func (g *Gateway) makeInfoHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{
			"description": "Wisp, an OpenWhisk-compatible functions platform",
			"api_paths":   []string{"/api/v1"},
			"runtimes":    g.liveRuntimes(),
			"limits": map[string]any{
				"actions_per_minute":      nil,
				"min_action_duration":     core.MinTimeoutMs,
				"max_action_duration":     core.MaxTimeoutMs,
				"min_action_memory":       core.MinMemoryMB << 20,
				"max_action_memory":       core.MaxMemoryMB << 20,
				"min_action_logs":         core.MinLogsMB << 20,
				"max_action_logs":         core.MaxLogsMB << 20,
				"max_payload_size_bytes":  core.MaxPayloadBytes,
				"max_action_code_bytes":   core.MaxActionCodeBytes,
				"runnable_kinds":          core.RunnableKinds(),
				"default_blocking_wait_s": int(g.cfg.BlockingWait.Seconds()),
			},
		})
	}
}

// liveRuntimes lists the kinds the live invokers run, grouped by family
// as OpenWhisk's info does ("python": [{"kind": "python:3", ...}]).
func (g *Gateway) liveRuntimes() map[string][]map[string]any {
	seen := map[string]bool{}
	out := map[string][]map[string]any{}
	for _, st := range g.deps.Invokers.Live() {
		kinds := st.Kinds
		if len(kinds) == 0 {
			kinds = []string{"wasm"}
		}
		for _, k := range kinds {
			if seen[k] {
				continue
			}
			seen[k] = true
			family, _, _ := strings.Cut(k, ":")
			out[family] = append(out[family], map[string]any{"kind": k, "default": true})
		}
	}
	return out
}

func (g *Gateway) makeAPIInfoHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{
			"description":      "Wisp REST API, compatible with OpenWhisk's",
			"api_version":      "1.0.0",
			"api_version_path": "v1",
			"build":            Version,
			"buildno":          Version,
		})
	}
}

func (g *Gateway) makeListNamespacesHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		return c.JSON(http.StatusOK, []string{callerOf(c).Name})
	}
}
