package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// routes is the one place that lists every endpoint.
func (g *Gateway) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = g.handleError
	e.Server = &http.Server{Handler: e}

	e.GET("/ping", g.makePingHandler())
	e.GET("/", g.makeInfoHandler())
	e.GET("/api/v1", g.makeAPIInfoHandler())
	if g.deps.Metrics != nil {
		e.GET("/metrics", g.makeMetricsHandler())
	}

	// An upload URL's token is its authorization, as a presigned S3 URL's
	// signature is: no Basic auth (gateway/blobs.go).
	e.PUT("/api/v1/namespaces/:ns/blobs/uploads/:token", g.makeUploadHandler())

	api := e.Group("/api/v1", g.authenticate)
	api.GET("/namespaces", g.makeListNamespacesHandler())

	ns := api.Group("/namespaces/:ns", g.authorizeNamespace)
	ns.GET("/actions", g.makeListActionsHandler())
	ns.GET("/actions/", g.makeListActionsHandler())
	ns.PUT("/actions/*", g.makePutActionHandler())
	ns.GET("/actions/*", g.makeGetActionHandler())
	ns.DELETE("/actions/*", g.makeDeleteActionHandler())
	ns.POST("/actions/*", g.makeInvokeHandler())

	ns.POST("/blobs", g.makeStartUploadHandler())

	ns.GET("/activations", g.makeListActivationsHandler())
	ns.GET("/activations/:id", g.makeGetActivationHandler())
	ns.GET("/activations/:id/logs", g.makeActivationLogsHandler())
	ns.GET("/activations/:id/result", g.makeActivationResultHandler())
	return e
}
