package api_test

import (
	"strings"
	"testing"

	"github.com/labspace/labspace"
)

// Each role, held alone over project "mine" (its department for the
// department administrator), does on "mine" exactly what the permission
// matrix allows: 2xx when allowed, 403 when it may see but not do, 404
// when it may not even see. On project "other", in another department
// and out of every grant, everything is a 404, never a 403, and lists are
// empty.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("dept", "global", nil))
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("far", "global", nil))
	e.project("mine", "dept")
	e.project("other", "far")
	e.blocks()
	stopped := func(name string) map[string]any {
		b := wsBody(name)
		b["desiredPhase"] = "Stopped"
		return b
	}
	for _, p := range []string{"mine", "other"} {
		e.must(201, "POST", "/api/v1/projects/"+p+"/workspaces", e.admin, stopped("seen"))
	}

	type action struct {
		name    string
		res     labspace.Resource
		verb    labspace.Verb
		success int
		method  string
		path    string // %[1]s: the project, %[2]s: the role's own workspace suffix
		body    func(role, project string) any
	}
	actions := []action{
		{"get a workspace", labspace.ResWorkspaces, labspace.VerbRead, 200, "GET", "/api/v1/projects/%[1]s/workspaces/seen", nil},
		{"create a workspace", labspace.ResWorkspaces, labspace.VerbCreate, 201, "POST", "/api/v1/projects/%[1]s/workspaces",
			func(role, _ string) any { return stopped("new-" + role) }},
		{"stop a workspace", labspace.ResWorkspaces, labspace.VerbUpdate, 202, "POST", "/api/v1/projects/%[1]s/workspaces/stop-%[2]s/stop", nil},
		{"delete a workspace", labspace.ResWorkspaces, labspace.VerbDelete, 202, "DELETE", "/api/v1/projects/%[1]s/workspaces/del-%[2]s", nil},
		{"create an environment", labspace.ResAssets, labspace.VerbCreate, 201, "POST", "/api/v1/environments",
			func(role, project string) any {
				return obj("env-"+role, "project/"+project, map[string]any{"image": "python:3.12"})
			}},
		{"read the project", labspace.ResProjects, labspace.VerbRead, 200, "GET", "/api/v1/projects/%[1]s", nil},
	}

	for _, role := range labspace.Roles {
		user := "u-" + string(role)
		token := e.user(user)
		scope := "project/mine"
		if role == labspace.RoleDepartmentAdministrator {
			scope = "department/dept"
		}
		e.grant("user", user, string(role), scope)
		for _, p := range []string{"mine", "other"} {
			e.must(201, "POST", "/api/v1/projects/"+p+"/workspaces", e.admin, wsBody("stop-"+string(role)))
			e.must(201, "POST", "/api/v1/projects/"+p+"/workspaces", e.admin, stopped("del-"+string(role)))
		}

		e.must(404, "GET", "/api/v1/projects/other/workspaces", token, nil) // a project out of sight is not there
		for _, project := range []string{"mine", "other"} {
			// The global list shows what the caller may see.
			list := e.must(200, "GET", "/api/v1/workspaces?project="+project, token, nil)
			wantSeen := project == "mine" && role.Allows(labspace.ResWorkspaces, labspace.VerbRead)
			if got := strings.Contains(names(list), project+"/seen"); got != wantSeen {
				t.Errorf("%s lists %s's workspaces: %q", role, project, names(list))
			}
			for _, a := range actions {
				want := a.success
				switch {
				case project == "other":
					want = 404
				case !role.Allows(a.res, a.verb) && role.Allows(a.res, labspace.VerbRead):
					want = 403
				case !role.Allows(a.res, a.verb):
					want = 404
				}
				path := strings.NewReplacer("%[1]s", project, "%[2]s", string(role)).Replace(a.path)
				var body any
				if a.body != nil {
					body = a.body(string(role), project)
				}
				r := e.do(a.method, path, token, body)
				if r.status != want {
					t.Errorf("%s on %s: %s: status %d, want %d: %s", role, project, a.name, r.status, want, r.raw)
				}
			}
		}
	}
	// Nothing in "other" changed: its workspaces are as the administrator made them.
	for _, role := range labspace.Roles {
		if w := e.must(200, "GET", "/api/v1/projects/other/workspaces/stop-"+string(role), e.admin, nil); w.str("desiredPhase") != "Running" {
			t.Errorf("other/stop-%s: desired %s", role, w.str("desiredPhase"))
		}
		if w := e.must(200, "GET", "/api/v1/projects/other/workspaces/del-"+string(role), e.admin, nil); w.str("desiredPhase") != "Stopped" {
			t.Errorf("other/del-%s: desired %s", role, w.str("desiredPhase"))
		}
		e.must(404, "GET", "/api/v1/projects/other/workspaces/new-"+string(role), e.admin, nil)
	}
	if got := names(e.must(200, "GET", "/api/v1/environments"+q("scope", "project/other"), e.admin, nil)); got != "" {
		t.Errorf("environments in other: %q", got)
	}
}
