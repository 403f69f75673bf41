package core

import "time"

// BlobUploadRequest is the body of POST /namespaces/{ns}/blobs: the first
// step of creating an action from large code (the upload workflow).
type BlobUploadRequest struct {
	Digest string `json:"digest"` // "sha256:<hex>" of the bytes
	Size   int64  `json:"size"`
}

// BlobUpload is the answer: where and how to send the bytes (a presigned
// URL of the S3 store, or the gateway's own upload URL). Exists means the
// store already holds the blob for an action of the caller's namespace and
// nothing needs to be sent; a namespace without such an action is always
// asked for the bytes, whoever else stored them.
type BlobUpload struct {
	Digest  string            `json:"digest"`
	Size    int64             `json:"size"`
	Exists  bool              `json:"exists,omitempty"`
	URL     string            `json:"url,omitempty"`
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Expires *time.Time        `json:"expires,omitempty"`
}
