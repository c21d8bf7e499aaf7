package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/labspace/labspace/server"
)

// How long the tests wait for what users wait for, on a busy 2-core machine.
const (
	toolStart    = 60 * time.Second
	converge     = 60 * time.Second
	pollInterval = 50 * time.Millisecond
)

const adminPassword = "admin-password-1"

// echoTool is the workload of the "echo" environment: one HTTP server per
// tool port the runtime hands out (LABSPACE_PORT_<TOOL>), answering every
// request with what it received, as JSON, and setting three cookies: one
// for the whole site and another domain, one named like labspace's session,
// and a plain one. It contains no "$" so that $(VAR) expansion leaves it be.
const echoTool = `
import http.server, json, os, socketserver, threading

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def answer(self):
        n = int(self.headers.get('Content-Length') or 0)
        if n:
            self.rfile.read(n)
        headers = {}
        for k, v in self.headers.items():
            headers.setdefault(k.lower(), []).append(v)
        cookies = {}
        for line in headers.get('cookie', []):
            for part in line.split(';'):
                k, _, v = part.strip().partition('=')
                if k:
                    cookies[k] = v
        body = json.dumps({'tool': self.server.tool, 'method': self.command, 'path': self.path,
                           'headers': headers, 'cookies': cookies}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Set-Cookie', 'wide=w1; Path=/; Domain=example.com')
        self.send_header('Set-Cookie', 'labspace_session=from-the-tool; Path=/')
        self.send_header('Set-Cookie', 'plain=p1')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

servers = []
for key, port in sorted(os.environ.items()):
    if key.startswith('LABSPACE_PORT_'):
        s = Server(('127.0.0.1', int(port)), Handler)
        s.tool = key[len('LABSPACE_PORT_'):].lower()
        servers.append(s)
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
`

// forwardTool is the workload of the "forward" environment: a TCP
// forwarder from the tool's port to UPSTREAM_PORT on 127.0.0.1, so that a
// WebSocket server written in Go, started by the test, sits behind a real
// process that the runtime launches and watches.
const forwardTool = `
import os, socket, threading

upstream = ('127.0.0.1', int(os.environ['UPSTREAM_PORT']))

def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def handle(client):
    try:
        up = socket.create_connection(upstream)
    except OSError:
        client.close()
        return
    t = threading.Thread(target=pipe, args=(up, client), daemon=True)
    t.start()
    pipe(client, up)
    t.join()
    client.close()
    up.close()

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(('127.0.0.1', int(os.environ['PORT'])))
listener.listen(128)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
`

// env is a labspace server started in-process for one test, with the
// building blocks the tests use.
type env struct {
	t     *testing.T
	srv   *server.Server
	url   string
	host  string // host:port of the server
	dir   string
	admin string
}

var client = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func newEnv(t *testing.T, proxyDomain string, options ...func(*server.Config)) *env {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed; the tools of these tests are python3 programs")
	}
	dir := t.TempDir()
	cfg := server.Config{DataDir: dir, Addr: "127.0.0.1:0",
		AdminPassword: adminPassword, BcryptCost: 4, ProxyDomain: proxyDomain,
		StopGrace: time.Second, Resync: 500 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range options {
		o(&cfg)
	}
	s, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	e := &env{t: t, srv: s, url: s.URL(), host: s.Listener.Addr().String(), dir: dir}
	t.Cleanup(e.close)
	e.admin = e.login("admin", adminPassword)
	e.must(201, "POST", "/api/v1/compute-resources", e.admin, obj("tiny", "global", map[string]any{
		"cpuRequest": "100m", "memoryRequest": "64Mi", "memoryLimit": "256Mi"}))
	e.must(201, "POST", "/api/v1/environments", e.admin, obj("echo", "global", map[string]any{
		"image": "python:3-slim",
		"tools": []any{
			map[string]any{"name": "web", "type": "custom", "port": 8000, "stripPrefix": true},
			map[string]any{"name": "raw", "type": "custom", "port": 8001},
			map[string]any{"name": "secret", "type": "custom", "port": 8002, "private": true, "stripPrefix": true},
		},
		"command": []any{"python3", "-c", echoTool}}))
	e.must(201, "POST", "/api/v1/environments", e.admin, obj("forward", "global", map[string]any{
		"image":   "python:3-slim",
		"tools":   []any{map[string]any{"name": "ws", "type": "custom", "port": 8000, "stripPrefix": true}},
		"command": []any{"python3", "-c", forwardTool},
		"env":     []any{map[string]any{"name": "UPSTREAM_PORT", "fromUser": true}}}))
	return e
}

// close deletes every workspace and waits until they are gone, so that no
// tool process outlives the test, then stops the server. Processes that
// still carry this server's runtime marker after that are killed.
func (e *env) close() {
	t := e.t
	var list struct {
		Items []struct {
			Meta struct {
				Name  string
				Scope struct{ Name string }
			}
		}
	}
	if st, raw := e.call("GET", "/api/v1/workspaces?limit=1000", e.admin, nil, &list); st == 200 {
		for _, w := range list.Items {
			e.call("DELETE", "/api/v1/projects/"+w.Meta.Scope.Name+"/workspaces/"+w.Meta.Name, e.admin, nil, nil)
		}
		deadline := time.Now().Add(converge)
		for len(list.Items) > 0 && time.Now().Before(deadline) {
			time.Sleep(pollInterval)
			list.Items = nil
			e.call("GET", "/api/v1/workspaces?limit=1000", e.admin, nil, &list)
		}
		if len(list.Items) > 0 {
			t.Errorf("%d workspaces were not deleted within %s", len(list.Items), converge)
		}
	} else {
		t.Errorf("list workspaces: %d: %s", st, raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	if left := killWorkloads(filepath.Join(e.dir, "workspaces")); left > 0 {
		t.Errorf("%d tool process groups survived the deletion of their workspaces", left)
	}
}

// killWorkloads kills, by process group, the processes that the runtime in
// dir started, and says how many groups there were.
func killWorkloads(dir string) int {
	abs, _ := filepath.Abs(dir)
	groups := map[int]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + ent.Name() + "/environ")
		if err != nil || !bytes.Contains(raw, []byte("\x00LABSPACE_RUNTIME_DIR="+abs+"\x00")) &&
			!bytes.HasPrefix(raw, []byte("LABSPACE_RUNTIME_DIR="+abs+"\x00")) {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + ent.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid != syscall.Getpgrp() {
			groups[pgid] = true
		}
	}
	for g := range groups {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	return len(groups)
}

func obj(name, scope string, spec map[string]any) map[string]any {
	s := map[string]any{"type": "global"}
	if typ, n, ok := strings.Cut(scope, "/"); ok {
		s = map[string]any{"type": typ, "name": n}
	}
	return map[string]any{"meta": map[string]any{"name": name, "scope": s}, "spec": spec}
}

// call sends a JSON request to the API and decodes a JSON reply into out.
func (e *env) call(method, path, token string, body, out any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Errorf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return res.StatusCode, raw
}

func (e *env) must(status int, method, path, token string, body any) []byte {
	e.t.Helper()
	got, raw := e.call(method, path, token, body, nil)
	if got != status {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, got, status, raw)
	}
	return raw
}

func (e *env) login(user, password string) string {
	e.t.Helper()
	var tok struct{ AccessToken string }
	if st, raw := e.call("POST", "/api/v1/token", "", map[string]any{"username": user, "password": password}, &tok); st != 200 {
		e.t.Fatalf("sign in as %s: %d: %s", user, st, raw)
	}
	return tok.AccessToken
}

// user creates a user with role over project and returns its token.
func (e *env) user(name, role, project string) string {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/users", e.admin, map[string]any{"meta": map[string]any{"name": name}, "password": name + "-password"})
	e.grant(name, role, project)
	return e.login(name, name+"-password")
}

// grant gives user role over project.
func (e *env) grant(user, role, project string) {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/access-rules", e.admin, map[string]any{
		"meta": map[string]any{"scope": map[string]any{"type": "project", "name": project}},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": user}, "role": role}})
}

// in returns e reporting to t, for subtests.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (e *env) project(name string) {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/projects", e.admin, obj(name, "global", map[string]any{"quota": map[string]any{"gpus": 0}}))
}

// workspace creates a workspace of environment envName in project as the
// holder of token; desired is "" (run) or "Stopped".
func (e *env) workspace(token, project, name, envName, desired string, vars map[string]string) {
	e.t.Helper()
	body := map[string]any{"name": name, "environment": envName, "compute": "tiny"}
	if desired != "" {
		body["desiredPhase"] = desired
	}
	if vars != nil {
		body["env"] = vars
	}
	e.must(201, "POST", "/api/v1/projects/"+project+"/workspaces", token, body)
}

// waitPhase waits until the workspace reaches phase (a Running one that
// failed to bind its port is started again).
func (e *env) waitPhase(project, name, phase string, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	restarts := 0
	for {
		var w struct {
			Status struct{ Phase, PhaseReason, PhaseMessage string }
		}
		st, raw := e.call("GET", "/api/v1/projects/"+project+"/workspaces/"+name, e.admin, nil, &w)
		if st == 200 && w.Status.Phase == phase {
			return
		}
		if st == 200 && phase == "Running" && w.Status.Phase == "Failed" {
			if restarts < 3 && strings.Contains(w.Status.PhaseMessage, "Address already in use") {
				// The local runtime picks a free port and the tool binds
				// it later; on a busy host another process may take it
				// in between. That is the runtime's, not the proxy's.
				e.t.Logf("workspace %s/%s lost its port to another process; starting it again", project, name)
				restarts++
				e.must(202, "POST", "/api/v1/projects/"+project+"/workspaces/"+name+"/start", e.admin, nil)
				continue
			}
			e.t.Fatalf("workspace %s/%s failed (%s): %s", project, name, w.Status.PhaseReason, w.Status.PhaseMessage)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("workspace %s/%s is %s (%s: %s), want %s; last reply %d: %s", project, name, w.Status.Phase,
				w.Status.PhaseReason, w.Status.PhaseMessage, phase, st, raw)
		}
		time.Sleep(pollInterval)
	}
}

// reply is what came back through the proxy.
type reply struct {
	status int
	header http.Header
	raw    []byte
	echo   echo // when the tool answered
}

// echo is what the echo tool saw.
type echo struct {
	Tool    string              `json:"tool"`
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
	Cookies map[string]string   `json:"cookies"`
}

// get sends a GET through the proxy; each header is "Name: value", and a
// "Host: x" header sets the request's host.
func (e *env) get(path string, headers ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Add(k, v)
	}
	var r reply
	for deadline := time.Now().Add(converge); ; {
		res, err := client.Do(req)
		if err != nil {
			e.t.Fatalf("GET %s: %v", path, err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		r = reply{status: res.StatusCode, header: res.Header, raw: raw}
		if !reinitializing(r.status, raw) || time.Now().After(deadline) {
			break
		}
		time.Sleep(pollInterval)
	}
	if r.status == 200 {
		if err := json.Unmarshal(r.raw, &r.echo); err != nil {
			e.t.Fatalf("GET %s: the tool's reply is not its echo: %v: %s", path, err, r.raw)
		}
	}
	return r
}

// expect fails the test unless the reply has status want.
func (r reply) expect(t *testing.T, what string, want int) reply {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.raw)
	}
	if want != 200 {
		var p struct{ Status int }
		if err := json.Unmarshal(r.raw, &p); err != nil || p.Status != want ||
			!strings.Contains(r.header.Get("Content-Type"), "problem+json") {
			t.Errorf("%s: want a problem document with status %d, got %s (%s)", what, want, r.raw, r.header.Get("Content-Type"))
		}
	}
	return r
}

// reinitializing reports a 503 for a workspace that the controller has put
// back to Initializing: the local runtime's readiness probe (a 200ms
// connect to each tool) fails now and then on an overloaded host, and
// the workspace is Running again at the next probe. Requests that meet it
// are sent again; the proxy is right to refuse meanwhile.
func reinitializing(status int, raw []byte) bool {
	return status == http.StatusServiceUnavailable && bytes.Contains(raw, []byte("(the workspace is Initializing)"))
}

func bearer(token string) string { return "Authorization: Bearer " + token }

// echoSetup is a project "lab" with a running echo workspace "box" created
// by alice (l1-researcher); bob is another l1-researcher of "lab".
type echoSetup struct {
	*env
	alice, bob string
}

func newEchoSetup(t *testing.T, proxyDomain string) *echoSetup {
	e := newEnv(t, proxyDomain)
	e.project("lab")
	s := &echoSetup{env: e, alice: e.user("alice", "l1-researcher", "lab"), bob: e.user("bob", "l1-researcher", "lab")}
	e.workspace(s.alice, "lab", "box", "echo", "", nil)
	e.waitPhase("lab", "box", "Running", toolStart)
	return s
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	s := newEchoSetup(t, "")
	e := s.env
	const web = "/ws/lab/box/web/"

	e.get(web).expect(t, "anonymous", 401)
	e.get(web, bearer("lss_forged0000000000000000000000000000000")).expect(t, "forged token", 401)
	e.get(web, "Cookie: labspace_session=lss_forged").expect(t, "forged session cookie", 401)
	e.get(web, "Authorization: Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=").expect(t, "a password instead of a token", 401)
	e.get(web, bearer(s.alice)).expect(t, "alice", 200)

	t.Run("expired personal token", func(t *testing.T) {
		e := e.in(t)
		var tok struct {
			AccessToken string
			ExpiresAt   time.Time
		}
		if st, raw := e.call("POST", "/api/v1/tokens", s.alice, map[string]any{"name": "short", "expiresInSeconds": 1, "password": "alice-password"}, &tok); st != 201 {
			t.Fatalf("create token: %d: %s", st, raw)
		}
		r := e.get(web, bearer(tok.AccessToken))
		if time.Now().Before(tok.ExpiresAt) {
			// The whole request ran before the expiry: the token was good.
			r.expect(t, "personal token before its expiry", 200)
		}
		time.Sleep(time.Until(tok.ExpiresAt) + 100*time.Millisecond)
		e.get(web, bearer(tok.AccessToken)).expect(t, "expired personal token", 401)
		e.get(web, "Cookie: labspace_session="+tok.AccessToken).expect(t, "expired token as session cookie", 401)
	})

	t.Run("revoked token", func(t *testing.T) {
		e := e.in(t)
		tok := e.login("alice", "alice-password")
		e.get(web, bearer(tok)).expect(t, "alice before logout", 200)
		e.must(204, "POST", "/api/v1/logout", tok, nil)
		e.get(web, bearer(tok)).expect(t, "alice after logout", 401)
		e.get(web, "Cookie: labspace_session="+tok).expect(t, "alice's revoked session cookie", 401)
	})

	t.Run("other project", func(t *testing.T) {
		e := e.in(t)
		e.project("elsewhere")
		carol := e.user("carol", "l1-researcher", "elsewhere")
		for _, tool := range []string{"web", "raw", "secret", "nope"} {
			e.get("/ws/lab/box/"+tool+"/", bearer(carol)).expect(t, "carol, of another project, opens "+tool, 404)
		}
		e.get("/ws/lab/nothing/web/", bearer(carol)).expect(t, "carol, a workspace that does not exist", 404)
		e.get("/ws/nowhere/box/web/", bearer(carol)).expect(t, "carol, a project that does not exist", 404)
	})

	t.Run("unknown tool", func(t *testing.T) {
		e := e.in(t)
		e.get("/ws/lab/box/nope/", bearer(s.alice)).expect(t, "unknown tool", 404)
		e.get("/ws/lab/nothing/web/", bearer(s.alice)).expect(t, "unknown workspace", 404)
		e.get("/ws/lab/box/", bearer(s.alice)).expect(t, "no tool in the address", 404)
	})

	t.Run("private tool", func(t *testing.T) {
		e := e.in(t)
		r := e.get("/ws/lab/box/secret/x", bearer(s.alice)).expect(t, "alice opens her private tool", 200)
		if r.echo.Tool != "secret" || r.echo.Path != "/x" {
			t.Errorf("alice reached %q at %q, want secret at /x", r.echo.Tool, r.echo.Path)
		}
		e.get("/ws/lab/box/secret/x", bearer(s.bob)).expect(t, "bob opens alice's private tool", 403)
		e.get("/ws/lab/box/secret/x", "Cookie: labspace_session="+s.bob).expect(t, "bob's session opens alice's private tool", 403)
		// On labspace's own address a tool answers its creator only: its
		// pages would run with the authority of whoever opens them.
		r = e.get("/ws/lab/box/web/x", bearer(s.bob)).expect(t, "bob opens alice's public tool by path", 403)
		if !strings.Contains(string(r.raw), "creator alice only") {
			t.Errorf("the refusal does not say why: %s", r.raw)
		}
		code, raw := e.call("PUT", "/api/v1/projects/lab/workspaces/box/sharing", s.alice, map[string]any{"project": true}, nil)
		if code != 422 || !strings.Contains(string(raw), "--proxy-domain") {
			t.Errorf("sharing without tools on hosts of their own: %d %s, want 422", code, raw)
		}
	})

	t.Run("roles that may not connect", func(t *testing.T) {
		e := e.in(t)
		for _, role := range []string{"viewer", "editor"} {
			tok := e.user("a-"+role, role, "lab")
			e.get(web, bearer(tok)).expect(t, role+" opens alice's tool", 403)
		}
		// Reading a workspace is not enough to run code in it.
		e.must(201, "POST", "/api/v1/projects/lab/workspaces", e.admin, map[string]any{"name": "admins", "environment": "echo",
			"compute": "tiny", "desiredPhase": "Stopped"})
		vw := e.user("vw", "viewer", "lab")
		e.get("/ws/lab/admins/web/", bearer(vw)).expect(t, "a viewer opens the admin's tool", 403)
	})

	t.Run("a page of another site", func(t *testing.T) {
		e := e.in(t)
		req, _ := http.NewRequest("POST", e.url+web+"api/kernels", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+s.alice)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Errorf("a cross-site POST to alice's tool: %d, want 403", res.StatusCode)
		}
		e.get(web, bearer(s.alice), "Sec-Fetch-Site: cross-site").expect(t, "a cross-site navigation", 200)
	})

	t.Run("stopped workspace", func(t *testing.T) {
		e := e.in(t)
		e.workspace(s.alice, "lab", "idle", "echo", "Stopped", nil)
		e.waitPhase("lab", "idle", "Stopped", converge)
		e.get("/ws/lab/idle/web/", bearer(s.alice)).expect(t, "a workspace created stopped", 503)
		e.get("/ws/lab/idle/nope/", bearer(s.alice)).expect(t, "an unknown tool of a stopped workspace", 404)

		e.must(202, "POST", "/api/v1/projects/lab/workspaces/box/stop", s.alice, nil)
		e.waitPhase("lab", "box", "Stopped", converge)
		e.get(web, bearer(s.alice)).expect(t, "a workspace that was stopped", 503)
		e.get("/ws/lab/box/secret/", bearer(s.bob)).expect(t, "bob, a private tool of a stopped workspace", 403)

		// A browser gets a page with a way forward; the API keeps its problem.
		const browser = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
		page := e.get(web, bearer(s.alice), browser)
		if page.status != 503 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(page.raw), "<h1>box is stopped</h1>") ||
			!strings.Contains(string(page.raw), `href="`+e.url+`/projects/lab/workspaces/box">Start box on its page</a>`) {
			t.Errorf("a browser opening a stopped workspace's tool: %d %s\n%s", page.status, page.header.Get("Content-Type"), page.raw)
		}
		e.get(web, bearer(s.alice), "Accept: application/json").expect(t, "the API asking for a stopped workspace's tool", 503)
		// What the caller put in the address is written as text, never as
		// markup of labspace's page; another project's workspace is not named.
		page = e.get("/ws/lab/%3Cscript%3Ealert(1)%3C%2Fscript%3E/web/", bearer(s.alice), browser)
		if page.status != 404 || strings.Contains(string(page.raw), "<script>") || !strings.Contains(string(page.raw), "Back to labspace") {
			t.Errorf("a made-up address in a browser: %d\n%s", page.status, page.raw)
		}
		page = e.get("/ws/lab/box/secret/", bearer(s.bob), browser)
		if page.status != 403 || strings.Contains(string(page.raw), "Start box") {
			t.Errorf("bob, in a browser, a private tool: %d\n%s", page.status, page.raw)
		}
	})
}

func TestForwarding(t *testing.T) {
	t.Parallel()
	s := newEchoSetup(t, "")
	e := s.env

	t.Run("strip prefix", func(t *testing.T) {
		e := e.in(t)
		r := e.get("/ws/lab/box/web/some/path?q=1", bearer(s.alice), "Cookie: mine=m1; labspace_other=o1",
			"X-Custom: c1").expect(t, "alice opens web", 200)
		if r.echo.Tool != "web" || r.echo.Method != "GET" {
			t.Errorf("reached %s %q, want GET on web", r.echo.Method, r.echo.Tool)
		}
		if r.echo.Path != "/some/path?q=1" {
			t.Errorf("the tool saw %q, want /some/path?q=1 (the prefix stripped)", r.echo.Path)
		}
		checkClean(t, r.echo)
		if r.echo.Cookies["mine"] != "m1" {
			t.Errorf("the tool's own cookie did not arrive: %v", r.echo.Cookies)
		}
		if got := r.echo.Headers["x-custom"]; len(got) != 1 || got[0] != "c1" {
			t.Errorf("X-Custom arrived as %q", got)
		}
		if got := r.echo.Headers["host"]; len(got) != 1 || got[0] != e.host {
			t.Errorf("the tool saw Host %q, want the public %q", got, e.host)
		}
		if got := r.echo.Headers["x-forwarded-host"]; len(got) != 1 || got[0] != e.host {
			t.Errorf("the tool saw X-Forwarded-Host %q, want %q", got, e.host)
		}

		r = e.get("/ws/lab/box/web/", bearer(s.alice)).expect(t, "web's root", 200)
		if r.echo.Path != "/" {
			t.Errorf("the tool saw %q for its root, want /", r.echo.Path)
		}
		r = e.get("/ws/lab/box/web/a%20b/c", bearer(s.alice)).expect(t, "an escaped path", 200)
		if r.echo.Path != "/a%20b/c" {
			t.Errorf("the tool saw %q, want /a%%20b/c", r.echo.Path)
		}
		// An escaped slash stays escaped: it is part of a name, not a separator.
		r = e.get("/ws/lab/box/web/files/a%2Fb?x=%2F", bearer(s.alice)).expect(t, "an escaped slash", 200)
		if r.echo.Path != "/files/a%2Fb?x=%2F" {
			t.Errorf("the tool saw %q, want /files/a%%2Fb?x=%%2F", r.echo.Path)
		}

		// The tool's root without its slash is redirected to it (after
		// the checks), never forwarded with the prefix left on.
		e.get("/ws/lab/box/web").expect(t, "anonymous, web's root without its slash", 401)
		for path, want := range map[string]string{
			"/ws/lab/box/web":         "/ws/lab/box/web/",
			"/ws/lab/box/web?q=1&r=2": "/ws/lab/box/web/?q=1&r=2",
		} {
			r = e.get(path, bearer(s.alice))
			if r.status != http.StatusTemporaryRedirect || r.header.Get("Location") != want {
				t.Errorf("%s: %d to %q, want 307 to %s: %s", path, r.status, r.header.Get("Location"), want, r.raw)
			}
		}
	})

	t.Run("full path", func(t *testing.T) {
		e := e.in(t)
		r := e.get("/ws/lab/box/raw/some/path?q=1", bearer(s.alice), "Cookie: mine=m2").expect(t, "alice opens raw", 200)
		if r.echo.Tool != "raw" {
			t.Errorf("reached %q, want raw", r.echo.Tool)
		}
		if r.echo.Path != "/ws/lab/box/raw/some/path?q=1" {
			t.Errorf("the tool saw %q, want the full /ws/lab/box/raw/some/path?q=1", r.echo.Path)
		}
		checkClean(t, r.echo)
		if r.echo.Cookies["mine"] != "m2" {
			t.Errorf("the tool's own cookie did not arrive: %v", r.echo.Cookies)
		}
		// Without the slash too: such a tool handles its own base path.
		r = e.get("/ws/lab/box/raw", bearer(s.alice)).expect(t, "raw's root without its slash", 200)
		if r.echo.Path != "/ws/lab/box/raw" {
			t.Errorf("the tool saw %q, want /ws/lab/box/raw", r.echo.Path)
		}
		r = e.get("/ws/lab/box/raw/files/a%2Fb", bearer(s.alice)).expect(t, "raw, an escaped slash", 200)
		if r.echo.Path != "/ws/lab/box/raw/files/a%2Fb" {
			t.Errorf("the tool saw %q, want /ws/lab/box/raw/files/a%%2Fb", r.echo.Path)
		}
	})

	t.Run("session cookie", func(t *testing.T) {
		e := e.in(t)
		r := e.get("/ws/lab/box/web/some/path?q=1", "Cookie: labspace_session="+s.alice+"; mine=m3; labspace_x=y").
			expect(t, "alice's session cookie", 200)
		if r.echo.Tool != "web" || r.echo.Path != "/some/path?q=1" {
			t.Errorf("reached %q at %q, want web at /some/path?q=1", r.echo.Tool, r.echo.Path)
		}
		checkClean(t, r.echo)
		if r.echo.Cookies["mine"] != "m3" {
			t.Errorf("the tool's own cookie did not arrive: %v", r.echo.Cookies)
		}
		// The session cookie may come in a Cookie header of its own.
		r = e.get("/ws/lab/box/raw/", "Cookie: mine=m4", "Cookie: labspace_session="+s.alice).
			expect(t, "alice's session in a second Cookie header", 200)
		checkClean(t, r.echo)
		if r.echo.Cookies["mine"] != "m4" {
			t.Errorf("the tool's own cookie did not arrive: %v", r.echo.Cookies)
		}
	})

	t.Run("cookie confinement", func(t *testing.T) {
		e := e.in(t)
		r := e.get("/ws/lab/box/web/login", bearer(s.alice)).expect(t, "web sets cookies", 200)
		checkCookies(t, r.header, "/ws/lab/box/web")
		r = e.get("/ws/lab/box/raw/login", bearer(s.alice)).expect(t, "raw sets cookies", 200)
		checkCookies(t, r.header, "/ws/lab/box/raw")
	})
}

// checkClean fails unless the tool saw none of labspace's credentials.
// toolToken is what the tool may receive as Authorization: its
// workspace's tool token, never the caller's labspace token.
var toolToken = regexp.MustCompile(`^token [0-9a-f]{40}$`)

func checkClean(t *testing.T, ec echo) {
	t.Helper()
	if a := ec.Headers["authorization"]; len(a) != 1 || !toolToken.MatchString(a[0]) {
		t.Errorf("the tool received Authorization %q, want only its workspace's tool token", a)
	}
	for name := range ec.Cookies {
		if strings.HasPrefix(name, "labspace_") {
			t.Errorf("the tool received labspace's cookie %s", name)
		}
	}
	for _, line := range ec.Headers["cookie"] {
		if strings.Contains(line, "labspace_") {
			t.Errorf("the tool received a Cookie header with labspace's cookies: %q", line)
		}
	}
}

// checkCookies checks that a tool's cookies come back confined to path
// (Path=path, no Domain) and that its labspace_session is dropped.
func checkCookies(t *testing.T, h http.Header, path string) {
	t.Helper()
	got := map[string]*http.Cookie{}
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Errorf("unreadable Set-Cookie %q: %v", line, err)
			continue
		}
		if strings.Contains(strings.ToLower(line), "domain=") {
			t.Errorf("Set-Cookie %q keeps a Domain", line)
		}
		got[c.Name] = c
	}
	if _, ok := got["labspace_session"]; ok {
		t.Errorf("the tool's labspace_session cookie came through: %q", h.Values("Set-Cookie"))
	}
	for name, value := range map[string]string{"wide": "w1", "plain": "p1"} {
		c := got[name]
		switch {
		case c == nil:
			t.Errorf("cookie %s is missing: %q", name, h.Values("Set-Cookie"))
		case c.Value != value || c.Path != path || c.Domain != "":
			t.Errorf("cookie %s came back as %q, want value %s, Path=%s, no Domain", name, c.String(), value, path)
		}
	}
	if len(got) != 2 {
		t.Errorf("Set-Cookie: %q, want wide and plain only", h.Values("Set-Cookie"))
	}
}

func TestWebSocket(t *testing.T) {
	t.Parallel()
	// A read timeout far shorter than the WebSocket's life: tools lift it.
	e := newEnv(t, "", func(c *server.Config) { c.ReadTimeout = time.Second })

	// The echo server behind the python forwarder.
	type seen struct{ authorization, cookie string }
	upgrades := make(chan seen, 16)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	echoServer := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stream") {
			stream(w, release)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		upgrades <- seen{r.Header.Get("Authorization"), r.Header.Get("Cookie")}
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})}
	go echoServer.Serve(l)
	t.Cleanup(func() { echoServer.Close() })

	e.project("lab")
	alice := e.user("alice", "l1-researcher", "lab")
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	e.workspace(alice, "lab", "sock", "forward", "", map[string]string{"UPSTREAM_PORT": port})
	e.waitPhase("lab", "sock", "Running", toolStart)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wsURL := "ws://" + e.host + "/ws/lab/sock/ws/echo"

	// Without credentials the upgrade is refused.
	_, res, err := websocket.Dial(ctx, wsURL, nil)
	if err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("anonymous WebSocket: %v (response %v), want 401", err, res)
	}

	h := http.Header{}
	h.Set("Authorization", "Bearer "+alice)
	h.Set("Cookie", "mine=m1; labspace_session="+alice)
	c, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h})
	for err != nil && res != nil && res.StatusCode == http.StatusServiceUnavailable && ctx.Err() == nil {
		// See reinitializing.
		time.Sleep(pollInterval)
		c, res, err = websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h})
	}
	if err != nil {
		t.Fatalf("WebSocket through the proxy: %v (response %v)", err, res)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	for _, msg := range []string{"hello", "a longer message, " + strings.Repeat("x", 70000), "bye"} {
		if msg == "bye" {
			time.Sleep(1500 * time.Millisecond) // past the server's read timeout
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("write: %v", err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ != websocket.MessageText || string(got) != msg {
			t.Fatalf("echo: %v %.40q, want text %.40q", typ, got, msg)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case s := <-upgrades:
		if !toolToken.MatchString(s.authorization) || strings.Contains(s.cookie, "labspace_") || !strings.Contains(s.cookie, "mine=m1") {
			t.Errorf("the tool's upgrade request carried Authorization %q, Cookie %q; want the tool token and mine=m1 only", s.authorization, s.cookie)
		}
	default:
		t.Error("the echo server saw no upgrade")
	}

	checkStreaming(t, e, alice, release)

	// A tool whose process runs but does not answer: 502, as a problem.
	echoServer.Close()
	e.get("/ws/lab/sock/ws/", bearer(alice)).expect(t, "a tool that hangs up", http.StatusBadGateway)
}

// stream answers without a Content-Length, as logs and long polls do: a
// first line at once, the second once release is closed.
func stream(w http.ResponseWriter, release <-chan struct{}) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "first\n")
	_ = http.NewResponseController(w).Flush()
	select {
	case <-release:
	case <-time.After(25 * time.Second):
	}
	_, _ = io.WriteString(w, "second\n")
}

// checkStreaming reads the first line of a streamed response through the
// proxy while the tool still holds the rest back: the proxy must pass on
// what a tool flushes at once, not when the response ends.
func checkStreaming(t *testing.T, e *env, token string, release chan struct{}) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.url+"/ws/lab/sock/ws/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		close(release)
		t.Fatalf("streamed response: %v", err)
	}
	defer res.Body.Close()
	body := bufio.NewReader(res.Body)
	first, err := body.ReadString('\n')
	waited := time.Since(start)
	time.Sleep(1500 * time.Millisecond) // the stream outlives the server's read timeout
	close(release)
	if err != nil || first != "first\n" || waited > 10*time.Second {
		t.Fatalf("first line of a streamed response: %q, %v after %v; want \"first\" at once", first, err, waited)
	}
	if rest, err := io.ReadAll(body); err != nil || string(rest) != "second\n" {
		t.Errorf("rest of a streamed response: %q, %v; want \"second\"", rest, err)
	}
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}
