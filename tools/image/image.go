package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The unprivileged user and group the image runs as (distroless's
// nonroot).
const (
	nonrootID   = 65532
	nonrootName = "nonroot"
)

// The image's runtime settings.
var (
	entrypoint = []string{"/labspace"}
	command    = []string{"serve", "--addr", "0.0.0.0:8080", "--data-dir", "/data"}
)

const (
	exposedPort = "8080/tcp"
	caPath      = "etc/ssl/certs/ca-certificates.crt"
)

// spec is everything the image is made of: the same spec gives the same
// digest.
type spec struct {
	Arch     string    // GOARCH
	Binary   string    // the linux labspace binary, copied to /labspace
	CACerts  string    // CA bundle copied to /etc/ssl/certs/ca-certificates.crt
	Created  time.Time // every timestamp: file times, history, created
	Source   string    // org.opencontainers.image.source
	Revision string    // org.opencontainers.image.revision, omitted if empty
	Version  string    // org.opencontainers.image.version, omitted if empty
}

// entry is one file or folder of the layer.
type entry struct {
	path     string // without a leading slash; folders end in /
	mode     int64  // permission bits with the sticky bit (01000)
	uid, gid int
	data     []byte // nil for folders
}

func (e entry) dir() bool { return e.path[len(e.path)-1] == '/' }

// entries lists the image's files: root's unless said otherwise.
func entries(s spec) ([]entry, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, fmt.Errorf("the labspace binary: %w", err)
	}
	ca, err := os.ReadFile(s.CACerts)
	if err != nil {
		return nil, fmt.Errorf("the CA certificates (-ca-certs): %w", err)
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	es := []entry{
		{path: "data/", mode: 0o755, uid: nonrootID, gid: nonrootID},
		{path: "etc/", mode: 0o755},
		{path: "etc/group", mode: 0o644, data: []byte(group)},
		{path: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{path: "etc/ssl/", mode: 0o755},
		{path: "etc/ssl/certs/", mode: 0o755},
		{path: caPath, mode: 0o644, data: ca},
		{path: "home/", mode: 0o755},
		{path: "home/nonroot/", mode: 0o700, uid: nonrootID, gid: nonrootID},
		{path: "labspace", mode: 0o755, data: bin},
		{path: "tmp/", mode: 0o1777},
	}
	sort.Slice(es, func(i, j int) bool { return es[i].path < es[j].path })
	return es, nil
}

// layerTar is the uncompressed layer: entries in order, every header
// fixed (times, owners, names), so equal specs give equal bytes.
func layerTar(es []entry, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{
			Name:     e.path,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			Uname:    userName(e.uid),
			Gname:    userName(e.gid),
			ModTime:  mtime,
			Typeflag: tar.TypeReg,
			Size:     int64(len(e.data)),
		}
		if e.dir() {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func userName(id int) string {
	if id == nonrootID {
		return nonrootName
	}
	return "root"
}

// assemble makes the image: one layer on scratch, OCI media types.
func assemble(s spec) (v1.Image, error) {
	es, err := entries(s)
	if err != nil {
		return nil, err
	}
	raw, err := layerTar(es, s.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.DefaultCompression),
		tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: s.Created},
			CreatedBy: "go run ./tools/image",
			Comment:   "labspace, static, on scratch",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", s.Arch
	cf.Created = v1.Time{Time: s.Created}
	cf.Config = runConfig(s)
	return mutate.ConfigFile(img, cf)
}

// runConfig is how a runtime starts the image.
func runConfig(s spec) v1.Config {
	labels := map[string]string{"org.opencontainers.image.source": s.Source}
	if s.Revision != "" {
		labels["org.opencontainers.image.revision"] = s.Revision
	}
	if s.Version != "" {
		labels["org.opencontainers.image.version"] = s.Version
	}
	return v1.Config{
		User:         fmt.Sprintf("%d:%d", nonrootID, nonrootID),
		Entrypoint:   entrypoint,
		Cmd:          command,
		ExposedPorts: map[string]struct{}{exposedPort: {}},
		WorkingDir:   "/",
		Labels:       labels,
	}
}
