package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// maxOuterEntries bounds the entries of an image tarball (not of its
// layers): a docker save or OCI layout holds a handful of files per layer.
const maxOuterEntries = 100_000

// errMissing is returned by a source for a file it does not hold.
var errMissing = errors.New("missing from the image")

// source is where an image's files come from: a tarball read in place
// (tarSource) or an OCI layout directory (dirSource). Names are slash
// separated and relative to the image's top.
type source interface {
	// open returns a file's bytes; errMissing if there is no such file.
	open(name string) (*io.SectionReader, error)
	close() error
}

// tarEntry is where a regular file's bytes lie in an uncompressed tarball.
type tarEntry struct {
	off, size int64
}

// tarSource reads an image tarball in place: one pass over its headers
// records where each file's bytes lie, then files are read as sections of
// the tarball, without copying it.
type tarSource struct {
	r       io.ReaderAt
	files   map[string]tarEntry
	links   map[string]string // symlinks (old docker save links repeated layers)
	cleanup func() error
}

// openTar indexes an image tarball. A gzip-compressed tarball (docker save
// | gzip) is first inflated into a temporary file, bounded by maxBytes.
func openTar(r io.ReaderAt, size int64, maxBytes int64) (*tarSource, error) {
	if size == 0 {
		return nil, errors.New("the image is empty (0 bytes)")
	}
	var magic [6]byte
	n, _ := r.ReadAt(magic[:], 0)
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return openCompressedTar(r, size, maxBytes, "gzip")
	case n >= 4 && bytes.Equal(magic[:4], zstdMagic):
		return openCompressedTar(r, size, maxBytes, "zstd")
	case n >= 6 && bytes.Equal(magic[:6], xzMagic):
		return nil, errors.New("the image tarball is xz-compressed: decompress it first (unxz)")
	case n >= 4 && string(magic[:4]) == "PK\x03\x04":
		return nil, errors.New("the image is a zip, not a tarball: give an OCI image layout (a directory or a tar of one) or a docker save tarball")
	}
	s := &tarSource{r: r, files: map[string]tarEntry{}, links: map[string]string{}}
	sr := io.NewSectionReader(r, 0, size)
	tr := tar.NewReader(sr)
	for count := 0; ; count++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if count == 0 {
				return nil, fmt.Errorf("the image is not a tar archive (neither an OCI image layout nor a docker save tarball): %w", err)
			}
			return nil, fmt.Errorf("read the image tarball: %w", tarErr(err))
		}
		if count >= maxOuterEntries {
			return nil, fmt.Errorf("the image tarball holds more than %d files", maxOuterEntries)
		}
		name := outerName(h.Name)
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse:
			if h.Typeflag == tar.TypeGNUSparse {
				return nil, fmt.Errorf("the image tarball's file %q is sparse, which is not supported", h.Name)
			}
			// Right after Next the section reader sits at the file's bytes:
			// archive/tar reads exactly the header blocks.
			off, err := sr.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, fmt.Errorf("read the image tarball: %w", err)
			}
			if off+h.Size > size {
				return nil, fmt.Errorf("the image tarball is truncated: %q needs %d bytes at offset %d, the file has %d", h.Name, h.Size, off, size)
			}
			s.files[name] = tarEntry{off: off, size: h.Size}
		case tar.TypeSymlink, tar.TypeLink:
			target := h.Linkname
			if h.Typeflag == tar.TypeSymlink && !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(name), target)
			}
			s.links[name] = outerName(target)
		}
	}
	return s, nil
}

// outerName normalises a name in an image tarball ("./index.json",
// "/blobs/x" and "blobs//x" all name the same file).
func outerName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

func (s *tarSource) open(name string) (*io.SectionReader, error) {
	name = outerName(name)
	for hops := 0; ; hops++ {
		if e, ok := s.files[name]; ok {
			return io.NewSectionReader(s.r, e.off, e.size), nil
		}
		target, ok := s.links[name]
		if !ok || hops > 40 {
			return nil, errMissing
		}
		name = target
	}
}

func (s *tarSource) close() error {
	if s.cleanup != nil {
		return s.cleanup()
	}
	return nil
}

// openCompressedTar inflates a gzip- or zstd-compressed image tarball
// (docker save | gzip) into an unlinked temporary file and indexes that.
func openCompressedTar(r io.ReaderAt, size, maxBytes int64, format string) (*tarSource, error) {
	var zr io.Reader
	in := bufio.NewReader(io.NewSectionReader(r, 0, size))
	if format == "gzip" {
		gz, err := gzip.NewReader(in)
		if err != nil {
			return nil, fmt.Errorf("the image is gzip-compressed but unreadable: %w", err)
		}
		zr = gz
	} else {
		zd, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(zstdMaxMemory))
		if err != nil {
			return nil, fmt.Errorf("the image is zstd-compressed but unreadable: %w", err)
		}
		defer zd.Close()
		zr = zd
	}
	f, err := os.CreateTemp("", "wisp-image-*.tar")
	if err != nil {
		return nil, fmt.Errorf("inflate the image tarball: %w", err)
	}
	os.Remove(f.Name()) // the open descriptor keeps it until closed
	n, err := io.Copy(f, io.LimitReader(zr, maxBytes+1))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("inflate the image tarball: %w", tarErr(err))
	}
	if n > maxBytes {
		f.Close()
		return nil, fmt.Errorf("the image tarball inflates to more than %d bytes (the limit)", maxBytes)
	}
	s, err := openTar(f, n, maxBytes)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.cleanup = f.Close
	return s, nil
}

// dirSource reads an OCI image layout directory through an os.Root, so
// that a symlink in the layout cannot make it read outside.
type dirSource struct {
	root  *os.Root
	files []*os.File
}

func openDir(dir string) (*dirSource, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open image directory: %w", err)
	}
	return &dirSource{root: root}, nil
}

func (s *dirSource) open(name string) (*io.SectionReader, error) {
	f, err := s.root.Open(outerName(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errMissing
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	s.files = append(s.files, f)
	return io.NewSectionReader(f, 0, fi.Size()), nil
}

func (s *dirSource) close() error {
	for _, f := range s.files {
		f.Close()
	}
	return s.root.Close()
}

// tarErr makes archive/tar's and the decompressors' end-of-data errors say
// what they mean.
func tarErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated (unexpected end of data): %w", err)
	}
	return err
}
