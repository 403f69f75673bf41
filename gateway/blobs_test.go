package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/core"
)

func TestUploadTokens(t *testing.T) {
	g := &Gateway{uploadKey: []byte("0123456789abcdef0123456789abcdef"), log: discard()}
	other := &Gateway{uploadKey: []byte("another key, another server....."), log: discard()}
	now := time.Now()
	claims := uploadClaims{NS: "guest", Digest: blobs.Digest([]byte("x")), Size: 1, Exp: now.Add(time.Minute).Unix()}
	good := g.signUpload(claims)
	payload, sig, _ := strings.Cut(good, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[3] == 'A' {
			b[3] = 'B'
		} else {
			b[3] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name  string
		token string
		at    time.Time
		says  string
	}{
		{"valid", good, now, ""},
		{"expired", good, now.Add(2 * time.Minute), "expired"},
		{"payload altered", flip(payload) + "." + sig, now, "not valid"},
		{"signature altered", payload + "." + flip(sig), now, "not valid"},
		{"no signature", payload, now, "not valid"},
		{"garbage", "%%%", now, "not valid"},
		{"empty", "", now, "not valid"},
		{"another server's", other.signUpload(claims), now, "not valid"},
	}
	for _, tt := range tests {
		cl, err := g.verifyUpload(tt.token, tt.at)
		if tt.says == "" {
			if err != nil || cl.Digest != claims.Digest || cl.NS != "guest" || cl.Size != 1 {
				t.Errorf("%s: %+v, %v", tt.name, cl, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.says) || core.ErrorCodeOf(err) != core.CodeForbidden {
			t.Errorf("%s: err = %v, want a forbidden error saying %q", tt.name, err, tt.says)
		}
	}
	if a, b := g.signUpload(claims), g.signUpload(claims); a == b {
		t.Error("two tokens for the same upload are equal (no nonce)")
	}
}

func TestCheckBlobInfo(t *testing.T) {
	d := blobs.Digest([]byte("code"))
	tests := []struct {
		digest string
		size   int64
		code   core.ErrorCode
	}{
		{d, 4, ""},
		{"sha256:" + strings.ToUpper(d[7:]), 4, ""},
		{d, 0, core.CodeInvalid},
		{d, -1, core.CodeInvalid},
		{d, MaxBlobBytes + 1, core.CodeTooLarge},
		{"md5:abc", 4, core.CodeInvalid},
		{"", 4, core.CodeInvalid},
	}
	for _, tt := range tests {
		info, err := checkBlobInfo(tt.digest, tt.size, "exec.")
		if tt.code == "" {
			if err != nil || info.Digest != d {
				t.Errorf("checkBlobInfo(%q, %d) = %+v, %v", tt.digest, tt.size, info, err)
			}
			continue
		}
		if core.ErrorCodeOf(err) != tt.code {
			t.Errorf("checkBlobInfo(%q, %d): %v, want code %s", tt.digest, tt.size, err, tt.code)
		}
	}
}

// TestUploadHandler sends uploads to the gateway's own upload URL on a
// real local store: only bytes that match the token become the blob.
func TestUploadHandler(t *testing.T) {
	store, err := blobs.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{deps: Deps{Blobs: store}, uploadKey: newUploadKey(), log: discard()}
	h := g.makeUploadHandler()
	code := bytes.Repeat([]byte("wasm"), 10_000)
	want := blobs.Info{Digest: blobs.Digest(code), Size: int64(len(code))}
	token := g.signUpload(uploadClaims{NS: "guest", Digest: want.Digest, Size: want.Size, Exp: time.Now().Add(time.Minute).Unix()})
	send := func(ns string, body []byte, length int64) error {
		req := httptest.NewRequest(http.MethodPut, "/", bytes.NewReader(body))
		req.ContentLength = length
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(req, rec)
		c.SetParamNames("ns", "token")
		c.SetParamValues(ns, token)
		return h(c)
	}
	other := append([]byte{}, code...)
	other[100] ^= 1
	tests := []struct {
		name   string
		ns     string
		body   []byte
		length int64
		code   core.ErrorCode
	}{
		{"another namespace", "alice", code, want.Size, core.CodeForbidden},
		{"other bytes", "guest", other, want.Size, core.CodeInvalid},
		{"announced shorter", "guest", code[:10], 10, core.CodeInvalid},
		{"truncated body, no length", "guest", code[:len(code)-1], -1, core.CodeInvalid},
		{"longer body, no length", "guest", append(append([]byte{}, code...), 'x'), -1, core.CodeInvalid},
	}
	for _, tt := range tests {
		err := send(tt.ns, tt.body, tt.length)
		if core.ErrorCodeOf(err) != tt.code {
			t.Errorf("%s: %v, want code %s", tt.name, err, tt.code)
		}
		if _, err := store.Stat(context.Background(), want.Digest); !errors.Is(err, blobs.ErrNotFound) {
			t.Fatalf("%s: a refused upload is stored: %v", tt.name, err)
		}
	}
	if err := send("guest", code, want.Size); err != nil {
		t.Fatalf("a good upload: %v", err)
	}
	if got, err := blobs.ReadAll(context.Background(), store, want.Digest); err != nil || !bytes.Equal(got, code) {
		t.Fatalf("the uploaded blob: %v", err)
	}
}

func TestUploadGrants(t *testing.T) {
	var u uploadGrants
	now := time.Now()
	if u.has("a", "sha256:1", now) {
		t.Fatal("an empty set grants")
	}
	u.grant("a", "sha256:1", now.Add(time.Minute))
	u.grant("b", "sha256:2", now.Add(-time.Second)) // expired already
	for _, c := range []struct {
		ns, digest string
		at         time.Time
		want       bool
	}{
		{"a", "sha256:1", now, true},
		{"a", "sha256:1", now.Add(2 * time.Minute), false}, // past its expiry
		{"b", "sha256:1", now, false},                      // another namespace
		{"a", "sha256:2", now, false},                      // another digest
		{"b", "sha256:2", now, false},                      // expired
	} {
		if got := u.has(c.ns, c.digest, c.at); got != c.want {
			t.Errorf("has(%s, %s, %v) = %v, want %v", c.ns, c.digest, c.at.Sub(now), got, c.want)
		}
	}
	// A later grant extends, an earlier one does not shorten.
	u.grant("a", "sha256:1", now.Add(time.Hour))
	u.grant("a", "sha256:1", now.Add(time.Second))
	if !u.has("a", "sha256:1", now.Add(30*time.Minute)) {
		t.Error("the longer grant was lost")
	}
}

// TestCodeBytes checks CodeBytes against io.ReaderAt's contract.
func TestCodeBytes(t *testing.T) {
	for _, content := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("wisp"), 5000)} {
		if err := iotest.TestReader(io.NewSectionReader(CodeBytes(content), 0, int64(len(content))), content); err != nil {
			t.Errorf("%d bytes: %v", len(content), err)
		}
		if got := CodeBytes(content).Bytes(); !bytes.Equal(got, content) {
			t.Errorf("Bytes() = %q", got)
		}
	}
	if _, err := CodeBytes("abc").ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("a negative offset was read")
	}
}
