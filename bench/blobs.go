package main

// The code store's rows (`go run ./bench -blobs`), measured against a real
// MinIO server on loopback (scripts/minio.sh builds it once):
//
//   - cold fetch of a 50 MB blob: Wisp's S3 store (blobs.S3.Get, the
//     digest verified as it streams) next to its floor, a plain minio-go
//     GetObject of the same object, both read to the end and dropped; and
//     the invoker's whole cold path (blobs.Cache: download, verify, write,
//     fsync, rename) next to GetObject written to a file and fsynced;
//   - cached fetch: blobs.Cache.Acquire of a blob on local disk (the path
//     a container runtime takes), and ReadFile of a 100 KB and of the 50 MB
//     blob (the bytes wasmrt compiles);
//   - warm invoke over HTTP, blocking, of one small Wasm action on an
//     in-process Wisp node with the local store and with MinIO.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/wispfaas/wisp/blobs"
	"github.com/wispfaas/wisp/client"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/daemon"
	"github.com/wispfaas/wisp/internal/miniotest"
	"github.com/wispfaas/wisp/internal/wasmtest"
)

// Targets of the blob rows (issue 5).
const (
	targetColdRatio  = 1.2 // the invoker's cold fetch ≤ 1.2 × GetObject's
	targetCachedPath = time.Millisecond
	blobBenchSize    = 50 << 20
)

type blobRow struct {
	Name   string        `json:"name"`
	Median time.Duration `json:"median_ns"`
	Min    time.Duration `json:"min_ns"`
	Runs   int           `json:"runs"`
	Floor  string        `json:"floor,omitempty"`
	Ratio  float64       `json:"ratio,omitempty"`
}

func rowOf(name string, d []time.Duration) *blobRow {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return &blobRow{Name: name, Median: s[len(s)/2], Min: s[0], Runs: len(s)}
}

// runBlobsBench measures the blob rows and prints their table.
func runBlobsBench(ctx context.Context, runs int) error {
	tmp, err := os.MkdirTemp("", "wisp-bench-blobs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	progress("starting MinIO")
	srv, err := miniotest.StartIn(filepath.Join(tmp, "minio"))
	if err != nil {
		return err
	}
	defer srv.Stop()
	store, err := blobs.OpenS3(ctx, blobs.S3Config{Bucket: "wisp-bench", Prefix: "code/", Endpoint: srv.Addr, AccessKey: miniotest.AccessKey, SecretKey: miniotest.SecretKey}, nil)
	if err != nil {
		return err
	}
	data := make([]byte, blobBenchSize)
	if _, err := rand.Read(data); err != nil {
		return err
	}
	start := time.Now()
	info, err := store.Put(ctx, bytes.NewReader(data))
	if err != nil {
		return err
	}
	progress("stored a %d MB blob in MinIO in %s (streamed to a staging object, verified, copied on the server)", blobBenchSize>>20, time.Since(start).Round(time.Millisecond))
	key := store.Prefix() + "sha256/" + info.Digest[len("sha256:"):]
	mc := store.Client()

	var plain, wisp, plainFile, wispCache []time.Duration
	for i := range runs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Interleaved, so that a slow moment of the machine hits both.
		d, err := timeIt(func() error {
			obj, err := mc.GetObject(ctx, store.Bucket(), key, minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer obj.Close()
			return drain(obj)
		})
		if err != nil {
			return fmt.Errorf("GetObject: %w", err)
		}
		plain = append(plain, d)
		d, err = timeIt(func() error {
			rc, err := store.Get(ctx, info.Digest)
			if err != nil {
				return err
			}
			defer rc.Close()
			return drain(rc)
		})
		if err != nil {
			return fmt.Errorf("S3.Get: %w", err)
		}
		wisp = append(wisp, d)
		f := filepath.Join(tmp, fmt.Sprintf("plain-%d", i))
		d, err = timeIt(func() error {
			obj, err := mc.GetObject(ctx, store.Bucket(), key, minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer obj.Close()
			out, err := os.Create(f)
			if err != nil {
				return err
			}
			if _, err := io.CopyBuffer(struct{ io.Writer }{out}, obj, make([]byte, 1<<20)); err != nil {
				out.Close()
				return err
			}
			if err := out.Sync(); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		})
		os.Remove(f)
		if err != nil {
			return fmt.Errorf("GetObject to a file: %w", err)
		}
		plainFile = append(plainFile, d)
		cacheDir := filepath.Join(tmp, fmt.Sprintf("cache-%d", i))
		cache, err := blobs.NewCache(store, cacheDir, 1<<30, nil)
		if err != nil {
			return err
		}
		d, err = timeIt(func() error {
			_, release, err := cache.Acquire(ctx, info.Digest)
			if err == nil {
				release()
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("cold fetch through blobs.Cache: %w", err)
		}
		wispCache = append(wispCache, d)
		if i < runs-1 {
			os.RemoveAll(cacheDir)
		}
	}
	rows := []*blobRow{rowOf("minio-go GetObject → discard", plain), rowOf("blobs.S3.Get (verified) → discard", wisp),
		rowOf("minio-go GetObject → file + fsync", plainFile), rowOf("blobs.Cache cold (verify, file, fsync, rename)", wispCache)}
	rows[1].Floor, rows[1].Ratio = rows[0].Name, float64(rows[1].Median)/float64(rows[0].Median)
	rows[3].Floor, rows[3].Ratio = rows[2].Name, float64(rows[3].Median)/float64(rows[2].Median)

	// Cached fetches from the last cache, which holds the 50 MB blob.
	cache, err := blobs.NewCache(store, filepath.Join(tmp, fmt.Sprintf("cache-%d", runs-1)), 1<<30, nil)
	if err != nil {
		return err
	}
	small := data[:100_000]
	sinfo, err := store.Put(ctx, bytes.NewReader(small))
	if err != nil {
		return err
	}
	if _, err := cache.ReadFile(ctx, sinfo.Digest); err != nil {
		return err
	}
	if _, err := cache.ReadFile(ctx, info.Digest); err != nil { // the first use after NewCache verifies it
		return err
	}
	var acq, readSmall, readBig []time.Duration
	for range 2000 {
		d, _ := timeIt(func() error {
			_, release, err := cache.Acquire(ctx, info.Digest)
			if err == nil {
				release()
			}
			return err
		})
		acq = append(acq, d)
		d, _ = timeIt(func() error { _, err := cache.ReadFile(ctx, sinfo.Digest); return err })
		readSmall = append(readSmall, d)
	}
	for range 20 {
		d, _ := timeIt(func() error { _, err := cache.ReadFile(ctx, info.Digest); return err })
		readBig = append(readBig, d)
	}
	cached := []*blobRow{rowOf("Cache.Acquire (a path), 50 MB blob", acq), rowOf("Cache.ReadFile, 100 KB blob", readSmall), rowOf("Cache.ReadFile, 50 MB blob", readBig)}

	progress("warm invokes with the local store, then with MinIO")
	invokes, err := warmInvokes(ctx, tmp, srv)
	if err != nil {
		return err
	}
	printBlobs(os.Stdout, runs, rows, cached, invokes)
	return nil
}

// drain reads r to the end in 1 MiB reads, as the invoker's cache does
// (io.Discard's own ReadFrom would read 8 KiB at a time, and each Read of
// a minio-go object is a round trip through its reader goroutine).
func drain(r io.Reader) error {
	_, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, r, make([]byte, 1<<20))
	return err
}

func timeIt(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// warmInvokes measures blocking invokes of one small action on two
// in-process nodes, one per store, alternating between them so that the
// machine's slow moments hit both alike.
func warmInvokes(ctx context.Context, tmp string, srv *miniotest.Server) ([]*blobRow, error) {
	creds := filepath.Join(tmp, "credentials")
	if err := os.WriteFile(creds, []byte(fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", miniotest.AccessKey, miniotest.SecretKey)), 0o600); err != nil {
		return nil, err
	}
	stores := []struct{ name, blobs string }{
		{"warm invoke, local store", ""},
		{"warm invoke, MinIO store", srv.BlobsURL("wisp-bench", "invoke") + "&credentials=" + creds},
	}
	clients := make([]*client.Client, len(stores))
	for i, st := range stores {
		d, err := daemon.Start(ctx, daemon.Config{Data: filepath.Join(tmp, fmt.Sprintf("node-%d", i)), Listen: "127.0.0.1:0", Blobs: st.blobs, ShutdownGrace: 5 * time.Second})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.name, err)
		}
		defer d.Stop()
		auth, _ := d.GuestAuth()
		if clients[i], err = client.New(d.APIHost(), auth); err != nil {
			return nil, err
		}
		exec := &core.Exec{Kind: "wasm", Binary: true, Code: base64.StdEncoding.EncodeToString(wasmtest.Action{}.Wasm())}
		if _, err := clients[i].PutAction(ctx, "echo", core.ActionPut{Exec: exec}, true); err != nil {
			return nil, err
		}
	}
	params := []byte(`{"name":"wisp"}`)
	lat := make([][]time.Duration, len(stores))
	for round := range 3200 {
		for i, c := range clients {
			start := time.Now()
			r, err := c.Invoke(ctx, "echo", params, client.InvokeOptions{Result: true})
			if err != nil || r.Status != 200 {
				return nil, fmt.Errorf("%s: invoke: %v %v", stores[i].name, err, r)
			}
			if round >= 200 {
				lat[i] = append(lat[i], time.Since(start))
			}
		}
	}
	rows := []*blobRow{rowOf(stores[0].name, lat[0]), rowOf(stores[1].name, lat[1])}
	rows[1].Floor, rows[1].Ratio = rows[0].Name, float64(rows[1].Median)/float64(rows[0].Median)
	return rows, nil
}

func printBlobs(out io.Writer, runs int, cold, cached, invokes []*blobRow) {
	fmt.Fprintf(out, "\nCode store, %d MB blob from MinIO on loopback (median and min of %d runs, interleaved; load average %s):\n", blobBenchSize>>20, runs, loadAverage())
	for i, r := range cold {
		line := fmt.Sprintf("  %-48s %9s  min %9s", r.Name, fmtDur(r.Median), fmtDur(r.Min))
		if r.Floor != "" {
			line += fmt.Sprintf("  %.2f× its floor above (min: %.2f×)", r.Ratio, float64(r.Min)/float64(cold[i-1].Min))
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintln(out, "\nCached fetches (median of the runs):")
	for _, r := range cached {
		fmt.Fprintf(out, "  %-48s %9s  (%d runs)\n", r.Name, r.Median.Round(100*time.Nanosecond), r.Runs)
	}
	fmt.Fprintln(out, "\nWarm blocking invoke over HTTP of a small Wasm action, in-process node, 1 client (3,000 invokes each, alternating):")
	for _, r := range invokes {
		line := fmt.Sprintf("  %-48s p50 %9s", r.Name, fmtDur(r.Median))
		if r.Floor != "" {
			line += fmt.Sprintf("  %.2f× the local store's", r.Ratio)
		}
		fmt.Fprintln(out, line)
	}
	verdict := func(ok bool) string {
		if ok {
			return "MET"
		}
		return "NOT MET"
	}
	fmt.Fprintln(out, "\nVerdicts (issue 5):")
	// The invoker's cold fetch ends with the blob on its disk, so the
	// target is judged on that path, against GetObject written to a file
	// the same way. The stream-only pair is shown too: there the hash is
	// CPU that two cores shared with MinIO do not have spare.
	fmt.Fprintf(out, "  cold fetch into the invoker's cache ≤ %.1f × GetObject to a file: %.2f× %s\n", targetColdRatio, cold[3].Ratio, verdict(cold[3].Ratio <= targetColdRatio))
	fmt.Fprintf(out, "  (stream only, verified, no disk: %.2f× GetObject to nowhere, %s at %.1f×)\n", cold[1].Ratio, verdict(cold[1].Ratio <= targetColdRatio), targetColdRatio)
	fmt.Fprintf(out, "  cached fetch ≤ 1 ms: Acquire %s %s; ReadFile of 100 KB %s %s\n", cached[0].Median.Round(100*time.Nanosecond), verdict(cached[0].Median <= targetCachedPath), fmtDur(cached[1].Median), verdict(cached[1].Median <= targetCachedPath))
	fmt.Fprintf(out, "  warm invoke the same with either store: %.2f× (within 10%%: %s)\n", invokes[1].Ratio, verdict(invokes[1].Ratio <= 1.1 && invokes[1].Ratio >= 0.9))
}
