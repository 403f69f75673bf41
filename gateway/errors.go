package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[core.ErrorCode]int{
	core.CodeInvalid:       http.StatusBadRequest,
	core.CodeUnauthorized:  http.StatusUnauthorized,
	core.CodeForbidden:     http.StatusForbidden,
	core.CodeNotFound:      http.StatusNotFound,
	core.CodeConflict:      http.StatusConflict,
	core.CodeTooLarge:      http.StatusRequestEntityTooLarge,
	core.CodeUnsupported:   http.StatusUnsupportedMediaType,
	core.CodeMethodInvalid: http.StatusMethodNotAllowed,
	core.CodeUnavailable:   http.StatusServiceUnavailable,
	core.CodeInternal:      http.StatusInternalServerError,
}

// errorBody is OpenWhisk's error shape; code is the transaction id a user
// quotes when asking what went wrong (it is also in the server's log).
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// handleError writes err as OpenWhisk's error body with its status. A
// core.Error shows its message; echo's own errors (404 route, 405) are
// translated; anything else is logged and shown as a generic 500.
func (g *Gateway) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	txid := transactionID()
	status, msg := http.StatusInternalServerError, "An internal error occurred; the server log has the details under this code."
	var ce *core.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ce) && ce.Code != core.CodeInternal:
		status, msg = statusOf[ce.Code], ce.Message
		if ce.Err != nil {
			g.log.Debug("request refused", "txid", txid, "path", c.Path(), "err", err)
		}
	case errors.As(err, &he):
		status = he.Code
		switch he.Code {
		case http.StatusNotFound:
			msg = core.MsgNotFound
		case http.StatusMethodNotAllowed:
			msg = "The requested method is not allowed on this resource."
		case http.StatusRequestEntityTooLarge:
			msg = core.MsgTooLarge
		default:
			msg = http.StatusText(he.Code)
		}
	default:
		g.log.Error("request failed", "txid", txid, "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, errorBody{Error: msg, Code: txid})
}

func transactionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
