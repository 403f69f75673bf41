// Package blobs stores action code by content: every blob is named by the
// SHA-256 of its bytes, written once and read many times. The local
// directory store is the default; the S3 store (minio-go) fits the same
// Store interface. Cache keeps blobs on an invoker's disk; GC removes the
// blobs no action references.
package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound: no blob has that digest.
	ErrNotFound = errors.New("blob not found")
	// ErrCorrupt: the stored bytes do not hash to their digest.
	ErrCorrupt = errors.New("blob is corrupt: its bytes do not match its digest")
	// ErrBadDigest: the string is not of the form "sha256:<64 hex digits>".
	ErrBadDigest = errors.New("malformed blob digest")
	// ErrMismatch: bytes offered for a blob are not the digest and size
	// they were announced as (a tampered or truncated upload).
	ErrMismatch = errors.New("the uploaded bytes do not match the expected digest and size")
	// ErrUnavailable: the store could not be reached (the S3 server is
	// down or unreachable); trying again later may work.
	ErrUnavailable = errors.New("the blob store is unavailable")
)

// Store is a content-addressed blob store. Implementations are safe for
// concurrent use, and Put of the same bytes twice is harmless.
type Store interface {
	// Put streams r into the store and returns the blob's digest and size.
	// Nothing is visible under the digest until all bytes are written.
	// Putting bytes that are already stored refreshes the blob's time
	// (see Touch).
	Put(ctx context.Context, r io.Reader) (Info, error)
	// PutVerified is Put of bytes announced as want (digest and size): it
	// fails with ErrMismatch, leaving nothing visible, when they are not.
	PutVerified(ctx context.Context, r io.Reader, want Info) (Info, error)
	// Get opens the blob. The reader verifies the digest as it is read and
	// fails with ErrCorrupt at the end if the bytes do not match.
	Get(ctx context.Context, digest string) (io.ReadCloser, error)
	// Stat returns the blob's size, or ErrNotFound.
	Stat(ctx context.Context, digest string) (Info, error)
	// Delete removes the blob; a missing blob is not an error.
	Delete(ctx context.Context, digest string) error
	// Touch sets the blob's time to now, so that garbage collection counts
	// it as new (a blob about to be referenced again); ErrNotFound if
	// missing.
	Touch(ctx context.Context, digest string) error
	// Walk calls fn for every stored blob, in no particular order, with
	// its digest, size and time (when it was written or last touched),
	// and for every leftover of an unfinished upload with Digest "" and
	// Staged set. It stops at fn's first error and returns it.
	Walk(ctx context.Context, fn func(Object) error) error
	// DeleteStaged removes a leftover of an unfinished upload that Walk
	// reported.
	DeleteStaged(ctx context.Context, o Object) error
}

// Info names a stored blob.
type Info struct {
	Digest string `json:"digest"` // "sha256:<hex>"
	Size   int64  `json:"size"`
}

// Object is a blob as Walk lists it.
type Object struct {
	Info
	Modified time.Time `json:"modified"`
	// Staged is the key of an upload's leftover ("" for a blob): a
	// temporary file or staging object no blob owns.
	Staged string `json:"staged,omitempty"`
}

// Digest returns the digest string of data.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Key is the object key of a digest: "sha256/<hex>".
func Key(digest string) (string, error) {
	hexPart, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexPart) != 64 {
		return "", fmt.Errorf("%w: %q", ErrBadDigest, digest)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return "", fmt.Errorf("%w: %q", ErrBadDigest, digest)
	}
	return "sha256/" + strings.ToLower(hexPart), nil
}

// Normalize returns digest in its canonical form (lower-case hex), or
// ErrBadDigest.
func Normalize(digest string) (string, error) {
	h, err := hexOf(digest)
	if err != nil {
		return "", err
	}
	return "sha256:" + h, nil
}

// ReadAll reads a whole blob, verifying its digest.
func ReadAll(ctx context.Context, s Store, digest string) ([]byte, error) {
	rc, err := s.Get(ctx, digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", digest, err)
	}
	return data, nil
}

// PutBytes stores data.
func PutBytes(ctx context.Context, s Store, data []byte) (Info, error) {
	return s.Put(ctx, bytes.NewReader(data))
}

// checkExpected compares what was written with what was announced.
func checkExpected(got, want Info) error {
	if got.Size != want.Size {
		return fmt.Errorf("%w: %d bytes arrived for %s, announced as %d bytes", ErrMismatch, got.Size, want.Digest, want.Size)
	}
	if got.Digest != want.Digest {
		return fmt.Errorf("%w: the bytes announced as %s hash to %s", ErrMismatch, want.Digest, got.Digest)
	}
	return nil
}

// hexOf returns the lower-case hex part of a valid digest.
func hexOf(digest string) (string, error) {
	key, err := Key(digest)
	if err != nil {
		return "", err
	}
	return key[len("sha256/"):], nil
}

// verifyingReader hashes what passes through it and, at EOF, fails with
// ErrCorrupt unless the hash is the expected digest.
type verifyingReader struct {
	r      io.ReadCloser
	h      hash.Hash
	digest string
}

func newVerifyingReader(r io.ReadCloser, digest string) *verifyingReader {
	return &verifyingReader{r: r, h: sha256.New(), digest: digest}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := "sha256:" + hex.EncodeToString(v.h.Sum(nil)); got != v.digest {
			return n, fmt.Errorf("%w: %s read as %s", ErrCorrupt, v.digest, got)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.r.Close() }
