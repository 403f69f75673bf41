// Package imagetest builds small container images for tests: layers from
// lists of entries, written as a docker save tarball (classic or Docker 25's
// OCI-style) or as an OCI image layout (a directory or a tar of one), and
// an image of Debian's busybox-static with a shell action loop that speaks
// docs/container-protocol.md, for end-to-end tests of blackbox actions.
//
// Images are built as a set of named files (Files) that tests may alter
// before writing — drop a layer, corrupt a blob — to make bad inputs.
package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Compression is how a layer blob is stored.
type Compression int

// Layer compressions.
const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

// Entry is one entry of a layer's tar. Type defaults to a regular file,
// Mode to 0644 for files and 0755 for directories.
type Entry struct {
	Name     string
	Type     byte
	Mode     int64
	Body     []byte
	Linkname string
	Uid, Gid int
}

// File is a regular file entry.
func File(name, body string) Entry { return Entry{Name: name, Body: []byte(body)} }

// Dir is a directory entry.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir} }

// Symlink is a symbolic link entry.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Linkname: target}
}

// Hardlink is a hard link entry.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Linkname: target}
}

// Whiteout is the entry that deletes name from lower layers.
func Whiteout(name string) Entry {
	return File(filepath.Join(filepath.Dir(name), ".wh."+filepath.Base(name)), "")
}

// Opaque is the entry that hides what lower layers hold under dir.
func Opaque(dir string) Entry { return File(dir+"/.wh..wh..opq", "") }

// Layer is one layer of an image.
type Layer struct {
	Entries     []Entry
	Compression Compression
	// Raw, if set, is the layer's uncompressed tar, instead of Entries
	// (for tests that craft or fuzz tar streams).
	Raw []byte
}

// Image describes an image to build.
type Image struct {
	Layers     []Layer
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	// Architecture defaults to this machine's.
	Architecture string
}

// mtime is every entry's modification time, so builds are reproducible.
var mtime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Tar returns the entries as an uncompressed tar stream.
func Tar(entries []Entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Linkname,
			Uid: e.Uid, Gid: e.Gid, ModTime: mtime, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar entry %q: %w", e.Name, err)
		}
		if _, err := tw.Write(e.Body); err != nil {
			return nil, fmt.Errorf("tar entry %q: %w", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func compress(b []byte, c Compression) ([]byte, error) {
	var buf bytes.Buffer
	switch c {
	case Uncompressed:
		return b, nil
	case Gzip:
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case Zstd:
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			return nil, err
		}
		zw.Write(b)
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// Digest is the sha256 digest of b, as images write it.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func hexOf(b []byte) string { return Digest(b)[len("sha256:"):] }

// built is an image's blobs before they are laid out.
type built struct {
	config    []byte
	layers    [][]byte // as stored
	diffIDs   []string
	mediaType []string
}

func (img Image) build() (*built, error) {
	b := &built{}
	for i, l := range img.Layers {
		raw, err := l.Raw, error(nil)
		if raw == nil {
			raw, err = Tar(l.Entries)
		}
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		blob, err := compress(raw, l.Compression)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i+1, err)
		}
		b.layers = append(b.layers, blob)
		b.diffIDs = append(b.diffIDs, Digest(raw))
		b.mediaType = append(b.mediaType, []string{
			"application/vnd.oci.image.layer.v1.tar",
			"application/vnd.oci.image.layer.v1.tar+gzip",
			"application/vnd.oci.image.layer.v1.tar+zstd"}[l.Compression])
	}
	arch := img.Architecture
	if arch == "" {
		arch = runtime.GOARCH
	}
	cfg := map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      mtime.Format(time.RFC3339),
		"config": map[string]any{
			"Entrypoint": img.Entrypoint,
			"Cmd":        img.Cmd,
			"Env":        img.Env,
			"WorkingDir": img.WorkingDir,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": b.diffIDs},
	}
	var err error
	if b.config, err = json.Marshal(cfg); err != nil {
		return nil, err
	}
	return b, nil
}

// Files is an image as named files, in the order a tarball holds them.
type Files struct {
	names []string
	data  map[string][]byte
}

// Set adds or replaces a file.
func (f *Files) Set(name string, data []byte) {
	if f.data == nil {
		f.data = map[string][]byte{}
	}
	if _, ok := f.data[name]; !ok {
		f.names = append(f.names, name)
	}
	f.data[name] = data
}

// Get returns a file's bytes, nil if there is none.
func (f *Files) Get(name string) []byte { return f.data[name] }

// Delete removes a file.
func (f *Files) Delete(name string) {
	delete(f.data, name)
	for i, n := range f.names {
		if n == name {
			f.names = append(f.names[:i], f.names[i+1:]...)
			break
		}
	}
}

// Names lists the files, in order.
func (f *Files) Names() []string { return append([]string(nil), f.names...) }

// Tar returns the files as a tarball (with their directories).
func (f *Files) Tar() ([]byte, error) {
	var buf bytes.Buffer
	if err := f.WriteTar(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteTar writes the files as a tarball (with their directories).
func (f *Files) WriteTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, n := range f.names {
		var parents []string
		for d := filepath.Dir(n); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		sort.Strings(parents)
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
				return err
			}
		}
		b := f.data[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b)), ModTime: mtime}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return tw.Close()
}

// WriteDir writes the files under dir (an OCI image layout directory).
func (f *Files) WriteDir(dir string) error {
	for _, n := range f.names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// DockerSave lays the image out as classic `docker save` (before Docker
// 25) writes it: <config hex>.json, <id>/layer.tar (uncompressed, whatever
// the layers' Compression), manifest.json. The layer ids are made up, as
// Docker's are not content digests either.
func (img Image) DockerSave() (*Files, error) {
	for i := range img.Layers {
		img.Layers[i].Compression = Uncompressed
	}
	b, err := img.build()
	if err != nil {
		return nil, err
	}
	f := &Files{}
	cfgName := hexOf(b.config) + ".json"
	var layers []string
	for i, l := range b.layers {
		id := hexOf([]byte(fmt.Sprintf("layer %d %s", i, b.diffIDs[i])))
		name := id + "/layer.tar"
		f.Set(id+"/VERSION", []byte("1.0"))
		f.Set(name, l)
		layers = append(layers, name)
	}
	f.Set(cfgName, b.config)
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"wisp/test:latest"}, "Layers": layers}})
	f.Set("manifest.json", man)
	return f, nil
}

// OCI lays the image out as an OCI image layout: oci-layout, index.json
// and blobs/sha256/. With docker set it also writes manifest.json naming
// the blobs, as `docker save` does since Docker 25.
func (img Image) OCI(docker bool) (*Files, error) {
	b, err := img.build()
	if err != nil {
		return nil, err
	}
	f := &Files{}
	f.Set("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int    `json:"size"`
	}
	var layers []desc
	var layerNames []string
	for i, l := range b.layers {
		f.Set("blobs/sha256/"+hexOf(l), l)
		layers = append(layers, desc{b.mediaType[i], Digest(l), len(l)})
		layerNames = append(layerNames, "blobs/sha256/"+hexOf(l))
	}
	f.Set("blobs/sha256/"+hexOf(b.config), b.config)
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc{"application/vnd.oci.image.config.v1+json", Digest(b.config), len(b.config)},
		"layers":        layers,
	})
	f.Set("blobs/sha256/"+hexOf(man), man)
	idx, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json",
			"digest":    Digest(man), "size": len(man),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": "latest"},
		}},
	})
	f.Set("index.json", idx)
	if docker {
		dm, _ := json.Marshal([]map[string]any{{"Config": "blobs/sha256/" + hexOf(b.config),
			"RepoTags": []string{"wisp/test:latest"}, "Layers": layerNames}})
		f.Set("manifest.json", dm)
	}
	return f, nil
}

// ManifestDigest returns the digest of the image manifest an OCI layout's
// index.json names, for tests that alter it.
func (f *Files) ManifestDigest() (string, error) {
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(f.Get("index.json"), &idx); err != nil || len(idx.Manifests) == 0 {
		return "", fmt.Errorf("no manifest in index.json: %v", err)
	}
	return idx.Manifests[0].Digest, nil
}
