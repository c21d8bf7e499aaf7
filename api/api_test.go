package api_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// An administrator sets up a department, projects and people; each person
// sees and does exactly what their role allows, and objects of projects
// they do not belong to are 404s.
func TestAccessAcrossProjects(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("research", "global", map[string]any{"quota": map[string]any{"gpus": 16}}))
	e.project("vision", "research")
	e.project("nlp", "")
	e.blocks()
	alice, bob, carol, victor := e.user("alice"), e.user("bob"), e.user("carol"), e.user("victor")
	e.grant("user", "alice", "l1-researcher", "project/vision")
	e.grant("user", "bob", "l2-researcher", "project/nlp")
	e.grant("user", "carol", "department-administrator", "department/research")
	e.grant("user", "victor", "viewer", "global")

	ws := e.must(201, "POST", "/api/v1/projects/vision/workspaces", alice, wsBody("exp1"))
	if ws.str("desiredPhase") != "Running" || ws.str("status.phase") != "Creating" || ws.str("meta.createdBy") != "alice" {
		t.Fatalf("new workspace: %s", ws.raw)
	}
	e.must(201, "POST", "/api/v1/projects/nlp/workspaces", bob, wsBody("exp1"))

	// Bob cannot see vision or anything in it: 404, never 403.
	for _, p := range []string{"/api/v1/projects/vision", "/api/v1/projects/vision/workspaces/exp1",
		"/api/v1/projects/vision/workspaces/exp1/events", "/api/v1/departments/research"} {
		e.must(404, "GET", p, bob, nil)
	}
	e.must(404, "POST", "/api/v1/projects/vision/workspaces/exp1/stop", bob, nil)
	e.must(404, "DELETE", "/api/v1/projects/vision/workspaces/exp1", bob, nil)
	e.must(404, "POST", "/api/v1/projects/vision/workspaces", bob, wsBody("sneaky"))
	if got := names(e.must(200, "GET", "/api/v1/workspaces", bob, nil)); got != "nlp/exp1" {
		t.Errorf("bob sees workspaces %q, want only nlp/exp1", got)
	}
	if got := names(e.must(200, "GET", "/api/v1/projects", bob, nil)); got != "nlp" {
		t.Errorf("bob sees projects %q", got)
	}
	e.must(200, "GET", "/api/v1/projects/nlp/workspaces", bob, nil)
	// A project out of sight is not there, for its workspaces' list too.
	e.must(404, "GET", "/api/v1/projects/vision/workspaces", bob, nil)
	e.must(404, "GET", "/api/v1/projects/nowhere/workspaces", bob, nil)
	// Alice sees her project, its department and the global building blocks.
	if got := names(e.must(200, "GET", "/api/v1/departments", alice, nil)); got != "research" {
		t.Errorf("alice sees departments %q", got)
	}
	if got := names(e.must(200, "GET", "/api/v1/environments", alice, nil)); got != "jupyter notebook python-http" {
		t.Errorf("alice sees environments %q", got)
	}
	// The viewer sees everything and changes nothing.
	if got := names(e.must(200, "GET", "/api/v1/workspaces", victor, nil)); got != "nlp/exp1 vision/exp1" {
		t.Errorf("viewer sees %q", got)
	}
	e.must(403, "POST", "/api/v1/projects/vision/workspaces/exp1/stop", victor, nil)
	e.must(403, "POST", "/api/v1/projects", victor, obj("p3", "global", nil))
	// The department administrator manages its department's projects only.
	e.must(201, "POST", "/api/v1/projects", carol, obj("speech", "department/research", nil))
	e.must(403, "POST", "/api/v1/projects", carol, obj("outside", "global", nil))
	e.must(202, "POST", "/api/v1/projects/vision/workspaces/exp1/stop", carol, nil)
	e.must(404, "GET", "/api/v1/projects/nlp/workspaces/exp1", carol, nil)
	// Nobody hands out more than they hold.
	e.must(403, "POST", "/api/v1/access-rules", carol, map[string]any{"meta": map[string]any{"scope": scopeOf("global")},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "carol"}, "role": "system-administrator"}})
	e.must(201, "POST", "/api/v1/access-rules", carol, map[string]any{"meta": map[string]any{"scope": scopeOf("project/speech")},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "bob"}, "role": "l1-researcher"}})
	// The audit log is for system administrators.
	e.must(403, "GET", "/api/v1/audit", carol, nil)
	audit := e.must(200, "GET", "/api/v1/audit"+q("actor", "user:carol"), e.admin, nil)
	if audit.str("items.0.action") != "create" || audit.str("items.0.kind") != "access-rule" || audit.str("items.0.source") != "127.0.0.1" {
		t.Errorf("audit: %s", audit.raw)
	}
}

// names lists "project/name" (workspaces) or "name" of a list reply, sorted, space-separated.
func names(r *response) string {
	var out []string
	items, _ := r.body["items"].([]any)
	for _, it := range items {
		m := it.(map[string]any)["meta"].(map[string]any)
		n := m["name"].(string)
		if sc := m["scope"].(map[string]any); sc["type"] == "project" && r.body != nil && strings.Contains(string(r.raw), `"desiredPhase"`) {
			n = sc["name"].(string) + "/" + n
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// A workspace goes through start, stop and delete as intent with events; a
// deleted one refuses further requests.
func TestWorkspaceIntentAndEvents(t *testing.T) {
	e := newEnv(t)
	e.project("vision", "")
	e.blocks()
	body := wsBody("exp")
	body["desiredPhase"] = "Stopped"
	w := e.must(201, "POST", "/api/v1/projects/vision/workspaces", e.admin, body)
	if w.str("status.phase") != "Stopped" {
		t.Fatalf("created stopped: %s", w.raw)
	}
	e.must(409, "POST", "/api/v1/projects/vision/workspaces", e.admin, body)
	if r := e.must(202, "POST", "/api/v1/projects/vision/workspaces/exp/start", e.admin, nil); r.str("desiredPhase") != "Running" {
		t.Fatalf("start: %s", r.raw)
	}
	e.must(202, "POST", "/api/v1/projects/vision/workspaces/exp/stop", e.admin, nil)
	ev := e.must(200, "GET", "/api/v1/projects/vision/workspaces/exp/events", e.admin, nil)
	var types []string
	for _, it := range ev.body["items"].([]any) {
		if e := it.(map[string]any); e["actor"] != "controller" { // the controller's are timing-dependent
			types = append(types, e["type"].(string))
		}
	}
	// The start moved it from Stopped to Pending at once: that is on the timeline too.
	if got := strings.Join(types, ","); got != "Created,StartRequested,PhaseChanged,StopRequested" {
		t.Errorf("events %s", got)
	}
	e.must(404, "GET", "/api/v1/projects/vision/workspaces/nope", e.admin, nil)
	logs := e.must(200, "GET", "/api/v1/projects/vision/workspaces/exp/logs", e.admin, nil)
	if ct := logs.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("logs content type %q", ct)
	}
	// Deleting is intent too: until the controller has removed it, the
	// workspace refuses to start (409); then it is gone (404).
	e.must(202, "DELETE", "/api/v1/projects/vision/workspaces/exp", e.admin, nil)
	if r := e.do("POST", "/api/v1/projects/vision/workspaces/exp/start", e.admin, nil); r.status != 409 && r.status != 404 {
		t.Errorf("start after delete: %d %s", r.status, r.raw)
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.do("GET", "/api/v1/projects/vision/workspaces/exp", e.admin, nil).status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("the deleted workspace is never removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Workspaces keep a snapshot: editing a building block later does not
// change them, and a block in use cannot be deleted.
func TestSnapshotsAndAssetsInUse(t *testing.T) {
	e := newEnv(t)
	e.project("vision", "")
	e.blocks()
	e.must(201, "POST", "/api/v1/credentials", e.admin, obj("wandb", "project/vision", map[string]any{
		"type": "generic-secret", "data": map[string]any{"API_KEY": "very-secret-value"}}))
	e.must(201, "POST", "/api/v1/data-sources", e.admin, obj("datasets", "global", map[string]any{
		"type": "pvc", "mountPath": "/data", "pvc": map[string]any{"new": map[string]any{"size": "10Gi"}}}))
	tmpl := e.must(201, "POST", "/api/v1/templates", e.admin, obj("train", "project/vision", map[string]any{
		"environment": "notebook", "compute": "one-gpu", "dataSources": []any{map[string]any{"name": "datasets"}},
		"env":     []any{map[string]any{"name": "WANDB_API_KEY", "credential": map[string]any{"name": "wandb", "key": "API_KEY"}}},
		"general": map[string]any{"labels": map[string]any{"team": "cv"}}}))
	w := e.must(201, "POST", "/api/v1/projects/vision/workspaces", e.admin, map[string]any{
		"name": "from-template", "template": tmpl.str("meta.id"), "env": map[string]any{"WANDB_KEY": "abc"},
		"dataSources": []any{map[string]any{"name": "datasets", "mountPath": "/mnt/ds"}}})
	if w.str("spec.dataSources.0.spec.mountPath") != "/mnt/ds" || w.str("spec.general.labels.team") != "cv" ||
		w.str("spec.env.2.credential.name") != "wandb" || w.str("spec.template.name") != "train" {
		t.Fatalf("workspace from template: %s", w.raw)
	}
	env := e.must(200, "GET", "/api/v1/environments"+q("search", "notebo"), e.admin, nil)
	id := env.str("items.0.meta.id")
	upd := obj("notebook", "global", map[string]any{"image": "example.com/other:2"})
	upd["meta"].(map[string]any)["resourceVersion"] = 1
	e.must(200, "PUT", "/api/v1/environments/"+id, e.admin, upd)
	e.must(409, "PUT", "/api/v1/environments/"+id, e.admin, upd) // stale resourceVersion
	got := e.must(200, "GET", "/api/v1/projects/vision/workspaces/from-template", e.admin, nil)
	if got.str("spec.environment.spec.image") != "quay.io/jupyter/base-notebook" {
		t.Errorf("snapshot changed with the environment: %s", got.str("spec.environment.spec.image"))
	}
	del := e.must(409, "DELETE", "/api/v1/environments/"+id, e.admin, nil)
	if !strings.Contains(del.str("detail"), "from-template") || !strings.Contains(del.str("detail"), "train") {
		t.Errorf("409 should name the users: %s", del.raw)
	}
	// Credentials are write-only and sealed at rest.
	cred := e.must(200, "GET", "/api/v1/credentials"+q("scope", "project/vision"), e.admin, nil)
	if strings.Contains(string(cred.raw), "very-secret-value") || cred.str("items.0.spec.keys.0") != "API_KEY" {
		t.Errorf("credential read back: %s", cred.raw)
	}
	e.must(200, "GET", "/api/v1/credentials/"+cred.str("items.0.meta.id"), e.admin, nil)
	tm := e.must(200, "GET", "/api/v1/templates/"+tmpl.str("meta.id"), e.admin, nil)
	if tm.str("spec.environment") != "notebook" {
		t.Errorf("template: %s", tm.raw)
	}
}

func TestCredentialsAreEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	e := newEnvIn(t, dir)
	e.must(201, "POST", "/api/v1/credentials", e.admin, obj("registry", "global", map[string]any{
		"type": "docker-registry", "registry": "registry.example.com", "username": "robot", "password": "hunter2-plaintext"}))
	for _, f := range []string{"labspace.db", "labspace.db-wal"} {
		raw, _ := os.ReadFile(filepath.Join(dir, f))
		if strings.Contains(string(raw), "hunter2-plaintext") {
			t.Errorf("%s holds the password in clear", f)
		}
	}
}

// Sign-in, tokens and applications; revocation takes effect at once.
func TestTokensAndApplications(t *testing.T) {
	e := newEnv(t)
	e.must(401, "POST", "/api/v1/token", "", map[string]any{"username": "admin", "password": "wrong-password"})
	e.must(401, "POST", "/api/v1/token", "", map[string]any{"username": "ghost", "password": "whatever-pass"})
	e.must(401, "GET", "/api/v1/me", "", nil)
	e.must(401, "GET", "/api/v1/me", "lss_forged", nil)
	session := e.login("admin", adminPassword)
	if me := e.must(200, "GET", "/api/v1/me", session, nil); me.str("grants.0.role") != "system-administrator" {
		t.Errorf("me: %s", me.raw)
	}
	e.must(204, "POST", "/api/v1/logout", session, nil)
	e.must(401, "GET", "/api/v1/me", session, nil)

	// Minting a token or an application secret asks for the password
	// again: a borrowed session (a hostile page in a signed-in browser) cannot.
	e.must(400, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "ci", "expiresInSeconds": 3600})
	e.must(403, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "ci", "expiresInSeconds": 3600, "password": "not-the-password"})
	e.must(403, "POST", "/api/v1/applications", e.admin, map[string]any{"meta": map[string]any{"name": "pipeline"}, "password": "not-the-password"})
	if list := e.must(200, "GET", "/api/v1/tokens", e.admin, nil); strings.Contains(string(list.raw), `"ci"`) {
		t.Errorf("a refused token was made: %s", list.raw)
	}
	e.must(404, "GET", "/api/v1/applications/pipeline", e.admin, nil)
	pat := e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "ci", "expiresInSeconds": 3600, "password": adminPassword})
	e.must(200, "GET", "/api/v1/me", pat.str("accessToken"), nil)
	list := e.must(200, "GET", "/api/v1/tokens", e.admin, nil)
	if strings.Contains(string(list.raw), pat.str("accessToken")) {
		t.Error("token list shows a token's value")
	}
	e.must(204, "DELETE", "/api/v1/tokens/"+pat.str("id"), e.admin, nil)
	e.must(401, "GET", "/api/v1/me", pat.str("accessToken"), nil)
	short := e.must(201, "POST", "/api/v1/tokens", e.admin, map[string]any{"name": "short", "expiresInSeconds": 1, "password": adminPassword})
	time.Sleep(1100 * time.Millisecond)
	e.must(401, "GET", "/api/v1/me", short.str("accessToken"), nil)

	app := e.must(201, "POST", "/api/v1/applications", e.admin, map[string]any{"meta": map[string]any{"name": "pipeline"}, "password": adminPassword})
	e.project("vision", "")
	e.grant("application", "pipeline", "viewer", "project/vision")
	tok := e.must(200, "POST", "/api/v1/token", "", map[string]any{"clientId": app.str("spec.clientId"), "clientSecret": app.str("clientSecret")})
	e.must(200, "GET", "/api/v1/projects/vision", tok.str("accessToken"), nil)
	e.must(401, "POST", "/api/v1/token", "", map[string]any{"clientId": app.str("spec.clientId"), "clientSecret": "lsc_wrong"})
	e.must(200, "GET", "/api/v1/applications/pipeline", e.admin, nil)
	e.must(200, "GET", "/api/v1/applications", e.admin, nil)
	e.must(204, "DELETE", "/api/v1/applications/pipeline", e.admin, nil)
	e.must(401, "GET", "/api/v1/projects/vision", tok.str("accessToken"), nil)
}

// Users, groups and departments: the administrator's CRUD, and group
// membership giving access.
func TestIdentitiesAndGroups(t *testing.T) {
	e := newEnv(t)
	dana := e.user("dana")
	e.project("vision", "")
	e.must(201, "POST", "/api/v1/groups", e.admin, obj("cv-team", "global", map[string]any{"members": []any{"dana"}}))
	e.must(422, "POST", "/api/v1/groups", e.admin, obj("ghosts", "global", map[string]any{"members": []any{"nobody"}}))
	e.grant("group", "cv-team", "l2-researcher", "project/vision")
	e.must(200, "GET", "/api/v1/projects/vision", dana, nil)
	g := e.must(200, "GET", "/api/v1/groups/cv-team", e.admin, nil)
	upd := obj("cv-team", "global", map[string]any{"members": []any{}})
	upd["meta"].(map[string]any)["resourceVersion"] = g.field("meta.resourceVersion")
	e.must(200, "PUT", "/api/v1/groups/cv-team", e.admin, upd)
	e.must(404, "GET", "/api/v1/projects/vision", dana, nil)
	e.must(200, "GET", "/api/v1/groups", e.admin, nil)
	rules := e.must(200, "GET", "/api/v1/access-rules", e.admin, nil)
	var ruleID string
	for _, it := range rules.body["items"].([]any) {
		if m := it.(map[string]any)["meta"].(map[string]any); strings.HasPrefix(m["name"].(string), "group.cv-team") {
			ruleID = m["id"].(string)
		}
	}
	e.must(200, "GET", "/api/v1/access-rules/"+ruleID, e.admin, nil)
	e.must(204, "DELETE", "/api/v1/access-rules/"+ruleID, e.admin, nil)
	e.must(204, "DELETE", "/api/v1/groups/cv-team", e.admin, nil)

	u := e.must(200, "GET", "/api/v1/users/dana", e.admin, nil)
	e.must(200, "GET", "/api/v1/users", e.admin, nil)
	if got := names(e.must(200, "GET", "/api/v1/users", dana, nil)); got != "" {
		t.Errorf("a researcher lists users: %q", got)
	}
	put := map[string]any{"meta": map[string]any{"name": "dana", "resourceVersion": u.field("meta.resourceVersion")},
		"spec": map[string]any{"email": "dana@example.com"}, "password": "a-new-password"}
	e.must(200, "PUT", "/api/v1/users/dana", e.admin, put)
	e.must(401, "GET", "/api/v1/me", dana, nil) // a new password signs out everywhere
	e.login("dana", "a-new-password")
	e.must(204, "DELETE", "/api/v1/users/dana", e.admin, nil)
	e.must(409, "DELETE", "/api/v1/users/admin", e.admin, nil)

	e.must(201, "POST", "/api/v1/departments", e.admin, obj("research", "global", nil))
	d := e.must(200, "GET", "/api/v1/departments/research", e.admin, nil)
	dput := obj("research", "global", map[string]any{"quota": map[string]any{"gpus": 32}})
	dput["meta"].(map[string]any)["resourceVersion"] = d.field("meta.resourceVersion")
	e.must(200, "PUT", "/api/v1/departments/research", e.admin, dput)
	e.project("inside", "research")
	e.must(409, "DELETE", "/api/v1/departments/research", e.admin, nil)
	p := e.must(200, "GET", "/api/v1/projects/inside", e.admin, nil)
	pput := obj("inside", "department/research", map[string]any{"quota": map[string]any{"gpus": 2, "cpu": "64", "memory": "256Gi"}})
	pput["meta"].(map[string]any)["resourceVersion"] = p.field("meta.resourceVersion")
	e.must(200, "PUT", "/api/v1/projects/inside", e.admin, pput)
	e.must(204, "DELETE", "/api/v1/projects/inside", e.admin, nil)
	e.must(204, "DELETE", "/api/v1/departments/research", e.admin, nil)
}
