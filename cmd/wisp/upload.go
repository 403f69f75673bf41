package main

import (
	"context"
	"encoding/base64"

	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
)

// uploadThreshold is the size of code above which create and update send
// it through the upload workflow (straight to the code store, then the
// action by digest) instead of inline in the action's JSON.
const uploadThreshold = 4 << 20

// needsUpload reports whether exec's code is large enough to be uploaded
// (readActionExec leaves out the code of such a file, and gives its size).
func needsUpload(exec *core.Exec) bool {
	if exec.Code == "" && exec.Size > uploadThreshold {
		return true
	}
	n := len(exec.Code)
	if exec.Binary {
		n = base64.StdEncoding.DecodedLen(n)
	}
	return n > uploadThreshold
}

// uploadActionCode uploads file (the action's code as it is on disk) and
// makes exec refer to it by digest.
func uploadActionCode(ctx context.Context, c *client.Client, file string, exec *core.Exec) error {
	digest, size, err := c.UploadFile(ctx, file)
	if err != nil {
		return err
	}
	exec.Code, exec.Digest, exec.Size = "", digest, size
	return nil
}
