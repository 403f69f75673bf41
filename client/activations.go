package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wispfaas/wisp/core"
)

// ActivationFilter selects activations in ListActivations. Zero fields do
// not filter.
type ActivationFilter struct {
	// Name keeps the activations of one action ("name" or "pkg/name").
	Name string
	// Limit caps how many are returned (the server's default when 0);
	// Skip skips that many of the newest first.
	Limit, Skip int
	// Since and Upto keep activations that started in [Since, Upto],
	// in Unix milliseconds.
	Since, Upto int64
	// Docs asks for whole records, with response and logs, instead of
	// summaries.
	Docs bool
}

// ListActivations returns the caller's activations that match f, newest
// first. Without f.Docs each record is a summary: Response and Logs are
// empty and only StatusCode tells the outcome.
func (c *Client) ListActivations(ctx context.Context, f ActivationFilter) ([]core.Activation, error) {
	q := url.Values{}
	if f.Name != "" {
		q.Set("name", f.Name)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Skip > 0 {
		q.Set("skip", strconv.Itoa(f.Skip))
	}
	if f.Since > 0 {
		q.Set("since", strconv.FormatInt(f.Since, 10))
	}
	if f.Upto > 0 {
		q.Set("upto", strconv.FormatInt(f.Upto, 10))
	}
	if f.Docs {
		q.Set("docs", "true")
	}
	var out []core.Activation
	if err := c.call(ctx, http.MethodGet, "/namespaces/_/activations", q, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// activationPath is the escaped path of activation id, plus suffix.
func activationPath(id, suffix string) string {
	return "/namespaces/_/activations/" + url.PathEscape(id) + suffix
}

// GetActivation returns the record of activation id. An unknown id is a 404
// *APIError.
func (c *Client) GetActivation(ctx context.Context, id string) (*core.Activation, error) {
	var a core.Activation
	if err := c.call(ctx, http.MethodGet, activationPath(id, ""), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ActivationLogs returns the log lines of activation id.
func (c *Client) ActivationLogs(ctx context.Context, id string) ([]string, error) {
	var out struct {
		Logs []string `json:"logs"`
	}
	if err := c.call(ctx, http.MethodGet, activationPath(id, "/logs"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Logs, nil
}

// ActivationResult returns the response of activation id: its status,
// status code, success and result object.
func (c *Client) ActivationResult(ctx context.Context, id string) (*core.Response, error) {
	var r core.Response
	if err := c.call(ctx, http.MethodGet, activationPath(id, "/result"), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
