// Package image imports a blackbox action's image — the user's own OCI
// image, given as an OCI image layout (a directory, or a tar of one) or as a
// `docker save` tarball — into a runtime directory of
// docs/container-protocol.md: rootfs/, runtime.json and, last, stamp.
//
// Layers are applied lowest first, with OCI whiteouts (.wh.<name>) and
// opaque directories (.wh..wh..opq); gzip, zstd and bzip2 layers are
// inflated. Every digest the format carries (manifest, config, layer blobs,
// the config's diff_ids) is verified. Every file is created through an
// os.Root on rootfs/, so nothing in a layer can write outside it, even
// through symlinks of earlier layers; entries leaving the root filesystem
// (absolute paths, "..", hard links out, writes through symlinks that
// point outside) are refused with an error naming the entry and its layer.
// Device nodes and fifos are skipped (containers get libcontainer's /dev);
// setuid and setgid bits are cleared.
package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wispfaas/wisp/runtimes"
)

// DefaultPath is the PATH a runtime gets when the image's config sets none
// (Docker's default).
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Kind is the kind written into runtime.json.
const Kind = "blackbox"

// Config is how to start an image's process: what runtime.json holds.
type Config struct {
	// Args is the image's Entrypoint followed by its Cmd.
	Args []string
	// Env is the image's environment, with DefaultPath first if it sets
	// no PATH.
	Env []string
	// Cwd is the image's WorkingDir, or "/".
	Cwd string
}

// Limits bound what an image may unpack to. The zero value of a field
// means its default.
type Limits struct {
	// MaxBytes bounds the bytes of all regular files in all layers, by the
	// sizes the layers declare (the bytes written never exceed them).
	// Default 4 GiB.
	MaxBytes int64
	// MaxEntries bounds the entries of all layers. Default 500,000.
	MaxEntries int
}

// DefaultLimits are the limits of Inspect, Import and their Path forms.
var DefaultLimits = Limits{MaxBytes: 4 << 30, MaxEntries: 500_000}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultLimits.MaxEntries
	}
	return l
}

// Inspect validates an image tarball (an OCI layout in a tar, or a docker
// save tarball, either possibly gzip- or zstd-compressed) without writing it
// anywhere, as action create does: the index or manifest and the config
// (with their digests), and every layer's tar headers — names, types,
// links, whiteouts and sizes, replayed on an in-memory tree — and digests.
// It returns the runtime configuration Import would write. Errors say what
// is wrong, naming the layer and the entry, and wrap ErrInvalid when the
// image is at fault.
func Inspect(ctx context.Context, r io.ReaderAt, size int64) (*Config, error) {
	return DefaultLimits.Inspect(ctx, r, size)
}

// Import unpacks an image tarball into dst, a directory that must not
// exist: dst/rootfs, dst/runtime.json and dst/stamp (written last, holding
// the image's config digest). It builds in a temporary sibling of dst and
// renames it into place, so on error nothing is left at dst. Errors that
// are the image's fault wrap ErrInvalid. Import is safe for concurrent use
// with distinct dsts; of two imports racing for one dst, one fails.
func Import(ctx context.Context, r io.ReaderAt, size int64, dst string) (*Config, error) {
	return DefaultLimits.Import(ctx, r, size, dst)
}

// InspectPath is Inspect for an image on disk: a tarball, or an OCI image
// layout directory.
func InspectPath(ctx context.Context, image string) (*Config, error) {
	return DefaultLimits.InspectPath(ctx, image)
}

// ImportPath is Import for an image on disk: a tarball, or an OCI image
// layout directory.
func ImportPath(ctx context.Context, image, dst string) (*Config, error) {
	return DefaultLimits.ImportPath(ctx, image, dst)
}

// Inspect is the package's Inspect under limits l.
func (l Limits) Inspect(ctx context.Context, r io.ReaderAt, size int64) (*Config, error) {
	l = l.withDefaults()
	src, err := openTar(r, size, l.MaxBytes)
	if err != nil {
		return nil, classify(err)
	}
	defer src.close()
	cfg, err := l.inspect(ctx, src)
	return cfg, classify(err)
}

// Import is the package's Import under limits l.
func (l Limits) Import(ctx context.Context, r io.ReaderAt, size int64, dst string) (*Config, error) {
	l = l.withDefaults()
	src, err := openTar(r, size, l.MaxBytes)
	if err != nil {
		return nil, classify(err)
	}
	defer src.close()
	cfg, err := l.importTo(ctx, src, dst)
	return cfg, classify(err)
}

// InspectPath is the package's InspectPath under limits l.
func (l Limits) InspectPath(ctx context.Context, image string) (*Config, error) {
	l = l.withDefaults()
	src, err := openPath(image, l.MaxBytes)
	if err != nil {
		return nil, classify(err)
	}
	defer src.close()
	cfg, err := l.inspect(ctx, src)
	return cfg, classify(err)
}

// ImportPath is the package's ImportPath under limits l.
func (l Limits) ImportPath(ctx context.Context, image, dst string) (*Config, error) {
	l = l.withDefaults()
	src, err := openPath(image, l.MaxBytes)
	if err != nil {
		return nil, classify(err)
	}
	defer src.close()
	cfg, err := l.importTo(ctx, src, dst)
	return cfg, classify(err)
}

func openPath(image string, maxBytes int64) (source, error) {
	fi, err := os.Stat(image)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	if fi.IsDir() {
		return openDir(image)
	}
	f, err := os.Open(image)
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	s, err := openTar(f, fi.Size(), maxBytes)
	if err != nil {
		f.Close()
		return nil, err
	}
	prev := s.cleanup
	s.cleanup = func() error {
		if prev != nil {
			prev()
		}
		return f.Close()
	}
	return s, nil
}

func (l Limits) inspect(ctx context.Context, src source) (*Config, error) {
	img, err := resolve(src)
	if err != nil {
		return nil, err
	}
	w := &walker{limits: l}
	if err := w.apply(ctx, src, img, newTree()); err != nil {
		return nil, err
	}
	return img.runtimeConfig(), nil
}

func (l Limits) importTo(ctx context.Context, src source, dst string) (cfg *Config, err error) {
	dst, err = filepath.Abs(dst)
	if err != nil {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	if _, err := os.Lstat(dst); err == nil {
		return nil, &hostError{fmt.Errorf("import image: %s already exists", dst)}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	img, err := resolve(src)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".import-")
	if err != nil {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	if err := os.Chmod(rootfs, 0o755); err != nil {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	disk, err := newDisk(rootfs)
	if err != nil {
		return nil, &hostError{err}
	}
	defer disk.close()
	w := &walker{limits: l}
	if err := w.apply(ctx, src, img, disk); err != nil {
		return nil, err
	}
	cfg = img.runtimeConfig()
	rj, err := json.MarshalIndent(runtimes.Spec{Kind: Kind, Args: cfg.Args, Env: cfg.Env, Cwd: cfg.Cwd}, "", "  ")
	if err != nil {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	if err := writeSynced(filepath.Join(tmp, "runtime.json"), append(rj, '\n')); err != nil {
		return nil, &hostError{err}
	}
	if err := writeSynced(filepath.Join(tmp, "stamp"), []byte(img.configDigest+"\n")); err != nil {
		return nil, &hostError{err}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, &hostError{fmt.Errorf("import image: %w", err)}
	}
	return cfg, nil
}

func writeSynced(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("import image: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("import image: write %s: %w", name, err)
	}
	return nil
}
