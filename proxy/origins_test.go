package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace/server"
)

// Tools on hosts of their own (origins.go): the hand-over through a
// ticket, a cookie that opens one tool only, and sharing.
func TestSubdomain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "tools.test")
	e.project("my-proj")
	alice := e.user("alice", "l1-researcher", "my-proj")
	bob := e.user("bob", "l1-researcher", "my-proj")
	vw := e.user("vw", "viewer", "my-proj")
	// A decoy: another split of the same label names a project alice may
	// see, which has no workspace my-ws.
	e.project("proj")
	e.grant("alice", "l1-researcher", "proj")
	e.workspace(alice, "my-proj", "my-ws", "echo", "", nil)
	e.waitPhase("my-proj", "my-ws", "Running", toolStart)
	rawHost := "raw-my-ws-my-proj.tools.test:" + port(e.host)

	r := e.get("/some/path?q=1", "Host: web-my-ws-my-proj.tools.test", bearer(alice)).expect(t, "web by subdomain with a bearer token", 200)
	if r.echo.Tool != "web" || r.echo.Path != "/some/path?q=1" {
		t.Errorf("reached %q at %q, want web at /some/path?q=1", r.echo.Tool, r.echo.Path)
	}
	checkClean(t, r.echo)
	// labspace's session is never valid on a tool's host.
	e.get("/other", "Host: "+rawHost, "Cookie: labspace_session="+alice).expect(t, "raw by subdomain with a session cookie", 401)

	// The hand-over: /connect/ on labspace's address, a ticket, the tool's cookie.
	cookie := e.connect(t, alice, "my-proj", "my-ws", "raw", rawHost)
	r = e.get("/other", "Host: "+rawHost, "Cookie: "+ToolCookie+"="+cookie+"; mine=m1").expect(t, "raw with its tool cookie", 200)
	if r.echo.Tool != "raw" || r.echo.Path != "/other" {
		t.Errorf("reached %q at %q, want raw at /other", r.echo.Tool, r.echo.Path)
	}
	checkClean(t, r.echo)
	if r.echo.Cookies["mine"] != "m1" {
		t.Errorf("the tool's own cookie did not arrive: %v", r.echo.Cookies)
	}
	// Cookies of a tool on its own host: the host-only form, any path.
	for _, line := range r.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil || strings.HasPrefix(c.Name, "labspace_") || c.Domain != "" || strings.Contains(strings.ToLower(line), "domain=") {
			t.Errorf("Set-Cookie %q came through (want no labspace_ cookie and no Domain)", line)
		}
	}
	// The cookie opens that tool only, and nothing of labspace's.
	e.get("/", "Host: web-my-ws-my-proj.tools.test", "Cookie: "+ToolCookie+"="+cookie).expect(t, "raw's cookie on web's host", 403)
	if code, _ := e.call("GET", "/api/v1/me", cookie, nil, nil); code != 401 {
		t.Errorf("a tool cookie as an API token: %d, want 401", code)
	}
	e.get("/ws/my-proj/my-ws/raw/", bearer(cookie)).expect(t, "a tool cookie by path", 401)

	// Others connect once alice shares, and if their role lets them.
	e.get("/connect/my-proj/my-ws/raw/", "Cookie: labspace_session="+bob).expect(t, "bob, not shared with", 403)
	e.must(200, "PUT", "/api/v1/projects/my-proj/workspaces/my-ws/sharing", alice, map[string]any{"users": []string{"bob", "vw"}})
	if code, raw := e.call("PUT", "/api/v1/projects/my-proj/workspaces/my-ws/sharing", bob, map[string]any{"project": true}, nil); code != 403 {
		t.Errorf("bob shares alice's workspace: %d %s, want 403", code, raw)
	}
	bobs := e.connect(t, bob, "my-proj", "my-ws", "raw", rawHost)
	e.get("/", "Host: "+rawHost, "Cookie: "+ToolCookie+"="+bobs).expect(t, "bob, shared with", 200)
	e.get("/connect/my-proj/my-ws/raw/", "Cookie: labspace_session="+vw).expect(t, "a viewer, shared with", 403)
	e.get("/connect/my-proj/my-ws/secret/", "Cookie: labspace_session="+bob).expect(t, "bob, a private tool", 403)
	// Sharing taken back closes the tool at the next request.
	e.must(200, "PUT", "/api/v1/projects/my-proj/workspaces/my-ws/sharing", alice, map[string]any{"users": []string{}})
	e.get("/", "Host: "+rawHost, "Cookie: "+ToolCookie+"="+bobs).expect(t, "bob, no longer shared with", 403)
	var audit struct{ Items []struct{ Action string } }
	e.call("GET", "/api/v1/audit?limit=50", e.admin, nil, &audit)
	shares := 0
	for _, a := range audit.Items {
		if a.Action == "share" {
			shares++
		}
	}
	if shares != 2 {
		t.Errorf("the audit log has %d shares, want 2", shares)
	}

	e.get("/", "Host: web-my-ws-my-proj.tools.test").expect(t, "anonymous by subdomain", 401)
	for _, host := range []string{
		"nope-my-ws-my-proj.tools.test", // no such tool
		"web-myws-my-proj.tools.test",   // no such workspace
		"web-my-ws-myproj.tools.test",   // no such project
		"web-my-ws-proj.tools.test",     // a project that has no such workspace
		"web-my.tools.test",             // too few parts
		"my-ws-my-proj.tools.test",      // the tool left out
		"x.web-my-ws-my-proj.tools.test",
	} {
		e.get("/", "Host: "+host, bearer(alice)).expect(t, host, 404)
	}

	// Path routing still works beside the subdomains, for the creator.
	r = e.get("/ws/my-proj/my-ws/web/p", bearer(alice)).expect(t, "web by path", 200)
	if r.echo.Tool != "web" || r.echo.Path != "/p" {
		t.Errorf("reached %q at %q, want web at /p", r.echo.Tool, r.echo.Path)
	}
}

// ToolCookie is the proxy's tool cookie.
const ToolCookie = "labspace_tool"

// connect goes through the hand-over as a browser signed in with session
// would, and returns the tool cookie it ends with.
func (e *env) connect(t *testing.T, session, project, ws, tool, host string) string {
	t.Helper()
	r := e.get("/connect/"+project+"/"+ws+"/"+tool+"/", "Cookie: labspace_session="+session)
	loc, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || err != nil || loc.Host != host || loc.Path != "/_labspace/redeem" {
		t.Fatalf("connect: %d to %q, want 303 to %s/_labspace/redeem: %s", r.status, r.header.Get("Location"), host, r.raw)
	}
	r = e.get(loc.RequestURI(), "Host: "+host)
	var cookie string
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == ToolCookie {
			cookie = c.Value
			if !c.HttpOnly || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("tool cookie %+v, want HttpOnly, host-only, SameSite=Lax", c)
			}
		}
	}
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" || cookie == "" {
		t.Fatalf("redeem: %d to %q, cookie %q: %s", r.status, r.header.Get("Location"), cookie, r.raw)
	}
	// A ticket is spent once.
	e.get(loc.RequestURI(), "Host: "+host).expect(t, "a ticket used twice", 401)
	return cookie
}

// Names hold '-', so a host may split into several tools: a researcher who
// names a tool and a workspace to collide with another's host ("web" of
// "ui-x" against "web-ui" of "x") does not take it over.
func TestToolHostsCannotBeShadowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "tools.test")
	e.project("p")
	alice := e.user("alice", "l1-researcher", "p")
	bob := e.user("bob", "l1-researcher", "p")
	for user, tool := range map[string]string{"alice": "web-ui", "bob": "web"} {
		token := map[string]string{"alice": alice, "bob": bob}[user]
		e.must(201, "POST", "/api/v1/environments", token, obj("echo-"+user, "project/p", map[string]any{
			"image": "python:3-slim", "command": []any{"python3", "-c", echoTool},
			"tools": []any{map[string]any{"name": tool, "type": "custom", "port": 8000}}}))
	}
	e.workspace(alice, "p", "x", "echo-alice", "", nil)
	e.workspace(bob, "p", "ui-x", "echo-bob", "", nil)
	e.waitPhase("p", "x", "Running", toolStart)
	e.waitPhase("p", "ui-x", "Running", toolStart)
	host := "web-ui-x-p.tools.test:" + port(e.host)

	cookie := e.connect(t, alice, "p", "x", "web-ui", host)
	r := e.get("/", "Host: "+host, "Cookie: "+ToolCookie+"="+cookie).expect(t, "alice's tool on the shared host name", 200)
	if r.echo.Tool != "web_ui" {
		t.Errorf("alice reached %q, want her web-ui", r.echo.Tool)
	}
	r = e.get("/", "Host: "+host, bearer(bob)).expect(t, "bob's own tool there", 200)
	if r.echo.Tool != "web" {
		t.Errorf("bob reached %q, want his web", r.echo.Tool)
	}
}

// With --no-tool-paths, tools are on their own hosts only: labspace's own
// address serves none.
func TestToolPathsCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "tools.test", func(c *server.Config) { c.NoToolPaths = true })
	e.project("p")
	alice := e.user("alice", "l1-researcher", "p")
	e.workspace(alice, "p", "box", "echo", "", nil)
	e.waitPhase("p", "box", "Running", toolStart)
	e.get("/ws/p/box/web/", bearer(alice)).expect(t, "alice's tool by path", 404)
	e.get("/", "Host: web-box-p.tools.test:"+port(e.host), bearer(alice)).expect(t, "alice's tool on its host", 200)
}

// S8: a request whose body trickles in is cut at the server's read timeout
// (it held a connection forever), while tools' own streams are not.
func TestSlowBodiesAreCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", func(c *server.Config) { c.ReadTimeout = time.Second })
	conn, err := net.Dial("tcp", e.host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user", e.host)
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(conn)
	if took := time.Since(start); err != nil || took > 5*time.Second {
		t.Errorf("a trickling body: the connection ended after %v (%v), want it cut at the read timeout", took, err)
	}
}
