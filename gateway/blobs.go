package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/core"
)

// The upload workflow for large code (docs/rationale.md, "Large code goes
// around the API"): POST /namespaces/{ns}/blobs with the code's digest
// and size answers where to PUT the bytes (a presigned URL of the S3
// store, or this gateway's own upload URL, whose token is the
// authorization); the client PUTs them; then it creates the action with
// exec.digest and exec.size instead of exec.code.

// MaxBlobBytes bounds the code of an action created by digest (through
// the upload workflow); inline code has core.MaxActionCodeBytes.
const MaxBlobBytes = 1 << 30

// defaultUploadTTL is how long an upload URL is valid.
const defaultUploadTTL = 15 * time.Minute

// uploadGrantTTL is how long after an upload through the gateway its
// namespace may create actions from the blob without an action using it.
const uploadGrantTTL = time.Hour

func (g *Gateway) makeStartUploadHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		body, err := readBody(c, 4096)
		if err != nil {
			return err
		}
		var req core.BlobUploadRequest
		if err := core.DecodeStrict(body, &req); err != nil {
			return malformed(err)
		}
		want, err := checkBlobInfo(req.Digest, req.Size, "")
		if err != nil {
			return err
		}
		ns := namespaceOf(c)
		// "Stored already" is said only to a namespace whose actions use
		// the blob: to any other it would tell that someone deployed that
		// code, and let it create actions from bytes it never had. Those
		// upload the bytes like anyone else (the store keeps one copy).
		if g.deps.Store.NamespaceUsesDigest(ns, want.Digest) {
			if st, err := g.deps.Blobs.Stat(ctx, want.Digest); err == nil && st.Size == want.Size {
				// Its time is refreshed so that garbage collection leaves
				// it to the action about to be created.
				if err := g.deps.Blobs.Touch(ctx, want.Digest); err != nil {
					return blobStoreError("touch the blob", err)
				}
				return c.JSON(http.StatusOK, &core.BlobUpload{Digest: want.Digest, Size: want.Size, Exists: true})
			} else if err != nil && !errors.Is(err, blobs.ErrNotFound) {
				return blobStoreError("look up the blob", err)
			}
		}
		ttl := g.cfg.UploadTTL
		if ttl <= 0 {
			ttl = defaultUploadTTL
		}
		if p, ok := g.deps.Blobs.(blobs.Presigner); ok && !g.cfg.UploadThroughGateway {
			up, err := p.PresignUpload(ctx, want, ttl, blobs.UploadOwner(ns))
			if err != nil {
				return blobStoreError("sign an upload URL", err)
			}
			return c.JSON(http.StatusOK, &core.BlobUpload{Digest: want.Digest, Size: want.Size, URL: up.URL, Method: up.Method, Headers: up.Headers, Expires: &up.Expires})
		}
		expires := time.Now().Add(ttl).Truncate(time.Second)
		token := g.signUpload(uploadClaims{NS: ns, Digest: want.Digest, Size: want.Size, Exp: expires.Unix()})
		u := strings.TrimRight(g.cfg.APIHost, "/") + "/api/v1/namespaces/" + url.PathEscape(ns) + "/blobs/uploads/" + token
		return c.JSON(http.StatusOK, &core.BlobUpload{Digest: want.Digest, Size: want.Size, URL: u, Method: http.MethodPut,
			Headers: map[string]string{"Content-Type": "application/octet-stream"}, Expires: &expires})
	}
}

// makeUploadHandler takes the bytes of a blob on the gateway's own upload
// URL. The token is the authorization: it names the namespace, the digest
// and size, and when it expires, signed with the gateway's key. The bytes
// stream into the store, which makes them the blob only once they hash to
// the token's digest.
func (g *Gateway) makeUploadHandler() echo.HandlerFunc {
	return func(c echo.Context) error {
		claims, err := g.verifyUpload(c.Param("token"), time.Now())
		if err != nil {
			return err
		}
		if ns := c.Param("ns"); ns != claims.NS {
			return core.Errorf(core.CodeForbidden, "This upload URL belongs to namespace %s, not %s.", claims.NS, ns)
		}
		r := c.Request()
		if r.ContentLength >= 0 && r.ContentLength != claims.Size {
			return core.Errorf(core.CodeInvalid, "The upload is %d bytes; %d bytes were announced for %s.", r.ContentLength, claims.Size, claims.Digest)
		}
		body := http.MaxBytesReader(c.Response(), r.Body, claims.Size+1)
		info, err := g.deps.Blobs.PutVerified(r.Context(), body, blobs.Info{Digest: claims.Digest, Size: claims.Size})
		switch {
		case errors.Is(err, blobs.ErrMismatch):
			return core.Errorf(core.CodeInvalid, "The upload was refused and not stored: %v.", err)
		case err != nil:
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return core.Errorf(core.CodeInvalid, "The upload is longer than the %d bytes announced for %s; it was not stored.", claims.Size, claims.Digest)
			}
			return blobStoreError("store the upload", err)
		}
		// The bytes hashed to the digest: the namespace has them, and may
		// create actions from them for uploadGrantTTL from now. (Not
		// until the URL's expiry: a large upload can end after it, with
		// the create still to come.)
		g.uploaded.grant(claims.NS, info.Digest, time.Now().Add(uploadGrantTTL))
		g.log.Info("blob uploaded", "namespace", claims.NS, "digest", info.Digest, "size", info.Size)
		return c.JSON(http.StatusOK, &core.BlobUpload{Digest: info.Digest, Size: info.Size, Exists: true})
	}
}

// checkBlobInfo validates a digest and size a client announces; what is
// the field prefix in messages ("exec." or "").
func checkBlobInfo(digest string, size int64, what string) (blobs.Info, error) {
	d, err := blobs.Normalize(digest)
	if err != nil {
		return blobs.Info{}, core.Errorf(core.CodeInvalid, "The %sdigest %q is not of the form sha256:<64 hex digits>.", what, digest)
	}
	switch {
	case size <= 0:
		return blobs.Info{}, core.Errorf(core.CodeInvalid, "The %ssize must be the code's length in bytes (more than 0), not %d.", what, size)
	case size > MaxBlobBytes:
		return blobs.Info{}, core.Errorf(core.CodeTooLarge, "The code is %d bytes; the limit is %d bytes.", size, int64(MaxBlobBytes))
	}
	return blobs.Info{Digest: d, Size: size}, nil
}

// blobStoreError turns a store failure into the error the caller sees:
// 503 when the store cannot be reached, a clear 500 when stored code is
// corrupt, else an internal error (logged, not shown).
func blobStoreError(doing string, err error) error {
	switch {
	case errors.Is(err, blobs.ErrUnavailable):
		return &core.Error{Code: core.CodeUnavailable, Message: fmt.Sprintf("Could not %s: the code store is unavailable; try again later.", doing), Err: err}
	case errors.Is(err, blobs.ErrCorrupt):
		return &core.Error{Code: core.CodeUnavailable, Message: fmt.Sprintf("Could not %s: the stored code does not match its digest (it is corrupt); update the action with its code again.", doing), Err: err}
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// storeCodeByDigest checks the code of an action created by digest: the
// blob (uploaded before, or committed now from the store's staging area)
// must exist with that digest and size, and passes the same validation as
// inline code.
func (g *Gateway) storeCodeByDigest(c echo.Context, kind core.Kind, exec *core.Exec, binary bool) (*storedCode, error) {
	ctx := c.Request().Context()
	want, err := checkBlobInfo(exec.Digest, exec.Size, "exec.")
	if err != nil {
		return nil, err
	}
	// A namespace creates an action from a digest only when it has shown
	// it has the bytes: an action of its own uses them, it uploaded them
	// through the gateway, or it staged a presigned upload of them now
	// committed. Whatever another namespace stored gets the same answer
	// as nothing stored, so a digest tells nobody what others deployed.
	ns := namespaceOf(c)
	notUploaded := core.Errorf(core.CodeInvalid, "No code with exec.digest %s was uploaded by namespace %s: POST the digest and size to /api/v1/namespaces/_/blobs, PUT the bytes where it says, then create the action.", want.Digest, ns)
	var st blobs.Info
	if g.deps.Store.NamespaceUsesDigest(ns, want.Digest) || g.uploaded.has(ns, want.Digest, time.Now()) {
		if st, err = g.deps.Blobs.Stat(ctx, want.Digest); errors.Is(err, blobs.ErrNotFound) {
			return nil, notUploaded
		}
	} else if p, ok := g.deps.Blobs.(blobs.Presigner); ok {
		st, err = p.CommitUpload(ctx, want, blobs.UploadOwner(ns))
		switch {
		case errors.Is(err, blobs.ErrNotFound):
			return nil, notUploaded
		case errors.Is(err, blobs.ErrMismatch):
			return nil, core.Errorf(core.CodeInvalid, "The uploaded code was refused and removed: %v.", err)
		}
	} else {
		return nil, notUploaded
	}
	if err != nil {
		return nil, blobStoreError("look up the action's code", err)
	}
	if st.Size != want.Size {
		return nil, core.Errorf(core.CodeInvalid, "The code stored under exec.digest %s is %d bytes, not exec.size %d.", want.Digest, st.Size, want.Size)
	}
	var took time.Duration
	if g.deps.Validators[kind.Name] != nil {
		// Validation reads the bytes: they stream into a temporary file,
		// verified against the digest once more, and are read from there
		// in place (a zip of a gigabyte is never whole in memory).
		f, err := spoolBlob(ctx, g.deps.Blobs, want.Digest)
		if errors.Is(err, blobs.ErrCorrupt) {
			return nil, core.Errorf(core.CodeInvalid, "The code stored under exec.digest %s is corrupt (its bytes do not match the digest); upload it again.", want.Digest)
		} else if err != nil {
			return nil, blobStoreError("read the action's code", err)
		}
		took, err = g.validate(ctx, kind, want.Digest, f, want.Size, binary)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	// The action about to reference it keeps it from now on; until then,
	// its refreshed time keeps garbage collection away.
	if err := g.deps.Blobs.Touch(ctx, want.Digest); err != nil {
		return nil, blobStoreError("touch the action's code", err)
	}
	return &storedCode{kind: kind, exec: *exec, binary: binary, digest: want.Digest, size: want.Size, compileTime: took}, nil
}

// uploadClaims are what an upload token of the gateway grants.
type uploadClaims struct {
	NS     string `json:"ns"`
	Digest string `json:"d"`
	Size   int64  `json:"s"`
	Exp    int64  `json:"e"` // Unix seconds
	Nonce  string `json:"n"`
}

// signUpload encodes claims as "<base64url JSON>.<base64url HMAC-SHA256>".
func (g *Gateway) signUpload(cl uploadClaims) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	cl.Nonce = base64.RawURLEncoding.EncodeToString(nonce[:])
	payload, _ := json.Marshal(cl)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(g.uploadMAC(p))
}

func (g *Gateway) uploadMAC(payload string) []byte {
	m := hmac.New(sha256.New, g.uploadKey)
	m.Write([]byte("wisp-upload-v1\x00" + payload))
	return m.Sum(nil)
}

// verifyUpload checks a token's signature, then its expiry.
func (g *Gateway) verifyUpload(token string, now time.Time) (*uploadClaims, error) {
	p, sig, ok := strings.Cut(token, ".")
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(mac, g.uploadMAC(p)) {
		return nil, core.Errorf(core.CodeForbidden, "This upload URL is not valid: its token was altered or was not issued by this server. Ask for a new one with POST /api/v1/namespaces/_/blobs.")
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	var cl uploadClaims
	if err != nil || json.Unmarshal(raw, &cl) != nil {
		return nil, core.Errorf(core.CodeForbidden, "This upload URL is not valid: its token cannot be read.")
	}
	if exp := time.Unix(cl.Exp, 0); now.After(exp) {
		return nil, core.Errorf(core.CodeForbidden, "This upload URL expired at %s. Ask for a new one with POST /api/v1/namespaces/_/blobs.", exp.UTC().Format(time.RFC3339))
	}
	return &cl, nil
}

// newUploadKey is a random key for upload tokens, when none is configured
// (tokens then die with the process).
func newUploadKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// uploadGrants remembers, per namespace, the blobs it uploaded through the
// gateway's own upload URLs, for uploadGrantTTL. Only the local store
// uses those URLs, and a local store serves one node, so memory is where
// they belong; after a restart a client uploads again.
type uploadGrants struct {
	mu sync.Mutex
	m  map[uploadGrant]time.Time // → until
}

type uploadGrant struct{ ns, digest string }

// grant records that ns uploaded digest, valid until until.
func (u *uploadGrants) grant(ns, digest string, until time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	if u.m == nil {
		u.m = map[uploadGrant]time.Time{}
	}
	for k, t := range u.m { // expired ones go; there are few at a time
		if now.After(t) {
			delete(u.m, k)
		}
	}
	if t, ok := u.m[uploadGrant{ns, digest}]; !ok || until.After(t) {
		u.m[uploadGrant{ns, digest}] = until
	}
}

// has reports whether ns uploaded digest and the grant is still valid.
func (u *uploadGrants) has(ns, digest string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.m[uploadGrant{ns, digest}]
	return ok && !now.After(t)
}

// spoolBlob copies a blob, verified as it streams, into an unlinked
// temporary file, and returns the file (closing it frees the space).
func spoolBlob(ctx context.Context, store blobs.Store, digest string) (*os.File, error) {
	rc, err := store.Get(ctx, digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "wisp-code-")
	if err != nil {
		return nil, fmt.Errorf("spool blob %s: %w", digest, err)
	}
	_ = os.Remove(f.Name()) // unlinked: nothing is left behind, whatever happens
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, rc, make([]byte, 1<<20)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
