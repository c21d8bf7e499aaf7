package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// labspacePackage is the command the image runs.
const labspacePackage = "github.com/labspace/labspace/cmd/labspace"

// buildEnv is the environment of the labspace build: static (the SQLite
// driver is pure Go), for linux/arch, with the architecture levels pinned
// to Go's defaults so that a GOAMD64 or GOARM64 in the caller's
// environment does not change the binary.
func buildEnv(arch string) []string {
	return append(os.Environ(),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOARM=7",
	)
}

// buildArgs builds labspace reproducibly: no file paths (-trimpath), no
// build ID, no VCS stamp (the image's labels carry the revision), no
// symbol table.
func buildArgs(out string) []string {
	return []string{
		"build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid=",
		"-o", out, labspacePackage,
	}
}

// buildBinary builds labspace for linux/arch into out. The current folder
// must be inside the labspace module.
func buildBinary(ctx context.Context, arch, out string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", buildArgs(out)...)
	cmd.Env = buildEnv(arch)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", labspacePackage, err)
	}
	return nil
}

// sourceInfo is what the labels and timestamps take from the checkout.
type sourceInfo struct {
	revision string    // git rev-parse HEAD, or ""
	version  string    // git describe --tags --always --dirty, or "dev"
	epoch    time.Time // see sourceEpoch
}

// describe reads the checkout in dir; without git (or outside a
// repository) the revision is empty and the version "dev".
func describe(ctx context.Context, dir string) (sourceInfo, error) {
	info := sourceInfo{
		revision: git(ctx, dir, "rev-parse", "HEAD"),
		version:  git(ctx, dir, "describe", "--tags", "--always", "--dirty"),
	}
	if info.version == "" {
		info.version = "dev"
	}
	var err error
	info.epoch, err = sourceEpoch(os.Getenv("SOURCE_DATE_EPOCH"), git(ctx, dir, "log", "-1", "--format=%ct", "HEAD"))
	return info, err
}

// sourceEpoch is every timestamp in the image: SOURCE_DATE_EPOCH if set
// (https://reproducible-builds.org/specs/source-date-epoch/), else the
// commit's time, else the Unix epoch.
func sourceEpoch(env, commit string) (time.Time, error) {
	if env != "" {
		n, err := strconv.ParseInt(env, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a count of seconds", env)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if n, err := strconv.ParseInt(commit, 10, 64); err == nil && n >= 0 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

// git runs git in dir and returns its trimmed output, or "" on any error.
func git(ctx context.Context, dir string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
