// Package e2e tests labspace through its real binary: built once, started
// as a process with a data folder, killed and restarted like an operator
// (or a crash) would.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Named timeouts: how long the tests wait for things users wait for.
const (
	serverStart  = 30 * time.Second
	toolStart    = 90 * time.Second // Jupyter on a busy 2-core machine
	converge     = 90 * time.Second
	pollInterval = 100 * time.Millisecond
)

const adminPassword = "admin-password-1"

var binary string

// afterAll runs once every test is done (shared fixtures stop there).
var afterAll []func()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "labspace-e2e")
	if err != nil {
		panic(err)
	}
	// Others may run it: a test starts labspace as an ordinary user.
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "labspace")
	build := exec.Command("go", "build", "-o", binary, "../cmd/labspace")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build labspace:", err)
		os.Exit(1)
	}
	code := m.Run()
	for _, f := range afterAll {
		f()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running labspace binary.
type server struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string
	dataDir string
	admin   string
	log     *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs `labspace serve` on addr with dataDir (and any further
// flags) and waits until it answers.
func startServer(t *testing.T, addr, dataDir string, flags ...string) *server {
	t.Helper()
	return startServerAs(t, nil, addr, dataDir, flags...)
}

// startServerAs is startServer as the user cred names (nil: this test's own).
func startServerAs(t *testing.T, cred *syscall.Credential, addr, dataDir string, flags ...string) *server {
	t.Helper()
	s := &server{t: t, addr: addr, dataDir: dataDir, log: &bytes.Buffer{}}
	s.cmd = exec.Command(binary, append([]string{"serve", "--addr", addr, "--data-dir", dataDir}, flags...)...)
	s.cmd.Env = append(os.Environ(), "LABSPACE_ADMIN_PASSWORD="+adminPassword)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.kill()
		// A killed server leaves its workloads running, as a crash would:
		// end them so that no test leaves processes behind.
		for _, groups := range processGroups(dataDir) {
			for g := range groups {
				_ = syscall.Kill(-g, syscall.SIGKILL)
			}
		}
	})
	deadline := time.Now().Add(serverStart)
	for {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("labspace did not start: %s", s.log)
		}
		time.Sleep(pollInterval)
	}
	var tok struct{ AccessToken string }
	s.must(200, "POST", "/api/v1/token", "", map[string]any{"username": "admin", "password": adminPassword}, &tok)
	s.admin = tok.AccessToken
	return s
}

// kill ends the server with SIGKILL, as a crash would; its workloads live on.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	}
}

// call sends a JSON request and decodes a JSON reply into out (if not nil).
func (s *server) call(method, path, token string, body, out any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, "http://"+s.addr+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		_ = json.Unmarshal(raw, out)
	}
	return res.StatusCode, raw
}

func (s *server) must(status int, method, path, token string, body, out any) []byte {
	s.t.Helper()
	got, raw := s.call(method, path, token, body, out)
	if got != status {
		s.t.Fatalf("%s %s: %d, want %d: %s", method, path, got, status, raw)
	}
	return raw
}

// workspace is the part of a workspace the tests read.
type workspace struct {
	Meta struct {
		ID   string
		Name string
	}
	DesiredPhase string
	Status       struct {
		Phase        string
		PhaseReason  string
		PhaseMessage string
	}
}

func (s *server) workspaces(project string) []workspace {
	var list struct{ Items []workspace }
	s.must(200, "GET", "/api/v1/projects/"+project+"/workspaces?limit=1000", s.admin, nil, &list)
	return list.Items
}

// waitPhase waits until workspace name reaches phase.
func (s *server) waitPhase(project, name, phase string, within time.Duration) workspace {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var w workspace
	for {
		s.must(200, "GET", "/api/v1/projects/"+project+"/workspaces/"+name, s.admin, nil, &w)
		if w.Status.Phase == phase {
			return w
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("workspace %s/%s is %s (%s: %s), want %s; server log ends:\n%s", project, name, w.Status.Phase,
				w.Status.PhaseReason, w.Status.PhaseMessage, phase, lastLines(s.log.String(), 20))
		}
		time.Sleep(pollInterval)
	}
}

// lastLines is the end of a log.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (s *server) project(name string, quota map[string]any) {
	s.t.Helper()
	s.must(201, "POST", "/api/v1/projects", s.admin, map[string]any{
		"meta": map[string]any{"name": name, "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"quota": quota}}, nil)
}

// processGroups returns, per workspace id, the process groups that run for
// the server's data folder, read from the process table itself.
func processGroups(dataDir string) map[string]map[int]bool {
	runtimeDir, _ := filepath.Abs(filepath.Join(dataDir, "workspaces"))
	out := map[string]map[int]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue // exited, not yet reaped
			}
		}
		var id, owner string
		for _, kv := range strings.Split(string(raw), "\x00") {
			if v, ok := strings.CutPrefix(kv, "LABSPACE_WORKSPACE_ID="); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(kv, "LABSPACE_RUNTIME_DIR="); ok {
				owner = v
			}
		}
		if id == "" || owner != runtimeDir {
			continue
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil {
			continue
		}
		if out[id] == nil {
			out[id] = map[int]bool{}
		}
		out[id][pgid] = true
	}
	return out
}

// requireTools fails in CI, and skips elsewhere, when a program the test
// needs is missing.
func requireTools(t *testing.T, names ...string) {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing: .ci/run installs it", n)
			}
			t.Skipf("%s is not installed (apt-get install jupyter-notebook python3-ipykernel)", n)
		}
	}
}
