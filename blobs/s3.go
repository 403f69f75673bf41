package blobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where an S3 store lives and how to sign in. ParseS3URL
// builds one from a --blobs URL.
type S3Config struct {
	// Bucket holds the blobs; created when missing.
	Bucket string
	// Prefix is prepended to every key ("code/" gives
	// "code/sha256/<hex>"); "" or ending in "/".
	Prefix string
	// Endpoint is "host:port" of the S3 API; "s3.amazonaws.com" when empty.
	Endpoint string
	// Secure uses https.
	Secure bool
	// Region of the bucket; looked up by the client when empty.
	Region string
	// PublicEndpoint, when set, is the "host:port" written into presigned
	// upload URLs, for clients that reach the store by another address
	// than wispd does.
	PublicEndpoint string
	// AccessKey and SecretKey, when set, are used as they are. Otherwise
	// credentials come from $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY,
	// else from the shared credentials file (CredentialsFile, else
	// $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) and its profile
	// (Profile, else $AWS_PROFILE or "default").
	AccessKey, SecretKey     string
	CredentialsFile, Profile string
	// PartSize is the size of one part of a multipart upload, and so the
	// memory one upload holds; 16 MiB when 0.
	PartSize uint64
	// MaxRetries bounds the attempts of one request when the server does
	// not answer; 3 when 0 (minio-go's default of 10 makes a store that is
	// down take a long time to report).
	MaxRetries int
}

// ParseS3URL parses "s3://bucket/prefix?endpoint=host:port&secure=false&
// region=…&profile=…&credentials=FILE&public=host:port". secure defaults to
// true. Unknown parameters are an error, so that a misspelt one is not
// silently ignored.
func ParseS3URL(raw string) (S3Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return S3Config{}, fmt.Errorf("the blob store URL %q: %w", raw, err)
	}
	if u.Scheme != "s3" {
		return S3Config{}, fmt.Errorf("the blob store URL %q must start with s3://", raw)
	}
	if u.User != nil {
		return S3Config{}, fmt.Errorf("the blob store URL %q must not hold credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or use a credentials file", redact(u))
	}
	cfg := S3Config{Bucket: u.Host, Secure: true}
	if cfg.Bucket == "" {
		return S3Config{}, fmt.Errorf("the blob store URL %q names no bucket (s3://BUCKET/PREFIX?endpoint=host:port)", raw)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		cfg.Prefix = p + "/"
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "endpoint":
			cfg.Endpoint = v
		case "secure":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return S3Config{}, fmt.Errorf("the blob store URL %q: secure=%q is not true or false", raw, v)
			}
			cfg.Secure = b
		case "region":
			cfg.Region = v
		case "profile":
			cfg.Profile = v
		case "credentials":
			cfg.CredentialsFile = v
		case "public":
			cfg.PublicEndpoint = v
		default:
			return S3Config{}, fmt.Errorf("the blob store URL %q has an unknown parameter %q (known: endpoint, secure, region, profile, credentials, public)", raw, k)
		}
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "s3.amazonaws.com"
	}
	return cfg, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// S3 is a Store in an S3 bucket (AWS S3, MinIO, or any S3-compatible
// server), through minio-go. Blobs are objects at <prefix>sha256/<hex>.
//
// Writes go to a staging object first (<prefix>tmp/<random>), hashed while
// they stream; only when the bytes hash to their digest (and match what
// was announced) is the staging object copied, on the server, to the
// blob's key, and removed. A blob's key therefore never holds bytes that
// were not verified, and a failed or interrupted upload leaves at most a
// staging object that garbage collection removes. Reads are verified as
// they stream (Get).
//
// Presigned uploads (PresignUpload) go to
// <prefix>uploads/<hex>/<owner>/<random> and become a blob in CommitUpload,
// after the same check, for that owner only.
//
// Safe for concurrent use.
type S3 struct {
	cfg     S3Config
	client  *minio.Client
	presign *minio.Client // the client that signs upload URLs
	log     *slog.Logger
	where   string // "s3://bucket/prefix at endpoint", for messages
}

// OpenS3 connects to the store, checks the credentials, and creates the
// bucket when it is missing. Its errors say which of those failed: wrong
// credentials, a bucket that may not be created, a server that cannot be
// reached (ErrUnavailable).
func OpenS3(ctx context.Context, cfg S3Config, log *slog.Logger) (*S3, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 16 << 20
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	s := &S3{cfg: cfg, log: log, where: fmt.Sprintf("s3://%s/%s at %s", cfg.Bucket, cfg.Prefix, cfg.Endpoint)}
	creds, source, err := s3Credentials(cfg)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", s.where, err)
	}
	transport, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", s.where, err)
	}
	// One idle connection per concurrent fetch or upload part; the
	// default of 2 would reconnect under concurrent cold starts.
	transport.MaxIdleConnsPerHost = 64
	s.client, err = minio.New(cfg.Endpoint, &minio.Options{Creds: creds, Secure: cfg.Secure, Region: cfg.Region, Transport: transport, MaxRetries: cfg.MaxRetries})
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", s.where, err)
	}
	s.client.SetAppInfo("wisp", "1")
	s.presign = s.client
	exists, err := s.client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		if e := minio.ToErrorResponse(err); e.Code == "AccessDenied" {
			// Known credentials without rights on this bucket: most
			// often a misspelt bucket, or one that a restricted key may
			// not create.
			return nil, fmt.Errorf("blob store %s: the credentials from %s may not use the bucket %s (AccessDenied; S3 does not say whether it exists): check its name, or grant these credentials s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on it (and s3:CreateBucket to create it)", s.where, source, cfg.Bucket)
		}
		return nil, s.openError(err, source)
	}
	if !exists {
		if err := s.client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			if e := minio.ToErrorResponse(err); e.Code == "BucketAlreadyOwnedByYou" || e.Code == "BucketAlreadyExists" && e.StatusCode != http.StatusForbidden {
				exists = true // created meanwhile by another node
			} else {
				return nil, fmt.Errorf("blob store %s: the bucket %s does not exist and could not be created with the credentials from %s (create it, or allow s3:CreateBucket): %w", s.where, cfg.Bucket, source, s.wrap(err))
			}
		} else {
			log.Info("created the blob bucket", "bucket", cfg.Bucket, "endpoint", cfg.Endpoint)
		}
	}
	if cfg.PublicEndpoint != "" {
		region := cfg.Region
		if region == "" {
			if region, err = s.client.GetBucketLocation(ctx, cfg.Bucket); err != nil {
				return nil, fmt.Errorf("blob store %s: look up the bucket's region for presigned URLs: %w", s.where, s.wrap(err))
			}
		}
		if s.presign, err = minio.New(cfg.PublicEndpoint, &minio.Options{Creds: creds, Secure: cfg.Secure, Region: region}); err != nil {
			return nil, fmt.Errorf("blob store %s: public endpoint %s: %w", s.where, cfg.PublicEndpoint, err)
		}
	}
	return s, nil
}

// s3Credentials picks the credentials of cfg and says where they came from.
func s3Credentials(cfg S3Config) (*credentials.Credentials, string, error) {
	if cfg.AccessKey != "" {
		return credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), "the configuration", nil
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" {
		if os.Getenv("AWS_SECRET_ACCESS_KEY") == "" {
			return nil, "", errors.New("$AWS_ACCESS_KEY_ID is set but $AWS_SECRET_ACCESS_KEY is not")
		}
		return credentials.NewEnvAWS(), "$AWS_ACCESS_KEY_ID", nil
	}
	file := cfg.CredentialsFile
	if file == "" {
		file = os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	}
	if file == "" {
		home, _ := os.UserHomeDir()
		file = filepath.Join(home, ".aws", "credentials")
	}
	profile := cfg.Profile
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	if profile == "" {
		profile = "default"
	}
	if _, err := os.Stat(file); err != nil {
		return nil, "", fmt.Errorf("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to a credentials file (%s: %v)", file, err)
	}
	creds := credentials.NewFileAWSCredentials(file, profile)
	// A file needs no HTTP client: the default context is enough.
	if v, err := creds.GetWithContext(nil); err != nil || v.AccessKeyID == "" {
		if err == nil {
			err = errors.New("it has no aws_access_key_id")
		}
		return nil, "", fmt.Errorf("no S3 credentials in profile %q of %s: %v", profile, file, err)
	}
	return creds, fmt.Sprintf("profile %q of %s", profile, file), nil
}

// openError explains why the first request failed.
func (s *S3) openError(err error, source string) error {
	e := minio.ToErrorResponse(err)
	switch e.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("blob store %s refused the credentials from %s (%s): %s", s.where, source, e.Code, e.Message)
	}
	return fmt.Errorf("blob store %s: %w", s.where, s.wrap(err))
}

// wrap marks errors of an unreachable server with ErrUnavailable.
func (s *S3) wrap(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var netErr net.Error
	var uerr *url.Error
	e := minio.ToErrorResponse(err)
	if errors.As(err, &netErr) || errors.As(err, &uerr) || e.StatusCode == http.StatusServiceUnavailable || e.Code == "XMinioServerNotInitialized" {
		return fmt.Errorf("%w (%s): %v", ErrUnavailable, s.where, err)
	}
	return err
}

func (s *S3) key(digest string) (string, error) {
	k, err := Key(digest)
	if err != nil {
		return "", err
	}
	return s.cfg.Prefix + k, nil
}

func isNoSuchKey(err error) bool {
	e := minio.ToErrorResponse(err)
	return e.Code == "NoSuchKey" || e.StatusCode == http.StatusNotFound && e.Code != "NoSuchBucket"
}

func randomName() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, r io.Reader) (Info, error) {
	return s.put(ctx, r, nil)
}

// PutVerified implements Store.
func (s *S3) PutVerified(ctx context.Context, r io.Reader, want Info) (Info, error) {
	d, err := Normalize(want.Digest)
	if err != nil {
		return Info{}, err
	}
	want.Digest = d
	return s.put(ctx, r, &want)
}

func (s *S3) put(ctx context.Context, r io.Reader, want *Info) (Info, error) {
	if want != nil {
		// A blob is written once: when it is stored already (verified
		// when it was), its bytes are not sent again, only its time is
		// refreshed. Bytes that are not what was announced change nothing.
		key, _ := s.key(want.Digest)
		if st, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{}); err == nil && st.Size == want.Size {
			if err := s.Touch(ctx, want.Digest); err != nil {
				return Info{}, err
			}
			return *want, nil
		}
	}
	staging := s.cfg.Prefix + "tmp/" + randomName()
	var src io.Reader = ctxReader{ctx, r}
	size := int64(-1)
	if want != nil {
		size = want.Size
		src = &exactReader{r: src, left: want.Size, want: *want}
	}
	hr := &hashingReader{r: src, h: sha256.New()}
	// minio-go holds one part in memory at a time (PartSize), whatever the
	// blob's size.
	up, err := s.client.PutObject(ctx, s.cfg.Bucket, staging, hr, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    s.cfg.PartSize,
	})
	if err != nil {
		s.removeStaging(staging)
		if errors.Is(err, ErrMismatch) {
			return Info{}, unwrapMismatch(err)
		}
		return Info{}, fmt.Errorf("upload blob to %s: %w", s.where, s.wrap(err))
	}
	info := Info{Digest: "sha256:" + hex.EncodeToString(hr.h.Sum(nil)), Size: hr.n}
	if up.Size != hr.n {
		s.removeStaging(staging)
		return Info{}, fmt.Errorf("upload blob %s to %s: the server stored %d bytes of %d", info.Digest, s.where, up.Size, hr.n)
	}
	if want != nil {
		if err := checkExpected(info, *want); err != nil {
			s.removeStaging(staging)
			return Info{}, err
		}
	}
	if err := s.promote(ctx, staging, info); err != nil {
		return Info{}, err
	}
	return info, nil
}

// promote makes the verified staging object the blob info and removes it.
func (s *S3) promote(ctx context.Context, staging string, info Info) error {
	defer s.removeStaging(staging)
	key, _ := s.key(info.Digest)
	if st, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{}); err == nil && st.Size == info.Size {
		// Already stored (verified when it was): only refresh its time.
		return s.Touch(ctx, info.Digest)
	}
	_, err := s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: key},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: staging})
	if err != nil {
		return fmt.Errorf("store blob %s in %s: %w", info.Digest, s.where, s.wrap(err))
	}
	return nil
}

// removeStaging deletes a staging object, on its own context: the
// caller's may be what ended the upload.
func (s *S3) removeStaging(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil && !isNoSuchKey(err) {
		s.log.Warn("remove a blob staging object; garbage collection will", "key", key, "err", err)
	}
}

// Get implements Store.
func (s *S3) Get(ctx context.Context, digest string) (io.ReadCloser, error) {
	key, err := s.key(digest)
	if err != nil {
		return nil, err
	}
	// minio.Core's GetObject hands out the response body itself: one
	// request, no reader goroutine between the socket and the verifier
	// (minio.Object's Read is a round trip through one).
	body, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		if isNoSuchKey(err) {
			return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, digest, s.where)
		}
		return nil, fmt.Errorf("fetch blob %s: %w", digest, s.wrap(err))
	}
	return newVerifyingReader(body, digest), nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, digest string) (Info, error) {
	key, err := s.key(digest)
	if err != nil {
		return Info{}, err
	}
	st, err := s.client.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if isNoSuchKey(err) {
			return Info{}, fmt.Errorf("%w: %s in %s", ErrNotFound, digest, s.where)
		}
		return Info{}, fmt.Errorf("stat blob %s: %w", digest, s.wrap(err))
	}
	return Info{Digest: digest, Size: st.Size}, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, digest string) error {
	key, err := s.key(digest)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil && !isNoSuchKey(err) {
		return fmt.Errorf("delete blob %s: %w", digest, s.wrap(err))
	}
	return nil
}

// Touch implements Store: a copy of the object onto itself with new
// metadata, which S3 servers do without moving the bytes.
func (s *S3) Touch(ctx context.Context, digest string) error {
	key, err := s.key(digest)
	if err != nil {
		return err
	}
	_, err = s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: key, ReplaceMetadata: true,
			UserMetadata: map[string]string{"Wisp-Touched": time.Now().UTC().Format(time.RFC3339Nano)}},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: key})
	if err != nil {
		if isNoSuchKey(err) {
			return fmt.Errorf("%w: %s in %s", ErrNotFound, digest, s.where)
		}
		return fmt.Errorf("touch blob %s: %w", digest, s.wrap(err))
	}
	return nil
}

// Walk implements Store.
func (s *S3) Walk(ctx context.Context, fn func(Object) error) error {
	for o := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.cfg.Prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list blobs in %s: %w", s.where, s.wrap(o.Err))
		}
		rel := strings.TrimPrefix(o.Key, s.cfg.Prefix)
		var obj Object
		switch {
		case strings.HasPrefix(rel, "sha256/"):
			digest := "sha256:" + strings.TrimPrefix(rel, "sha256/")
			if _, err := Key(digest); err != nil {
				continue
			}
			obj = Object{Info: Info{Digest: digest, Size: o.Size}, Modified: o.LastModified}
		case strings.HasPrefix(rel, "tmp/") || strings.HasPrefix(rel, "uploads/"):
			obj = Object{Info: Info{Size: o.Size}, Modified: o.LastModified, Staged: rel}
		default:
			continue
		}
		if err := fn(obj); err != nil {
			return err
		}
	}
	return nil
}

// DeleteStaged implements Store.
func (s *S3) DeleteStaged(ctx context.Context, o Object) error {
	if !strings.HasPrefix(o.Staged, "tmp/") && !strings.HasPrefix(o.Staged, "uploads/") || strings.Contains(o.Staged, "..") {
		return fmt.Errorf("not a staged upload of this store: %q", o.Staged)
	}
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.cfg.Prefix+o.Staged, minio.RemoveObjectOptions{}); err != nil && !isNoSuchKey(err) {
		return fmt.Errorf("delete staged upload %s: %w", o.Staged, s.wrap(err))
	}
	return nil
}

// Upload says where and how a client sends the bytes of a blob.
type Upload struct {
	URL     string
	Method  string
	Headers map[string]string
	Expires time.Time
}

// Presigner is a Store that clients upload to directly, through a URL
// signed for one upload, instead of through the gateway.
type Presigner interface {
	// PresignUpload returns a URL valid for ttl where a client PUTs the
	// bytes of want into a staging object of owner (an UploadOwner tag:
	// whoever may commit it).
	PresignUpload(ctx context.Context, want Info, ttl time.Duration, owner string) (Upload, error)
	// CommitUpload verifies owner's staged uploads of want.Digest and makes
	// the first that matches the blob (or, when the blob is stored
	// already, just removes it: the upload proved owner has the bytes); it
	// removes every staged upload of owner's it read. ErrNotFound: owner
	// uploaded nothing, whoever else did, and whether or not the blob is
	// stored; ErrMismatch: what owner uploaded is not want.
	CommitUpload(ctx context.Context, want Info, owner string) (Info, error)
}

var _ Presigner = (*S3)(nil)

// PresignUpload implements Presigner.
func (s *S3) PresignUpload(ctx context.Context, want Info, ttl time.Duration, owner string) (Upload, error) {
	h, err := hexOf(want.Digest)
	if err != nil {
		return Upload{}, err
	}
	if !validOwner(owner) {
		return Upload{}, fmt.Errorf("upload owner %q is not an UploadOwner tag", owner)
	}
	key := s.cfg.Prefix + "uploads/" + h + "/" + owner + "/" + randomName()
	expires := time.Now().Add(ttl)
	// The URL is signed with the blob's SHA-256 as S3's checksum header:
	// the server refuses bytes that do not match it (400) before storing
	// them, so a tampered or truncated upload fails at once, for the
	// client that sent it. CommitUpload checks again (any S3 server).
	sum, _ := hex.DecodeString(h)
	headers := http.Header{"X-Amz-Checksum-Sha256": {base64.StdEncoding.EncodeToString(sum)}}
	u, err := s.presign.PresignHeader(ctx, http.MethodPut, s.cfg.Bucket, key, ttl, nil, headers)
	if err != nil {
		return Upload{}, fmt.Errorf("sign an upload URL for %s: %w", want.Digest, s.wrap(err))
	}
	return Upload{URL: u.String(), Method: http.MethodPut, Expires: expires, Headers: map[string]string{
		"Content-Type":          "application/octet-stream",
		"X-Amz-Checksum-Sha256": headers.Get("X-Amz-Checksum-Sha256"),
	}}, nil
}

// CommitUpload implements Presigner.
func (s *S3) CommitUpload(ctx context.Context, want Info, owner string) (Info, error) {
	h, err := hexOf(want.Digest)
	if err != nil {
		return Info{}, err
	}
	if !validOwner(owner) {
		return Info{}, fmt.Errorf("upload owner %q is not an UploadOwner tag", owner)
	}
	want.Digest = "sha256:" + h
	type staged struct {
		key string
		mod time.Time
	}
	var uploads []staged
	for o := range s.client.ListObjectsIter(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.cfg.Prefix + "uploads/" + h + "/" + owner + "/", Recursive: true}) {
		if o.Err != nil {
			return Info{}, fmt.Errorf("look for the upload of %s: %w", want.Digest, s.wrap(o.Err))
		}
		uploads = append(uploads, staged{o.Key, o.LastModified})
	}
	sort.Slice(uploads, func(i, j int) bool { return uploads[i].mod.After(uploads[j].mod) })
	var mismatch error
	raced := false
	for _, up := range uploads {
		got, err := s.hashObject(ctx, up.key)
		if isNoSuchKey(err) {
			raced = true // committed by a concurrent request of owner's
			continue
		}
		if err != nil {
			return Info{}, fmt.Errorf("read the upload of %s: %w", want.Digest, s.wrap(err))
		}
		if err := checkExpected(got, want); err != nil {
			s.log.Warn("an upload did not match its digest; removed", "key", up.key, "err", err)
			s.removeStaging(up.key)
			mismatch = err
			continue
		}
		if err := s.promote(ctx, up.key, want); err != nil {
			return Info{}, err
		}
		return want, nil
	}
	// A concurrent commit of owner's may have made it the blob already.
	if st, err := s.Stat(ctx, want.Digest); raced && err == nil && st.Size == want.Size {
		return st, nil
	}
	if mismatch != nil {
		return Info{}, mismatch
	}
	return Info{}, fmt.Errorf("%w: nothing was uploaded for %s", ErrNotFound, want.Digest)
}

// hashObject streams an object and returns its digest and size.
func (s *S3) hashObject(ctx context.Context, key string) (Info, error) {
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return Info{}, err
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		return Info{}, err
	}
	return Info{Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// Client is the minio-go client (for tests and the benchmark's floor).
func (s *S3) Client() *minio.Client { return s.client }

// Bucket and Prefix say where the blobs are.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// Prefix is the key prefix of the store ("" or ending in "/").
func (s *S3) Prefix() string { return s.cfg.Prefix }

// String describes the store for logs: "s3://bucket/prefix at host:port".
func (s *S3) String() string { return s.where }

// exactReader passes on exactly the announced number of bytes and fails
// with ErrMismatch when the source has fewer or more.
type exactReader struct {
	r    io.Reader
	left int64
	want Info
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		var one [1]byte
		n, err := io.ReadFull(e.r, one[:])
		if n > 0 {
			e.err = fmt.Errorf("%w: more than the announced %d bytes arrived for %s", ErrMismatch, e.want.Size, e.want.Digest)
			return 0, e.err
		}
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		e.err = fmt.Errorf("%w: the upload ended after %d of the announced %d bytes of %s", ErrMismatch, e.want.Size-e.left, e.want.Size, e.want.Digest)
		return n, e.err
	}
	if err == io.EOF {
		err = nil // the probe above says whether it really ends
	}
	return n, err
}

// unwrapMismatch digs the ErrMismatch error out of the client's wrapping
// (an *url.Error around the request body's error).
func unwrapMismatch(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), ErrMismatch.Error()) {
			return e
		}
	}
	return err
}

// hashingReader hashes and counts what passes through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// UploadOwner is the tag under which owner's (a namespace's) presigned
// uploads are staged: a fixed-length hex hash, so that any namespace name
// makes a safe key segment.
func UploadOwner(owner string) string {
	sum := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(sum[:16])
}

func validOwner(tag string) bool {
	if len(tag) != 32 {
		return false
	}
	_, err := hex.DecodeString(tag)
	return err == nil
}
