package e2e

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labspace/labspace/internal/chromium"
)

// Browser tests of the workspace grid: row and bulk actions, the columns
// each user chooses, rows that come and go without a reload, and
// relative times that keep up.

// gridTeam is team plus rita as a viewer of nlp (she sees its workspaces
// and may not act on them) and workspaces kept stopped (no workload runs).
func gridTeam(t *testing.T, s *server, stopped ...string) {
	t.Helper()
	team(t, s)
	tiny(s)
	s.must(201, "POST", "/api/v1/access-rules", s.admin, map[string]any{
		"meta": map[string]any{"scope": map[string]any{"type": "project", "name": "nlp"}},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "rita"}, "role": "viewer"}}, nil)
	for _, key := range stopped {
		project, name, _ := strings.Cut(key, "/")
		s.must(201, "POST", "/api/v1/projects/"+project+"/workspaces", s.admin, map[string]any{"name": name,
			"environment": "python-http", "compute": "tiny", "desiredPhase": "Stopped"}, nil)
	}
}

// row is the CSS of the grid's row of project/name.
func row(key string) string { return `tr[data-key="` + key + `"]` }

// A row's actions follow its phase: rita starts a stopped workspace from
// its row, Connects to its tool once it runs, stops it, and deletes it
// after confirming; the grid follows without reloading.
func TestUIGridRowActions(t *testing.T) {
	requireTools(t, "python3")
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	gridTeam(t, s, "vision/web", "nlp/theirs")
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/")
	b.mark()
	web, theirs := row("vision/web"), row("nlp/theirs")
	if n := eval[int](b, "count nlp's actions", `document.querySelectorAll('`+theirs+` [data-act]').length`); n != 0 {
		t.Errorf("a viewer is offered %d actions on nlp's workspace", n)
	}
	if got := eval[string](b, "the row's visible actions", `[...document.querySelectorAll('`+web+` [data-act]')].filter(e => !e.hidden).map(e => e.dataset.act).join(",")`); got != "start,delete" {
		t.Errorf("a stopped workspace offers %q, want start,delete", got)
	}
	b.do("start from the row", chromedp.Click(chromedp.CSS(web+` button[data-act="start"]`)))
	b.waitFor("the result", `#result:not([hidden])`, uiStep)
	if got := b.text("#result"); got != "Started 1 workspace: vision/web." {
		t.Errorf("the result reads %q", got)
	}
	b.waitFor("web to run", web+` .badge[data-phase="Running"]`, toolStart)
	b.waitFor("Connect in the row", web+` .row-actions a.connect[data-tool="web"]`, toolStart)
	b.waitFor("Stop in the row", web+` button[data-act="stop"]`, uiStep)
	if eval[bool](b, "start is hidden", `!document.querySelector('`+web+` button[data-act="start"]').hidden`) {
		t.Error("a running workspace still offers Start")
	}
	b.shot("grid-row-running")
	b.gridAxe("the grid with a running workspace")
	// Every control is named: boxes by their labels, buttons by their text.
	if bare := eval[string](b, "unnamed controls", `[...document.querySelectorAll("#main input:not([type=hidden]), #main select, #main button, #main a")].
		filter(e => !e.hidden && e.offsetParent !== null && !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim()).
		map(e => e.outerHTML.slice(0, 80)).join("\n")`); bare != "" {
		t.Errorf("controls without a name:\n%s", bare)
	}
	b.do("stop from the row", chromedp.Click(chromedp.CSS(web+` button[data-act="stop"]`)))
	b.waitFor("web to stop", web+` .badge[data-phase="Stopped"]`, converge)
	b.waitFor("Start again in the row", web+` button[data-act="start"]`, uiStep)
	if n := eval[int](b, "count Connect", `document.querySelectorAll('`+web+` a.connect').length`); n != 0 {
		t.Errorf("a stopped workspace offers %d Connect buttons", n)
	}
	b.notReloaded("the grid")

	// Delete asks first; Cancel leaves it (on its page); confirming deletes it.
	b.click(web + ` a[data-act="delete"]`)
	if got := b.text("#confirm-h"); got != "Delete workspace web?" {
		t.Errorf("the confirmation reads %q", got)
	}
	b.click(`.confirm a.button`)
	if w := s.waitPhase("vision", "web", "Stopped", uiStep); w.DesiredPhase != "Stopped" {
		t.Errorf("after Cancel, web is desired %s", w.DesiredPhase)
	}
	b.open("/")
	b.click(web + ` a[data-act="delete"]`)
	b.click("#confirm-delete")
	b.mark()
	waitFor(t, "web to leave the grid", converge, func() bool {
		return eval[bool](b, "look for web", `document.querySelector('`+web+`') === null`)
	})
	b.notReloaded("the grid")
	if code, _ := s.call("GET", "/api/v1/projects/vision/workspaces/web", s.admin, nil, nil); code != 404 {
		t.Errorf("web after its delete: %d", code)
	}
}

// Bulk actions on the ticked rows say how many succeeded and which failed
// and why; a bulk delete is confirmed on a page listing the workspaces.
func TestUIGridBulkActions(t *testing.T) {
	requireTools(t, "python3")
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	gridTeam(t, s, "vision/a", "vision/b", "nlp/c")
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/")
	b.waitFor("select all (shown by the script)", "#select-all", uiStep)
	b.do("select every row", chromedp.Click(chromedp.CSS("#select-all")))
	if got := b.text("#selected-count"); got != "3 selected:" {
		t.Errorf("the count reads %q", got)
	}
	b.do("start the selected", chromedp.Click(chromedp.CSS("#bulk-start")))
	b.waitFor("the result", `#result:not([hidden])`, uiStep)
	want := `Started 2 of 3 workspaces. Not started: nlp/c (Your role does not allow you to start workspaces in project "nlp").`
	if got := b.text("#result"); got != want {
		t.Errorf("the result reads %q, want %q", got, want)
	}
	if !eval[bool](b, "the result is an alert", `document.getElementById("result").classList.contains("alert")`) {
		t.Error("a result with failures is not shown as one")
	}
	if got := eval[string](b, "what stays ticked", `[...document.querySelectorAll('input[type=checkbox][name="ws"]:checked')].map(e => e.value).join(",")`); got != "nlp/c" {
		t.Errorf("after the action, ticked: %q, want only the one that failed", got)
	}
	b.shot("grid-bulk-result")
	b.gridAxe("the grid with a result")
	for key, want := range map[string]string{"a": "Running", "b": "Running"} {
		var w workspace
		s.must(200, "GET", "/api/v1/projects/vision/workspaces/"+key, s.admin, nil, &w)
		if w.DesiredPhase != want {
			t.Errorf("vision/%s is desired %s", key, w.DesiredPhase)
		}
	}
	var c workspace
	s.must(200, "GET", "/api/v1/projects/nlp/workspaces/c", s.admin, nil, &c)
	if c.DesiredPhase != "Stopped" {
		t.Errorf("nlp/c, which rita only views, is desired %s", c.DesiredPhase)
	}

	// Delete a and b: the page lists them; the grid then lets them go.
	b.do("tick a and b only", chromedp.Click(chromedp.CSS(`#select-all`)), chromedp.Click(chromedp.CSS(`#select-all`)),
		chromedp.Click(chromedp.CSS(row("vision/a")+` input[name="ws"]`)), chromedp.Click(chromedp.CSS(row("vision/b")+` input[name="ws"]`)))
	b.click("#bulk-delete")
	if got := b.text("#to-delete"); got != "vision/a\nvision/b" {
		t.Errorf("the confirmation lists %q", got)
	}
	b.gridAxe("the bulk delete's confirmation")
	b.click("#confirm-delete")
	if got := b.text("#result"); !strings.HasPrefix(got, "Deleting 2 workspaces") {
		t.Errorf("after the bulk delete: %q", got)
	}
	waitFor(t, "a and b to leave the grid", converge, func() bool {
		return eval[int](b, "count rows", `document.querySelectorAll("tr[data-id]").length`) == 1
	})
}

// gridHeaders reads the grid's column headers.
func (b *browser) gridHeaders() []string {
	b.t.Helper()
	return strings.Split(eval[string](b, "read the headers", `[...document.querySelectorAll("#workspaces thead th")].map(th => th.textContent.trim()).filter(Boolean).join("|")`), "|")
}

// The columns rita chooses follow her to another browser (a fresh
// profile: no cookie or storage in common), and reset gives the defaults.
func TestUIGridColumnsFollowTheUser(t *testing.T) {
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	gridTeam(t, s, "vision/a")
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/?sort=name")
	defaults := b.gridHeaders()
	if !slices.Contains(defaults, "Last used") || slices.Contains(defaults, "Tools") {
		t.Fatalf("default columns %q", defaults)
	}
	b.do("choose columns", chromedp.Click(chromedp.CSS("#columns summary")),
		chromedp.Click(chromedp.CSS("#col-project")), chromedp.Click(chromedp.CSS("#col-createdBy")),
		chromedp.Click(chromedp.CSS("#col-tools")))
	b.shot("grid-columns")
	b.gridAxe("the grid with the column chooser open")
	b.click("#save-columns")
	if loc := b.location(); loc != b.base+"/?sort=name" {
		t.Errorf("after saving the columns: %s", loc)
	}
	want := []string{"Name", "Phase", "Environment", "Tools", "GPUs", "CPU / memory", "Started", "Last used", "Stops in", "Actions"}
	if got := b.gridHeaders(); !slices.Equal(got, want) {
		t.Errorf("columns after the choice %q, want %q", got, want)
	}
	if n := eval[int](b, "cells of a", `document.querySelectorAll('`+row("vision/a")+` > *').length`); n != len(want)+1 {
		t.Errorf("a's row has %d cells, want %d", n, len(want)+1)
	}

	other := newBrowser(t, s)
	other.signIn("rita", "rita-password", "/")
	if got := other.gridHeaders(); !slices.Equal(got, want) {
		t.Errorf("in another browser, columns %q, want %q", got, want)
	}
	other.do("open the chooser", chromedp.Click(chromedp.CSS("#columns summary")))
	other.click("#reset-columns")
	b.open("/?sort=name")
	if got := b.gridHeaders(); !slices.Equal(got, defaults) {
		t.Errorf("after reset elsewhere, columns %q, want %q", got, defaults)
	}
}

// Rows come and go without a reload: a workspace created through the API
// appears, one deleted through the API shows Deleting (when the grid
// catches it) and leaves.
func TestUIGridMembershipIsLive(t *testing.T) {
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	gridTeam(t, s, "vision/old")
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/")
	b.waitFor("old's row", row("vision/old"), uiStep)
	b.mark()
	eval[bool](b, "watch old's phases", `(() => { window.seen = []; new MutationObserver(() => {
		const badge = document.querySelector('`+row("vision/old")+` .badge');
		if (badge && !window.seen.includes(badge.dataset.phase)) window.seen.push(badge.dataset.phase);
	}).observe(document.getElementById("workspaces"), { subtree: true, childList: true, attributes: true }); return true })()`)

	s.must(201, "POST", "/api/v1/projects/vision/workspaces", s.admin, map[string]any{"name": "fresh",
		"environment": "python-http", "compute": "tiny", "desiredPhase": "Stopped"}, nil)
	b.waitFor("fresh to appear", row("vision/fresh")+` .badge`, uiStep)
	if !eval[bool](b, "fresh's row is whole", `!!document.querySelector('`+row("vision/fresh")+` input[name="ws"][aria-label="Select fresh in vision"]') &&
		!!document.querySelector('`+row("vision/fresh")+` button[data-act="start"]')`) {
		t.Error("the arrived row lacks its checkbox or its actions")
	}
	b.shot("grid-row-arrived")

	s.must(202, "DELETE", "/api/v1/projects/vision/workspaces/old", s.admin, nil, nil)
	waitFor(t, "old to leave", converge, func() bool {
		return eval[bool](b, "look for old", `document.querySelector('`+row("vision/old")+`') === null`)
	})
	b.notReloaded("the grid")
	t.Logf("old's phases seen on the grid before it left: %s", eval[string](b, "phases seen", `window.seen.join(", ")`))

	// The last row leaving leaves the empty grid's message.
	s.must(202, "DELETE", "/api/v1/projects/vision/workspaces/fresh", s.admin, nil, nil)
	b.waitFor("the empty grid", `#workspaces td.empty`, converge)
	b.notReloaded("the grid")
}

var (
	agoText   = regexp.MustCompile(`^(just now|\d+ min ago)$`)
	untilText = regexp.MustCompile(`^in (5[0-9] min|1 h)$`)
)

// Started, last used and (under an idle rule) stops in are shown relative
// to now, with the exact time on hover, and are written again as time
// passes.
func TestUIGridRelativeTimes(t *testing.T) {
	requireTools(t, "python3")
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	gridTeam(t, s)
	s.idlePolicy(map[string]any{"idleStopSeconds": 3600})
	s.must(201, "POST", "/api/v1/projects/vision/workspaces", s.admin, map[string]any{"name": "busy",
		"environment": "python-http", "compute": "tiny"}, nil)
	s.waitPhase("vision", "busy", "Running", toolStart)
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/")
	busy := row("vision/busy")
	b.waitFor("the stop to come", busy+` .stopsin-cell time[datetime]`, uiStep)
	for cell, re := range map[string]*regexp.Regexp{"started": agoText, "lastused": agoText, "stopsin": untilText} {
		css := busy + " ." + cell + "-cell time"
		if got := b.text(css); !re.MatchString(got) {
			t.Errorf("%s reads %q", cell, got)
		}
		if title := eval[string](b, "the exact time", `document.querySelector('`+css+`').title`); !strings.HasSuffix(title, " UTC") {
			t.Errorf("%s's exact time: %q", cell, title)
		}
	}
	b.shot("grid-times")

	// As time passes: the created column's time, moved two hours back,
	// reads "2 h ago" at the next tick, without a reload.
	b.do("show the created column", chromedp.Click(chromedp.CSS("#columns summary")), chromedp.Click(chromedp.CSS("#col-created")))
	b.click("#save-columns")
	b.mark()
	eval[bool](b, "move created back", `(() => { const c = document.querySelector('`+busy+` .created-cell time');
		c.setAttribute("datetime", new Date(Date.now() - 2*3600e3 - 5e3).toISOString()); return true })()`)
	waitFor(t, "created to read 2 h ago", 10*time.Second, func() bool {
		return b.text(busy+" .created-cell time") == "2 h ago"
	})
	b.notReloaded("the grid")
}

// gridAxe runs axe-core (tools/npm, installed by npm ci) on the page and
// fails on any serious or critical violation.
func (b *browser) gridAxe(what string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiStep)
	defer cancel()
	found, err := chromium.Check(ctx, chromium.Axe(b.t))
	if err != nil {
		b.fail("run axe on "+what, err)
	}
	for _, v := range found {
		b.t.Errorf("%s: axe finds %s", what, v)
	}
}

// The attack, from a browser: oscar, signed in with his own session and
// its CSRF token, posts the grid's forms naming vision's workspace (by
// project/name, and by its id): each is refused as not found, and the
// workspace does not change.
func TestUIGridForgedFormsRefused(t *testing.T) {
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	gridTeam(t, s, "vision/a")
	var before struct {
		Meta struct {
			ID              string
			ResourceVersion int
		}
		DesiredPhase string
		Status       struct{ Tools []struct{ Name string } }
	}
	// The controller's first pass writes the status (its tools): the
	// version to compare with is the one after it.
	waitFor(t, "the controller's first pass on vision/a", converge, func() bool {
		s.must(200, "GET", "/api/v1/projects/vision/workspaces/a", s.admin, nil, &before)
		return len(before.Status.Tools) > 0
	})
	if before.Meta.ID == "" || before.Meta.ResourceVersion == 0 {
		t.Fatalf("read vision/a: %+v", before)
	}
	b := newBrowser(t, s)
	b.signIn("oscar", "oscar-password", "/")
	for _, body := range []string{"action=start&ws=vision%2Fa", "do=stop+vision%2Fa", "action=delete&confirm=1&ws=vision%2Fa",
		"action=delete&confirm=1&ws=" + before.Meta.ID, "do=start+nlp%2F" + before.Meta.ID} {
		res := eval[string](b, "post a forged form", `fetch("/workspaces/actions", {method: "POST", credentials: "same-origin",
			headers: {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
			body: "csrf=" + encodeURIComponent(document.querySelector('#bulk input[name="csrf"]').value) + "&`+body+`"}).then(async r => r.status + " " + await r.text())`)
		if !strings.HasPrefix(res, "200 ") || !strings.Contains(res, `"done":[]`) || !strings.Contains(res, "not found") {
			t.Errorf("%s: %s", body, res)
		}
	}
	var after struct {
		Meta         struct{ ResourceVersion int }
		DesiredPhase string
	}
	s.must(200, "GET", "/api/v1/projects/vision/workspaces/a", s.admin, nil, &after)
	if after.DesiredPhase != "Stopped" || after.Meta.ResourceVersion != before.Meta.ResourceVersion {
		t.Errorf("the forged forms changed vision/a: desired %s, version %d -> %d", after.DesiredPhase,
			before.Meta.ResourceVersion, after.Meta.ResourceVersion)
	}
}
