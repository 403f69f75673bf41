package blobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// harness is one Store under test with the hooks the suite needs to reach
// behind its back.
type harness struct {
	store Store
	// corrupt overwrites the stored bytes of digest.
	corrupt func(digest string)
	// leaveStaged leaves what a crashed upload would.
	leaveStaged func()
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// randomBytes returns n bytes no other test stores.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// oneByteReader hands out one byte per Read, so that uploads stream in
// many small reads.
type shortReader struct{ r io.Reader }

func (s shortReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	return s.r.Read(p)
}

// runStoreSuite is the behaviour every Store must have. newHarness gives
// each case a store of its own (they may share a server).
func runStoreSuite(t *testing.T, newHarness func(t *testing.T) *harness) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"put, get and stat", func(t *testing.T, h *harness) {
			s := h.store
			data := bytes.Repeat([]byte("wisp"), 100_000)
			info, err := PutBytes(ctx, s, data)
			if err != nil {
				t.Fatal(err)
			}
			if info.Digest != Digest(data) || info.Size != int64(len(data)) {
				t.Fatalf("Put = %+v", info)
			}
			if _, err := PutBytes(ctx, s, data); err != nil {
				t.Fatalf("second Put of the same bytes: %v", err)
			}
			got, err := ReadAll(ctx, s, info.Digest)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
			}
			if st, err := s.Stat(ctx, info.Digest); err != nil || st.Size != info.Size {
				t.Fatalf("Stat = %+v, %v", st, err)
			}
			upper := "sha256:" + strings.ToUpper(strings.TrimPrefix(info.Digest, "sha256:"))
			if _, err := s.Stat(ctx, upper); err != nil {
				t.Fatalf("Stat of the upper-case digest: %v", err)
			}
		}},
		{"a large blob streams in many parts", func(t *testing.T, h *harness) {
			data := randomBytes(t, 40<<20+12345) // several 16 MiB parts on S3
			info, err := h.store.Put(ctx, shortReader{bytes.NewReader(data)})
			if err != nil {
				t.Fatal(err)
			}
			if info.Digest != Digest(data) || info.Size != int64(len(data)) {
				t.Fatalf("Put = %+v", info)
			}
			v, err := h.store.PutVerified(ctx, bytes.NewReader(data), info)
			if err != nil || v != info {
				t.Fatalf("PutVerified of a known blob = %+v, %v", v, err)
			}
			got, err := ReadAll(ctx, h.store, info.Digest)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadAll: %d bytes, %v", len(got), err)
			}
		}},
		{"missing blobs", func(t *testing.T, h *harness) {
			missing := Digest([]byte("never stored"))
			if _, err := h.store.Get(ctx, missing); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get missing: %v", err)
			}
			if _, err := h.store.Stat(ctx, missing); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Stat missing: %v", err)
			}
			if err := h.store.Touch(ctx, missing); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Touch missing: %v", err)
			}
			if err := h.store.Delete(ctx, missing); err != nil {
				t.Fatalf("Delete missing: %v", err)
			}
		}},
		{"malformed digests", func(t *testing.T, h *harness) {
			for _, bad := range []string{"", "md5:abc", "sha256:xyz", "sha256:../../etc/passwd", "sha256:" + strings.Repeat("0", 63) + "/"} {
				if _, err := h.store.Get(ctx, bad); !errors.Is(err, ErrBadDigest) {
					t.Errorf("Get(%q): %v", bad, err)
				}
				if _, err := h.store.Stat(ctx, bad); !errors.Is(err, ErrBadDigest) {
					t.Errorf("Stat(%q): %v", bad, err)
				}
				if err := h.store.Delete(ctx, bad); !errors.Is(err, ErrBadDigest) {
					t.Errorf("Delete(%q): %v", bad, err)
				}
				if _, err := h.store.PutVerified(ctx, strings.NewReader("x"), Info{Digest: bad, Size: 1}); !errors.Is(err, ErrBadDigest) {
					t.Errorf("PutVerified(%q): %v", bad, err)
				}
			}
		}},
		{"verified puts refuse what was not announced", func(t *testing.T, h *harness) {
			data := randomBytes(t, 100_000)
			good := Info{Digest: Digest(data), Size: int64(len(data))}
			for _, c := range []struct {
				name string
				body []byte
				want Info
			}{
				{"other bytes", randomBytes(t, len(data)), good},
				{"truncated", data[:len(data)/2], good},
				{"too long", append(append([]byte{}, data...), 'x'), good},
				{"wrong size", data, Info{Digest: good.Digest, Size: good.Size + 1}},
				{"empty", nil, good},
			} {
				if _, err := h.store.PutVerified(ctx, bytes.NewReader(c.body), c.want); !errors.Is(err, ErrMismatch) {
					t.Errorf("%s: PutVerified = %v, want ErrMismatch", c.name, err)
				}
				if _, err := h.store.Stat(ctx, good.Digest); !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s: a refused upload is visible: %v", c.name, err)
				}
			}
			if info, err := h.store.PutVerified(ctx, bytes.NewReader(data), good); err != nil || info != good {
				t.Fatalf("PutVerified = %+v, %v", info, err)
			}
		}},
		{"a corrupted blob is detected on read", func(t *testing.T, h *harness) {
			data := randomBytes(t, 10_000)
			info, err := PutBytes(ctx, h.store, data)
			if err != nil {
				t.Fatal(err)
			}
			h.corrupt(info.Digest)
			if _, err := ReadAll(ctx, h.store, info.Digest); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("corrupted blob read: %v", err)
			}
		}},
		{"delete", func(t *testing.T, h *harness) {
			info, err := PutBytes(ctx, h.store, []byte("to delete"))
			if err != nil {
				t.Fatal(err)
			}
			if err := h.store.Delete(ctx, info.Digest); err != nil {
				t.Fatal(err)
			}
			if err := h.store.Delete(ctx, info.Digest); err != nil {
				t.Fatalf("Delete twice: %v", err)
			}
			if _, err := h.store.Stat(ctx, info.Digest); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Stat after delete: %v", err)
			}
		}},
		{"a failed upload leaves nothing visible", func(t *testing.T, h *harness) {
			ctxDone, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := h.store.Put(ctxDone, strings.NewReader("cut short")); err == nil {
				t.Fatal("Put with a cancelled context succeeded")
			}
			if _, err := h.store.Stat(ctx, Digest([]byte("cut short"))); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a failed upload is visible: %v", err)
			}
			failing := io.MultiReader(strings.NewReader("half"), errReader{})
			if _, err := h.store.Put(ctx, failing); err == nil {
				t.Fatal("Put of a failing reader succeeded")
			}
			if _, err := h.store.Stat(ctx, Digest([]byte("half"))); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a failed upload is visible: %v", err)
			}
		}},
		{"walk, touch and garbage collection", func(t *testing.T, h *harness) {
			used, err := PutBytes(ctx, h.store, []byte("used by an action"))
			if err != nil {
				t.Fatal(err)
			}
			unused, err := PutBytes(ctx, h.store, []byte("used by nothing"))
			if err != nil {
				t.Fatal(err)
			}
			h.leaveStaged()
			seen := map[string]Object{}
			staged := 0
			if err := h.store.Walk(ctx, func(o Object) error {
				if o.Staged != "" {
					staged++
				} else {
					seen[o.Digest] = o
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 2 || seen[used.Digest].Size != used.Size || seen[unused.Digest].Size != unused.Size || staged == 0 {
				t.Fatalf("Walk saw %v and %d staged", seen, staged)
			}
			if d := time.Since(seen[used.Digest].Modified); d < -time.Hour || d > time.Hour {
				t.Fatalf("Walk's time is off by %s", d)
			}
			isUsed := func(d string) bool { return d == used.Digest }

			// Everything is younger than the grace period: nothing goes.
			rep, err := GC(ctx, h.store, isUsed, GCOptions{Grace: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Deleted) != 0 || rep.Blobs != 2 || rep.Referenced != 1 || rep.Young != 1 {
				t.Fatalf("GC of young blobs: %+v", rep)
			}
			// Two hours later, as a dry run: reported, not deleted.
			later := time.Now().Add(2 * time.Hour)
			rep, err = GC(ctx, h.store, isUsed, GCOptions{Grace: time.Hour, DryRun: true, Now: later})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Deleted) != 1+staged || rep.Referenced != 1 || !rep.DryRun {
				t.Fatalf("dry run: %+v", rep)
			}
			if _, err := h.store.Stat(ctx, unused.Digest); err != nil {
				t.Fatalf("a dry run deleted: %v", err)
			}
			rep, err = GC(ctx, h.store, isUsed, GCOptions{Grace: time.Hour, Now: later})
			if err != nil || len(rep.Errors) != 0 {
				t.Fatalf("GC: %+v, %v", rep, err)
			}
			if _, err := h.store.Stat(ctx, unused.Digest); !errors.Is(err, ErrNotFound) {
				t.Fatalf("GC kept an unreferenced old blob: %v", err)
			}
			if _, err := ReadAll(ctx, h.store, used.Digest); err != nil {
				t.Fatalf("GC removed a referenced blob: %v", err)
			}
			left := 0
			_ = h.store.Walk(ctx, func(o Object) error {
				if o.Staged != "" {
					left++
				}
				return nil
			})
			if left != 0 {
				t.Fatalf("GC left %d staged uploads", left)
			}
			// Touch makes an old blob young again.
			before := seen[used.Digest].Modified
			if err := h.store.Touch(ctx, used.Digest); err != nil {
				t.Fatal(err)
			}
			var after time.Time
			_ = h.store.Walk(ctx, func(o Object) error {
				if o.Digest == used.Digest {
					after = o.Modified
				}
				return nil
			})
			if after.Before(before) {
				t.Fatalf("Touch moved the time back: %s -> %s", before, after)
			}
			if _, err := ReadAll(ctx, h.store, used.Digest); err != nil {
				t.Fatalf("read after Touch: %v", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newHarness(t)) })
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("the client went away") }
