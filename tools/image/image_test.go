package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The labspace binary is built once for the whole package (a cold build
// takes minutes on 2 cores); every image is assembled from it.
var (
	buildDir  string
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "labspace-image-test-")
	if err != nil {
		panic(err)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// labspaceBinary builds labspace for this machine, once.
func labspaceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtBin = filepath.Join(buildDir, "labspace")
		var out bytes.Buffer
		start := time.Now()
		if err := buildBinary(context.Background(), runtime.GOARCH, builtBin, &out); err != nil {
			buildErr = errors.New(err.Error() + "\n" + out.String())
		}
		t.Logf("built labspace in %s", time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// epoch is the test images' timestamp: 2023-11-14T22:13:20Z.
var epoch = time.Unix(1700000000, 0).UTC()

func testSpec(t *testing.T) spec {
	return spec{
		Arch: runtime.GOARCH, Binary: labspaceBinary(t), CACerts: "/etc/ssl/certs/ca-certificates.crt",
		Created: epoch, Source: defaultSource, Revision: "0123456789abcdef0123456789abcdef01234567", Version: "v0.0.0-test",
	}
}

// writeTestLayout assembles the image from s into the layout folder dir
// and reads it back from there.
func writeTestLayout(t *testing.T, s spec, dir string) v1.Image {
	t.Helper()
	built, err := assemble(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeLayout(dir, built, mustTag(t, "labspace:test")); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("the layout holds %d manifests, want 1", len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// shared is one image, read from a layout, for the tests that only look
// at it.
var shared struct {
	once sync.Once
	img  v1.Image
}

func sharedImage(t *testing.T) v1.Image {
	t.Helper()
	shared.once.Do(func() {
		shared.img = writeTestLayout(t, testSpec(t), filepath.Join(buildDir, "layout"))
	})
	if shared.img == nil {
		t.Fatal("the shared image was not made (see the first test that asked for it)")
	}
	return shared.img
}

// TestImageReproducible assembles the image twice from the same binary
// into two layouts: same digest, byte-identical layouts.
func TestImageReproducible(t *testing.T) {
	s := testSpec(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	imgA, imgB := writeTestLayout(t, s, dirA), writeTestLayout(t, s, dirB)
	da, db := digest(t, imgA), digest(t, imgB)
	if da != db {
		t.Fatalf("two builds differ: %s and %s", da, db)
	}
	t.Logf("image %s", da)
	if a, b := treeSums(t, dirA), treeSums(t, dirB); !reflect.DeepEqual(a, b) {
		t.Fatalf("the layouts differ:\n%v\n%v", a, b)
	}
	// The timestamp is part of the image: another epoch, another digest.
	s.Created = s.Created.Add(time.Second)
	other, err := assemble(s)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, other) == da {
		t.Fatal("changing the timestamp kept the digest")
	}
}

// TestBuildDeterministic builds labspace a second time and compares the
// binaries. (The second build finds the compiled packages in Go's build
// cache, so this checks the link, where build IDs and paths would differ.)
func TestBuildDeterministic(t *testing.T) {
	first := labspaceBinary(t)
	second := filepath.Join(t.TempDir(), "labspace")
	var out bytes.Buffer
	if err := buildBinary(context.Background(), runtime.GOARCH, second, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if a, b := fileSum(t, first), fileSum(t, second); a != b {
		t.Fatalf("two builds of labspace differ: %x and %x", a, b)
	}
}

func TestImageConfig(t *testing.T) {
	img := sharedImage(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("User %q, want 65532:65532", c.User)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/labspace"}) {
		t.Errorf("Entrypoint %q, want [/labspace]", c.Entrypoint)
	}
	wantCmd := []string{"serve", "--addr", "0.0.0.0:8080", "--data-dir", "/data"}
	if !reflect.DeepEqual(c.Cmd, wantCmd) {
		t.Errorf("Cmd %q, want %q", c.Cmd, wantCmd)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v, want 8080/tcp", c.ExposedPorts)
	}
	if c.WorkingDir != "/" {
		t.Errorf("WorkingDir %q, want /", c.WorkingDir)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   defaultSource,
		"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
		"org.opencontainers.image.version":  "v0.0.0-test",
	}
	if !reflect.DeepEqual(c.Labels, wantLabels) {
		t.Errorf("Labels %v, want %v", c.Labels, wantLabels)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if !cf.Created.Time.Equal(epoch) || len(cf.History) != 1 || !cf.History[0].Created.Time.Equal(epoch) {
		t.Errorf("created %v, history %v: want every time %v", cf.Created, cf.History, epoch)
	}
	mt, err := img.MediaType()
	if err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %q (%v), want %q", mt, err, types.OCIManifestSchema1)
	}
}

// layerEntry is a file of the layer as read back.
type layerEntry struct {
	hdr  *tar.Header
	data []byte
}

// readLayer reads the image's only layer.
func readLayer(t *testing.T, img v1.Image) ([]string, map[string]layerEntry) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	files := map[string]layerEntry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		files[h.Name] = layerEntry{h, data}
	}
	return names, files
}

func TestImageLayer(t *testing.T) {
	names, files := readLayer(t, sharedImage(t))
	if !sort.StringsAreSorted(names) {
		t.Errorf("the layer's entries are not in order: %q", names)
	}
	for _, n := range names {
		if h := files[n].hdr; !h.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v, want %v", n, h.ModTime, epoch)
		}
	}
	check := func(path string, typ byte, mode int64, uid int) {
		t.Helper()
		e, ok := files[path]
		if !ok {
			t.Errorf("no %s in the layer (it has %q)", path, names)
			return
		}
		h := e.hdr
		if h.Typeflag != typ || h.Mode != mode || h.Uid != uid || h.Gid != uid {
			t.Errorf("%s: type %c mode %#o owner %d:%d, want type %c mode %#o owner %d:%d",
				path, h.Typeflag, h.Mode, h.Uid, h.Gid, typ, mode, uid, uid)
		}
	}
	check("labspace", tar.TypeReg, 0o755, 0)
	check("data/", tar.TypeDir, 0o755, nonrootID)
	check("tmp/", tar.TypeDir, 0o1777, 0)
	check("etc/passwd", tar.TypeReg, 0o644, 0)
	check("etc/group", tar.TypeReg, 0o644, 0)
	check(caPath, tar.TypeReg, 0o644, 0)
	if p := string(files["etc/passwd"].data); !strings.Contains(p, "\nnonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", p)
	}
	if g := string(files["etc/group"].data); !strings.Contains(g, "\nnonroot:x:65532:") {
		t.Errorf("/etc/group has no nonroot group 65532:\n%s", g)
	}
	host, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files[caPath].data, host) {
		t.Error("the image's CA bundle is not the host's")
	}
}

// TestImageBinaryRuns takes /labspace out of the image and runs it.
func TestImageBinaryRuns(t *testing.T) {
	_, files := readLayer(t, sharedImage(t))
	bin := filepath.Join(t.TempDir(), "labspace")
	if err := os.WriteFile(bin, files["labspace"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("labspace serve --help: %v\n%s", err, out)
	}
	for _, want := range []string{"--data-dir", "--addr"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("labspace serve --help does not mention %s:\n%s", want, out)
		}
	}
}

// TestRun runs the command as a person would (with -binary, not to build
// again): layout and tarball hold the printed digest, twice over.
func TestRun(t *testing.T) {
	bin := labspaceBinary(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	var digests []string
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		lay, tb := filepath.Join(dir, "out"), filepath.Join(dir, "labspace.tar")
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"-binary", bin, "-oci-layout", lay, "-tarball", tb, "-tag", "example.com/labspace:t"}, &stdout, &stderr)
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
		d := strings.TrimSpace(stdout.String())
		digests = append(digests, d)
		tag := mustTag(t, "example.com/labspace:t")
		fromTar, err := tarball.ImageFromPath(tb, &tag)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := layout.ImageIndexFromPath(lay)
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != d {
			t.Fatalf("the layout holds %v, the command printed %s", m.Manifests, d)
		}
		fromLayout, err := idx.Image(m.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		// docker save's format has no manifest of ours (docker load makes
		// one): the tarball holds the same config and layer.
		if a, b := configName(t, fromTar), configName(t, fromLayout); a != b {
			t.Errorf("the tarball's config is %s, the layout's %s", a, b)
		}
		cf, err := fromTar.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if !cf.Created.Time.Equal(epoch) {
			t.Errorf("created %v, want SOURCE_DATE_EPOCH's %v", cf.Created, epoch)
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("two runs printed %s and %s", digests[0], digests[1])
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"-oci-layout", "x", "extra"}, {"-no-such-flag"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

func TestSourceEpoch(t *testing.T) {
	for _, c := range []struct {
		env, commit string
		want        int64
		err         bool
	}{
		{"1700000000", "1600000000", 1700000000, false},
		{"", "1600000000", 1600000000, false},
		{"", "", 0, false},
		{"soon", "1600000000", 0, true},
		{"-5", "", 0, true},
	} {
		got, err := sourceEpoch(c.env, c.commit)
		if (err != nil) != c.err || (err == nil && got.Unix() != c.want) {
			t.Errorf("sourceEpoch(%q, %q) = %v, %v; want %d (error %v)", c.env, c.commit, got, err, c.want, c.err)
		}
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func configName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fileSum(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// treeSums maps every file under dir to its SHA-256.
func treeSums(t *testing.T, dir string) map[string][sha256.Size]byte {
	t.Helper()
	sums := map[string][sha256.Size]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sums[rel] = fileSum(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}
