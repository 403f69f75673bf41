package gateway

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/store"
)

func (g *Gateway) makeListActivationsHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		limit, err := intQuery(c, "limit", 30, 0, 200)
		if err != nil {
			return err
		}
		if limit == 0 {
			limit = 200
		}
		skip, err := intQuery(c, "skip", 0, 0, 1<<31)
		if err != nil {
			return err
		}
		since, err := intQuery(c, "since", 0, 0, 1<<62)
		if err != nil {
			return err
		}
		upto, err := intQuery(c, "upto", 0, 0, 1<<62)
		if err != nil {
			return err
		}
		docs, err := boolQuery(c, "docs", false)
		if err != nil {
			return err
		}
		name := queryParam(c, "name")
		if name != "" {
			if _, err := core.ParseActionName(namespaceOf(c), name); err != nil {
				return err
			}
		}
		count, err := boolQuery(c, "count", false)
		if err != nil {
			return err
		}
		filter := store.ActivationFilter{Name: name, Since: since, Upto: upto, Limit: int(limit), Skip: int(skip)}
		if count { // OpenWhisk's {"activations": n}: every match, no page
			n, err := g.deps.Store.CountActivations(c.Request().Context(), namespaceOf(c), filter)
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, map[string]int{"activations": n})
		}
		list, err := g.deps.Store.ListActivations(c.Request().Context(), namespaceOf(c), filter)
		if err != nil {
			return err
		}
		if docs {
			return c.JSON(http.StatusOK, list)
		}
		summaries := make([]core.ActivationSummary, len(list))
		for i, a := range list {
			summaries[i] = a.Summary()
		}
		return c.JSON(http.StatusOK, summaries)
	}
}

func (g *Gateway) activation(c echo.Context) (*core.Activation, error) {
	return g.deps.Store.GetActivation(c.Request().Context(), namespaceOf(c), c.Param("id"))
}

func (g *Gateway) makeGetActivationHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		a, err := g.activation(c)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, a)
	}
}

func (g *Gateway) makeActivationLogsHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		a, err := g.activation(c)
		if err != nil {
			return err
		}
		logs := a.Logs
		if logs == nil {
			logs = []string{}
		}
		return c.JSON(http.StatusOK, map[string][]string{"logs": logs})
	}
}

func (g *Gateway) makeActivationResultHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		a, err := g.activation(c)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, a.Response)
	}
}
