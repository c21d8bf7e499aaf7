package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace/service"
)

func (e *env) mustWith(want int, hdr map[string]string, method, path, token string, body any) *response {
	e.t.Helper()
	r := e.doWith(hdr, method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s %v: status %d, want %d: %s", method, path, hdr, r.status, want, r.raw)
	}
	return r
}

func ifMatch(tag string) map[string]string { return map[string]string{"If-Match": tag} }

// withoutRV returns the body of a read with its resourceVersion removed.
func withoutRV(r *response) map[string]any {
	var b map[string]any
	_ = json.Unmarshal(r.raw, &b)
	delete(b["meta"].(map[string]any), "resourceVersion")
	return b
}

func wantPrecondition(t *testing.T, r *response) {
	t.Helper()
	if r.status != 412 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") ||
		!slices.Contains(r.fieldErrors(), "If-Match") {
		t.Fatalf("status %d %s: %s; want 412 problem+json naming If-Match", r.status, r.header.Get("Content-Type"), r.raw)
	}
}

// Reads carry an ETag; updates and deletes of every kind honour If-Match
// beside the resourceVersion in the body.
func TestETagAndIfMatch(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("dept", "global", map[string]any{"quota": map[string]any{"gpus": 16}}))
	e.project("pa", "dept")
	e.blocks()
	e.user("u1")
	e.must(201, "POST", "/api/v1/groups", e.admin, obj("grp", "global", map[string]any{"members": []any{"u1"}}))
	paths := map[string]string{
		"departments": "/api/v1/departments/dept",
		"projects":    "/api/v1/projects/pa",
		"groups":      "/api/v1/groups/grp",
		"users":       "/api/v1/users/u1",
	}
	for _, b := range []struct{ path, name string }{{"environments", "env-a"}, {"compute-resources", "cr-a"},
		{"data-sources", "ds-a"}, {"credentials", "cred-a"}, {"templates", "tpl-a"}} {
		paths[b.path] = "/api/v1/" + b.path + "/" + e.must(201, "POST", "/api/v1/"+b.path, e.admin, obj(b.name, "project/pa", biSpec(b.path))).str("meta.id")
	}
	paths["policies"] = "/api/v1/policies/" + e.must(201, "POST", "/api/v1/policies", e.admin,
		policy("project/pa", map[string]any{"compute.gpuDevices": map[string]any{"max": "2"}}, nil)).str("meta.id")
	e.grant("user", "u1", "viewer", "project/pa")
	paths["access-rules"] = "/api/v1/access-rules/" + e.must(200, "GET", "/api/v1/access-rules"+q("scope", "project/pa"), e.admin, nil).str("items.0.meta.id")

	for kind, path := range paths {
		t.Run(kind, func(t *testing.T) {
			got := e.must(200, "GET", path, e.admin, nil)
			rv := int64(got.field("meta.resourceVersion").(float64))
			tag := service.ETag(rv)
			if et := got.header.Get("ETag"); et != tag {
				t.Fatalf("ETag %q, want %q", et, tag)
			}
			body := withoutRV(got)
			// A stale tag, a weak one, one of another object: 412, nothing written.
			for _, stale := range []string{service.ETag(rv + 1), `W/` + tag, `"zz"`, service.ETag(rv+5) + ", " + service.ETag(rv+6)} {
				wantPrecondition(t, e.doWith(ifMatch(stale), "PUT", path, e.admin, body))
				wantPrecondition(t, e.doWith(ifMatch(stale), "DELETE", path, e.admin, nil))
			}
			if now := e.must(200, "GET", path, e.admin, nil); now.header.Get("ETag") != tag {
				t.Fatalf("a refused write changed the object: ETag %q", now.header.Get("ETag"))
			}
			// The current tag stands for the resourceVersion left out of the body.
			up := e.mustWith(200, ifMatch(`"1", `+tag), "PUT", path, e.admin, body)
			next := service.ETag(rv + 1)
			if up.header.Get("ETag") != next || int64(up.field("meta.resourceVersion").(float64)) != rv+1 {
				t.Fatalf("after the update: ETag %q, body %s; want %s", up.header.Get("ETag"), up.raw, next)
			}
			// * matches whatever version is there.
			e.mustWith(200, ifMatch("*"), "PUT", path, e.admin, body)
			// Without If-Match, as before: the body's resourceVersion is required and checked.
			if r := e.do("PUT", path, e.admin, body); r.status != 400 || !slices.Contains(r.fieldErrors(), "meta.resourceVersion") {
				t.Fatalf("PUT without a version: %d %s", r.status, r.raw)
			}
			stale := withoutRV(got)
			stale["meta"].(map[string]any)["resourceVersion"] = rv
			e.must(409, "PUT", path, e.admin, stale)
			// An If-Match that matches, with a stale body: the body's check still holds.
			e.mustWith(409, ifMatch(service.ETag(rv+2)), "PUT", path, e.admin, stale)
			// Bad syntax names the header.
			if r := e.doWith(ifMatch("rv-3"), "PUT", path, e.admin, body); r.status != 400 || !slices.Contains(r.fieldErrors(), "If-Match") {
				t.Fatalf("If-Match: rv-3: %d %s", r.status, r.raw)
			}
		})
	}
	// Deletes: a stale tag is refused, the current one deletes.
	path := paths["templates"]
	tag := e.must(200, "GET", path, e.admin, nil).header.Get("ETag")
	wantPrecondition(t, e.doWith(ifMatch(`"1"`), "DELETE", path, e.admin, nil))
	e.mustWith(204, ifMatch(tag), "DELETE", path, e.admin, nil)
	e.must(404, "GET", path, e.admin, nil)
	e.mustWith(404, ifMatch("*"), "DELETE", path, e.admin, nil)
}

// A workspace's ETag guards its start, stop, sharing and delete.
func TestWorkspaceIfMatch(t *testing.T) {
	e := newEnv(t)
	e.project("pa", "")
	e.blocks()
	body := wsBody("ws1")
	body["desiredPhase"] = "Stopped"
	created := e.must(201, "POST", "/api/v1/projects/pa/workspaces", e.admin, body)
	if created.header.Get("ETag") == "" {
		t.Fatal("a created workspace has no ETag")
	}
	const path = "/api/v1/projects/pa/workspaces/ws1"
	// The controller's first pass writes the status (its tools): wait for
	// it, so that the version read is the one refused requests must keep.
	got := e.must(200, "GET", path, e.admin, nil)
	for deadline := time.Now().Add(30 * time.Second); got.field("status.tools") == nil; got = e.must(200, "GET", path, e.admin, nil) {
		if time.Now().After(deadline) {
			t.Fatalf("the controller never wrote the status: %s", got.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tag := got.header.Get("ETag")
	if tag != service.ETag(int64(got.field("meta.resourceVersion").(float64))) {
		t.Fatalf("ETag %q for %s", tag, got.raw)
	}
	wantPrecondition(t, e.doWith(ifMatch(`"999"`), "POST", path+"/start", e.admin, nil))
	wantPrecondition(t, e.doWith(ifMatch(`"999"`), "PUT", path+"/sharing", e.admin, map[string]any{"project": false}))
	wantPrecondition(t, e.doWith(ifMatch(`"999"`), "DELETE", path, e.admin, nil))
	if again := e.must(200, "GET", path, e.admin, nil); again.header.Get("ETag") != tag || again.str("desiredPhase") != "Stopped" {
		t.Fatalf("a refused request changed the workspace: %s", again.raw)
	}
	started := e.mustWith(202, ifMatch(tag), "POST", path+"/start", e.admin, nil)
	if started.header.Get("ETag") == tag || started.header.Get("ETag") == "" {
		t.Fatalf("start: ETag %q (was %q)", started.header.Get("ETag"), tag)
	}
	wantPrecondition(t, e.doWith(ifMatch(tag), "POST", path+"/stop", e.admin, nil))
	e.mustWith(202, ifMatch("*"), "POST", path+"/stop", e.admin, nil)
}

// If-Match tells nothing of what the caller may not see: another
// project's member gets the same 404 whatever it sends, for an object that
// exists and for one that does not; and a caller who may see but not
// change an object is refused before its precondition is looked at.
func TestIfMatchLeaksNothing(t *testing.T) {
	e := newEnv(t)
	e.project("pa", "")
	e.project("pb", "")
	e.blocks()
	e.must(201, "POST", "/api/v1/projects/pa/workspaces", e.admin, wsBody("ws1"))
	env := e.must(201, "POST", "/api/v1/environments", e.admin, obj("env-a", "project/pa", biSpec("environments")))
	envTag := env.header.Get("ETag")
	bob := e.user("bob")
	e.grant("user", "bob", "l1-researcher", "project/pb")
	viewer := e.user("vera")
	e.grant("user", "vera", "viewer", "project/pa")

	wsTag := e.must(200, "GET", "/api/v1/projects/pa/workspaces/ws1", e.admin, nil).header.Get("ETag")
	type req struct{ method, path string }
	hidden := []req{{"POST", "/api/v1/projects/pa/workspaces/ws1/stop"}, {"POST", "/api/v1/projects/pa/workspaces/ws1/start"},
		{"DELETE", "/api/v1/projects/pa/workspaces/ws1"}, {"DELETE", "/api/v1/environments/" + env.str("meta.id")}}
	missing := []req{{"POST", "/api/v1/projects/pa/workspaces/nope/stop"}, {"DELETE", "/api/v1/projects/pa/workspaces/nope"},
		{"DELETE", "/api/v1/environments/00000000-0000-0000-0000-000000000000"}}
	for _, tag := range []string{"", "*", wsTag, envTag, `"1"`, `"999"`} {
		hdr := map[string]string{}
		if tag != "" {
			hdr["If-Match"] = tag
		}
		for _, r := range append(hidden, missing...) {
			got := e.doWith(hdr, r.method, r.path, bob, nil)
			if got.status != 404 || got.header.Get("ETag") != "" {
				t.Errorf("bob %s %s If-Match %q: %d %v %s; want 404 and no ETag", r.method, r.path, tag, got.status, got.header.Get("ETag"), got.raw)
			}
		}
		// PUT of an environment bob cannot see: 404 whatever the tag.
		got := e.doWith(hdr, "PUT", "/api/v1/environments/"+env.str("meta.id"), bob, obj("env-a", "project/pa", biSpec("environments")))
		if got.status != 404 {
			t.Errorf("bob PUT environment If-Match %q: %d %s", tag, got.status, got.raw)
		}
		// A viewer sees, may not change: 403 before any 412.
		if got := e.doWith(hdr, "POST", "/api/v1/projects/pa/workspaces/ws1/stop", viewer, nil); got.status != 403 {
			t.Errorf("viewer stop If-Match %q: %d %s; want 403", tag, got.status, got.raw)
		}
		if got := e.doWith(hdr, "DELETE", "/api/v1/environments/"+env.str("meta.id"), viewer, nil); got.status != 403 {
			t.Errorf("viewer delete environment If-Match %q: %d %s; want 403", tag, got.status, got.raw)
		}
	}
	// GETs of what bob cannot see carry no ETag.
	for _, p := range []string{"/api/v1/projects/pa/workspaces/ws1", "/api/v1/environments/" + env.str("meta.id")} {
		if got := e.do("GET", p, bob, nil); got.status != 404 || got.header.Get("ETag") != "" {
			t.Errorf("bob GET %s: %d ETag %q", p, got.status, got.header.Get("ETag"))
		}
	}
	e.must(200, "GET", "/api/v1/projects/pa/workspaces/ws1", e.admin, nil) // all still there
}

// filterBy narrows a list in the query, before the page; it never reaches
// past what the caller may see, and what it carries is data, never SQL.
func TestFilterBy(t *testing.T) {
	e := newEnv(t)
	e.project("pa", "")
	e.project("pb", "")
	e.blocks()
	e.must(201, "POST", "/api/v1/environments", e.admin, obj("vscode", "global", map[string]any{
		"image": "codercom/code-server", "tools": []any{map[string]any{"name": "vscode", "type": "visual-studio-code", "port": 8080}}}))
	alice := e.user("alice")
	e.grant("user", "alice", "l1-researcher", "project/pa")
	bob := e.user("bob")
	e.grant("user", "bob", "l1-researcher", "project/pb")
	mk := func(token, project, name, env string, stopped bool) {
		b := wsBody(name)
		b["environment"] = env
		if stopped {
			b["desiredPhase"] = "Stopped"
		}
		e.must(201, "POST", "/api/v1/projects/"+project+"/workspaces", token, b)
	}
	for _, n := range []string{"bert-1", "bert-2", "bert-3", "bert-4", "gpt-1"} {
		mk(alice, "pa", n, "notebook", true)
	}
	mk(alice, "pa", "code-bert", "vscode", true)
	mk(bob, "pb", "bert-secret", "notebook", true)
	mk(bob, "pb", "bobs", "vscode", true)

	names := func(r *response) []string {
		var out []string
		for _, it := range r.field("items").([]any) {
			out = append(out, it.(map[string]any)["meta"].(map[string]any)["name"].(string))
		}
		slices.Sort(out)
		return out
	}
	// all follows continue tokens, checking every page but the last is full.
	all := func(token, path string, v ...string) []string {
		t.Helper()
		var out []string
		cont := ""
		for {
			qs := append(slices.Clone(v), "limit", "2")
			if cont != "" {
				qs = append(qs, "continue", cont)
			}
			page := e.must(200, "GET", path+q(qs...), token, nil)
			got := names(page)
			out = append(out, got...)
			if cont = page.str("continue"); cont == "" {
				slices.Sort(out)
				return out
			}
			if len(got) != 2 {
				t.Fatalf("%s %v: a short page (%v) before the end", path, v, got)
			}
		}
	}
	for _, tc := range []struct {
		token  string
		filter string
		want   []string
	}{
		{alice, "name=@bert", []string{"bert-1", "bert-2", "bert-3", "bert-4", "code-bert"}},
		{alice, "name=^bert,name!=bert-2", []string{"bert-1", "bert-3", "bert-4"}},
		{alice, "environment==vscode", []string{"code-bert"}},
		{alice, "environment!=vscode,name=$1", []string{"bert-1", "gpt-1"}},
		{alice, "creator==alice,phase!=Running,name!@bert", []string{"gpt-1"}},
		{e.admin, "name=@bert", []string{"bert-1", "bert-2", "bert-3", "bert-4", "bert-secret", "code-bert"}},
		{e.admin, "creator==bob", []string{"bert-secret", "bobs"}},
		// Another project's workspaces stay out of sight, whatever the filter.
		{alice, "creator==bob", nil},
		{alice, "name==bert-secret", nil},
		{alice, "name=@%", nil},
		{alice, "name=@_", nil},
		{alice, "name==' OR '1'='1", nil},
		{alice, "name=@'; DROP TABLE objects; --", nil},
		{alice, `name=@\`, nil},
		{bob, "name=@bert", []string{"bert-secret"}},
	} {
		if got := all(tc.token, "/api/v1/workspaces", "filterBy", tc.filter); !slices.Equal(got, tc.want) {
			t.Errorf("filterBy=%s: %v, want %v", tc.filter, got, tc.want)
		}
	}
	// Several filterBy parameters are ANDed too.
	if got := names(e.must(200, "GET", "/api/v1/workspaces?filterBy=name%3D%40bert&filterBy=environment%3D%3Dvscode", alice, nil)); !slices.Equal(got, []string{"code-bert"}) {
		t.Errorf("two filterBy parameters: %v", got)
	}
	// A project's list takes them; another's is not there to filter.
	if got := all(alice, "/api/v1/projects/pa/workspaces", "filterBy", "name=@gpt"); !slices.Equal(got, []string{"gpt-1"}) {
		t.Errorf("project list: %v", got)
	}
	e.must(404, "GET", "/api/v1/projects/pb/workspaces"+q("filterBy", "name=@bert"), alice, nil)
	// Everything is still there after the injections.
	if got := all(e.admin, "/api/v1/workspaces"); len(got) != 8 {
		t.Errorf("after the filters: %v", got)
	}
	// Offset: the matches after the first n, then carry on with continue.
	page := e.must(200, "GET", "/api/v1/workspaces"+q("filterBy", "name=@bert", "sortBy", "name", "offset", "2", "limit", "2"), alice, nil)
	if got := names(page); !slices.Equal(got, []string{"bert-3", "bert-4"}) || page.str("continue") == "" {
		t.Errorf("offset 2: %v %q", got, page.str("continue"))
	}
	rest := e.must(200, "GET", "/api/v1/workspaces"+q("filterBy", "name=@bert", "sortBy", "name", "continue", page.str("continue")), alice, nil)
	if got := names(rest); !slices.Equal(got, []string{"code-bert"}) {
		t.Errorf("after offset 2: %v", got)
	}
	// Other kinds filter on name and creator.
	if got := names(e.must(200, "GET", "/api/v1/environments"+q("filterBy", "name=^vs"), alice, nil)); !slices.Equal(got, []string{"vscode"}) {
		t.Errorf("environments filterBy=name=^vs: %v", got)
	}
	if got := names(e.must(200, "GET", "/api/v1/users"+q("filterBy", "name==bob"), e.admin, nil)); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("users filterBy=name==bob: %v", got)
	}

	// Bad filters and offsets: 400 naming the parameter.
	for _, bad := range []struct{ path, field string }{
		{"/api/v1/workspaces" + q("filterBy", "name"), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "name="), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "name=="), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "name~bert"), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "==bert"), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "secret==x"), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "data=@x"), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "name;DROP==x"), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "phase==running"), "filterBy"},
		{"/api/v1/workspaces" + q("filterBy", "name=@a,"), "filterBy"},
		{"/api/v1/environments" + q("filterBy", "phase==Running"), "filterBy"},
		{"/api/v1/environments" + q("filterBy", "environment==x"), "filterBy"},
		{"/api/v1/workspaces" + q("offset", "-1"), "offset"},
		{"/api/v1/workspaces" + q("offset", "x"), "offset"},
		{"/api/v1/workspaces" + q("offset", "2", "continue", page.str("continue")), "offset"},
	} {
		r := e.do("GET", bad.path, alice, nil)
		if r.status != 400 || !slices.Contains(r.fieldErrors(), bad.field) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("GET %s: %d %s; want 400 naming %s", bad.path, r.status, r.raw, bad.field)
		}
	}
}

// An application's secret is rotated by its creator or an administrator of
// identities, with the caller's password; the old secret and its tokens
// stop working at once, and the audit log says so.
func TestRotateApplicationSecret(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("dept", "global", nil))
	e.project("pa", "dept")
	// carol creates the application as a system administrator, then is
	// only a department administrator (who reads identities, no more).
	e.user("carol")
	carol := e.login("carol", "carol-password")
	rule := e.must(201, "POST", "/api/v1/access-rules", e.admin, map[string]any{"meta": map[string]any{"scope": scopeOf("global")},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "carol"}, "role": "system-administrator"}}).str("meta.id")
	created := e.must(201, "POST", "/api/v1/applications", carol, map[string]any{"meta": map[string]any{"name": "ci"}, "password": "carol-password"})
	old := created.str("clientSecret")
	e.must(204, "DELETE", "/api/v1/access-rules/"+rule, e.admin, nil)
	e.grant("user", "carol", "department-administrator", "department/dept")
	dan := e.user("dan")
	e.grant("user", "dan", "department-administrator", "department/dept")
	bob := e.user("bob")
	e.grant("user", "bob", "l1-researcher", "project/pa")
	appToken := e.must(200, "POST", "/api/v1/token", "", map[string]any{"clientId": "app-ci", "clientSecret": old}).str("accessToken")
	e.must(200, "GET", "/api/v1/me", appToken, nil)

	const path = "/api/v1/applications/ci/secret"
	// Who may not see applications: 404, as for one that does not exist.
	e.must(404, "POST", path, bob, map[string]any{"password": "bob-password"})
	e.must(404, "POST", "/api/v1/applications/nope/secret", bob, map[string]any{"password": "bob-password"})
	e.must(404, "POST", "/api/v1/applications/nope/secret", e.admin, map[string]any{"password": adminPassword})
	// Who sees but neither created it nor administers identities: 403,
	// before the password is looked at.
	e.must(403, "POST", path, dan, map[string]any{"password": "dan-password"})
	e.must(403, "POST", path, dan, map[string]any{"password": "wrong"})
	// The application itself is not its owner (and, with no role, sees no applications).
	e.must(404, "POST", path, appToken, map[string]any{"password": old})
	// The password confirms.
	if r := e.do("POST", path, e.admin, map[string]any{}); r.status != 400 || !slices.Contains(r.fieldErrors(), "password") {
		t.Fatalf("no password: %d %s", r.status, r.raw)
	}
	e.must(403, "POST", path, e.admin, map[string]any{"password": "not-the-password"})
	wantPrecondition(t, e.doWith(ifMatch(`"99"`), "POST", path, e.admin, map[string]any{"password": adminPassword}))
	e.must(200, "POST", "/api/v1/token", "", map[string]any{"clientId": "app-ci", "clientSecret": old})

	// The creator rotates it.
	tag := e.must(200, "GET", "/api/v1/applications/ci", e.admin, nil).header.Get("ETag")
	r := e.mustWith(200, ifMatch(tag), "POST", path, carol, map[string]any{"password": "carol-password"})
	fresh := r.str("clientSecret")
	if fresh == "" || fresh == old || r.str("spec.clientId") != "app-ci" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotation: %s %v", r.raw, r.header)
	}
	e.must(401, "POST", "/api/v1/token", "", map[string]any{"clientId": "app-ci", "clientSecret": old})
	e.must(401, "GET", "/api/v1/me", appToken, nil)
	e.must(200, "POST", "/api/v1/token", "", map[string]any{"clientId": "app-ci", "clientSecret": fresh})
	// The secret is never read back.
	if got := e.must(200, "GET", "/api/v1/applications/ci", e.admin, nil); strings.Contains(string(got.raw), fresh) {
		t.Fatalf("the secret is readable: %s", got.raw)
	}
	// An administrator rotates it too; the one before stops working.
	again := e.must(200, "POST", path, e.admin, map[string]any{"password": adminPassword}).str("clientSecret")
	e.must(401, "POST", "/api/v1/token", "", map[string]any{"clientId": "app-ci", "clientSecret": fresh})
	e.must(200, "POST", "/api/v1/token", "", map[string]any{"clientId": "app-ci", "clientSecret": again})

	audit := e.must(200, "GET", "/api/v1/audit"+q("objectId", created.str("meta.id")), e.admin, nil)
	var who []string
	for _, it := range audit.field("items").([]any) {
		if m := it.(map[string]any); m["action"] == "rotate-secret" {
			who = append(who, m["actor"].(string))
		}
	}
	if !slices.Equal(who, []string{"user:admin", "user:carol"}) {
		t.Fatalf("audited rotations: %v in %s", who, audit.raw)
	}
}

// A credential's description and readable fields change without its
// secret values; values sent replace the stored ones; none is returned.
func TestCredentialUpdateKeepsSecrets(t *testing.T) {
	e := newEnv(t)
	e.project("pa", "")
	created := e.must(201, "POST", "/api/v1/credentials", e.admin, obj("reg", "project/pa", map[string]any{
		"type": "docker-registry", "registry": "registry.example.com", "username": "robot", "password": "first-secret"}))
	id := created.str("meta.id")
	path := "/api/v1/credentials/" + id
	value := func(key string) string {
		t.Helper()
		v, err := e.svc.CredentialValue(service.AsController(context.Background()), id, key)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// What a client read, with a new description, sent back as it is.
	got := e.must(200, "GET", path, e.admin, nil)
	body := withoutRV(got)
	body["meta"].(map[string]any)["description"] = "for CI"
	r := e.mustWith(200, ifMatch(got.header.Get("ETag")), "PUT", path, e.admin, body)
	if r.str("meta.description") != "for CI" || value("username") != "robot" || value("password") != "first-secret" {
		t.Fatalf("description only: %s; values %q %q", r.raw, value("username"), value("password"))
	}
	// A new password alone: the username stays.
	body["spec"].(map[string]any)["password"] = "second-secret"
	r = e.mustWith(200, ifMatch("*"), "PUT", path, e.admin, body)
	if value("username") != "robot" || value("password") != "second-secret" {
		t.Fatalf("new password: values %q %q", value("username"), value("password"))
	}
	// Readable fields change without values too.
	delete(body["spec"].(map[string]any), "password")
	body["spec"].(map[string]any)["registry"] = "ghcr.io"
	r = e.mustWith(200, ifMatch("*"), "PUT", path, e.admin, body)
	if r.str("spec.registry") != "ghcr.io" || value("password") != "second-secret" {
		t.Fatalf("new registry: %s", r.raw)
	}
	for _, raw := range [][]byte{r.raw, e.must(200, "GET", path, e.admin, nil).raw, e.must(200, "GET", "/api/v1/credentials", e.admin, nil).raw} {
		if strings.Contains(string(raw), "secret\"") || strings.Contains(string(raw), "second-secret") || strings.Contains(string(raw), "robot\"") {
			t.Fatalf("a secret value is returned: %s", raw)
		}
	}
	// Another type needs its own values.
	body["spec"] = map[string]any{"type": "access-key"}
	if r := e.doWith(ifMatch("*"), "PUT", path, e.admin, body); r.status != 400 || !slices.Contains(r.fieldErrors(), "spec.accessKeyId") {
		t.Fatalf("new type without values: %d %s", r.status, r.raw)
	}
	// A generic secret's keys are replaced as a whole when sent.
	gen := e.must(201, "POST", "/api/v1/credentials", e.admin, obj("keys", "project/pa", map[string]any{
		"type": "generic-secret", "data": map[string]any{"A": "1", "B": "2"}}))
	gb := withoutRV(gen)
	gb["meta"].(map[string]any)["description"] = "two keys"
	if r := e.mustWith(200, ifMatch("*"), "PUT", "/api/v1/credentials/"+gen.str("meta.id"), e.admin, gb); !slices.Equal(toStrings(r.field("spec.keys")), []string{"A", "B"}) {
		t.Fatalf("generic, description only: %s", r.raw)
	}
	gb["spec"].(map[string]any)["data"] = map[string]any{"C": "3"}
	if r := e.mustWith(200, ifMatch("*"), "PUT", "/api/v1/credentials/"+gen.str("meta.id"), e.admin, gb); !slices.Equal(toStrings(r.field("spec.keys")), []string{"C"}) {
		t.Fatalf("generic, new data: %s", r.raw)
	}
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
