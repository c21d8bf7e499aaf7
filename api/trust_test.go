package api_test

import (
	"strings"
	"testing"
)

// The review's S1 and S5 as a researcher and an editor would try them:
// every setting that crosses the trust boundary is refused with 403
// naming the field, and nothing is stored; administrators may set them.
func TestPrivilegedSettingsNeedAnAdministrator(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("research", "global", map[string]any{
		"quota": map[string]any{"gpus": 8, "cpu": "64"}}))
	for _, p := range []string{"alpha", "beta"} {
		// Unlimited CPU would exceed the department's 64 cores.
		if r := e.do("POST", "/api/v1/projects", e.admin, obj(p, "department/research", map[string]any{"quota": map[string]any{"gpus": 4}})); r.status != 422 {
			t.Errorf("a project without a CPU quota in a department with one: %d %s", r.status, r.raw)
		}
		e.must(201, "POST", "/api/v1/projects", e.admin, obj(p, "department/research", map[string]any{"quota": map[string]any{"gpus": 4, "cpu": "16"}}))
	}
	e.blocks()
	l1, l2, ed := e.user("alice"), e.user("carol"), e.user("ed")
	e.grant("user", "alice", "l1-researcher", "project/alpha")
	e.grant("user", "carol", "l2-researcher", "project/alpha")
	e.grant("user", "ed", "editor", "project/alpha")
	depAdmin := e.user("dora")
	e.grant("user", "dora", "department-administrator", "department/research")

	refused := func(token, method, path string, body any, field string) {
		t.Helper()
		r := e.do(method, path, token, body)
		if r.status != 403 || !strings.Contains(strings.Join(r.fieldErrors(), " "), field) {
			t.Errorf("%s %s: %d %s, want 403 naming %s", method, path, r.status, r.raw, field)
		}
	}
	override := wsBody("pwn")
	override["command"] = []string{"/bin/sh", "-c", "cat $HOME/../../../secret.key"}
	refused(l2, "POST", "/api/v1/projects/alpha/workspaces", override, "command")
	refused(l1, "POST", "/api/v1/projects/alpha/workspaces", override, "command")
	args := wsBody("pwn2")
	args["args"] = []string{"-c", "id"}
	refused(l1, "POST", "/api/v1/projects/alpha/workspaces", args, "args")
	if r := e.do("GET", "/api/v1/projects/alpha/workspaces/pwn", e.admin, nil); r.status != 404 {
		t.Errorf("a refused workspace was stored: %d", r.status)
	}

	refused(l1, "POST", "/api/v1/data-sources", obj("root", "project/alpha", map[string]any{
		"type": "host-path", "hostPath": map[string]any{"path": "/"}, "mountPath": "/host"}), "spec.hostPath")
	for field, spec := range map[string]map[string]any{
		"spec.runAs":                             {"image": "x", "runAs": map[string]any{"source": "custom", "uid": 0}},
		"spec.capabilities":                      {"image": "x", "capabilities": []string{"SYS_ADMIN"}},
		"spec.security.allowPrivilegeEscalation": {"image": "x", "security": map[string]any{"allowPrivilegeEscalation": true}},
	} {
		refused(l1, "POST", "/api/v1/environments", obj("priv", "project/alpha", spec), field)
	}
	// An environment made safe cannot be made privileged by an update.
	env := e.must(201, "POST", "/api/v1/environments", l1, obj("mine", "project/alpha", map[string]any{"image": "x"}))
	refused(l1, "PUT", "/api/v1/environments/"+env.str("meta.id"), map[string]any{
		"meta": map[string]any{"resourceVersion": env.field("meta.resourceVersion")},
		"spec": map[string]any{"image": "x", "runAs": map[string]any{"source": "custom", "uid": 0}}}, "spec.runAs")

	// An editor of alpha can neither re-point its namespace nor raise its
	// quota beyond the department's.
	p := e.must(200, "GET", "/api/v1/projects/alpha", ed, nil)
	put := func(ns string, quota map[string]any) *response {
		return e.do("PUT", "/api/v1/projects/alpha", ed, map[string]any{
			"meta": map[string]any{"resourceVersion": p.field("meta.resourceVersion")},
			"spec": map[string]any{"namespace": ns, "quota": quota}})
	}
	refused(ed, "PUT", "/api/v1/projects/alpha", map[string]any{
		"meta": map[string]any{"resourceVersion": p.field("meta.resourceVersion")},
		"spec": map[string]any{"namespace": "labspace-beta", "quota": map[string]any{"gpus": 4, "cpu": "16"}}}, "spec.namespace")
	if r := put("labspace-alpha", map[string]any{"gpus": 8, "cpu": "100000"}); r.status != 422 || !strings.Contains(strings.Join(r.fieldErrors(), " "), "spec.quota.cpu") {
		t.Errorf("quota beyond the department's: %d %s", r.status, r.raw)
	}
	if r := put("labspace-alpha", map[string]any{"gpus": 4, "cpu": "32"}); r.status != 200 {
		t.Errorf("quota within the department's: %d %s", r.status, r.raw)
	}

	// Namespaces are unique and never the cluster's own, even for administrators.
	for ns, want := range map[string]int{"kube-system": 400, "default": 400, "labspace-beta": 409} {
		if r := e.do("POST", "/api/v1/projects", e.admin, obj("gamma-"+strings.ReplaceAll(ns, "-", ""), "global",
			map[string]any{"namespace": ns})); r.status != want {
			t.Errorf("namespace %s: %d %s, want %d", ns, r.status, r.raw, want)
		}
	}

	// Administrators hold the privileges: the department's own, at its scope.
	e.must(201, "POST", "/api/v1/data-sources", depAdmin, obj("datasets", "department/research", map[string]any{
		"type": "host-path", "hostPath": map[string]any{"path": "/srv/datasets"}, "mountPath": "/data"}))
	e.must(201, "POST", "/api/v1/projects/alpha/workspaces", e.admin, override)
	cur := e.must(200, "GET", "/api/v1/projects/beta", depAdmin, nil)
	e.must(200, "PUT", "/api/v1/projects/beta", depAdmin, map[string]any{
		"meta": map[string]any{"resourceVersion": cur.field("meta.resourceVersion")},
		"spec": map[string]any{"namespace": "team-beta", "quota": map[string]any{"gpus": 4, "cpu": "16"}}})
	// ...and a researcher may use what an administrator vetted.
	e.must(201, "POST", "/api/v1/projects/alpha/workspaces", l2, map[string]any{"name": "reads", "environment": "notebook",
		"compute": "one-gpu", "env": map[string]any{"WANDB_KEY": "k"}, "dataSources": []any{map[string]any{"name": "datasets"}},
		"desiredPhase": "Stopped"})
}

// Sharing a workspace's tools is the creator's to decide, and needs tools
// served on hosts of their own (this server has none): elsewhere only
// "nobody" can be said.
func TestSharingIsTheCreators(t *testing.T) {
	e := newEnv(t)
	e.project("alpha", "")
	e.project("beta", "")
	e.blocks()
	alice, bob, mallory := e.user("alice"), e.user("bob"), e.user("mallory")
	e.grant("user", "alice", "l1-researcher", "project/alpha")
	e.grant("user", "bob", "l1-researcher", "project/alpha")
	e.grant("user", "mallory", "l1-researcher", "project/beta")
	b := wsBody("nb")
	b["desiredPhase"] = "Stopped"
	e.must(201, "POST", "/api/v1/projects/alpha/workspaces", alice, b)
	const path = "/api/v1/projects/alpha/workspaces/nb/sharing"

	r := e.do("PUT", path, alice, map[string]any{"project": true})
	if r.status != 422 || !strings.Contains(string(r.raw), "--proxy-domain") {
		t.Errorf("sharing without tool hosts: %d %s, want 422 saying how", r.status, r.raw)
	}
	e.must(403, "PUT", path, bob, map[string]any{"users": []string{}})
	e.must(404, "PUT", path, mallory, map[string]any{"users": []string{}})
	e.must(400, "PUT", path, alice, map[string]any{"users": []string{"Not A Name"}})
	got := e.must(200, "PUT", path, alice, map[string]any{"users": []string{}})
	if got.field("sharing.project") != false {
		t.Errorf("sharing after clearing it: %s", got.raw)
	}
}

// Where the local runtime cannot isolate workloads, only system
// administrators run workspaces: the others are told why and may still
// create one stopped.
func TestUnisolatedHostRunsAdministratorsOnly(t *testing.T) {
	e := newEnv(t)
	e.project("alpha", "")
	e.blocks()
	alice := e.user("alice")
	e.grant("user", "alice", "l1-researcher", "project/alpha")
	e.svc.RestrictWorkloads("this host cannot run a sandbox")

	r := e.do("POST", "/api/v1/projects/alpha/workspaces", alice, wsBody("nb"))
	if r.status != 403 || !strings.Contains(string(r.raw), "this host cannot run a sandbox") || !strings.Contains(string(r.raw), "--single-user") {
		t.Errorf("a researcher starts a workspace: %d %s", r.status, r.raw)
	}
	b := wsBody("nb")
	b["desiredPhase"] = "Stopped"
	e.must(201, "POST", "/api/v1/projects/alpha/workspaces", alice, b)
	e.must(403, "POST", "/api/v1/projects/alpha/workspaces/nb/start", alice, nil)
	e.must(202, "POST", "/api/v1/projects/alpha/workspaces/nb/start", e.admin, nil)
	e.must(201, "POST", "/api/v1/projects/alpha/workspaces", e.admin, wsBody("admins"))

	e.svc.RestrictWorkloads("")
	e.must(202, "POST", "/api/v1/projects/alpha/workspaces/nb/stop", alice, nil)
	e.must(201, "POST", "/api/v1/projects/alpha/workspaces", alice, wsBody("lifted"))
}
