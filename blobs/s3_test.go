package blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/wispfaas/wisp/internal/miniotest"
)

// One MinIO server serves the package's tests; each test works under a
// prefix of its own.
var minioServer struct {
	once sync.Once
	dir  string
	srv  *miniotest.Server
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if minioServer.srv != nil {
		_ = minioServer.srv.Stop()
	}
	if minioServer.dir != "" {
		os.RemoveAll(minioServer.dir)
	}
	os.Exit(code)
}

func sharedMinIO(t *testing.T) *miniotest.Server {
	t.Helper()
	minioServer.once.Do(func() {
		if minioServer.dir, minioServer.err = os.MkdirTemp("", "wisp-blobs-minio-"); minioServer.err != nil {
			return
		}
		minioServer.srv, minioServer.err = miniotest.StartIn(minioServer.dir)
	})
	if minioServer.err != nil {
		t.Fatal(minioServer.err)
	}
	return minioServer.srv
}

var prefixSeq atomic.Int64

// openTestS3 opens a store on the shared server under a new prefix.
func openTestS3(t *testing.T, srv *miniotest.Server, bucket string) *S3 {
	t.Helper()
	cfg := S3Config{Bucket: bucket, Prefix: fmt.Sprintf("t%d-%d/", time.Now().UnixNano(), prefixSeq.Add(1)),
		Endpoint: srv.Addr, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey}
	s, err := OpenS3(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func s3Harness(t *testing.T) *harness {
	s := openTestS3(t, sharedMinIO(t), "wisp-suite")
	put := func(key string, data []byte) {
		if _, err := s.Client().PutObject(context.Background(), s.Bucket(), key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return &harness{
		store: s,
		corrupt: func(digest string) {
			key, _ := s.key(digest)
			put(key, []byte("tampered"))
		},
		leaveStaged: func() { put(s.Prefix()+"tmp/crashed", []byte("half an upload")) },
	}
}

func TestS3Store(t *testing.T) {
	runStoreSuite(t, s3Harness)
}

func TestParseS3URL(t *testing.T) {
	cases := []struct {
		in   string
		want S3Config
		err  string
	}{
		{in: "s3://wisp", want: S3Config{Bucket: "wisp", Endpoint: "s3.amazonaws.com", Secure: true}},
		{in: "s3://wisp/code/blobs/?endpoint=127.0.0.1:9000&secure=false&region=eu-west-1",
			want: S3Config{Bucket: "wisp", Prefix: "code/blobs/", Endpoint: "127.0.0.1:9000", Region: "eu-west-1"}},
		{in: "s3://b/p?endpoint=h:1&profile=ci&credentials=/etc/wisp/creds&public=files.example.com:443",
			want: S3Config{Bucket: "b", Prefix: "p/", Endpoint: "h:1", Secure: true, Profile: "ci", CredentialsFile: "/etc/wisp/creds", PublicEndpoint: "files.example.com:443"}},
		{in: "http://wisp", err: "must start with s3://"},
		{in: "s3:///prefix", err: "names no bucket"},
		{in: "s3://b?secure=maybe", err: "secure=\"maybe\""},
		{in: "s3://b?endpiont=h:1", err: "unknown parameter \"endpiont\""},
		{in: "s3://key:secret@b", err: "must not hold credentials"},
	}
	for _, c := range cases {
		got, err := ParseS3URL(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseS3URL(%q) = %v, want an error with %q", c.in, err, c.err)
			}
			if strings.Contains(c.in, "secret") && err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the secret: %v", err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseS3URL(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestS3OpenErrors(t *testing.T) {
	srv := sharedMinIO(t)
	ctx := context.Background()
	base := S3Config{Bucket: "wisp-open", Endpoint: srv.Addr, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey}

	t.Run("wrong credentials", func(t *testing.T) {
		cfg := base
		cfg.SecretKey = "not-the-secret"
		_, err := OpenS3(ctx, cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
			t.Fatalf("OpenS3 with a wrong secret: %v", err)
		}
		cfg = base
		cfg.AccessKey = "nobody"
		if _, err := OpenS3(ctx, cfg, nil); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
			t.Fatalf("OpenS3 with an unknown key: %v", err)
		}
	})
	t.Run("credentials from the environment and from a file", func(t *testing.T) {
		cfg := base
		cfg.AccessKey, cfg.SecretKey = "", ""
		t.Setenv("AWS_ACCESS_KEY_ID", miniotest.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", miniotest.SecretKey)
		if _, err := OpenS3(ctx, cfg, nil); err != nil {
			t.Fatalf("credentials from the environment: %v", err)
		}
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		file := filepath.Join(t.TempDir(), "credentials")
		creds := fmt.Sprintf("[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n[wisp]\naws_access_key_id = %s\naws_secret_access_key = %s\n", miniotest.AccessKey, miniotest.SecretKey)
		if err := os.WriteFile(file, []byte(creds), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", file)
		t.Setenv("AWS_PROFILE", "wisp")
		if _, err := OpenS3(ctx, cfg, nil); err != nil {
			t.Fatalf("credentials from a file's profile: %v", err)
		}
		t.Setenv("AWS_PROFILE", "")
		if _, err := OpenS3(ctx, cfg, nil); err == nil || !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), file) {
			t.Fatalf("the default profile's wrong credentials: %v", err)
		}
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("HOME", t.TempDir())
		if _, err := OpenS3(ctx, cfg, nil); err == nil || !strings.Contains(err.Error(), "no S3 credentials") {
			t.Fatalf("no credentials at all: %v", err)
		}
	})
	t.Run("a missing bucket is created", func(t *testing.T) {
		cfg := base
		cfg.Bucket = fmt.Sprintf("wisp-new-%d", time.Now().UnixNano())
		s, err := OpenS3(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Client().BucketExists(ctx, cfg.Bucket); err != nil || !ok {
			t.Fatalf("bucket exists: %v, %v", ok, err)
		}
		if _, err := OpenS3(ctx, cfg, nil); err != nil {
			t.Fatalf("open again: %v", err)
		}
	})
	t.Run("a missing bucket that the credentials may not create", func(t *testing.T) {
		// Temporary credentials from MinIO's STS, limited by a session
		// policy to the objects of one existing bucket: what an operator
		// hands a node that should not create buckets.
		if _, err := OpenS3(ctx, base, nil); err != nil { // base's bucket exists from here on
			t.Fatal(err)
		}
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject","s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"]}]}`, base.Bucket)
		sts, err := credentials.NewSTSAssumeRole("http://"+srv.Addr, credentials.STSAssumeRoleOptions{AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey, Policy: policy, DurationSeconds: 900})
		if err != nil {
			t.Fatal(err)
		}
		v, err := sts.GetWithContext(&credentials.CredContext{Client: http.DefaultClient})
		if err != nil {
			t.Fatalf("assume a restricted role: %v", err)
		}
		t.Setenv("AWS_ACCESS_KEY_ID", v.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", v.SecretAccessKey)
		t.Setenv("AWS_SESSION_TOKEN", v.SessionToken)
		cfg := base
		cfg.AccessKey, cfg.SecretKey = "", ""
		if _, err := OpenS3(ctx, cfg, nil); err != nil {
			t.Fatalf("the restricted credentials on their own bucket: %v", err)
		}
		cfg.Bucket = fmt.Sprintf("wisp-forbidden-%d", time.Now().UnixNano())
		_, err = OpenS3(ctx, cfg, nil)
		if err == nil || !strings.Contains(err.Error(), cfg.Bucket) || !strings.Contains(err.Error(), "$AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "may not use the bucket") {
			t.Fatalf("OpenS3 of a bucket the credentials may not create: %v", err)
		}
		if ok, err := openTestS3(t, srv, base.Bucket).Client().BucketExists(ctx, cfg.Bucket); err != nil || ok {
			t.Fatalf("the forbidden bucket exists: %v, %v", ok, err)
		}
	})
	t.Run("a bucket name S3 refuses", func(t *testing.T) {
		cfg := base
		cfg.Bucket = "No_Such-Bucket!"
		if _, err := OpenS3(ctx, cfg, nil); err == nil || !strings.Contains(err.Error(), "No_Such-Bucket!") {
			t.Fatalf("OpenS3 with an invalid bucket name: %v", err)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		cfg := base
		cfg.Endpoint = "127.0.0.1:1"
		cfg.MaxRetries = 1
		if _, err := OpenS3(ctx, cfg, nil); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("OpenS3 of a closed port: %v", err)
		}
	})
}

// putURL sends body to a presigned upload the way a client does.
func putURL(t *testing.T, up Upload, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(up.Method, up.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func TestS3PresignedUploads(t *testing.T) {
	s := openTestS3(t, sharedMinIO(t), "wisp-uploads")
	ctx := context.Background()
	data := randomBytes(t, 3<<20)
	want := Info{Digest: Digest(data), Size: int64(len(data))}
	owner, other := UploadOwner("guest"), UploadOwner("someone-else")

	t.Run("nothing uploaded", func(t *testing.T) {
		if _, err := s.CommitUpload(ctx, want, owner); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CommitUpload before any upload: %v", err)
		}
	})
	t.Run("the server refuses tampered and truncated uploads", func(t *testing.T) {
		for _, body := range [][]byte{flipByte(data, 12345), data[:len(data)-1], append(append([]byte{}, data...), 'x')} {
			up, err := s.PresignUpload(ctx, want, time.Minute, owner)
			if err != nil {
				t.Fatal(err)
			}
			if code, msg := putURL(t, up, body); code != http.StatusBadRequest {
				t.Fatalf("PUT of %d bytes that are not the digest: %d %s", len(body), code, msg)
			}
		}
		if _, err := s.CommitUpload(ctx, want, owner); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CommitUpload after refused uploads: %v", err)
		}
		// Without the checksum header the signature does not match.
		up, err := s.PresignUpload(ctx, want, time.Minute, owner)
		if err != nil {
			t.Fatal(err)
		}
		delete(up.Headers, "X-Amz-Checksum-Sha256")
		if code, msg := putURL(t, up, data); code < 400 {
			t.Fatalf("PUT without the checksum header: %d %s", code, msg)
		}
	})
	t.Run("commit checks staged bytes again", func(t *testing.T) {
		// As if the server did not check checksums: bytes written to the
		// staging area behind the URL's back.
		h, _ := hexOf(want.Digest)
		for _, body := range [][]byte{flipByte(data, 7), data[:len(data)/2]} {
			if _, err := s.Client().PutObject(ctx, s.Bucket(), s.Prefix()+"uploads/"+h+"/"+owner+"/forged", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CommitUpload(ctx, want, owner); !errors.Is(err, ErrMismatch) {
				t.Fatalf("CommitUpload of forged bytes: %v", err)
			}
			if _, err := s.Stat(ctx, want.Digest); !errors.Is(err, ErrNotFound) {
				t.Fatalf("forged bytes became the blob: %v", err)
			}
			if _, err := s.CommitUpload(ctx, want, owner); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the forged upload was not removed: %v", err)
			}
		}
	})
	t.Run("an expired URL is refused by the server", func(t *testing.T) {
		up, err := s.PresignUpload(ctx, want, time.Second, owner)
		if err != nil {
			t.Fatal(err)
		}
		for time.Now().Before(up.Expires.Add(1100 * time.Millisecond)) {
			time.Sleep(100 * time.Millisecond)
		}
		code, msg := putURL(t, up, data)
		if code != http.StatusForbidden || !strings.Contains(msg, "expired") {
			t.Fatalf("PUT to an expired URL: %d %s", code, msg)
		}
	})
	t.Run("an upload becomes the blob once verified", func(t *testing.T) {
		up, err := s.PresignUpload(ctx, want, time.Minute, owner)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(up.URL, "http://"+sharedMinIO(t).Addr+"/") || up.Method != http.MethodPut {
			t.Fatalf("upload = %+v", up)
		}
		if code, msg := putURL(t, up, data); code != http.StatusOK {
			t.Fatalf("PUT: %d %s", code, msg)
		}
		if _, err := s.Stat(ctx, want.Digest); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an upload is visible before it is committed: %v", err)
		}
		// Another owner cannot commit it.
		if _, err := s.CommitUpload(ctx, want, other); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CommitUpload of another owner's upload: %v", err)
		}
		got, err := s.CommitUpload(ctx, want, owner)
		if err != nil || got != want {
			t.Fatalf("CommitUpload = %+v, %v", got, err)
		}
		back, err := ReadAll(ctx, s, want.Digest)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("ReadAll: %v", err)
		}
		// Stored now: committing again needs an upload again, by anyone.
		for _, o := range []string{owner, other} {
			if _, err := s.CommitUpload(ctx, want, o); !errors.Is(err, ErrNotFound) {
				t.Fatalf("CommitUpload of a stored blob without an upload (owner %s): %v", o, err)
			}
		}
		// Another owner's upload of stored bytes commits (it proves it has
		// them) and leaves no staging object.
		up, err = s.PresignUpload(ctx, want, time.Minute, other)
		if err != nil {
			t.Fatal(err)
		}
		if code, msg := putURL(t, up, data); code != http.StatusOK {
			t.Fatalf("PUT: %d %s", code, msg)
		}
		if got, err := s.CommitUpload(ctx, want, other); err != nil || got != want {
			t.Fatalf("CommitUpload of a stored blob's upload = %+v, %v", got, err)
		}
		h, _ := hexOf(want.Digest)
		for o := range s.Client().ListObjectsIter(ctx, s.Bucket(), minio.ListObjectsOptions{Prefix: s.Prefix() + "uploads/" + h + "/", Recursive: true}) {
			t.Errorf("staging object left: %s (%v)", o.Key, o.Err)
		}
		if _, err := s.PresignUpload(ctx, want, time.Minute, "../x"); err == nil {
			t.Error("PresignUpload took an owner that is not a tag")
		}
	})
}

// TestS3ServerDown stops MinIO under a store and starts it again.
func TestS3ServerDown(t *testing.T) {
	srv := miniotest.Start(t)
	ctx := context.Background()
	cfg := S3Config{Bucket: "wisp-down", Endpoint: srv.Addr, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey, MaxRetries: 1}
	s, err := OpenS3(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := PutBytes(ctx, s, []byte("code that outlives an outage"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, info.Digest); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), srv.Addr) {
		t.Fatalf("Get while MinIO is down: %v", err)
	}
	if _, err := PutBytes(ctx, s, []byte("x")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put while MinIO is down: %v", err)
	}
	if _, err := s.Stat(ctx, info.Digest); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Stat while MinIO is down: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll(ctx, s, info.Digest); err != nil {
		t.Fatalf("Get once MinIO is back: %v", err)
	}
}

func minioPutOptions() minio.PutObjectOptions { return minio.PutObjectOptions{} }

// flipByte returns a copy of b with one bit of byte i flipped.
func flipByte(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 1
	return c
}
