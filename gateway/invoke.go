package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/textproto"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/queue"
)

// HeaderActivationID carries the activation id on every invoke response.
const HeaderActivationID = "x-openwhisk-activation-id"

// headerActivationID is HeaderActivationID in canonical form: setting the
// header map directly spares canonicalising (and allocating) it on every
// invoke.
var headerActivationID = textproto.CanonicalMIMEHeaderKey(HeaderActivationID)

func setActivationID(c echo.Context, id string) {
	c.Response().Header()[headerActivationID] = []string{id}
}

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
			Action:       a.Invoked(),
			Params:       params,
		}
		invoker, err := g.balancer.pick(p.String(), a.Exec.Kind)
		if err != nil {
			return err
		}
		if !blocking {
			// 202 promises the activation will run: answer once it is stored.
			inv.Queued = time.Now().UnixNano()
			if err := g.deps.Dispatcher.PublishInvocation(ctx, invoker, inv); err != nil {
				return notQueued(err)
			}
			setActivationID(c, inv.ActivationID)
			return accepted(c, inv.ActivationID)
		}
		wait := time.Duration(waitMs) * time.Millisecond
		if local := g.deps.Local; local != nil && invoker == local.ID() {
			if handled, err := invokeInProcess(c, local, inv, wait, resultOnly); handled {
				return err
			}
			// No free slot: the activation waits in the queue.
		}
		return g.invokeThroughQueue(c, invoker, inv, wait, resultOnly)
	}
}

// invokeInProcess hands a blocking activation to the invoker of this
// process (docs/rationale.md) and answers the caller; handled is false,
// with nothing done, when the invoker has no free slot.
func invokeInProcess(c echo.Context, local LocalInvoker, inv *core.Invocation, wait time.Duration, resultOnly bool) (handled bool, err error) {
	done := make(chan queue.Outcome, 1)
	// Made before the stamp: waitTime measures the hand-off, not the
	// gateway's allocations (which may have to assist the collector).
	ran := func(r queue.Result) { done <- queue.Outcome{Result: r} }
	inv.Queued = time.Now().UnixNano()
	taken, ranHere := local.Offer(inv, wait, ran)
	switch {
	case !taken:
		return false, nil
	case ranHere:
		// It has run, and its record has been sent to the store.
		return true, answer(c, <-done, inv.ActivationID, resultOnly)
	}
	return true, awaitOutcome(c, done, wait, inv.ActivationID, resultOnly)
}

// invokeThroughQueue publishes a blocking activation to invoker's stream
// and answers the caller with its result, or 202 after wait.
func (g *Gateway) invokeThroughQueue(c echo.Context, invoker string, inv *core.Invocation, wait time.Duration, resultOnly bool) error {
	// Registered before publishing, so that a fast result cannot arrive
	// before anyone waits for it.
	inv.ReplyTo = queue.ReplySubject(g.cfg.ID, inv.ActivationID)
	done := g.results.Wait(inv.ActivationID)
	defer g.results.Leave(inv.ActivationID)
	inv.Queued = time.Now().UnixNano()
	// A blocking caller waits for the result, which cannot come before the
	// activation is stored: no need to wait for the store's ack.
	if err := g.deps.Dispatcher.PublishInvocationAsync(invoker, inv); err != nil {
		return notQueued(err)
	}
	return awaitOutcome(c, done, wait, inv.ActivationID, resultOnly)
}

// awaitOutcome answers a blocking caller with the outcome of activation
// id when it comes within wait, or else 202 (the activation goes on, and
// its record will be in the store).
func awaitOutcome(c echo.Context, done <-chan queue.Outcome, wait time.Duration, id string, resultOnly bool) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case out := <-done:
		return answer(c, out, id, resultOnly)
	case <-timer.C:
		setActivationID(c, id)
		return accepted(c, id)
	case <-c.Request().Context().Done():
		return nil // the caller went away; the activation goes on
	}
}

// answer writes the outcome of activation id for a blocking caller, then
// gives its bytes back (Result.Release).
func answer(c echo.Context, out queue.Outcome, id string, resultOnly bool) error {
	defer out.Result.Release()
	if errors.Is(out.Err, queue.ErrNotQueued) {
		return notQueued(out.Err)
	}
	if out.Err != nil {
		return out.Err
	}
	setActivationID(c, id)
	return writeResult(c, out.Result, resultOnly)
}

func notQueued(err error) error {
	return &core.Error{Code: core.CodeUnavailable, Message: "The activation could not be queued; try again shortly.", Err: err}
}

// accepted answers 202 with the activation id.
func accepted(c echo.Context, id string) error {
	return c.JSON(http.StatusAccepted, map[string]string{"activationId": id})
}

// writeResult answers a blocking invoke with the activation record (or
// only its result): 200 on success, 502 when the action failed, 500 when
// the platform did.
func writeResult(c echo.Context, res queue.Result, resultOnly bool) error {
	status := http.StatusOK
	switch res.StatusCode {
	case core.StatusApplicationError, core.StatusDeveloperError:
		status = http.StatusBadGateway
	case core.StatusInternalError:
		status = http.StatusInternalServerError
	}
	if resultOnly {
		result := res.Value
		if len(result) == 0 {
			result = emptyObject
		}
		return writeJSONBytes(c, status, result)
	}
	return writeJSONBytes(c, status, res.Record)
}

var emptyObject = []byte("{}")

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
