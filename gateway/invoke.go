package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/queue"
)

// HeaderActivationID carries the activation id on every invoke response.
const HeaderActivationID = "x-openwhisk-activation-id"

// maxBlockingWaitMs bounds the timeout query parameter of a blocking invoke.
const maxBlockingWaitMs = core.MaxTimeoutMs + 60_000

func (g *Gateway) makeInvokeHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		p, err := entityName(c)
		if err != nil {
			return err
		}
		blocking, err := boolQuery(c, "blocking", false)
		if err != nil {
			return err
		}
		resultOnly, err := boolQuery(c, "result", false)
		if err != nil {
			return err
		}
		waitMs, err := intQuery(c, "timeout", g.cfg.BlockingWait.Milliseconds(), 1, maxBlockingWaitMs)
		if err != nil {
			return err
		}
		body, err := readBody(c, core.MaxPayloadBytes)
		if err != nil {
			return err
		}
		a, err := g.deps.Store.GetAction(ctx, p)
		if err != nil {
			return err
		}
		params, err := mergeParams(a.Parameters, body)
		if err != nil {
			return err
		}
		caller := callerOf(c)
		now := time.Now()
		inv := &core.Invocation{
			ActivationID: core.NewActivationID(now),
			Namespace:    caller.Name,
			Subject:      caller.Name,
			Action:       *a,
			Params:       params,
		}
		invoker, err := g.balancer.pick(p.String())
		if err != nil {
			return err
		}
		var done <-chan []byte
		if blocking {
			// Registered before publishing, so that a fast result cannot
			// arrive before anyone waits for it.
			inv.ReplyTo = queue.ReplySubject(g.cfg.ID, inv.ActivationID)
			done = g.waiters.add(inv.ActivationID)
			defer g.waiters.remove(inv.ActivationID)
		}
		inv.Queued = time.Now().UnixNano()
		accepted := map[string]string{"activationId": inv.ActivationID}
		if !blocking {
			// 202 promises the activation will run: answer once it is stored.
			if err := g.deps.Dispatcher.PublishInvocation(ctx, invoker, inv); err != nil {
				return notQueued(err)
			}
			c.Response().Header().Set(HeaderActivationID, inv.ActivationID)
			return c.JSON(http.StatusAccepted, accepted)
		}
		// A blocking caller waits for the result, which cannot come before
		// the activation is stored: no need to wait for the store's ack.
		failed, err := g.deps.Dispatcher.PublishInvocationAsync(invoker, inv)
		if err != nil {
			return notQueued(err)
		}
		c.Response().Header().Set(HeaderActivationID, inv.ActivationID)
		timer := time.NewTimer(time.Duration(waitMs) * time.Millisecond)
		defer timer.Stop()
		select {
		case record := <-done:
			return writeResult(c, record, resultOnly)
		case err := <-failed:
			c.Response().Header().Del(HeaderActivationID)
			return notQueued(err)
		case <-timer.C:
			// The activation goes on; its record will be in the store.
			return c.JSON(http.StatusAccepted, accepted)
		case <-ctx.Done():
			return nil // the caller went away
		}
	}
}

func notQueued(err error) error {
	return &core.Error{Code: core.CodeUnavailable, Message: "The activation could not be queued; try again shortly.", Err: err}
}

// writeResult answers a blocking invoke with the activation record (or
// only its result): 200 on success, 502 when the action failed, 500 when
// the platform did.
func writeResult(c echo.Context, record []byte, resultOnly bool) error {
	var rec struct {
		Response core.Response `json:"response"`
	}
	if err := json.Unmarshal(record, &rec); err != nil {
		return err
	}
	status := http.StatusOK
	switch rec.Response.StatusCode {
	case core.StatusApplicationError, core.StatusDeveloperError:
		status = http.StatusBadGateway
	case core.StatusInternalError:
		status = http.StatusInternalServerError
	}
	if resultOnly {
		result := rec.Response.Result
		if len(result) == 0 {
			result = json.RawMessage("{}")
		}
		return writeJSONBytes(c, status, result)
	}
	return writeJSONBytes(c, status, record)
}

// mergeParams lays the invoke's parameters (a JSON object, or nothing)
// over the action's default parameters.
func mergeParams(defaults core.KeyValues, body []byte) (json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if !core.IsJSONObject(body) {
		return nil, core.Errorf(core.CodeInvalid, "The request content was malformed:\nthe parameters must be one JSON object, like {\"name\": \"value\"}.")
	}
	if len(defaults) == 0 {
		return body, nil
	}
	merged := make(map[string]json.RawMessage, len(defaults))
	if err := json.Unmarshal(body, &merged); err != nil {
		return nil, malformed(err)
	}
	for _, kv := range defaults {
		if _, given := merged[kv.Key]; !given {
			merged[kv.Key] = kv.Value
		}
	}
	return json.Marshal(merged)
}
