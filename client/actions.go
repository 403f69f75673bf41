package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wispfaas/wisp/core"
)

// PutAction creates the action name ("name" or "pkg/name") from put, or
// replaces it when overwrite is true, and returns it as stored. Creating an
// action that exists without overwrite fails with a 409 *APIError.
func (c *Client) PutAction(ctx context.Context, name string, put core.ActionPut, overwrite bool) (*core.Action, error) {
	saved, err := c.SaveAction(ctx, name, put, overwrite)
	if err != nil {
		return nil, err
	}
	return saved.Action, nil
}

// Saved is the server's answer to SaveAction.
type Saved struct {
	Action *core.Action
	// CompileTime is how long the server took to validate and compile the
	// code (Wisp's X-Wisp-Compile-Ms header); 0 when it did not say.
	CompileTime time.Duration
}

// SaveAction is PutAction that also reports how long the server took to
// compile the code. Under a context from WithUploadProgress, the upload
// reports its progress.
func (c *Client) SaveAction(ctx context.Context, name string, put core.ActionPut, overwrite bool) (*Saved, error) {
	p, err := entityPath("actions", name)
	if err != nil {
		return nil, err
	}
	var q url.Values
	if overwrite {
		q = url.Values{"overwrite": {"true"}}
	}
	body, err := json.Marshal(put)
	if err != nil {
		return nil, fmt.Errorf("PUT %s: encode the request: %w", p, err)
	}
	r, err := c.do(ctx, http.MethodPut, p, q.Encode(), body, nil)
	if err != nil {
		return nil, err
	}
	saved := &Saved{Action: new(core.Action)}
	if err := json.Unmarshal(r.body, saved.Action); err != nil {
		return nil, fmt.Errorf("PUT %s: decode the response (HTTP %d): %w", p, r.status, err)
	}
	if ms, err := strconv.ParseFloat(r.header.Get("X-Wisp-Compile-Ms"), 64); err == nil {
		saved.CompileTime = time.Duration(ms * float64(time.Millisecond))
	}
	return saved, nil
}

// GetAction returns the action name. With withCode the answer carries the
// code in Exec.Code (base64 when Exec.Binary); without, only its digest and
// size. A missing action is a 404 *APIError.
func (c *Client) GetAction(ctx context.Context, name string, withCode bool) (*core.Action, error) {
	p, err := entityPath("actions", name)
	if err != nil {
		return nil, err
	}
	q := url.Values{"code": {strconv.FormatBool(withCode)}}
	var a core.Action
	if err := c.call(ctx, http.MethodGet, p, q, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ListActions returns up to limit actions of the caller's namespace after
// skipping skip of them. limit 0 leaves the server's default (30 in
// OpenWhisk); the server caps it.
func (c *Client) ListActions(ctx context.Context, limit, skip int) ([]core.Action, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if skip > 0 {
		q.Set("skip", strconv.Itoa(skip))
	}
	var out []core.Action
	if err := c.call(ctx, http.MethodGet, "/namespaces/_/actions", q, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteAction deletes the action name and returns it as it was, or nil when
// the server answered with no body. A missing action is a 404 *APIError.
func (c *Client) DeleteAction(ctx context.Context, name string) (*core.Action, error) {
	p, err := entityPath("actions", name)
	if err != nil {
		return nil, err
	}
	var a core.Action
	r, err := c.do(ctx, http.MethodDelete, p, "", nil, nil)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(r.body)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(r.body, &a); err != nil {
		return nil, fmt.Errorf("DELETE %s: decode the response: %w", p, err)
	}
	return &a, nil
}

// InvokeOptions say how Invoke waits.
type InvokeOptions struct {
	// Blocking waits for the activation to finish (up to the server's
	// limit, 60 s in OpenWhisk) instead of returning its id at once.
	Blocking bool
	// Result asks for the result object only instead of the whole
	// activation record. It implies Blocking, as in OpenWhisk.
	Result bool
	// Timeout, when positive, bounds how long the server waits for a
	// blocking activation before answering 202 with its id. It is sent in
	// milliseconds. The request itself is bounded by ctx.
	Timeout time.Duration
}

// InvokeResponse is the server's answer to an invocation.
type InvokeResponse struct {
	// Status is the HTTP status: 202 when the activation was accepted but
	// not waited for (non-blocking, or the blocking wait ran out), 200 when
	// it finished successfully, 502 when the action failed (application or
	// developer error), 500 when the platform failed to run it.
	Status int
	// ActivationID is the activation's id, from the x-openwhisk-activation-id
	// header or the body.
	ActivationID string
	// Body is the raw JSON body: {"activationId": ...} for 202, the
	// activation record for a blocking call, the result object with
	// InvokeOptions.Result.
	Body json.RawMessage
	// Activation is the decoded activation record when the body is one
	// (a blocking call without Result that finished), else nil.
	Activation *core.Activation
}

// Done reports whether the activation finished (200, 500 or 502), so that
// its result is in the response.
func (r *InvokeResponse) Done() bool {
	return r.Status == http.StatusOK || isFailedStatus(r.Status)
}

// Failed reports whether the activation finished with an error: 502 for an
// application or developer error, 500 for a platform error.
func (r *InvokeResponse) Failed() bool { return isFailedStatus(r.Status) }

// Result returns the activation's result object: the body itself for a
// Result invocation, the record's response.result for a blocking one, nil
// when the activation has not finished.
func (r *InvokeResponse) Result() json.RawMessage {
	switch {
	case !r.Done():
		return nil
	case r.Activation != nil:
		return r.Activation.Response.Result
	default:
		return r.Body
	}
}

// Invoke runs the action name with params, which is nil (no parameters),
// raw JSON ([]byte or json.RawMessage holding an object), or any value that
// marshals to a JSON object.
//
// An activation that ran and failed is not an error: it comes back with
// Status 502 (or 500) and its record or result, and err nil. err is an
// *APIError when the server refused the invocation (404 no such action, 401,
// 413 parameters too large, 429 throttled, ...), or a transport error.
func (c *Client) Invoke(ctx context.Context, name string, params any, opts InvokeOptions) (*InvokeResponse, error) {
	p, err := entityPath("actions", name)
	if err != nil {
		return nil, err
	}
	body, err := paramsJSON(params)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", name, err)
	}
	var q string // built by hand: this is the benchmark's hot path
	switch {
	case opts.Result:
		q = "blocking=true&result=true"
	case opts.Blocking:
		q = "blocking=true"
	}
	if opts.Timeout > 0 {
		if q != "" {
			q += "&"
		}
		ms := (opts.Timeout + time.Millisecond - 1) / time.Millisecond // at least 1
		q += "timeout=" + strconv.FormatInt(int64(ms), 10)
	}
	r, err := c.do(ctx, http.MethodPost, p, q, body, isFailedStatus)
	if err != nil {
		return nil, err
	}
	out := &InvokeResponse{Status: r.status, ActivationID: r.header.Get(ActivationIDHeader), Body: r.body}
	if isFailedStatus(r.status) && !isActivationAnswer(r, out.ActivationID != "", opts.Result) {
		return nil, apiErrorFrom(r.status, r.body) // the gateway failed, not the action
	}
	switch {
	case r.status == http.StatusAccepted && out.ActivationID == "":
		var acc struct {
			ActivationID string `json:"activationId"`
		}
		if json.Unmarshal(r.body, &acc) != nil || acc.ActivationID == "" {
			return nil, fmt.Errorf("POST %s: the answer (HTTP 202) carries no activation id: %.200s", p, r.body)
		}
		out.ActivationID = acc.ActivationID
	case !opts.Result && out.Done():
		var rec core.Activation
		if err := json.Unmarshal(r.body, &rec); err != nil || (rec.ActivationID == "" && out.ActivationID == "") {
			return nil, fmt.Errorf("POST %s: the answer (HTTP %d) is not an activation record: %.200s", p, r.status, r.body)
		}
		if out.ActivationID == "" {
			out.ActivationID = rec.ActivationID
		}
		out.Activation = &rec
	}
	return out, nil
}

// isFailedStatus reports whether an invocation's status may carry a failed
// activation: 502 when the action failed, 500 when the platform did while
// running it.
func isFailedStatus(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusInternalServerError
}

// isActivationAnswer tells a failed activation's answer (its record, or its
// result object with result=true) from an error of the gateway itself
// ({"error": ..., "code": ...} without an activation, or a proxy's page).
func isActivationAnswer(r *response, hasID, result bool) bool {
	if r.status == http.StatusBadGateway && hasID {
		return true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.body, &m) != nil || m == nil {
		return false
	}
	if _, ok := m["code"]; ok && len(m) == 2 && m["error"] != nil {
		return false
	}
	if hasID || (result && r.status == http.StatusBadGateway) {
		return true
	}
	_, ok := m["activationId"]
	return ok && !result
}

// paramsJSON encodes invocation parameters as a JSON object.
func paramsJSON(params any) ([]byte, error) {
	var raw []byte
	switch v := params.(type) {
	case nil:
		return []byte("{}"), nil
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode the parameters: %w", err)
		}
		if string(raw) == "null" { // a nil map or pointer
			return []byte("{}"), nil
		}
		if raw[0] != '{' {
			return nil, fmt.Errorf("the parameters must be a JSON object, not %T", v)
		}
		return raw, nil
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("{}"), nil
	}
	if !core.IsJSONObject(raw) {
		return nil, fmt.Errorf("the parameters must be a JSON object")
	}
	return raw, nil
}
