package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/web"
)

// jsonPoster is poster for app.js: the answer is JSON.
func (k *kit) jsonPoster(token, csrf string) func(path string, v url.Values) *httptest.ResponseRecorder {
	return func(path string, v url.Values) *httptest.ResponseRecorder {
		v.Set("csrf", csrf)
		r := httptest.NewRequest("POST", path, strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Accept", "application/json")
		r.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: token})
		w := httptest.NewRecorder()
		k.ui.ServeHTTP(w, r)
		return w
	}
}

// gridKit: project lab where rita is a researcher, project shared where
// she is a viewer, project other she has no part in.
func gridKit(t *testing.T) (k *kit, rita string) {
	k = newKit(t, "")
	for _, p := range []string{"lab", "shared", "other"} {
		k.project(p)
	}
	rita = k.researcher("rita", "lab")
	k.must(k.svc.Create(k.admin, &labspace.AccessRule{Meta: labspace.Meta{Scope: labspace.ProjectScope("shared")},
		Spec: labspace.AccessRuleSpec{Subject: labspace.Subject{Type: labspace.SubjectUser, Name: "rita"}, Role: labspace.RoleViewer}}))
	k.workspace("lab", "a")
	k.workspace("lab", "b")
	k.workspace("shared", "c")
	k.workspace("other", "secret")
	return k, rita
}

func desired(t *testing.T, k *kit, project, name string) labspace.Phase {
	t.Helper()
	w, err := k.svc.GetWorkspace(k.admin, project, name)
	if err != nil {
		t.Fatal(err)
	}
	return w.DesiredPhase
}

// A row offers the actions its state and the caller's role allow: rita
// starts and deletes her project's stopped workspaces, and only looks at
// the one she views.
func TestGridRowActions(t *testing.T) {
	k, rita := gridKit(t)
	page := k.do("GET", "/", rita, nil)
	expect(t, "the grid", page, 200, `id="select-all"`, `aria-label="Select a in lab"`, `id="bulk-stop"`)
	body := page.Body.String()
	rowOf := func(key string) string {
		return regexpFind(t, body, `(?s)(<tr data-id="[^"]+" data-key="`+regexp.QuoteMeta(key)+`">.*?</tr>)`)
	}
	a := rowOf("lab/a")
	if !strings.Contains(a, `value="start lab/a" data-act="start">Start`) || !strings.Contains(a, `data-act="stop" hidden`) ||
		!strings.Contains(a, `href="/projects/lab/workspaces/a/delete" data-act="delete">Delete…`) {
		t.Errorf("a stopped workspace of rita's project: %s", a)
	}
	if c := rowOf("shared/c"); strings.Contains(c, "data-act") {
		t.Errorf("a viewer is offered actions: %s", c)
	}
	if strings.Contains(body, "secret") {
		t.Error("the grid shows another project's workspace")
	}

	post := k.poster(rita, csrf(t, body))
	w := post("/workspaces/actions", url.Values{"do": {"start lab/a"}, "back": {"project=lab"}})
	if w.Code != 303 || w.Header().Get("Location") != "/?project=lab" {
		t.Fatalf("start from the row: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if got := desired(t, k, "lab", "a"); got != labspace.PhaseRunning {
		t.Errorf("a is desired %s after Start", got)
	}
	// The result comes back on the grid, once.
	r := httptest.NewRequest("GET", "/?project=lab", nil)
	for _, c := range append(w.Result().Cookies(), &http.Cookie{Name: web.SessionCookie, Value: rita}) {
		r.AddCookie(c)
	}
	res := httptest.NewRecorder()
	k.ui.ServeHTTP(res, r)
	expect(t, "the grid after the start", res, 200, `id="result">Started 1 workspace: lab/a.`)
	if strings.Contains(k.do("GET", "/?project=lab", rita, nil).Body.String(), "Started 1") {
		t.Error("the result shows without its cookie")
	}
	page = k.do("GET", "/?project=lab", rita, nil)
	a = regexpFind(t, page.Body.String(), `(?s)(<tr data-id="[^"]+" data-key="lab/a">.*?</tr>)`)
	if !strings.Contains(a, `data-act="start" hidden`) || strings.Contains(a, `data-act="stop" hidden`) {
		t.Errorf("a running workspace's row: %s", a)
	}

	// A delete asks first, on a page of its own.
	w = post("/workspaces/actions", url.Values{"action": {"delete"}, "ws": {"lab/b"}})
	expect(t, "delete asks", w, 200, "Delete 1 workspace?", `id="confirm-delete"`, "<code>lab/b</code>")
	if got := desired(t, k, "lab", "b"); got != labspace.PhaseStopped {
		t.Errorf("b is desired %s before the delete is confirmed", got)
	}
	w = post("/workspaces/actions", url.Values{"action": {"delete"}, "ws": {"lab/b"}, "confirm": {"1"}})
	if w.Code != 303 {
		t.Fatalf("confirmed delete: %d", w.Code)
	}
	if got := desired(t, k, "lab", "b"); got != labspace.PhaseDeleted {
		t.Errorf("b is desired %s after the delete", got)
	}
	// Until the controller removes it, b shows Deleting, and offers nothing.
	b := regexpFind(t, k.do("GET", "/", rita, nil).Body.String(), `(?s)(<tr data-id="[^"]+" data-key="lab/b">.*?</tr>)`)
	if !strings.Contains(b, `data-phase="Deleting"`) || !strings.Contains(b, `data-act="start" hidden`) ||
		!strings.Contains(b, `data-act="stop" hidden`) || !strings.Contains(b, `data-act="delete" hidden`) {
		t.Errorf("a workspace being deleted: %s", b)
	}
	poll := k.do("GET", "/workspaces/phases?project=lab", rita, nil).Body.String()
	if !strings.Contains(poll, `"phase":"Deleting","class":"busy","reason":"DeleteRequested"`) ||
		!strings.Contains(poll, `"offer":{"start":false,"stop":false,"delete":false,"again":false}`) {
		t.Errorf("the poll of a workspace being deleted: %s", poll)
	}
}

// A bulk action says how many succeeded and which failed, and why.
func TestGridBulkActionMixedResult(t *testing.T) {
	k, rita := gridKit(t)
	post := k.jsonPoster(rita, csrf(t, k.do("GET", "/", rita, nil).Body.String()))
	w := post("/workspaces/actions", url.Values{"action": {"start"}, "ws": {"lab/a", "lab/b", "shared/c", "lab/a"}})
	if w.Code != 200 {
		t.Fatalf("bulk start: %d %s", w.Code, w.Body.String())
	}
	var res struct {
		Done    []string
		Failed  []struct{ Workspace, Reason string }
		Message string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Done, []string{"lab/a", "lab/b"}) || len(res.Failed) != 1 || res.Failed[0].Workspace != "shared/c" ||
		!strings.Contains(res.Failed[0].Reason, "does not allow you to start") {
		t.Fatalf("bulk start: %+v", res)
	}
	if want := "Started 2 of 3 workspaces. Not started: shared/c (Your role does not allow you to start workspaces in project \"shared\")."; res.Message != want {
		t.Errorf("message %q, want %q", res.Message, want)
	}
	if got := desired(t, k, "shared", "c"); got != labspace.PhaseStopped {
		t.Errorf("c is desired %s", got)
	}
	w = post("/workspaces/actions", url.Values{"action": {"stop"}})
	if !strings.Contains(w.Body.String(), "Select workspaces first") {
		t.Errorf("nothing selected: %s", w.Body.String())
	}
}

// The attack: rita forges the grid's forms with another project's
// workspace (its project/name, or its id): every one is refused as not
// found, and nothing changes.
func TestGridFormsRefuseOtherProjects(t *testing.T) {
	k, rita := gridKit(t)
	secret, err := k.svc.GetWorkspace(k.admin, "other", "secret")
	if err != nil {
		t.Fatal(err)
	}
	tok := csrf(t, k.do("GET", "/", rita, nil).Body.String())
	post, postJSON := k.poster(rita, tok), k.jsonPoster(rita, tok)
	for _, action := range []string{"start", "stop", "delete"} {
		for i, key := range []string{"other/secret", secret.ID, "other/" + secret.ID, "/secret", "other/secret/../secret"} {
			form := url.Values{"action": {action}, "ws": {key}, "confirm": {"1"}}
			if i%2 == 1 { // as a row's button
				form = url.Values{"do": {action + " " + key}, "confirm": {"1"}}
			}
			w := postJSON("/workspaces/actions", form)
			if w.Code != 200 || !strings.Contains(w.Body.String(), `"done":[]`) || !strings.Contains(w.Body.String(), "not found") {
				t.Errorf("%s %q: %d %s", action, key, w.Code, w.Body.String())
			}
			if w := post("/workspaces/actions", form); w.Code != 303 {
				t.Errorf("%s %q without script: %d", action, key, w.Code)
			}
		}
	}
	// Without the CSRF token, nothing is even tried.
	if w := k.do("POST", "/workspaces/actions", rita, url.Values{"action": {"start"}, "ws": {"lab/a"}}); w.Code != 403 {
		t.Errorf("no CSRF token: %d", w.Code)
	}
	after, err := k.svc.GetWorkspace(k.admin, "other", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if after.DesiredPhase != labspace.PhaseStopped || after.ResourceVersion != secret.ResourceVersion {
		t.Errorf("the forged forms changed another project's workspace: desired %s, version %d -> %d",
			after.DesiredPhase, secret.ResourceVersion, after.ResourceVersion)
	}
	if got := desired(t, k, "lab", "a"); got != labspace.PhaseStopped {
		t.Errorf("the form without a token started a: %s", got)
	}
}

var headerCells = regexp.MustCompile(`<th scope="col"[^>]*>(?:<a [^>]*>)?([^<]*)`)

func headers(t *testing.T, k *kit, token string) []string {
	t.Helper()
	page := k.do("GET", "/", token, nil)
	expect(t, "the grid", page, 200)
	var out []string
	for _, m := range headerCells.FindAllStringSubmatch(page.Body.String(), -1) {
		if m[1] != "" {
			out = append(out, m[1])
		}
	}
	return out
}

// The columns are the user's choice, kept by the server: another session
// (another browser) shows the same; reset brings the defaults back.
func TestGridColumnsFollowTheUser(t *testing.T) {
	k, rita := gridKit(t)
	defaults := []string{"Name", "Project", "Phase", "Environment", "GPUs", "CPU / memory", "Created by", "Started", "Last used", "Stops in", "Actions"}
	if got := headers(t, k, rita); !slices.Equal(got, defaults) {
		t.Fatalf("default columns %q", got)
	}
	post := k.poster(rita, csrf(t, k.do("GET", "/", rita, nil).Body.String()))
	w := post("/workspaces/columns", url.Values{"col": {"lastUsed", "phase", "nonsense", "tools"}, "back": {"sort=name&q=a"}})
	if w.Code != 303 || w.Header().Get("Location") != "/?q=a&sort=name" {
		t.Fatalf("save columns: %d to %q", w.Code, w.Header().Get("Location"))
	}
	want := []string{"Name", "Phase", "Tools", "Last used", "Actions"}
	if got := headers(t, k, k.token("rita", "rita-password")); !slices.Equal(got, want) {
		t.Errorf("another session's columns %q, want %q", got, want)
	}
	if got := headers(t, k, k.token("admin", adminPassword)); !slices.Equal(got, defaults) {
		t.Errorf("another user's columns %q", got)
	}
	page := k.do("GET", "/", rita, nil).Body.String()
	if row := regexpFind(t, page, `(?s)(<tr data-id="[^"]+" data-key="lab/a">.*?</tr>)`); strings.Count(row, "<td") != 5 {
		t.Errorf("a row with 3 columns chosen has %d cells: %s", strings.Count(row, "<td"), row)
	}
	post("/workspaces/columns", url.Values{"reset": {"1"}})
	if got := headers(t, k, rita); !slices.Equal(got, defaults) {
		t.Errorf("after reset %q", got)
	}
	post("/workspaces/columns", url.Values{})
	if got := headers(t, k, rita); !slices.Equal(got, []string{"Name", "Actions"}) {
		t.Errorf("none chosen: %q", got)
	}
}
