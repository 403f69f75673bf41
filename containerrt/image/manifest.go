package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"
)

// maxMetadata bounds each JSON document of an image (index, manifest,
// config): real ones are kilobytes.
const maxMetadata = 4 << 20

// Media types an image's documents may carry (OCI and Docker's v2 schema 2).
const (
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Platform  *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

// layerRef is one layer to apply: where its bytes are and what they must
// hash to ("" where the format does not say).
type layerRef struct {
	name      string // path in the source
	mediaType string
	digest    string // of the blob as stored (compressed or not)
	size      int64  // of the blob, -1 if unknown
	diffID    string // of the uncompressed tar, from the config
}

// image is a resolved image: its parsed config and its layers, lowest first.
type image struct {
	format       string // "OCI image layout" or "docker save tarball"
	configDigest string
	config       imageConfig
	layers       []layerRef
}

// imageConfig is the part of an image configuration Wisp uses.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		Env        []string `json:"Env"`
		WorkingDir string   `json:"WorkingDir"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// isHexDigest reports whether s is a SHA-256 digest's 64 lowercase hex
// digits (checked by hand: the regexp cost a millisecond at every start
// of the binary).
func isHexDigest(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// checkDigest validates a digest string and returns its hex part.
func checkDigest(d string) (string, error) {
	alg, hx, ok := strings.Cut(d, ":")
	if !ok {
		return "", fmt.Errorf("malformed digest %q", d)
	}
	if alg != "sha256" {
		return "", fmt.Errorf("digest %q uses %q; only sha256 is supported", d, alg)
	}
	if !isHexDigest(hx) {
		return "", fmt.Errorf("malformed digest %q", d)
	}
	return hx, nil
}

// blobPath is where an OCI layout keeps the blob of a digest.
func blobPath(d string) (string, error) {
	hx, err := checkDigest(d)
	if err != nil {
		return "", err
	}
	return "blobs/sha256/" + hx, nil
}

// readDoc reads a JSON document of the source, checking its size and, if
// digest is not empty, its sha256.
func readDoc(src source, name, what, digest string, size int64) ([]byte, error) {
	sr, err := src.open(name)
	if err != nil {
		return nil, fmt.Errorf("the image's %s (%s) is %w", what, name, err)
	}
	if sr.Size() > maxMetadata {
		return nil, fmt.Errorf("the image's %s (%s) is %d bytes, more than the limit of %d", what, name, sr.Size(), maxMetadata)
	}
	if size >= 0 && sr.Size() != size {
		return nil, fmt.Errorf("the image's %s (%s) is %d bytes, but its descriptor says %d", what, name, sr.Size(), size)
	}
	b, err := io.ReadAll(sr)
	if err != nil {
		return nil, fmt.Errorf("read the image's %s (%s): %w", what, name, tarErr(err))
	}
	if digest != "" {
		sum := sha256.Sum256(b)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
			return nil, fmt.Errorf("the image's %s (%s) has digest %s, not %s: it is corrupt or was altered", what, name, got, digest)
		}
	}
	return b, nil
}

// resolve reads an image's index or manifest and config from src. An OCI
// layout (index.json) is preferred to docker's manifest.json when both are
// there (Docker 25 and later write both), since it carries more digests.
func resolve(src source) (*image, error) {
	for _, f := range []struct {
		name    string
		resolve func(source) (*image, error)
	}{{"index.json", resolveOCI}, {"manifest.json", resolveDockerSave}} {
		_, err := src.open(f.name)
		if err == nil {
			return f.resolve(src)
		}
		if !errors.Is(err, errMissing) {
			return nil, fmt.Errorf("the image's %s: %w", f.name, err)
		}
	}
	return nil, errors.New("the image holds neither index.json (an OCI image layout) nor manifest.json (a docker save tarball)")
}

func resolveOCI(src source) (*image, error) {
	if b, err := readDoc(src, "oci-layout", "oci-layout file", "", -1); err == nil {
		var l struct {
			Version string `json:"imageLayoutVersion"`
		}
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("the image's oci-layout file is not valid JSON: %w", err)
		}
		if major, _, _ := strings.Cut(l.Version, "."); major != "1" {
			return nil, fmt.Errorf("the image's OCI layout version is %q; only 1.x is supported", l.Version)
		}
	} else if !errors.Is(err, errMissing) {
		return nil, err
	}
	b, err := readDoc(src, "index.json", "index", "", -1)
	if err != nil {
		return nil, err
	}
	var m descriptor
	if m, err = pickManifest(src, b, "index.json", 0); err != nil {
		return nil, err
	}
	name, err := blobPath(m.Digest)
	if err != nil {
		return nil, fmt.Errorf("the image's manifest: %w", err)
	}
	b, err = readDoc(src, name, "manifest", m.Digest, m.Size)
	if err != nil {
		return nil, err
	}
	var man struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(b, &man); err != nil {
		return nil, fmt.Errorf("the image's manifest (%s) is not valid JSON: %w", name, err)
	}
	if man.Config.Digest == "" {
		return nil, fmt.Errorf("the image's manifest (%s) names no config", name)
	}
	cfgName, err := blobPath(man.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("the image's config: %w", err)
	}
	img := &image{format: "OCI image layout"}
	if err := img.readConfig(src, cfgName, man.Config.Digest, man.Config.Size); err != nil {
		return nil, err
	}
	for i, l := range man.Layers {
		if !isLayerType(l.MediaType) {
			return nil, fmt.Errorf("layer %d of the image's manifest has media type %q, which is not a layer Wisp can unpack", i+1, l.MediaType)
		}
		p, err := blobPath(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("layer %d of the image's manifest: %w", i+1, err)
		}
		img.layers = append(img.layers, layerRef{name: p, mediaType: l.MediaType, digest: l.Digest, size: l.Size})
	}
	return img, img.matchDiffIDs()
}

// pickManifest chooses the image manifest of an index: the one for this
// machine's platform, descending into nested indexes (a multi-platform
// image saved by Docker's containerd store).
func pickManifest(src source, b []byte, name string, depth int) (descriptor, error) {
	if depth > 4 {
		return descriptor{}, errors.New("the image's indexes nest too deeply")
	}
	var idx struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return descriptor{}, fmt.Errorf("the image's index (%s) is not valid JSON: %w", name, err)
	}
	var fit []descriptor
	var platforms []string
	for _, d := range idx.Manifests {
		if d.Platform != nil {
			platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
			if d.Platform.OS != "linux" || d.Platform.Architecture != runtime.GOARCH {
				continue
			}
		}
		switch d.MediaType {
		case mtOCIManifest, mtDockerManifest, mtOCIIndex, mtDockerList, "":
			// One image under several names (tags) is listed once each.
			if !slices.ContainsFunc(fit, func(f descriptor) bool { return f.Digest == d.Digest }) {
				fit = append(fit, d)
			}
		}
	}
	switch {
	case len(fit) == 0 && len(platforms) > 0:
		return descriptor{}, fmt.Errorf("the image has no manifest for linux/%s (it has %s)", runtime.GOARCH, strings.Join(platforms, ", "))
	case len(fit) == 0:
		return descriptor{}, fmt.Errorf("the image's index (%s) lists no image manifest", name)
	case len(fit) > 1 && depth == 0:
		return descriptor{}, fmt.Errorf("the image's index lists %d images; give one image at a time", len(fit))
	}
	d := fit[0]
	if d.MediaType != mtOCIIndex && d.MediaType != mtDockerList {
		return d, nil
	}
	p, err := blobPath(d.Digest)
	if err != nil {
		return descriptor{}, fmt.Errorf("the image's index: %w", err)
	}
	nb, err := readDoc(src, p, "index", d.Digest, d.Size)
	if err != nil {
		return descriptor{}, err
	}
	return pickManifest(src, nb, p, depth+1)
}

func isLayerType(mt string) bool {
	switch mt {
	case "", "application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
		return true
	}
	return strings.HasPrefix(mt, "application/vnd.oci.image.layer.")
}

func resolveDockerSave(src source) (*image, error) {
	b, err := readDoc(src, "manifest.json", "manifest.json", "", -1)
	if err != nil {
		return nil, err
	}
	var ms []struct {
		Config string   `json:"Config"`
		Layers []string `json:"Layers"`
	}
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("the image's manifest.json is not valid: %w", err)
	}
	switch {
	case len(ms) == 0:
		return nil, errors.New("the image's manifest.json lists no image")
	case len(ms) > 1:
		return nil, fmt.Errorf("the docker save tarball holds %d images; save one image at a time", len(ms))
	}
	m := ms[0]
	if m.Config == "" {
		return nil, errors.New("the image's manifest.json names no config")
	}
	img := &image{format: "docker save tarball"}
	// Docker names the config by its digest: <hex>.json before Docker 25,
	// blobs/sha256/<hex> since.
	if err := img.readConfig(src, m.Config, digestFromName(m.Config), -1); err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		img.layers = append(img.layers, layerRef{name: l, digest: digestFromName(l), size: -1})
	}
	return img, img.matchDiffIDs()
}

// digestFromName recovers the digest Docker encodes in a file's name, or "".
func digestFromName(name string) string {
	base := strings.TrimSuffix(path.Base(name), ".json")
	if isHexDigest(base) && (strings.HasSuffix(name, ".json") || path.Dir(outerName(name)) == "blobs/sha256") {
		return "sha256:" + base
	}
	return ""
}

func (img *image) readConfig(src source, name, digest string, size int64) error {
	b, err := readDoc(src, name, "config", digest, size)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	img.configDigest = "sha256:" + hex.EncodeToString(sum[:])
	if err := json.Unmarshal(b, &img.config); err != nil {
		return fmt.Errorf("the image's config (%s) is not valid JSON: %w", name, err)
	}
	c := img.config
	if c.OS != "" && c.OS != "linux" {
		return fmt.Errorf("the image is for %s, not linux", c.OS)
	}
	if c.Architecture != "" && c.Architecture != runtime.GOARCH {
		return fmt.Errorf("the image is for %s, but this machine runs %s", c.Architecture, runtime.GOARCH)
	}
	if len(c.Config.Entrypoint)+len(c.Config.Cmd) == 0 {
		return errors.New("the image's config has neither Entrypoint nor Cmd: Wisp would not know what to run")
	}
	for _, e := range c.Config.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("the image's config has a malformed Env entry %q", e)
		}
	}
	return nil
}

// matchDiffIDs pairs each layer with its diff_id from the config, which
// both formats carry and which is the only digest an old docker save
// tarball has for its layers.
func (img *image) matchDiffIDs() error {
	ids := img.config.RootFS.DiffIDs
	if len(img.layers) == 0 {
		return errors.New("the image has no layers")
	}
	if len(ids) != len(img.layers) {
		return fmt.Errorf("the image's manifest lists %d layers but its config's rootfs has %d diff_ids", len(img.layers), len(ids))
	}
	for i, id := range ids {
		if _, err := checkDigest(id); err != nil {
			return fmt.Errorf("the image's config: diff_id %d: %w", i+1, err)
		}
		img.layers[i].diffID = id
	}
	return nil
}

// runtimeConfig derives what runtime.json holds from the image's config.
func (img *image) runtimeConfig() *Config {
	c := img.config.Config
	cfg := &Config{Cwd: "/"}
	cfg.Args = append(append(cfg.Args, c.Entrypoint...), c.Cmd...)
	hasPath := false
	for _, e := range c.Env {
		if strings.HasPrefix(e, "PATH=") {
			hasPath = true
		}
		cfg.Env = append(cfg.Env, e)
	}
	if !hasPath {
		cfg.Env = append([]string{DefaultPath}, cfg.Env...)
	}
	if c.WorkingDir != "" {
		cfg.Cwd = path.Clean("/" + c.WorkingDir)
	}
	return cfg
}
