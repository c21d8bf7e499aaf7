// Command image builds labspace's OCI image without Docker: a static
// labspace binary on an empty (scratch) base, running as the unprivileged
// user nonroot (65532), reproducibly (the same source and Go toolchain give
// the same digest: every timestamp comes from SOURCE_DATE_EPOCH or the
// commit).
//
//	go run ./tools/image -oci-layout out/          # an OCI image layout folder
//	go run ./tools/image -tarball labspace.tar     # for docker load / podman load
//	go run ./tools/image -push registry.example.com/labspace:v1
//
// It prints the image's digest on standard output, progress on standard
// error. Pushing takes credentials from ~/.docker/config.json (docker
// login, crane auth login, podman login with REGISTRY_AUTH_FILE).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// defaultSource is the org.opencontainers.image.source label.
const defaultSource = "https://github.com/labspace/labspace"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// cli is the command line.
type cli struct {
	arch, binary, caCerts  string
	version, source, tag   string
	ociLayout, tarballFile string
	push                   string
}

func parse(args []string, stderr io.Writer) (*cli, error) {
	c := &cli{}
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.arch, "arch", runtime.GOARCH, "GOARCH of the image (amd64, arm64, ...)")
	fs.StringVar(&c.binary, "binary", "", "use this linux labspace binary instead of building one (it should be static)")
	fs.StringVar(&c.caCerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied to /etc/ssl/certs/ca-certificates.crt")
	fs.StringVar(&c.version, "version", "", "org.opencontainers.image.version (default: git describe --tags --always --dirty, else dev)")
	fs.StringVar(&c.source, "source", defaultSource, "org.opencontainers.image.source")
	fs.StringVar(&c.tag, "tag", "", "the name and tag in the tarball and the layout (default: -push's reference, else labspace:VERSION)")
	fs.StringVar(&c.ociLayout, "oci-layout", "", "write an OCI image layout to this folder (its index.json is replaced)")
	fs.StringVar(&c.tarballFile, "tarball", "", "write a tarball that docker load and podman load read to this file")
	fs.StringVar(&c.push, "push", "", "push to this registry reference (e.g. registry.example.com/labspace:v1)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./tools/image [flags] (one or more of -oci-layout, -tarball, -push)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.ociLayout == "" && c.tarballFile == "" && c.push == "" {
		fs.Usage()
		return nil, errors.New("nothing to do: give -oci-layout, -tarball or -push")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	info, err := describe(ctx, ".")
	if err != nil {
		return err
	}
	if c.version == "" {
		c.version = info.version
	}
	tag, err := c.imageTag()
	if err != nil {
		return err
	}
	bin := c.binary
	if bin == "" {
		dir, err := os.MkdirTemp("", "labspace-image-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "labspace")
		fmt.Fprintf(stderr, "building labspace for linux/%s\n", c.arch)
		if err := buildBinary(ctx, c.arch, bin, stderr); err != nil {
			return err
		}
	}
	sp := spec{
		Arch: c.arch, Binary: bin, CACerts: c.caCerts, Created: info.epoch,
		Source: c.source, Revision: info.revision, Version: c.version,
	}
	img, err := assemble(sp)
	if err != nil {
		return err
	}
	if err := c.write(ctx, img, tag, stderr); err != nil {
		return err
	}
	return report(img, stdout, stderr)
}

// imageTag is the name and tag given to the tarball and the layout.
func (c *cli) imageTag() (name.Tag, error) {
	if c.tag != "" {
		return name.NewTag(c.tag)
	}
	if c.push != "" {
		if t, err := name.NewTag(c.push); err == nil {
			return t, nil
		}
	}
	if t, err := name.NewTag("labspace:" + c.version); err == nil {
		return t, nil
	}
	return name.NewTag("labspace:dev")
}

// write sends the image to every output asked for.
func (c *cli) write(ctx context.Context, img v1.Image, tag name.Tag, stderr io.Writer) error {
	if c.ociLayout != "" {
		if err := writeLayout(c.ociLayout, img, tag); err != nil {
			return fmt.Errorf("writing the OCI layout: %w", err)
		}
		fmt.Fprintf(stderr, "wrote the OCI layout %s (%s)\n", c.ociLayout, tag.TagStr())
	}
	if c.tarballFile != "" {
		if err := tarball.WriteToFile(c.tarballFile, tag, img); err != nil {
			return fmt.Errorf("writing the tarball: %w", err)
		}
		fmt.Fprintf(stderr, "wrote %s (%s)\n", c.tarballFile, tag)
	}
	if c.push != "" {
		ref, err := name.ParseReference(c.push)
		if err != nil {
			return err
		}
		err = remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("pushing %s: %w", ref, err)
		}
		d, _ := img.Digest()
		fmt.Fprintf(stderr, "pushed %s@%s\n", ref.Context(), d)
	}
	return nil
}

// writeLayout writes img as the only image of the OCI layout in dir.
func writeLayout(dir string, img v1.Image, tag name.Tag) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	return p.AppendImage(img,
		layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag.TagStr()}),
		layout.WithPlatform(v1.Platform{OS: cf.OS, Architecture: cf.Architecture}))
}

// report prints the digest on stdout and the sizes on stderr.
func report(img v1.Image, stdout, stderr io.Writer) error {
	d, err := img.Digest()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var size int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return err
		}
		size += n
	}
	fmt.Fprintf(stderr, "image %s: %d layer(s), %.1f MiB compressed\n", d, len(layers), float64(size)/(1<<20))
	fmt.Fprintln(stdout, d)
	return nil
}
