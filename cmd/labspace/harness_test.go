package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labspace/labspace/client"
	"github.com/labspace/labspace/server"
	"sigs.k8s.io/yaml"
)

// Named timeouts: how long the tests wait for what a user waits for, on
// a busy 2-core machine.
const (
	serverStart  = 30 * time.Second
	commandLimit = 90 * time.Second // one CLI command, `ws wait` included
	phaseWait    = 60 * time.Second // a workspace reaching a phase
	cleanupWait  = 60 * time.Second // workspaces deleted and their processes gone
	serverClose  = 15 * time.Second
	pollInterval = 100 * time.Millisecond
)

const adminPassword = "admin-password-1"

// env is one in-process labspace server and a CLI config file of its own.
type env struct {
	t       *testing.T
	url     string
	dataDir string
	cfgPath string
	srv     *server.Server
	log     *syncBuffer
	admin   *client.Client // the API, as admin, for setup and checks
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts a server on a free port with a fresh data folder and
// points LABSPACE_CONFIG at a config file that does not exist yet. On
// cleanup every workspace is deleted, the test fails if any of their
// processes survive, and the server is closed.
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dataDir: filepath.Join(dir, "data"), cfgPath: filepath.Join(dir, "home", ".config", "labspace", "config.json"), log: &syncBuffer{}}
	t.Setenv("LABSPACE_CONFIG", e.cfgPath)
	ctx, cancel := context.WithTimeout(context.Background(), serverStart)
	defer cancel()
	srv, err := server.Open(ctx, server.Config{
		DataDir: e.dataDir, Addr: "127.0.0.1:0", AdminPassword: adminPassword, BcryptCost: 4,
		StopGrace: 2 * time.Second, Resync: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(e.log, nil)),
	})
	if err != nil {
		t.Fatalf("open server: %v", err)
	}
	e.srv, e.url = srv, srv.URL()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), serverClose)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close server: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.log)
		}
	})
	tok, err := client.New(e.url, "").Login(ctx, "admin", adminPassword)
	if err != nil {
		t.Fatalf("admin login: %v", err)
	}
	e.admin = client.New(e.url, tok.AccessToken)
	t.Cleanup(e.deleteWorkspaces) // runs before the server closes
	return e
}

// deleteWorkspaces deletes every workspace and waits until they, and every
// process they started, are gone.
func (e *env) deleteWorkspaces() {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), cleanupWait)
	defer cancel()
	list, err := e.admin.Workspaces(ctx, client.ListOptions{})
	if err != nil {
		t.Errorf("cleanup: list workspaces: %v", err)
		return
	}
	for _, w := range list {
		if _, err := e.admin.SetDesired(ctx, w.Project(), w.Name, "delete"); err != nil {
			t.Errorf("cleanup: delete %s/%s: %v", w.Project(), w.Name, err)
		}
	}
	for {
		list, err := e.admin.Workspaces(ctx, client.ListOptions{})
		procs := e.processes()
		if err == nil && len(list) == 0 && len(procs) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("cleanup: %d workspaces and processes %v remain (%v)", len(list), procs, err)
			return
		case <-time.After(pollInterval):
		}
	}
}

// processes returns the live processes the server's runtime started, read
// from the process table (the runtime marks their environment).
func (e *env) processes() []int {
	dir, _ := filepath.Abs(filepath.Join(e.dataDir, "workspaces"))
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + ent.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue // exited, not yet reaped
			}
		}
		raw, err := os.ReadFile("/proc/" + ent.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(raw), "\x00") {
			if kv == "LABSPACE_RUNTIME_DIR="+dir {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// result is what one run of the CLI did.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "labspace " + strings.Join(r.args, " ") + ": exit " + strconv.Itoa(r.code) +
		"\n--- stdout:\n" + r.stdout + "--- stderr:\n" + r.stderr
}

// cli runs the command line in-process, with empty standard input.
func (e *env) cli(args ...string) result { return e.cliIn("", args...) }

// cliIn runs the command line in-process with stdin as standard input.
func (e *env) cliIn(stdin string, args ...string) result {
	e.t.Helper()
	return runCLI(e.t, stdin, args...)
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// ok runs the command line and fails the test unless it exits 0.
func (e *env) ok(args ...string) result {
	e.t.Helper()
	r := e.cli(args...)
	if r.code != exitOK {
		e.t.Fatalf("want exit 0:\n%s", r)
	}
	return r
}

// fails runs the command line and checks its exit code and that stderr
// holds every one of msgs.
func (e *env) fails(code int, msgs []string, args ...string) result {
	e.t.Helper()
	return e.failsIn("", code, msgs, args...)
}

func (e *env) failsIn(stdin string, code int, msgs []string, args ...string) result {
	e.t.Helper()
	r := e.cliIn(stdin, args...)
	if r.code != code {
		e.t.Errorf("want exit %d:\n%s", code, r)
		return r
	}
	for _, m := range msgs {
		if !strings.Contains(r.stderr, m) {
			e.t.Errorf("stderr lacks %q:\n%s", m, r)
		}
	}
	if !strings.HasPrefix(r.stderr, "Error: ") && !strings.Contains(r.stderr, "\nError: ") {
		e.t.Errorf("stderr has no \"Error: \" line:\n%s", r)
	}
	return r
}

// login signs the CLI in as admin.
func (e *env) login() {
	e.t.Helper()
	r := e.cliIn(adminPassword+"\n", "login", e.url, "--username", "admin", "--password-stdin")
	if r.code != exitOK {
		e.t.Fatalf("login:\n%s", r)
	}
}

// writeFile writes content to a new file in a temporary folder.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// decodeJSON parses out as JSON into v, failing the test if it is not.
func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r)
	}
}

// decodeYAML parses out as YAML into v, failing the test if it is not.
func decodeYAML(t *testing.T, r result, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, r)
	}
}

// listed is the name of every item of a `list -o json` output.
type listed struct {
	Items []struct {
		Meta struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"meta"`
	} `json:"items"`
}

func (l listed) names() []string {
	var out []string
	for _, it := range l.Items {
		out = append(out, it.Meta.Name)
	}
	return out
}

// names lists the names of the objects `labspace <args> -o json` shows.
func (e *env) names(args ...string) []string {
	e.t.Helper()
	var l listed
	decodeJSON(e.t, e.ok(append(args, "-o", "json")...), &l)
	return l.names()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var columnGap = regexp.MustCompile(`\S+( \S+)*`)

// table checks that out is a table whose first line is exactly the header
// columns and whose every row has a value starting under each header
// column (what an aligned table looks like), and returns the rows as
// column -> value.
func table(t *testing.T, r result, header ...string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	cells := func(line string) ([]string, []int) {
		var vals []string
		var at []int
		for _, loc := range columnGap.FindAllStringIndex(line, -1) {
			vals = append(vals, line[loc[0]:loc[1]])
			at = append(at, loc[0])
		}
		return vals, at
	}
	head, cols := cells(lines[0])
	if strings.Join(head, "|") != strings.Join(header, "|") {
		t.Fatalf("header is %q, want %q:\n%s", head, header, r)
	}
	var rows []map[string]string
	for _, line := range lines[1:] {
		vals, at := cells(line)
		if len(vals) != len(cols) {
			t.Fatalf("row %q has %d cells, want %d:\n%s", line, len(vals), len(cols), r)
		}
		row := map[string]string{}
		for i := range vals {
			if at[i] != cols[i] {
				t.Fatalf("row %q: %s starts at column %d, its header at %d:\n%s", line, header[i], at[i], cols[i], r)
			}
			row[header[i]] = vals[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// pythonOrSkip skips tests that run workspaces where python3 is missing
// (the local runtime runs environments' commands on this host).
func pythonOrSkip(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is missing")
		}
		t.Skip("python3 is not installed")
	}
}
