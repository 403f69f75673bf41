package gateway

import (
	"encoding/base64"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
)

// authContext is the request's context once its credentials have been
// checked: the auth middleware passes it on to what follows. The caller
// and the namespace were values of echo's context (c.Set), whose map costs
// every request ~300 bytes.
type authContext struct {
	echo.Context
	caller    *core.Namespace // whose credentials the request carries
	namespace string          // the namespace the path names, resolved ("" before authorizeNamespace)
}

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
		return next(&authContext{Context: c, caller: ns})
	}
}

// authorizeNamespace resolves the :ns path segment ("_" is the caller's
// own) and refuses any namespace but the caller's.
func (g *Gateway) authorizeNamespace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ac := c.(*authContext)
		caller := ac.caller
		ns := c.Param("ns")
		if ns != core.DefaultNamespace && ns != caller.Name {
			return core.Errorf(core.CodeForbidden, core.MsgNotAuthorized, ns)
		}
		ac.namespace = caller.Name
		return next(ac)
	}
}

// namespaceOf is the namespace the path names (authorizeNamespace).
func namespaceOf(c echo.Context) string { return c.(*authContext).namespace }

// callerOf is the namespace whose credentials the request carries
// (authenticate).
func callerOf(c echo.Context) *core.Namespace { return c.(*authContext).caller }
