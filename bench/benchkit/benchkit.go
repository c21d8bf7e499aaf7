// Package benchkit holds what labspace's benchmark programs share: an
// in-process server, a small API client, progress lines, machine facts
// and CPU profiles.
package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace/server"
)

// AdminPassword is the admin's password on benchmark servers.
const AdminPassword = "bench-admin-password"

// Client calls labspace's REST API.
type Client struct {
	Base, Token string
	HC          *http.Client
}

// NewClient returns a client of the server at base, not signed in.
func NewClient(base string) *Client {
	return &Client{Base: base, HC: &http.Client{Timeout: time.Minute}}
}

// Do sends body as JSON (none when nil) and fails unless the reply has
// status want; it decodes the reply into out when out is not nil.
func (c *Client) Do(method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.HC.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %.300s", method, path, res.StatusCode, want, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// OpenServer starts a labspace server in this process with its data in
// dir, serving on a free loopback port. Its log shows errors only, and
// warnings when verbose.
func OpenServer(ctx context.Context, dir string, verbose bool) (*server.Server, error) {
	level := slog.LevelError
	if verbose {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := server.Open(ctx, server.Config{DataDir: dir, Addr: "127.0.0.1:0", AdminPassword: AdminPassword,
		BcryptCost: 4, Logger: logger, StopGrace: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	go func() {
		if err := srv.Serve(); err != nil {
			Progress("labspace serve: %v", err)
		}
	}()
	return srv, nil
}

// Progress prints a line on stderr, so that stdout stays the report.
func Progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// LoadAvg is the 1, 5 and 15 minute load average.
func LoadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if fs := strings.Fields(string(raw)); err == nil && len(fs) >= 3 {
		return strings.Join(fs[:3], " ")
	}
	return "?"
}

// CommandLine is how this run was started, arguments quoted where a shell needs it.
func CommandLine(prefix string) string {
	out := []string{prefix}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\"'$*?") {
			a = strconv.Quote(a)
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// WithProfile runs fn under the CPU profiler, writing to path (none: no profile).
func WithProfile(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return fn()
}

// Login returns a token of user on the client's server.
func (c *Client) Login(user, password string) (string, error) {
	var tok struct {
		AccessToken string `json:"accessToken"`
	}
	anon := &Client{Base: c.Base, HC: c.HC}
	err := anon.Do("POST", "/api/v1/token", map[string]any{"username": user, "password": password}, 200, &tok)
	return tok.AccessToken, err
}

// ToolBlocks names what CreateToolBlocks creates.
type ToolBlocks struct {
	Project, Compute, Environment, Tool string
	// Command runs the tool; it serves on $(PORT).
	Command []string
}

// CreateToolBlocks creates, as the client's user, a project without quota
// limits, a tiny compute resource (10m, 16Mi: a hundred fit on 2 cores)
// and an environment whose command serves one tool (none when b.Tool is "").
func (c *Client) CreateToolBlocks(b ToolBlocks) error {
	global := map[string]any{"type": "global"}
	tools := []map[string]any{}
	if b.Tool != "" {
		tools = append(tools, map[string]any{"name": b.Tool, "type": "custom", "port": 8000, "connection": "external-url"})
	}
	steps := []struct {
		path string
		body any
	}{
		{"/api/v1/projects", map[string]any{"meta": map[string]any{"name": b.Project, "scope": global},
			"spec": map[string]any{"quota": map[string]any{"gpus": 0}}}},
		{"/api/v1/compute-resources", map[string]any{"meta": map[string]any{"name": b.Compute, "scope": global},
			"spec": map[string]any{"cpuRequest": "10m", "memoryRequest": "16Mi"}}},
		{"/api/v1/environments", map[string]any{"meta": map[string]any{"name": b.Environment, "scope": global},
			"spec": map[string]any{"image": "local/" + b.Environment, "command": b.Command[:1], "args": b.Command[1:],
				"tools": tools}}},
	}
	for _, s := range steps {
		if err := c.Do("POST", s.path, s.body, 201, nil); err != nil {
			return err
		}
	}
	return nil
}

// Shareable copies exe where any user may run it (outside /tmp, which a
// workload's sandbox replaces) and returns the copy's path; the caller
// removes its folder.
func Shareable(exe string) (string, error) {
	dir, err := os.MkdirTemp("/var/tmp", "labspace-bench-")
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(exe)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(exe))
	return out, os.WriteFile(out, raw, 0o755)
}

// FreePort returns a TCP port free on 127.0.0.1 for a process to listen on.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
