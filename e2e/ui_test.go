package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser tests of the web UI: what a researcher sees and does in
// headless chromium, against the real binary.

// team sets up through the API what an administrator would (the first
// test does it through the administration pages): project vision with
// researcher rita, project nlp with researcher oscar.
func team(t *testing.T, s *server) {
	t.Helper()
	s.project("vision", map[string]any{"gpus": 2, "cpu": "8", "memory": "32Gi"})
	s.project("nlp", map[string]any{"gpus": 1})
	for _, m := range []struct{ user, project string }{{"rita", "vision"}, {"oscar", "nlp"}} {
		s.must(201, "POST", "/api/v1/users", s.admin, map[string]any{"meta": map[string]any{"name": m.user},
			"password": m.user + "-password"}, nil)
		s.must(201, "POST", "/api/v1/access-rules", s.admin, map[string]any{
			"meta": map[string]any{"scope": map[string]any{"type": "project", "name": m.project}},
			"spec": map[string]any{"subject": map[string]any{"type": "user", "name": m.user}, "role": "l1-researcher"}}, nil)
	}
}

// The researcher's day: sign in, create a Jupyter workspace through the
// flow, watch it reach Running on the grid without reloading, Connect to
// the notebook through the proxy, stop it and start it again.
func TestUIResearcherCreatesAndUsesJupyterWorkspace(t *testing.T) {
	requireTools(t, "jupyter-notebook")
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	t.Cleanup(func() { s.call("DELETE", "/api/v1/projects/vision/workspaces/nb", s.admin, nil, nil) })
	b := newBrowser(t, s)
	b.shotLogin()
	b.administer()
	b.signIn("rita", "rita-password", "/")
	if got := b.text("#workspaces tbody"); !strings.Contains(got, "No workspaces match") {
		t.Fatalf("a new researcher's grid shows %q", got)
	}
	b.createNotebook()
	b.watchRunningAndConnect()
	b.stopAndStart()

	showcase(t, s)
	b.open("/")
	b.waitFor("four rows", `tr[data-id]:nth-child(4) .badge`, uiStep)
	eval[bool](b, "show why the workspaces wait or failed", `[...document.querySelectorAll("details.phase")].
		filter(d => d.querySelector('[data-phase="Pending"],[data-phase="Failed"]')).map(d => d.open = true).length > 0`)
	b.shot("workspaces-phases")
	b.open("/admin/projects")
	// nb and web-demo hold a core each; prep-data waits (or failed), eval-old is stopped.
	if got := b.text(`label[for="c-vision"]`); !strings.HasPrefix(got, "CPU: 2 of 8 cores") {
		t.Errorf("vision's CPU bar: %q", got)
	}
	b.shot("projects")

	// Narrow screens get the same grid, scrolled sideways.
	b.do("narrow screen", chromedp.EmulateViewport(390, 844), chromedp.Navigate(b.base+"/"))
	b.shot("workspaces-narrow")
	for _, path := range []string{"/", "/workspaces/new", "/admin/projects"} {
		b.do("narrow "+path, chromedp.Navigate(b.base+path))
		if !eval[bool](b, "the page fits a phone's width", "document.documentElement.scrollWidth <= window.innerWidth + 1") {
			b.t.Errorf("%s scrolls sideways at 390px (only tables may): %s", path, eval[string](b, "what overflows",
				`Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth+1 && !e.closest('.tablewrap')).slice(0, 5).map(e => e.tagName + '.' + e.className).join(' ')`))
		}
	}
	b.do("back to a wide screen", chromedp.EmulateViewport(1280, 900))
	// Every form field has a label (for screen readers and for clicking).
	for _, path := range []string{"/", "/workspaces/new", "/environments/new", "/compute-resources/new", "/admin/projects/new", "/admin/access-rules"} {
		b.do("open "+path, chromedp.Navigate(b.base+path))
		if n := eval[int](b, "fields", `document.querySelectorAll('input:not([type=hidden]), select, textarea').length`); n == 0 {
			b.t.Errorf("%s: no form fields to check", path)
		}
		if bare := eval[string](b, "unlabelled fields", `Array.from(document.querySelectorAll('input, select, textarea')).filter(e =>
			e.type !== 'hidden' && e.type !== 'submit' && e.labels.length === 0 && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')
		).map(e => e.name || e.id).join(' ')`); bare != "" {
			b.t.Errorf("%s: fields without a label: %s", path, bare)
		}
	}
}

// createNotebook goes through the flow: rita's only project is chosen for
// her, with its quota; she picks the jupyter environment and cpu-small.
func (b *browser) createNotebook() {
	b.t.Helper()
	b.click(`a[href="/workspaces/new"].primary`)
	if got := b.text(`label[for="q-gpu"]`); got != "GPUs: 0 of 2 in use" {
		b.t.Errorf("quota bar label: %q", got)
	}
	b.do("fill in the flow",
		chromedp.Click(chromedp.CSS("#environment-jupyter")),
		chromedp.Click(chromedp.CSS("#compute-cpu-small")),
		chromedp.SendKeys(chromedp.CSS("#name"), "nb"))
	b.shot("new-workspace")
	b.click("#create")
	if loc := b.location(); loc != b.base+"/projects/vision/workspaces/nb" {
		b.fail("create", errorf("landed on %s", loc))
	}
}

// watchRunningAndConnect waits on the grid, without reloading it, for nb
// to run, then opens its notebook with Connect (a new tab).
func (b *browser) watchRunningAndConnect() {
	b.t.Helper()
	b.click(`nav a[href="/"]`)
	b.mark()
	b.waitFor("nb to reach Running on the grid", `tr[data-id] .badge[data-phase="Running"]`, toolStart)
	b.waitFor("the Connect button", `tr[data-id] a.connect[data-tool="jupyter"]`, uiStep)
	b.notReloaded("the grid")
	if got := b.text(`tr[data-id] .badge`); got != "Running" {
		b.t.Fatalf("phase on the grid: %q", got)
	}
	b.shot("workspaces")

	tab := b.newTab(`tr[data-id] a.connect[data-tool="jupyter"]`, "/ws/vision/nb/jupyter")
	waitTitle(b.t, tab, "Select or create a notebook")
	if err := chromedp.Cancel(tab); err != nil { // closes the tab
		b.t.Logf("close the notebook's tab: %v", err)
	}
	b.front()
	b.open("/ws/vision/nb/jupyter/tree")
	b.waitFor("the notebook in the first tab", "#notebook_list", uiStep)
	b.shot("notebook")
	b.open("/")
}

// stopAndStart stops and starts nb from its page, which follows the phase live.
func (b *browser) stopAndStart() {
	b.t.Helper()
	b.click(`tr[data-id] th a`)
	b.waitFor("the timeline", "#events li", uiStep)
	b.shot("workspace")
	b.click("#stop")
	b.mark()
	b.waitFor("nb to stop", `#status .badge[data-phase="Stopped"]`, converge)
	b.notReloaded("the workspace page")
	if got := b.text("#tools"); strings.Contains(got, "Connect") {
		b.t.Errorf("a stopped workspace offers %q", got)
	}
	b.click("#start")
	b.waitFor("nb to run again", `#status .badge[data-phase="Running"]`, toolStart)
	b.waitFor("Connect again", `#tools a.connect[data-tool="jupyter"]`, uiStep)
	if got := b.text("#events"); !strings.Contains(got, "StopRequested") || !strings.Contains(got, "StartRequested") {
		b.t.Errorf("the timeline misses the stop and the start:\n%s", got)
	}
}

// showcase adds workspaces in more phases, for the grid's screenshots.
func showcase(t *testing.T, s *server) {
	t.Helper()
	s.must(201, "POST", "/api/v1/environments", s.admin, map[string]any{
		"meta": map[string]any{"name": "prep", "scope": map[string]any{"type": "project", "name": "vision"}},
		"spec": map[string]any{"image": "busybox", "command": []string{"sh", "-c", "echo /data/raw is empty; exit 3"}}}, nil)
	for _, w := range []struct{ name, env, phase string }{{"web-demo", "python-http", "Running"},
		{"prep-data", "prep", "Failed or Pending"}, {"eval-old", "python-http", "Stopped"}} {
		body := map[string]any{"name": w.name, "environment": w.env, "compute": "cpu-small"}
		if w.phase == "Stopped" {
			body["desiredPhase"] = "Stopped"
		}
		s.must(201, "POST", "/api/v1/projects/vision/workspaces", s.admin, body, nil)
		// prep-data fails on its own, or waits for room on a host of 2 cores.
		for deadline := time.Now().Add(toolStart); ; time.Sleep(pollInterval) {
			var got workspace
			s.must(200, "GET", "/api/v1/projects/vision/workspaces/"+w.name, s.admin, nil, &got)
			if strings.Contains(w.phase, got.Status.Phase) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, want %s", w.name, got.Status.Phase, w.phase)
			}
		}
	}
}

// A researcher of another project finds no trace of the workspace: not on
// the grid, in the filters or the CSV, and typed addresses answer 404.
func TestUIOtherProjectSeesNothing(t *testing.T) {
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	team(t, s)
	s.must(201, "POST", "/api/v1/projects/vision/workspaces", s.admin,
		map[string]any{"name": "secret-web", "environment": "python-http", "compute": "cpu-small"}, nil)
	s.waitPhase("vision", "secret-web", "Running", toolStart)
	if code, _ := s.call("GET", "/ws/vision/secret-web/web/", s.admin, nil, nil); code != 200 {
		t.Fatalf("the tool does not answer its own project's administrator: %d", code)
	}

	b := newBrowser(t, s)
	b.signIn("oscar", "oscar-password", "/")
	for _, path := range []string{"/", "/?project=vision", "/?q=secret", "/?phase=Running"} {
		b.open(path)
		if rows := eval[int](b, "count rows", `document.querySelectorAll("tr[data-id]").length`); rows != 0 {
			t.Errorf("%s shows oscar %d workspaces", path, rows)
		}
		if strings.Contains(b.pageText(), "secret-web") {
			t.Errorf("%s shows oscar the workspace's name", path)
		}
		if opts := eval[string](b, "list the projects", `[...document.querySelectorAll("#f-project option")].map(o => o.value).join(",")`); opts != ",nlp" {
			t.Errorf("%s offers oscar the projects %q", path, opts)
		}
	}
	csv := eval[string](b, "download the CSV", `fetch("/workspaces.csv").then(r => r.text())`)
	if strings.Contains(csv, "secret-web") || strings.Count(csv, "\n") != 1 {
		t.Errorf("oscar's CSV: %q", csv)
	}
	phases := eval[string](b, "poll the phases", `fetch("/workspaces/phases?project=vision").then(r => r.text())`)
	if strings.Contains(phases, "secret-web") || strings.Contains(phases, "Running") {
		t.Errorf("oscar's live phases: %s", phases)
	}
	for _, path := range []string{"/projects/vision/workspaces/secret-web", "/projects/vision/workspaces/secret-web/delete",
		"/projects/vision/workspaces/secret-web/status", "/projects/vision/workspaces/secret-web/logs?follow=1"} {
		if code := b.open(path); code != 404 {
			t.Errorf("oscar opens %s: %d, want 404", path, code)
		}
		if path == "/projects/vision/workspaces/secret-web" && !strings.Contains(b.text("h1"), "404") {
			t.Errorf("the page of another project's workspace reads %q, want a 404 page", b.text("h1"))
		}
	}
	b.shot("not-found")
	if code := b.open("/ws/vision/secret-web/web/"); code != 404 {
		t.Errorf("oscar opens the tool's URL: %d, want 404", code)
	}
	b.open("/workspaces/new?project=vision")
	if got := b.text("#project-err"); !strings.Contains(got, "not found") {
		t.Errorf("the flow with another project: %q", got)
	}
	if n := eval[int](b, "count forms", `document.querySelectorAll("#new-workspace").length`); n != 0 {
		t.Errorf("the flow offers oscar building blocks of project vision")
	}
}

// A form with bad values comes back with each error beside its field, the
// values kept, and nothing created.
func TestUIBadValuesShowFieldErrors(t *testing.T) {
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	team(t, s)
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/workspaces/new")
	b.do("fill in bad values",
		chromedp.Click(chromedp.CSS("#environment-python-http")),
		chromedp.Click(chromedp.CSS("#compute-cpu-small")),
		chromedp.SendKeys(chromedp.CSS("#name"), "Bad_Name"),
		chromedp.SendKeys(chromedp.CSS("#gpuDevices"), "9999"))
	if eval[bool](b, "check the GPUs", `document.getElementById("gpuDevices").checkValidity()`) {
		t.Error("the browser lets 9999 GPUs through before submit")
	}
	// The server's own checks, as a client without the form's validation meets them.
	eval[bool](b, "turn the browser's checks off", `document.getElementById("new-workspace").noValidate = true`)
	if code := b.click("#create"); code != 422 {
		t.Errorf("bad values: status %d, want 422", code)
	}
	if got := b.text("#name-err .fielderr"); !strings.Contains(got, "DNS label") {
		t.Errorf("beside the name: %q", got)
	}
	if got := b.text("#gpuDevices-err .fielderr"); !strings.Contains(got, "between 0 and") {
		t.Errorf("beside the GPUs: %q", got)
	}
	if got := eval[string](b, "read the name", `document.getElementById("name").value`); got != "Bad_Name" {
		t.Errorf("the name was not kept: %q", got)
	}
	if !eval[bool](b, "read the environment", `document.getElementById("environment-python-http").checked`) {
		t.Error("the chosen environment was not kept")
	}
	b.shot("new-workspace-errors")

	// Fixed name and GPUs, but a variable name the service refuses.
	b.do("fix two values, break another",
		chromedp.Clear(chromedp.CSS("#name")), chromedp.SendKeys(chromedp.CSS("#name"), "fine"),
		chromedp.Clear(chromedp.CSS("#gpuDevices")),
		chromedp.SendKeys(chromedp.CSS("#env"), "1BAD=x"))
	b.click("#create")
	if got := b.text("#env-err .fielderr"); !strings.Contains(got, "variable name") {
		t.Errorf("beside the variables: %q", got)
	}
	if n := eval[int](b, "count errors", `document.querySelectorAll(".fielderr").length`); n != 1 {
		t.Errorf("%d field errors shown, want only the variable's", n)
	}
	if ws := s.workspaces("vision"); len(ws) != 0 {
		t.Fatalf("bad forms created %d workspaces", len(ws))
	}

	// A building block made from inside the flow: the link opens the
	// environment form for this project; the new environment then shows
	// in the flow's gallery.
	b.click(`a[href="/environments/new?project=vision"]`)
	if got := eval[string](b, "read the scope", `document.getElementById("scope").value`); got != "project/vision" {
		t.Errorf("the environment form's scope: %q", got)
	}
	b.do("name the environment", chromedp.SendKeys(chromedp.CSS("#name"), "my-env"))
	b.shot("new-environment")
	b.click("#save")
	if got := b.text(`tr[data-name="my-env"]`); !strings.Contains(got, "project vision") || !strings.Contains(got, "python:3-slim") {
		t.Errorf("the new environment's row: %q", got)
	}
	b.shot("environments")
	b.open("/workspaces/new")
	b.waitFor("the new environment in the gallery", "#environment-my-env", uiStep)
}

// administer plays the administrator in the browser: adds user rita,
// project vision with a quota, and makes rita a researcher there; then
// signs out.
func (b *browser) administer() {
	b.t.Helper()
	b.signIn("admin", adminPassword, "/admin/users")
	b.do("add rita", chromedp.SendKeys(chromedp.CSS("#name"), "rita"),
		chromedp.SendKeys(chromedp.CSS("#password"), "rita-password"))
	b.click("#add-user")
	b.waitFor("rita in the list", `tr[data-name="rita"]`, uiStep)
	b.open("/admin/projects/new")
	b.do("describe project vision", chromedp.SendKeys(chromedp.CSS("#name"), "vision"),
		chromedp.Clear(chromedp.CSS("#gpus")), chromedp.SendKeys(chromedp.CSS("#gpus"), "2"),
		chromedp.SendKeys(chromedp.CSS("#cpu"), "8"), chromedp.SendKeys(chromedp.CSS("#memory"), "32Gi"))
	b.click("#save")
	b.waitFor("vision in the list", `section.project[data-name="vision"]`, uiStep)
	b.click(`section.project[data-name="vision"] a[href^="/admin/access-rules"]`)
	if got := eval[string](b, "read the scope", `document.getElementById("scope").value`); got != "project/vision" {
		b.t.Errorf("Give access preselects %q", got)
	}
	b.do("give rita access", chromedp.SendKeys(chromedp.CSS("#subject"), "rita"),
		chromedp.SetValue(chromedp.CSS("#role"), "l1-researcher"))
	b.click("#add-rule")
	b.waitFor("rita's rule", `tr[data-name="user.rita.l1-researcher"]`, uiStep)
	b.shot("access-rules")
	b.click(`form[action="/logout"] button`)
	if loc := b.location(); !strings.HasSuffix(loc, "/login") {
		b.t.Fatalf("after signing out: %s", loc)
	}
}

// mark marks the page, so that a reload can be noticed (see notReloaded).
func (b *browser) mark() {
	b.t.Helper()
	eval[bool](b, "mark the page", `window.notReloaded = true`)
}

// notReloaded fails the test when the page marked by mark was reloaded.
func (b *browser) notReloaded(what string) {
	b.t.Helper()
	if !eval[bool](b, "check "+what+" did not reload", `window.notReloaded === true`) {
		b.t.Fatalf("%s reloaded to show the new phase", what)
	}
}

// shotLogin saves the login page before anyone signs in.
func (b *browser) shotLogin() {
	b.open("/login")
	b.shot("login")
}

// waitTitle waits until the tab's title contains want.
func waitTitle(t *testing.T, tab context.Context, want string) {
	t.Helper()
	deadline := time.Now().Add(toolStart)
	for {
		ctx, cancel := context.WithTimeout(tab, uiStep)
		title, err := chromedp.Run(ctx, chromedp.Title())
		cancel()
		if err == nil && strings.Contains(title, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tool's tab has the title %q (%v), want %q", title, err, want)
		}
		time.Sleep(pollInterval * 5)
	}
}
