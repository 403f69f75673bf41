package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
)

var (
	gzipMagic  = []byte{0x1f, 0x8b}
	zstdMagic  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	bzip2Magic = []byte("BZh")
)

const (
	// maxLinkTarget bounds a symlink's target (Linux's PATH_MAX).
	maxLinkTarget = 4096
	// maxTrailing bounds what may follow a layer's tar end blocks (tar
	// pads to its record size, 10 KiB by default).
	maxTrailing = 1 << 20
	// zstdMaxMemory bounds what a zstd layer's decoder may allocate.
	zstdMaxMemory  = 256 << 20
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// applier receives a layer's entries, checked and cleaned by the walker:
// names are relative and never "." nor leaving the root. The disk applier
// writes them under rootfs/; the tree applier replays them in memory for
// Inspect.
type applier interface {
	beginLayer(i int)
	dir(name string, mode fs.FileMode, h *tar.Header) error
	file(name string, mode fs.FileMode, h *tar.Header, r io.Reader) error
	symlink(name string, h *tar.Header) error
	hardlink(name, target string, h *tar.Header) error
	// whiteout removes name if a lower layer made it.
	whiteout(name string) error
	// opaque removes what lower layers made under dir.
	opaque(dir string) error
}

// walker applies an image's layers in order, enforcing its limits over all
// of them.
type walker struct {
	limits  Limits
	entries int
	bytes   int64
	skipped int
}

func (w *walker) apply(ctx context.Context, src source, img *image, a applier) error {
	for i, l := range img.layers {
		label := fmt.Sprintf("layer %d of %d (%s)", i+1, len(img.layers), layerName(l))
		a.beginLayer(i)
		if err := w.layer(ctx, src, l, label, a); err != nil {
			return err
		}
	}
	if w.skipped > 0 {
		slog.Debug("image: skipped device nodes and fifos", "count", w.skipped)
	}
	return nil
}

func layerName(l layerRef) string {
	if l.digest != "" {
		return l.digest[:len("sha256:")+12]
	}
	// Classic docker save: <64 hex>/layer.tar, shortened as Docker does.
	parts := strings.Split(l.name, "/")
	for i, p := range parts {
		if isHexDigest(p) {
			parts[i] = p[:12]
		}
	}
	return strings.Join(parts, "/")
}

// layer reads one layer blob once: hashing it as stored (the blob digest)
// and inflated (the diff_id) while its tar entries are applied.
func (w *walker) layer(ctx context.Context, src source, l layerRef, label string, a applier) error {
	sr, err := src.open(l.name)
	if err != nil {
		return fmt.Errorf("%s: %s is %w", label, l.name, err)
	}
	if l.size >= 0 && sr.Size() != l.size {
		return fmt.Errorf("%s: the blob is %d bytes, but the manifest says %d", label, sr.Size(), l.size)
	}
	blobHash := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(sr, blobHash), 64<<10)
	magic, _ := br.Peek(6)
	var raw io.Reader = br
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: gzip: %w", label, tarErr(err))
		}
		defer zr.Close()
		raw = zr
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(zstdMaxMemory))
		if err != nil {
			return fmt.Errorf("%s: zstd: %w", label, err)
		}
		defer zr.Close()
		raw = zr
	case bytes.HasPrefix(magic, bzip2Magic):
		raw = bzip2.NewReader(br)
	case bytes.HasPrefix(magic, xzMagic):
		return fmt.Errorf("%s: the layer is xz-compressed, which Wisp does not unpack (use gzip or zstd)", label)
	}
	diffHash := sha256.New()
	inflated := io.TeeReader(raw, diffHash)
	tr := tar.NewReader(inflated)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: not a readable tar: %w", label, tarErr(err))
		}
		if err := w.entry(h, tr, a); err != nil {
			if strings.Contains(err.Error(), errEscapes.Error()) {
				// os.Root's own error, or the tree's that mimics it.
				return fmt.Errorf("%s: entry %q: path traversal through a symlink that points outside the root filesystem: %w", label, h.Name, err)
			}
			return fmt.Errorf("%s: entry %q: %w", label, h.Name, err)
		}
	}
	// The tar's end blocks and any padding count in the diff_id; the
	// whole blob counts in its digest.
	// Bounded, or a layer could hide a bomb after its end blocks.
	if n, err := io.Copy(io.Discard, io.LimitReader(inflated, maxTrailing+1)); err != nil {
		return fmt.Errorf("%s: %w", label, tarErr(err))
	} else if n > maxTrailing {
		return fmt.Errorf("%s: more than %d bytes follow the tar's end", label, maxTrailing)
	}
	if raw != io.Reader(br) {
		if _, err := io.Copy(io.Discard, br); err != nil {
			return fmt.Errorf("%s: %w", label, tarErr(err))
		}
	}
	if l.digest != "" {
		if got := "sha256:" + hex.EncodeToString(blobHash.Sum(nil)); got != l.digest {
			return fmt.Errorf("%s: the blob has digest %s, not %s: it is corrupt or was altered", label, got, l.digest)
		}
	}
	if got := "sha256:" + hex.EncodeToString(diffHash.Sum(nil)); got != l.diffID {
		return fmt.Errorf("%s: the layer's content has digest %s, but the config's diff_id is %s: it is corrupt or was altered", label, got, l.diffID)
	}
	return nil
}

// cleanName checks a layer entry's name: relative, and not leaving the
// root once cleaned. skip is true for the root itself.
func cleanName(n string) (name string, skip bool, err error) {
	switch {
	case n == "":
		return "", false, errors.New("empty name")
	case strings.ContainsRune(n, 0):
		return "", false, errors.New("NUL byte in its name")
	case strings.HasPrefix(n, "/"):
		return "", false, errors.New("absolute path (layers hold paths relative to the root)")
	}
	c := path.Clean(n)
	if c == "." {
		return "", true, nil
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false, errors.New("path traversal: it leaves the root filesystem")
	}
	return c, false, nil
}

func (w *walker) entry(h *tar.Header, r io.Reader, a applier) error {
	w.entries++
	if w.entries > w.limits.MaxEntries {
		return fmt.Errorf("the image has more than %d entries (the limit)", w.limits.MaxEntries)
	}
	name, skip, err := cleanName(h.Name)
	if err != nil || skip {
		return err
	}
	dir, base := path.Dir(name), path.Base(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		if base == opaqueMarker {
			return a.opaque(dir)
		}
		victim := strings.TrimPrefix(base, whiteoutPrefix)
		if victim == "." || victim == ".." || victim == "" {
			return errors.New("malformed whiteout")
		}
		return a.whiteout(path.Join(dir, victim))
	}
	// setuid and setgid are cleared: nothing in a blackbox image may gain
	// privileges (the container also runs with no_new_privs).
	perm := fs.FileMode(h.Mode) & fs.ModePerm
	switch h.Typeflag {
	case tar.TypeDir:
		if h.Mode&0o1000 != 0 {
			perm |= fs.ModeSticky
		}
		return a.dir(name, perm, h)
	case tar.TypeReg, '\x00', tar.TypeGNUSparse:
		if h.Size < 0 {
			return errors.New("negative size")
		}
		w.bytes += h.Size
		if w.bytes > w.limits.MaxBytes {
			return fmt.Errorf("the image unpacks to more than %d bytes (the limit)", w.limits.MaxBytes)
		}
		return a.file(name, perm, h, r)
	case tar.TypeSymlink:
		if h.Linkname == "" || len(h.Linkname) > maxLinkTarget || strings.ContainsRune(h.Linkname, 0) {
			return fmt.Errorf("symlink with a malformed target %q", h.Linkname)
		}
		return a.symlink(name, h)
	case tar.TypeLink:
		target, skip, err := cleanName(h.Linkname)
		if err != nil {
			return fmt.Errorf("hard link to %q: %w", h.Linkname, err)
		}
		if skip || target == name {
			return fmt.Errorf("hard link to %q", h.Linkname)
		}
		return a.hardlink(name, target, h)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		// Containers get libcontainer's /dev; an image's own nodes are not
		// needed and not wanted.
		w.skipped++
		return nil
	default:
		return fmt.Errorf("unsupported tar entry type %q", h.Typeflag)
	}
}
