package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/wispfaas/wisp/core"
)

// BlobUpload is the server's answer to StartUpload: where and how to send
// the bytes of a blob (core.BlobUpload).
type BlobUpload = core.BlobUpload

// StartUpload announces a blob of code (its "sha256:<hex>" digest and
// size) before it is sent: the first step of creating an action from
// large code (Wisp's upload workflow). The answer is a presigned URL of
// the S3 store or the gateway's own upload URL.
func (c *Client) StartUpload(ctx context.Context, digest string, size int64) (*BlobUpload, error) {
	var up BlobUpload
	if err := c.call(ctx, http.MethodPost, "/namespaces/_/blobs", nil, core.BlobUploadRequest{Digest: digest, Size: size}, &up); err != nil {
		return nil, err
	}
	return &up, nil
}

// Upload sends size bytes from r where up says. Under a context from
// WithUploadProgress it reports its progress. The URL carries its own
// authorization: the client's key is not sent. A refusal comes back as an
// *APIError (from the gateway's JSON or the S3 server's XML error).
func (c *Client) Upload(ctx context.Context, up *BlobUpload, r io.Reader, size int64) error {
	if up.Exists {
		return nil
	}
	if report, ok := ctx.Value(progressKey{}).(func(sent, total int64)); ok {
		r = &progressReader{r: r, total: size, report: report}
	}
	method := up.Method
	if method == "" {
		method = http.MethodPut
	}
	req, err := http.NewRequestWithContext(ctx, method, up.URL, io.NopCloser(r))
	if err != nil {
		return fmt.Errorf("upload %s: %w", up.Digest, err)
	}
	req.ContentLength = size
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	req.Header["User-Agent"] = c.userAgent
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", up.Digest, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return uploadError(resp.StatusCode, body)
	}
	return nil
}

// uploadError reads the error of an upload: the gateway's JSON, or the
// XML an S3 server answers ("AccessDenied: Request has expired").
func uploadError(status int, body []byte) error {
	var s3err struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if strings.HasPrefix(strings.TrimSpace(string(body)), "<") && xml.Unmarshal(body, &s3err) == nil && s3err.Code != "" {
		msg := "the code store refused the upload: " + s3err.Code
		if s3err.Message != "" {
			msg += ": " + s3err.Message
		}
		if strings.Contains(strings.ToLower(s3err.Message), "expired") {
			msg += " (the upload URL expired; start the upload again)"
		}
		return &APIError{Status: status, Message: msg}
	}
	return apiErrorFrom(status, body)
}

// FileDigest returns the "sha256:<hex>" digest and size of a file,
// reading it once.
func FileDigest(path string) (digest string, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// UploadFile uploads a file of code through the upload workflow and
// returns its digest and size, for an action's exec.digest and exec.size.
// A blob the server holds already is not sent again.
func (c *Client) UploadFile(ctx context.Context, path string) (digest string, size int64, err error) {
	digest, size, err = FileDigest(path)
	if err != nil {
		return "", 0, err
	}
	up, err := c.StartUpload(ctx, digest, size)
	if err != nil {
		return "", 0, err
	}
	if up.Exists {
		if report, ok := ctx.Value(progressKey{}).(func(sent, total int64)); ok {
			report(size, size)
		}
		return digest, size, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	if err := c.Upload(ctx, up, f, size); err != nil {
		return "", 0, err
	}
	return digest, size, nil
}
