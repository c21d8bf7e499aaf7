package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/labspace/labspace"
)

// An administrator adds a user, a project with a quota and an access rule
// through the pages; mistakes come back beside their fields.
func TestAdministrationPages(t *testing.T) {
	k := newKit(t, "")
	admin := k.token("admin", adminPassword)
	token := csrf(t, k.do("GET", "/admin/projects", admin, nil).Body.String())
	post := k.poster(admin, token)
	expect(t, "short password", post("/admin/users", url.Values{"name": {"rita"}, "password": {"x"}}), 422,
		`id="password-err"><p class="fielderr">`)
	if w := post("/admin/users", url.Values{"name": {"rita"}, "password": {"rita-password"}}); w.Code != 303 {
		t.Fatalf("add user: %d\n%.1000s", w.Code, w.Body.String())
	}
	expect(t, "users", k.do("GET", "/admin/users", admin, nil), 200, `data-name="rita"`)

	bad := url.Values{"name": {"vision"}, "scope": {"global"}, "gpus": {"many"}, "cpu": {"8"}, "memory": {"32Gi"}}
	expect(t, "GPUs not a number", post("/admin/projects/new", bad), 422, `id="gpus-err"><p class="fielderr">`)
	bad.Set("gpus", "2")
	bad.Set("memory", "lots")
	expect(t, "bad memory", post("/admin/projects/new", bad), 422, `id="memory-err"><p class="fielderr">`)
	bad.Set("memory", "32Gi")
	if w := post("/admin/projects/new", bad); w.Code != 303 {
		t.Fatalf("create project: %d\n%.1000s", w.Code, w.Body.String())
	}
	expect(t, "projects", k.do("GET", "/admin/projects", admin, nil), 200, `data-name="vision"`,
		"GPUs: 0 allocated of 2 deserved", `<meter id="g-vision" min="0" max="2" value="0"`)

	rule := url.Values{"type": {"user"}, "subject": {"nobody"}, "role": {"l1-researcher"}, "scope": {"project/vision"}}
	expect(t, "rule for an unknown user", post("/admin/access-rules", rule), 422, `id="subject-err"><p class="fielderr">`)
	rule.Set("subject", "rita")
	if w := post("/admin/access-rules", rule); w.Code != 303 {
		t.Fatalf("give access: %d\n%.1000s", w.Code, w.Body.String())
	}
	expect(t, "rules", k.do("GET", "/admin/access-rules", admin, nil), 200, `data-name="user.rita.l1-researcher"`)

	// rita now sees her project (read-only) and works in it; she is not
	// offered what her role cannot do, the administrator is.
	rita := k.token("rita", "rita-password")
	page := k.do("GET", "/admin/projects", rita, nil)
	expect(t, "rita's projects", page, 200, `data-name="vision"`)
	if body := page.Body.String(); strings.Contains(body, `aria-label="Edit vision"`) || strings.Contains(body, `aria-label="Delete vision"`) {
		t.Error("rita is offered to edit or delete her project")
	}
	expect(t, "the administrator's projects", k.do("GET", "/admin/projects", admin, nil), 200,
		`aria-label="Edit vision"`, `aria-label="Delete vision"`)
	if body := k.do("GET", "/environments", rita, nil).Body.String(); strings.Contains(body, `aria-label="Edit jupyter"`) ||
		!strings.Contains(body, `aria-label="Copy jupyter"`) {
		t.Error("rita's environments page offers to edit a global environment, or not to copy it")
	}
	ritaToken := csrf(t, page.Body.String())
	w := k.do("POST", "/admin/projects/vision/edit", rita, url.Values{"csrf": {ritaToken}, "name": {"vision"},
		"scope": {"global"}, "gpus": {"100"}, "resourceVersion": {"1"}})
	expect(t, "rita raising her quota", w, 403)
	if p, _ := k.svc.Get(k.admin, labspace.KindProject, "vision"); p.(*labspace.Project).Spec.Quota.GPUs != 2 {
		t.Fatal("a refused edit changed the quota")
	}
	k.workspace("vision", "nb")
	del := k.do("POST", "/admin/projects/vision/delete", admin, url.Values{"csrf": {token}})
	if del.Code != 409 || !strings.Contains(del.Body.String(), "still holds") {
		t.Fatalf("delete a project with a workspace: %d\n%s", del.Code, del.Body.String())
	}
}

func TestDepartmentsApplicationsTokensAudit(t *testing.T) {
	k := newKit(t, "")
	admin := k.token("admin", adminPassword)
	token := csrf(t, k.do("GET", "/admin/departments", admin, nil).Body.String())
	post := k.poster(admin, token)
	if w := post("/admin/departments/new", url.Values{"name": {"research"}, "gpus": {"8"}}); w.Code != 303 {
		t.Fatalf("create department: %d\n%.1000s", w.Code, w.Body.String())
	}
	expect(t, "a project's form offers the department", k.do("GET", "/admin/projects/new", admin, nil), 200,
		"<option>department/research</option>")
	if w := post("/admin/projects/new", url.Values{"name": {"vision"}, "scope": {"department/research"}, "gpus": {"3"}}); w.Code != 303 {
		t.Fatalf("create project: %d\n%.1000s", w.Code, w.Body.String())
	}
	expect(t, "departments", k.do("GET", "/admin/departments", admin, nil), 200,
		"GPUs: its projects deserve 3 of the department's 8", `href="/admin/projects#p-vision"`)

	if w := post("/admin/applications", url.Values{"name": {"ci"}}); strings.Contains(w.Body.String(), "lsc_") || w.Code == 200 {
		t.Errorf("an application without the password: %d", w.Code)
	}
	w := post("/admin/applications", url.Values{"name": {"ci"}, "password": {adminPassword}})
	expect(t, "new application", w, 200, `<code id="client-id">app-ci</code>`)
	secret := regexpFind(t, w.Body.String(), `<pre id="secret">(lsc_[^<]+)</pre>`)
	if _, _, err := k.svc.LoginApplication(k.admin, "app-ci", secret); err != nil {
		t.Fatalf("the shown secret does not sign in: %v", err)
	}
	if list := k.do("GET", "/admin/applications", admin, nil); strings.Contains(list.Body.String(), secret) {
		t.Fatal("the secret is shown again")
	}

	expect(t, "a token for 0 days", post("/admin/tokens", url.Values{"name": {"laptop"}, "days": {"0"}, "password": {adminPassword}}), 422,
		`id="days-err"><p class="fielderr">must be between 1 and 730 days`)
	expect(t, "a token with a wrong password", post("/admin/tokens", url.Values{"name": {"laptop"}, "days": {"30"}, "password": {"wrong"}}), 403,
		`id="password-err"><p class="fielderr">is not your password`)
	w = post("/admin/tokens", url.Values{"name": {"laptop"}, "days": {"30"}, "password": {adminPassword}})
	raw := regexpFind(t, w.Body.String(), `<pre id="secret">(lsp_[^<]+)</pre>`)
	if _, _, err := k.svc.Authenticate(k.admin, raw); err != nil {
		t.Fatalf("the new token: %v", err)
	}
	tokens, _ := k.svc.ListTokens(k.admin)
	for _, tk := range tokens {
		if tk.Name == "laptop" {
			if w := post("/admin/tokens/"+tk.ID+"/revoke", url.Values{}); w.Code != 303 {
				t.Fatalf("revoke: %d", w.Code)
			}
		}
	}
	if _, _, err := k.svc.Authenticate(k.admin, raw); err == nil {
		t.Fatal("a revoked token still works")
	}

	expect(t, "audit", k.do("GET", "/admin/audit?actor=user:admin", admin, nil), 200, "create</td><td>project vision")
	k.must(k.svc.CreateUser(k.admin, &labspace.User{Meta: labspace.Meta{Name: "rita"}}, "rita-password"))
	expect(t, "rita reads the audit log", k.do("GET", "/admin/audit", k.token("rita", "rita-password"), nil), 403)
}
