package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/internal/miniotest"
	"github.com/wispfaas/wisp/internal/wasmtest"
)

// s3Env is a MinIO server and the --blobs value of a store on it, with
// the credentials in a file of their own (so that no environment variable
// of the test process is needed).
type s3Env struct {
	minio  *miniotest.Server
	blobs  string // --blobs
	bucket string
	prefix string
	mc     *minio.Client
}

func newS3Env(t *testing.T, bucket, prefix string) *s3Env {
	t.Helper()
	srv := miniotest.Start(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte(fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", miniotest.AccessKey, miniotest.SecretKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(srv.Addr, &minio.Options{Creds: credentials.NewStaticV4(miniotest.AccessKey, miniotest.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return &s3Env{minio: srv, blobs: srv.BlobsURL(bucket, prefix) + "&credentials=" + creds, bucket: bucket, prefix: prefix, mc: mc}
}

// objectOf reports whether the blob of digest is an object in the bucket.
func (e *s3Env) has(t *testing.T, digest string) bool {
	t.Helper()
	_, err := e.mc.StatObject(context.Background(), e.bucket, e.prefix+"/sha256/"+strings.TrimPrefix(digest, "sha256:"), minio.StatObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("stat the blob %s in MinIO: %v", digest, err)
	}
	return err == nil
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// bigWasm returns module with a custom section of n random bytes appended:
// a valid module, n bytes larger, that runs as the original does.
func bigWasm(t *testing.T, module []byte, n int) []byte {
	t.Helper()
	payload := make([]byte, n)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	return wasmtest.WithCustomSection(module, "wisp.padding", payload)
}

// startUpload POSTs a blob's digest and size and returns the answer.
func (a *api) startUpload(t *testing.T, digest string, size int64) map[string]any {
	t.Helper()
	return a.do(t, "POST", "/api/v1/namespaces/_/blobs", map[string]any{"digest": digest, "size": size}).want(t, http.StatusOK).object(t)
}

// putUpload sends body where an upload answer says, as a client would.
func putUpload(t *testing.T, up map[string]any, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(up["method"].(string), up["url"].(string), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := up["headers"].(map[string]any); ok {
		for k, v := range h {
			req.Header.Set(k, v.(string))
		}
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// uploadAndCreate sends code where the upload answer up says, which must
// accept it, then creates action name from it by digest.
func (a *api) uploadAndCreate(t *testing.T, up map[string]any, name string, code []byte) {
	t.Helper()
	if status, msg := putUpload(t, up, code); status != http.StatusOK {
		t.Fatalf("PUT of %s's code: %d %s", name, status, msg)
	}
	r, _ := a.createByDigest(name, digestOf(code), int64(len(code)))
	r.want(t, http.StatusOK)
}

// createByDigest creates action name from an uploaded wasm blob.
func (a *api) createByDigest(name, digest string, size int64) (*reply, error) {
	return a.send("PUT", actionsPath+"/"+name, map[string]any{"exec": map[string]any{"kind": "wasm", "digest": digest, "size": size}})
}

// TestS3Blobs runs wispd with its code in MinIO: inline code and the
// upload workflow (the CLI's and the API's), bad uploads, a restart with
// the code only in MinIO, MinIO going away at invoke time and coming back,
// and garbage collection.
func TestS3Blobs(t *testing.T) {
	t.Parallel()
	s3 := newS3Env(t, "wisp-e2e", "code")
	d := startWispd(t, "--blobs", s3.blobs)
	g := d.guest(t)

	// Inline code, the OpenWhisk way, lands in MinIO.
	created := g.createAction(t, "hello", "hello", map[string]any{"parameters": kv("name", "S3")})
	helloDigest := created["exec"].(map[string]any)["digest"].(string)
	if !s3.has(t, helloDigest) {
		t.Fatalf("the inline code %s is not in MinIO", helloDigest)
	}
	if res := g.invoke(t, "hello", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t); res["greeting"] != "Hello, S3!" {
		t.Fatalf("invoke: %v", res)
	}

	// The CLI sends a large module through the upload workflow: a
	// presigned URL of MinIO, then the action by digest.
	hello, err := os.ReadFile(wasmPath("hello"))
	if err != nil {
		t.Fatal(err)
	}
	big := bigWasm(t, hello, 6<<20)
	bigFile := filepath.Join(t.TempDir(), "big.wasm")
	if err := os.WriteFile(bigFile, big, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	c.ok(t, "property", "set", "--apihost", d.url, "--auth", g.auth)
	stdout, stderr, code := c.run(t, "action", "create", "big", bigFile, "-p", "name", "Big")
	if code != 0 || !strings.Contains(stderr, "uploading") {
		t.Fatalf("wisp action create of a 6 MiB module: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	bigAction := g.get(t, actionsPath+"/big?code=false").want(t, http.StatusOK).object(t)
	if exec := bigAction["exec"].(map[string]any); exec["digest"] != digestOf(big) || exec["size"] != float64(len(big)) {
		t.Fatalf("the uploaded action's exec: %v", exec)
	}
	if !s3.has(t, digestOf(big)) {
		t.Fatal("the uploaded module is not in MinIO")
	}
	if res := g.invoke(t, "big", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t); res["greeting"] != "Hello, Big!" {
		t.Fatalf("invoke of the uploaded action: %v", res)
	}
	// The API: the URL is MinIO's, presigned.
	up := g.startUpload(t, digestOf(big), int64(len(big)))
	if up["exists"] != true {
		t.Errorf("a stored blob announced again must not be uploaded again: %v", up)
	}
	other := bigWasm(t, hello, 100_000)
	up = g.startUpload(t, digestOf(other), int64(len(other)))
	if u, _ := up["url"].(string); !strings.HasPrefix(u, s3.minio.URL()+"/wisp-e2e/code/uploads/") || up["method"] != "PUT" || up["expires"] == nil {
		t.Fatalf("the upload answer: %v", up)
	}

	t.Run("bad uploads", func(t *testing.T) {
		// Tampered and truncated bytes: MinIO refuses them (the URL is
		// signed with the digest as S3's checksum), nothing is staged, and
		// the create finds no code.
		tampered := append([]byte{}, other...)
		tampered[len(tampered)-10] ^= 0xff
		for _, body := range [][]byte{tampered, other[:len(other)/2]} {
			code, msg := putUpload(t, up, body)
			if code != http.StatusBadRequest || !strings.Contains(msg, "<Code>") {
				t.Fatalf("PUT of %d wrong bytes to MinIO: %d %s", len(body), code, msg)
			}
			if _, after, ok := strings.Cut(msg, "<Code>"); ok {
				code, _, _ := strings.Cut(after, "</Code>")
				t.Logf("MinIO refused %d wrong bytes: %s", len(body), code)
			}
		}
		r, err := g.createByDigest("tampered", digestOf(other), int64(len(other)))
		if err != nil {
			t.Fatal(err)
		}
		r.wantError(t, http.StatusBadRequest, "no code", "uploaded")
		if s3.has(t, digestOf(other)) {
			t.Fatal("refused bytes became the blob")
		}
		// Forged bytes in the staging area (an S3 server that does not
		// check checksums): the create hashes them and refuses them.
		h := strings.TrimPrefix(digestOf(other), "sha256:")
		if _, err := s3.mc.PutObject(context.Background(), s3.bucket, s3.prefix+"/uploads/"+h+"/"+blobs.UploadOwner("guest")+"/forged", bytes.NewReader(tampered), int64(len(tampered)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		r, _ = g.createByDigest("forged", digestOf(other), int64(len(other)))
		r.wantError(t, http.StatusBadRequest, "refused", "hash")
		if s3.has(t, digestOf(other)) {
			t.Fatal("forged bytes became the blob")
		}
		if _, err := s3.mc.PutObject(context.Background(), s3.bucket, s3.prefix+"/uploads/"+h+"/"+blobs.UploadOwner("guest")+"/forged", bytes.NewReader(other[:100]), 100, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		r, _ = g.createByDigest("truncated", digestOf(other), int64(len(other)))
		r.wantError(t, http.StatusBadRequest, "refused", "bytes")
		// Nothing uploaded at all; a size that is not the blob's; a bad digest.
		r, _ = g.createByDigest("missing", digestOf([]byte("never uploaded")), 14)
		r.wantError(t, http.StatusBadRequest, "no code", "uploaded")
		r, _ = g.createByDigest("wrongsize", digestOf(big), int64(len(big))-1)
		r.wantError(t, http.StatusBadRequest, "bytes")
		r, _ = g.createByDigest("baddigest", "sha256:zz", 10)
		r.wantError(t, http.StatusBadRequest, "digest")
		g.do(t, "POST", "/api/v1/namespaces/_/blobs", map[string]any{"digest": digestOf(other), "size": 2 << 30}).wantError(t, http.StatusRequestEntityTooLarge, "limit")
		g.do(t, "POST", "/api/v1/namespaces/_/blobs", map[string]any{"digest": digestOf(other)}).wantError(t, http.StatusBadRequest, "size")
		for _, name := range []string{"tampered", "forged", "truncated", "missing", "wrongsize", "baddigest"} {
			g.get(t, actionsPath+"/"+name).want(t, http.StatusNotFound)
		}
		// Then the right bytes work.
		g.uploadAndCreate(t, g.startUpload(t, digestOf(other), int64(len(other))), "other", other)
		g.invoke(t, "other", "blocking=true", nil).want(t, http.StatusOK)
	})

	// Restart with the code only in MinIO: no local blob store exists,
	// and the local caches are emptied.
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.data, "blobs")); err == nil {
		t.Error("wispd with --blobs s3://… wrote a local blob store")
	}
	// The invoker's code cache and wasmrt's compilation cache (which keeps
	// compiled modules by digest) go: the code must come from MinIO.
	for _, dir := range []string{"cache", "wasm-cache"} {
		if err := os.RemoveAll(filepath.Join(d.data, dir)); err != nil {
			t.Fatal(err)
		}
	}
	d = startWispdOn(t, d.data, d.addr, "--blobs", s3.blobs)
	g = d.guest(t)
	if res := g.invoke(t, "big", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t); res["greeting"] != "Hello, Big!" {
		t.Fatalf("invoke after the restart: %v", res)
	}
	if _, err := os.Stat(filepath.Join(d.data, "cache", "blobs", strings.TrimPrefix(digestOf(big), "sha256:"))); err != nil {
		t.Errorf("the fetched code is not in the invoker's cache: %v", err)
	}

	// MinIO goes away: an action whose code the invoker never fetched
	// fails with a record that says why; once MinIO is back it runs.
	if err := s3.minio.Stop(); err != nil {
		t.Fatal(err)
	}
	r := g.invoke(t, "hello", "blocking=true", nil)
	if r.Status != http.StatusInternalServerError && r.Status != http.StatusBadGateway {
		t.Fatalf("invoke while MinIO is down: %s", r)
	}
	rec := r.activation(t)
	if !strings.Contains(string(rec.Raw), "unavailable") || !strings.Contains(string(rec.Raw), s3.minio.Addr) {
		t.Fatalf("the record of an invoke while MinIO is down does not say why: %s", rec.Raw)
	}
	t.Logf("while MinIO is down: HTTP %d, result %s", r.Status, rec.Response.Result)
	stored := g.get(t, activationsPath+"/"+rec.ActivationID).want(t, http.StatusOK)
	if !strings.Contains(string(stored.Body), "unavailable") {
		t.Fatalf("the stored record does not say why: %s", stored.Body)
	}
	g.get(t, actionsPath+"/hello?code=true").wantError(t, http.StatusServiceUnavailable, "code store is unavailable")
	g.get(t, actionsPath+"/hello?code=false").want(t, http.StatusOK)
	if err := s3.minio.Start(); err != nil {
		t.Fatal(err)
	}
	if res := g.invoke(t, "hello", "blocking=true&result=true", nil).want(t, http.StatusOK).object(t); res["greeting"] != "Hello, S3!" {
		t.Fatalf("invoke once MinIO is back: %v", res)
	}

	// Garbage collection: a deleted action's code goes, after the grace.
	g.do(t, "DELETE", actionsPath+"/big", nil).want(t, http.StatusOK)
	out, err := runWispdAdmin(d.data, "blobs", "gc", "--dry-run", "--grace", "1h", "--blobs", s3.blobs)
	if err != nil || !strings.Contains(out, "would delete 0") {
		t.Fatalf("gc --dry-run with a grace: %v\n%s", err, out)
	}
	out, err = runWispdAdmin(d.data, "blobs", "gc", "--dry-run", "--grace", "0s", "--json", "--blobs", s3.blobs)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		DryRun  bool
		Deleted []struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("gc --json: %v\n%s", err, out)
	}
	var doomed []string
	for _, o := range rep.Deleted {
		doomed = append(doomed, o.Digest)
	}
	if !rep.DryRun || !strings.Contains(strings.Join(doomed, " "), digestOf(big)) || strings.Contains(strings.Join(doomed, " "), helloDigest) {
		t.Fatalf("gc --dry-run would delete %v", doomed)
	}
	if !s3.has(t, digestOf(big)) {
		t.Fatal("a dry run deleted")
	}
	if out, err := runWispdAdmin(d.data, "blobs", "gc", "--grace", "0s", "--blobs", s3.blobs); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("gc: %v\n%s", err, out)
	}
	if s3.has(t, digestOf(big)) || !s3.has(t, helloDigest) {
		t.Fatalf("after gc: the deleted action's code is there: %v; the live action's: %v", s3.has(t, digestOf(big)), s3.has(t, helloDigest))
	}
	g.invoke(t, "hello", "blocking=true", nil).want(t, http.StatusOK)
}

// TestS3BadStart: wispd refuses to start on an S3 store it cannot use,
// saying why; a missing bucket is created.
func TestS3BadStart(t *testing.T) {
	t.Parallel()
	s3 := newS3Env(t, "wisp-start", "p")
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("[default]\naws_access_key_id = wispadmin\naws_secret_access_key = not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for _, c := range []struct {
		blobs string
		says  []string
	}{
		{s3.minio.BlobsURL("wisp-start", "p") + "&credentials=" + wrong, []string{"refused the credentials", wrong}},
		{s3.minio.BlobsURL("wisp-start", "p") + "&credentials=" + filepath.Join(data, "none"), []string{"no S3 credentials"}},
		{"s3://wisp-start/p?endpoint=127.0.0.1:1&secure=false&credentials=" + wrong, []string{"unavailable", "127.0.0.1:1"}},
		{"s3://?endpoint=x", []string{"no bucket"}},
		{"s3://b?endpiont=x", []string{"unknown parameter"}},
	} {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		code, stderr := runWispd(t, "--data", filepath.Join(data, "d"), "--listen", addr, "--blobs", c.blobs)
		if code == 0 {
			t.Errorf("wispd --blobs %s started", c.blobs)
		}
		for _, s := range c.says {
			if !strings.Contains(stderr, s) {
				t.Errorf("wispd --blobs %s: stderr does not say %q:\n%s", c.blobs, s, stderr)
			}
		}
	}
	// A bucket that does not exist yet is created.
	if ok, _ := s3.mc.BucketExists(context.Background(), "wisp-start"); ok {
		t.Fatal("the bucket exists before wispd starts")
	}
	d := startWispd(t, "--blobs", s3.blobs)
	if ok, err := s3.mc.BucketExists(context.Background(), "wisp-start"); err != nil || !ok {
		t.Fatalf("wispd did not create the bucket: %v %v", ok, err)
	}
	d.guest(t).createAction(t, "hello", "hello", nil)
}

// TestUploadURLs: the gateway's own upload URLs (local store) and MinIO's
// presigned ones expire; a tampered token is refused; a verified upload
// becomes the action's code.
func TestUploadURLs(t *testing.T) {
	t.Parallel()
	hello, err := os.ReadFile(wasmPath("hello"))
	if err != nil {
		t.Fatal(err)
	}
	onBothStores(t, "wisp-ttl", []string{"--upload-ttl", "1s"}, func(t *testing.T, c storeCase) {
		g := c.d.guest(t)
		code := bigWasm(t, hello, 1000)
		up := g.startUpload(t, digestOf(code), int64(len(code)))
		exp, err := time.Parse(time.RFC3339, up["expires"].(string))
		if err != nil {
			t.Fatalf("expires: %v", err)
		}
		if c.name == "local" && !strings.HasPrefix(up["url"].(string), c.d.url+"/api/v1/namespaces/guest/blobs/uploads/") {
			t.Fatalf("the local store's upload URL: %v", up["url"])
		}
		for time.Now().Before(exp.Add(1100 * time.Millisecond)) {
			time.Sleep(100 * time.Millisecond)
		}
		status, msg := putUpload(t, up, code)
		if status != http.StatusForbidden || !strings.Contains(strings.ToLower(msg), "expired") {
			t.Fatalf("PUT to an expired upload URL: %d %s", status, msg)
		}
		r, _ := g.createByDigest("late", digestOf(code), int64(len(code)))
		r.wantError(t, http.StatusBadRequest, "no code")

		up = g.startUpload(t, digestOf(code), int64(len(code)))
		if c.name == "local" {
			// A token altered to another digest or size.
			tampered := map[string]any{"url": strings.Replace(up["url"].(string), "uploads/e", "uploads/f", 1) + "x", "method": "PUT"}
			status, msg := putUpload(t, tampered, code)
			if status != http.StatusForbidden || !strings.Contains(msg, "not valid") {
				t.Fatalf("PUT with a tampered token: %d %s", status, msg)
			}
			// Bytes that are not the announced ones, then too few.
			status, msg = putUpload(t, up, bigWasm(t, hello, 1000))
			if status != http.StatusBadRequest || !strings.Contains(msg, "not stored") {
				t.Fatalf("PUT of other bytes: %d %s", status, msg)
			}
			status, msg = putUpload(t, up, code[:len(code)-1])
			if status != http.StatusBadRequest {
				t.Fatalf("PUT of a truncated upload: %d %s", status, msg)
			}
		}
		g.uploadAndCreate(t, up, "intime", code)
		g.invoke(t, "intime", "blocking=true", nil).want(t, http.StatusOK)

		// The CLI takes the same way for a large module: the gateway's
		// own URL on the local store, MinIO's on S3.
		big := filepath.Join(t.TempDir(), "big.wasm")
		if err := os.WriteFile(big, bigWasm(t, hello, 5<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		cl := newCLI(t)
		cl.ok(t, "property", "set", "--apihost", c.d.url, "--auth", g.auth)
		if _, stderr, code := cl.run(t, "action", "create", "big", big); code != 0 || !strings.Contains(stderr, "uploading") {
			t.Fatalf("wisp action create of a 5 MiB module: exit %d: %s", code, stderr)
		}
		if res := g.invoke(t, "big", "blocking=true&result=true", map[string]any{"name": "CLI"}).want(t, http.StatusOK).object(t); res["greeting"] != "Hello, CLI!" {
			t.Fatalf("invoke of the uploaded action: %v", res)
		}
	})
}

// TestBlobsStayInTheirNamespace checks, on the local store and on MinIO,
// that a digest tells a namespace nothing of what another stored: it is
// not told the code is stored, cannot create an action from it without
// the bytes, and can once it uploads them; the owner, whose action uses
// it, is told it is stored.
func TestBlobsStayInTheirNamespace(t *testing.T) {
	t.Parallel()
	hello, err := os.ReadFile(wasmPath("hello"))
	if err != nil {
		t.Fatal(err)
	}
	onBothStores(t, "wisp-ns", nil, func(t *testing.T, c storeCase) {
		g := c.d.guest(t)
		code := bigWasm(t, hello, 1000)
		g.uploadAndCreate(t, g.startUpload(t, digestOf(code), int64(len(code))), "mine", code)

		o := c.d.namespace(t)
		if up := o.startUpload(t, digestOf(code), int64(len(code))); up["exists"] == true || up["url"] == nil {
			t.Fatalf("another namespace was told the blob exists: %v", up)
		}
		r, _ := o.createByDigest("theirs", digestOf(code), int64(len(code)))
		r.wantError(t, http.StatusBadRequest, "no code", "uploaded")
		o.uploadAndCreate(t, o.startUpload(t, digestOf(code), int64(len(code))), "theirs", code)
		o.invoke(t, "theirs", "blocking=true", nil).want(t, http.StatusOK)
		if up := g.startUpload(t, digestOf(code), int64(len(code))); up["exists"] != true {
			t.Errorf("the owning namespace was not told the blob is stored: %v", up)
		}
	})
}

// storeCase is one of the two code stores onBothStores runs a test on.
type storeCase struct {
	name string // "local" or "s3"
	d    *wispd
}

// onBothStores starts two wispds with args, one on the local code store
// and one with its code in MinIO (a bucket of its own), and runs test as
// a subtest on each.
func onBothStores(t *testing.T, bucket string, args []string, test func(t *testing.T, c storeCase)) {
	t.Helper()
	s3 := newS3Env(t, bucket, "c")
	local := startWispd(t, args...)
	remote := startWispd(t, append(append([]string{}, args...), "--blobs", s3.blobs)...)
	for _, c := range []storeCase{{"local", local}, {"s3", remote}} {
		t.Run(c.name, func(t *testing.T) { test(t, c) })
	}
}
