package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/core"
)

// prewarmWait bounds how long a create or update waits for the action's
// home invoker to prepare it.
const prewarmWait = 5 * time.Second

// maxActionBody bounds a PUT of an action: the largest code, base64
// encoded, plus room for parameters and annotations.
const maxActionBody = core.MaxActionCodeBytes/3*4 + 2*core.MaxPayloadBytes

// storedCode is an action's code once it is in the blob store.
type storedCode struct {
	kind        core.Kind
	exec        core.Exec
	binary      bool // the code is base64 on the wire (binary kinds, zips)
	digest      string
	size        int64
	compileTime time.Duration // 0 when the kind is not compiled
}

// HeaderCompileTime tells, in milliseconds, how long the code of a created
// or updated action took to validate and compile.
const HeaderCompileTime = "X-Wisp-Compile-Ms"

func (g *Gateway) makePutActionHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		p, err := entityName(c)
		if err != nil {
			return err
		}
		overwrite, err := boolQuery(c, "overwrite", false)
		if err != nil {
			return err
		}
		body, err := readBody(c, maxActionBody)
		if err != nil {
			return err
		}
		var put core.ActionPut
		if len(strings.TrimSpace(string(body))) == 0 {
			return malformed(fmt.Errorf("the body is empty; send a JSON object with at least \"exec\""))
		}
		if err := core.DecodeStrict(body, &put); err != nil {
			return malformed(err)
		}
		if err := put.Parameters.Validate("parameter"); err != nil {
			return err
		}
		if err := put.Annotations.Validate("annotation"); err != nil {
			return err
		}
		// The code is checked and stored before the entity is written, and
		// outside PutAction's retry loop: it is the slow part and does not
		// depend on the current version.
		var code *storedCode
		if put.Exec != nil {
			if code, err = g.storeCode(c, put.Exec); err != nil {
				return err
			}
		}
		a, err := g.deps.Store.PutAction(ctx, p, overwrite, func(old *core.Action) (*core.Action, error) {
			return buildAction(p, old, &put, code)
		})
		if err != nil {
			return err
		}
		g.log.Info("action saved", "action", p.String(), "version", a.Version, "kind", a.Exec.Kind, "digest", a.Exec.Digest)
		// Its home invoker gets it ready before we answer, so that the
		// first invoke pays for no sandbox; a failure (or an invoker slower
		// than prewarmWait) only makes that invoke slower.
		if home, err := g.balancer.pick(p.String(), a.Exec.Kind); err == nil {
			pctx, cancel := context.WithTimeout(ctx, prewarmWait)
			if err := g.deps.Dispatcher.RequestPrewarm(pctx, home, a); err != nil {
				g.log.Debug("action not prewarmed", "action", p.String(), "err", err)
			}
			cancel()
		}
		out := *a
		if put.Exec != nil {
			out.Exec.Code = put.Exec.Code
		}
		if code != nil && code.compileTime > 0 {
			c.Response().Header().Set(HeaderCompileTime, strconv.FormatFloat(float64(code.compileTime.Microseconds())/1000, 'f', 3, 64))
		}
		return c.JSON(http.StatusOK, &out)
	}
}

// storeCode decodes, validates and stores the code of exec.
func (g *Gateway) storeCode(c echo.Context, exec *core.Exec) (*storedCode, error) {
	kind, err := core.LookupKind(exec.Kind)
	if err != nil {
		return nil, err
	}
	if exec.Binary && !kind.Binary && !kind.Zip {
		return nil, core.Errorf(core.CodeInvalid, "The kind %s takes its code as text: exec.binary must be false.", kind.Name)
	}
	binary := kind.Binary || exec.Binary
	if exec.Code == "" && exec.Digest != "" { // uploaded before (gateway/blobs.go)
		return g.storeCodeByDigest(c, kind, exec, binary)
	}
	if exec.Code == "" {
		return nil, core.Errorf(core.CodeInvalid, "The action's exec.code is missing: give the %s code inline, or upload it and give exec.digest and exec.size.", kind.Name)
	}
	var code []byte
	if binary {
		code, err = base64.StdEncoding.DecodeString(exec.Code)
		if err != nil {
			what := "binary code"
			if kind.Zip {
				what = "a zip when exec.binary is true"
			}
			return nil, core.Errorf(core.CodeInvalid, "The action's exec.code is not valid base64 (kind %s takes %s, base64-encoded): %v", kind.Name, what, err)
		}
	} else {
		code = []byte(exec.Code)
	}
	if len(code) > core.MaxActionCodeBytes {
		return nil, core.Errorf(core.CodeTooLarge, "The action's code is %d bytes; the limit is %d bytes.", len(code), core.MaxActionCodeBytes)
	}
	digest := blobs.Digest(code)
	took, err := g.validate(c.Request().Context(), kind, digest, CodeBytes(code), int64(len(code)), binary)
	if err != nil {
		return nil, err
	}
	// The digest is known: the store checks the bytes against it, and an
	// S3 store does not send code it holds already.
	info, err := g.deps.Blobs.PutVerified(c.Request().Context(), bytes.NewReader(code), blobs.Info{Digest: digest, Size: int64(len(code))})
	if err != nil {
		return nil, blobStoreError("store the action's code", err)
	}
	return &storedCode{kind: kind, exec: *exec, binary: binary, digest: info.Digest, size: info.Size, compileTime: took}, nil
}

// validate runs kind's create-time check of the code, if it has one, and
// says how long it took (for wasm: the compile).
func (g *Gateway) validate(ctx context.Context, kind core.Kind, digest string, code io.ReaderAt, size int64, binary bool) (time.Duration, error) {
	v := g.deps.Validators[kind.Name]
	if v == nil {
		return 0, nil
	}
	start := time.Now()
	if err := v.Validate(ctx, digest, code, size, binary); err != nil {
		return 0, &core.Error{Code: core.CodeInvalid, Message: fmt.Sprintf("The action's code was refused: %v", err)}
	}
	took := time.Since(start)
	g.log.Debug("code validated", "kind", kind.Name, "digest", digest, "took", took)
	return took, nil
}

// buildAction makes the action to store from the current one (nil when
// creating) and the request. Absent fields keep their current values.
func buildAction(p core.EntityPath, old *core.Action, put *core.ActionPut, code *storedCode) (*core.Action, error) {
	var a core.Action
	if old != nil {
		a = *old
		a.Version = core.NextVersion(old.Version)
	} else {
		if code == nil {
			return nil, core.Errorf(core.CodeInvalid, "The action has no exec: give exec.kind and exec.code.")
		}
		a = core.Action{Limits: core.DefaultLimits(), Version: "0.0.1"}
	}
	a.Namespace, a.Name = p.Qualified(), p.Name
	if code != nil {
		a.Exec = core.Exec{Kind: code.kind.Name, Binary: code.binary, Main: code.exec.Main, Image: code.exec.Image, Digest: code.digest, Size: code.size}
	}
	if put.Parameters != nil {
		a.Parameters = put.Parameters
	}
	if put.Annotations != nil {
		a.Annotations = append(core.KeyValues(nil), put.Annotations...)
	}
	a.Annotations = a.Annotations.Set("exec", a.Exec.Kind)
	limits, err := put.Limits.Apply(a.Limits)
	if err != nil {
		return nil, err
	}
	a.Limits = limits
	if put.Publish != nil {
		a.Publish = *put.Publish
	}
	a.Updated = time.Now().UnixMilli()
	return &a, nil
}

func (g *Gateway) makeGetActionHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		p, err := entityName(c)
		if err != nil {
			return err
		}
		withCode, err := boolQuery(c, "code", true)
		if err != nil {
			return err
		}
		a, err := g.deps.Store.GetAction(ctx, p)
		if err != nil {
			return err
		}
		out := *a
		if withCode && a.Exec.Digest != "" {
			rc, err := g.deps.Blobs.Get(ctx, a.Exec.Digest)
			if err != nil {
				return blobStoreError("read the code of "+p.String(), err)
			}
			defer rc.Close()
			code, err := io.ReadAll(rc)
			if err != nil {
				return blobStoreError("read the code of "+p.String(), err)
			}
			if a.Exec.Binary {
				out.Exec.Code = base64.StdEncoding.EncodeToString(code)
			} else {
				out.Exec.Code = string(code)
			}
		}
		return c.JSON(http.StatusOK, &out)
	}
}

func (g *Gateway) makeDeleteActionHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := entityName(c)
		if err != nil {
			return err
		}
		a, err := g.deps.Store.DeleteAction(c.Request().Context(), p)
		if err != nil {
			return err
		}
		g.log.Info("action deleted", "action", p.String())
		return c.JSON(http.StatusOK, a)
	}
}

func (g *Gateway) makeListActionsHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		limit, err := intQuery(c, "limit", 30, 0, 200)
		if err != nil {
			return err
		}
		skip, err := intQuery(c, "skip", 0, 0, 1<<31)
		if err != nil {
			return err
		}
		count, err := boolQuery(c, "count", false)
		if err != nil {
			return err
		}
		if count { // OpenWhisk's {"actions": n}
			return c.JSON(http.StatusOK, map[string]int{"actions": len(g.deps.Store.ListActions(c.Request().Context(), namespaceOf(c), 0, 0))})
		}
		if limit == 0 {
			limit = 200 // OpenWhisk: limit=0 means the maximum
		}
		return c.JSON(http.StatusOK, g.deps.Store.ListActions(c.Request().Context(), namespaceOf(c), int(limit), int(skip)))
	}
}
