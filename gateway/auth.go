package gateway

import (
	"encoding/base64"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
)

// Context keys set by the auth middleware.
const (
	ctxCaller    = "wisp.caller"    // *core.Namespace of the credentials
	ctxNamespace = "wisp.namespace" // string: the namespace the path names, resolved
)

// authenticate checks HTTP Basic "uuid:key" against the namespaces.
func (g *Gateway) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		enc, ok := strings.CutPrefix(h, "Basic ")
		if !ok {
			return &core.Error{Code: core.CodeUnauthorized, Message: core.MsgNoAuth}
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return &core.Error{Code: core.CodeUnauthorized, Message: core.MsgUnauthorized}
		}
		uuid, key, _ := strings.Cut(string(raw), ":")
		ns, err := g.deps.Store.Authenticate(uuid, key)
		if err != nil {
			return err
		}
		c.Set(ctxCaller, ns)
		return next(c)
	}
}

// authorizeNamespace resolves the :ns path segment ("_" is the caller's
// own) and refuses any namespace but the caller's.
func (g *Gateway) authorizeNamespace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		caller := c.Get(ctxCaller).(*core.Namespace)
		ns := c.Param("ns")
		if ns != core.DefaultNamespace && ns != caller.Name {
			return core.Errorf(core.CodeForbidden, core.MsgNotAuthorized, ns)
		}
		c.Set(ctxNamespace, caller.Name)
		return next(c)
	}
}

func namespaceOf(c echo.Context) string { return c.Get(ctxNamespace).(string) }

func callerOf(c echo.Context) *core.Namespace { return c.Get(ctxCaller).(*core.Namespace) }
