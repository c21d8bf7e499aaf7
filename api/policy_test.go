package api_test

import (
	"strings"
	"testing"
)

// policy is a policy document at scope.
func policy(scope string, fields map[string]any, extra map[string]any) map[string]any {
	spec := map[string]any{"fields": fields}
	for k, v := range extra {
		spec[k] = v
	}
	return obj("workspaces", scope, spec)
}

// violation expects a 422 whose error on field mentions each of words.
func violation(t *testing.T, r *response, field string, words ...string) {
	t.Helper()
	if r.status != 422 {
		t.Errorf("%d %s, want 422 on %s", r.status, r.raw, field)
		return
	}
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		if m["field"] != field {
			continue
		}
		for _, w := range words {
			if !strings.Contains(m["detail"].(string), w) {
				t.Errorf("the error on %s, %q, does not say %q", field, m["detail"], w)
			}
		}
		return
	}
	t.Errorf("no error on %s in %s", field, r.raw)
}

// A global policy bounds GPUs and memory; a department narrows it, a
// project's attempt to widen it changes nothing; the effective policy
// says where each rule comes from; creations breaking a rule get 422
// naming the field, the rule and the scope; defaults fill what is left
// empty; a locked field cannot be changed.
func TestPoliciesNarrowAndRefuse(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("vision", "global", map[string]any{}))
	e.project("cv", "vision")
	e.blocks()
	e.must(201, "POST", "/api/v1/compute-resources", e.admin, obj("four-gpus", "global", map[string]any{
		"gpuDevices": 4, "cpuRequest": "2", "memoryRequest": "8Gi"}))
	e.must(201, "POST", "/api/v1/compute-resources", e.admin, obj("big-memory", "global", map[string]any{
		"gpuDevices": 1, "cpuRequest": "2", "memoryRequest": "200Gi"}))
	alice := e.user("alice")
	e.grant("user", "alice", "l1-researcher", "project/cv")

	e.must(201, "POST", "/api/v1/policies", e.admin, policy("global", map[string]any{
		"compute.gpuDevices":    map[string]any{"max": "4"},
		"compute.memoryRequest": map[string]any{"max": "64Gi"},
		"compute.cpuLimit":      map[string]any{"default": "8"},
	}, nil))
	e.must(201, "POST", "/api/v1/policies", e.admin, policy("department/vision", map[string]any{
		"compute.gpuDevices":  map[string]any{"max": "2"},
		"general.preemptible": map[string]any{"default": "false", "canEdit": false},
	}, nil))
	// A project policy may not widen: its max of 8 is ignored.
	e.must(201, "POST", "/api/v1/policies", e.admin, policy("project/cv", map[string]any{
		"compute.gpuDevices": map[string]any{"max": "8"},
	}, nil))

	eff := e.must(200, "GET", "/api/v1/projects/cv/policy", alice, nil)
	rule := func(name string) *response {
		fields, _ := eff.field("fields").(map[string]any)
		r, _ := fields[name].(map[string]any)
		return &response{body: r}
	}
	if got := rule("compute.gpuDevices").str("max"); got != "2" {
		t.Errorf("effective max GPUs %q, want 2 (the department's): %s", got, eff.raw)
	}
	if got := rule("compute.gpuDevices").str("from.max.name"); got != "vision" {
		t.Errorf("the max comes from %q, want department vision", got)
	}
	if rule("general.preemptible").field("canEdit") != false || rule("general.preemptible").str("default") != "false" {
		t.Errorf("preemptible not locked to false: %s", eff.raw)
	}

	body := wsBody("greedy")
	body["compute"] = "four-gpus"
	violation(t, e.do("POST", "/api/v1/projects/cv/workspaces", alice, body), "compute.gpuDevices", "above the maximum of 2", "department vision")
	body = wsBody("hungry")
	body["compute"] = "big-memory"
	violation(t, e.do("POST", "/api/v1/projects/cv/workspaces", alice, body), "compute.memoryRequest", "64Gi", "global")
	body = wsBody("elsewhere")
	body["preemptible"] = true
	violation(t, e.do("POST", "/api/v1/projects/cv/workspaces", alice, body), "general.preemptible", "locked to false", "department vision")
	for _, name := range []string{"greedy", "hungry", "elsewhere"} {
		if r := e.do("GET", "/api/v1/projects/cv/workspaces/"+name, e.admin, nil); r.status != 404 {
			t.Errorf("a refused workspace %s was stored: %d", name, r.status)
		}
	}

	// Within the rules: the defaults fill what the request left empty.
	w := e.must(201, "POST", "/api/v1/projects/cv/workspaces", alice, wsBody("fine"))
	if w.str("spec.compute.spec.cpuLimit") != "8" {
		t.Errorf("the default CPU limit not applied: %q", w.str("spec.compute.spec.cpuLimit"))
	}

	// Tightened later: the next start says why it cannot.
	e.must(202, "POST", "/api/v1/projects/cv/workspaces/fine/stop", alice, nil)
	list := e.must(200, "GET", "/api/v1/policies"+q("scope", "department/vision"), e.admin, nil)
	id := list.str("items.0.meta.id")
	dept := e.must(200, "GET", "/api/v1/policies/"+id, alice, nil) // researchers read the rules they live by
	if dept.str("meta.scope.name") != "vision" {
		t.Fatalf("the department's policy: %s", dept.raw)
	}
	e.must(200, "PUT", "/api/v1/policies/"+id, e.admin, map[string]any{
		"meta": map[string]any{"resourceVersion": dept.field("meta.resourceVersion")},
		"spec": map[string]any{"fields": map[string]any{"compute.gpuDevices": map[string]any{"max": "0"}}}})
	violation(t, e.do("POST", "/api/v1/projects/cv/workspaces/fine/start", alice, nil), "compute.gpuDevices", "above the maximum of 0", "department vision")
	e.must(204, "DELETE", "/api/v1/policies/"+id, e.admin, nil)
	e.must(202, "POST", "/api/v1/projects/cv/workspaces/fine/start", alice, nil)

	// Keeping a workspace running: its creator may; someone of another
	// project does not even see it.
	e.must(200, "POST", "/api/v1/projects/cv/workspaces/fine/keep-running", alice, nil)
	e.project("other", "")
	bob := e.user("bob")
	e.grant("user", "bob", "l1-researcher", "project/other")
	if r := e.do("POST", "/api/v1/projects/cv/workspaces/fine/keep-running", bob, nil); r.status != 404 {
		t.Errorf("keep-running from another project: %d %s", r.status, r.raw)
	}
}

// Who may write policies, and what a policy may not do.
func TestPolicyWritersAndBadPolicies(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("vision", "global", map[string]any{}))
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("audio", "global", map[string]any{}))
	e.project("cv", "vision")
	e.project("asr", "audio")
	e.blocks()
	alice, dora := e.user("alice"), e.user("dora")
	e.grant("user", "alice", "l1-researcher", "project/cv")
	e.grant("user", "dora", "department-administrator", "department/vision")

	// A researcher cannot loosen or write her project's policy.
	if r := e.do("POST", "/api/v1/policies", alice, policy("project/cv", map[string]any{}, map[string]any{"allow": []string{"override-command"}})); r.status != 403 {
		t.Errorf("a researcher wrote a policy: %d %s", r.status, r.raw)
	}
	// A department administrator governs her department, not another one.
	if r := e.do("POST", "/api/v1/policies", dora, policy("project/asr", map[string]any{}, nil)); r.status != 403 && r.status != 404 {
		t.Errorf("an administrator of vision wrote audio's policy: %d %s", r.status, r.raw)
	}
	e.must(201, "POST", "/api/v1/policies", dora, policy("project/cv", map[string]any{}, map[string]any{"allow": []string{"override-command"}}))
	// Bad documents: 422 naming the field.
	for field, fields := range map[string]map[string]any{
		"spec.fields.compute.gpus":               {"compute.gpus": map[string]any{"max": "1"}},
		"spec.fields.compute.memoryLimit.max":    {"compute.memoryLimit": map[string]any{"max": "lots"}},
		"spec.fields.compute.cpuRequest":         {"compute.cpuRequest": map[string]any{"min": "4", "max": "2"}},
		"spec.fields.general.nodePool.canEdit":   {"general.nodePool": map[string]any{"canEdit": false}},
		"spec.fields.general.nodePool.default":   {"general.nodePool": map[string]any{"default": "x", "options": []string{"a", "b"}}},
		"spec.fields.compute.gpuDevices.default": {"compute.gpuDevices": map[string]any{"default": "1"}},
	} {
		r := e.do("POST", "/api/v1/policies", e.admin, policy("global", fields, nil))
		if r.status != 400 || !strings.Contains(strings.Join(r.fieldErrors(), " "), field) {
			t.Errorf("%v: %d %s, want 400 naming %s", fields, r.status, r.raw, field)
		}
	}
	if r := e.do("POST", "/api/v1/policies", e.admin, obj("other", "global", map[string]any{})); r.status != 400 {
		t.Errorf("a policy named other: %d", r.status)
	}
	// One policy per scope.
	if r := e.do("POST", "/api/v1/policies", e.admin, policy("project/cv", map[string]any{}, nil)); r.status != 409 {
		t.Errorf("a second policy for cv: %d %s", r.status, r.raw)
	}
	// The privilege dora's policy grants lets alice override the command in
	// cv, and nothing else: a host path is still refused.
	body := wsBody("custom")
	body["command"] = []string{"python", "-m", "http.server"}
	e.must(201, "POST", "/api/v1/projects/cv/workspaces", alice, body)
	hostPath := obj("root", "project/cv", map[string]any{"type": "host-path", "hostPath": map[string]any{"path": "/"}, "mountPath": "/host"})
	if r := e.do("POST", "/api/v1/data-sources", alice, hostPath); r.status != 403 {
		t.Errorf("a host path without the grant: %d %s", r.status, r.raw)
	}
	pol := e.must(200, "GET", "/api/v1/policies"+q("scope", "project/cv"), dora, nil)
	e.must(200, "PUT", "/api/v1/policies/"+pol.str("items.0.meta.id"), dora, map[string]any{
		"meta": map[string]any{"resourceVersion": pol.field("items.0.meta.resourceVersion")},
		"spec": map[string]any{"allow": []string{"override-command", "host-path"}}})
	e.must(201, "POST", "/api/v1/data-sources", alice, hostPath)
}

// An imposed data source is mounted by every workspace of the scope.
func TestPolicyImposesADataSource(t *testing.T) {
	e := newEnv(t)
	e.project("cv", "")
	e.blocks()
	alice := e.user("alice")
	e.grant("user", "alice", "l1-researcher", "project/cv")
	e.must(201, "POST", "/api/v1/data-sources", e.admin, obj("datasets", "global", map[string]any{
		"type": "nfs", "nfs": map[string]any{"server": "nfs.example.com", "path": "/datasets"}, "mountPath": "/datasets"}))
	if r := e.do("POST", "/api/v1/policies", e.admin, policy("project/cv", map[string]any{}, map[string]any{"imposedDataSources": []string{"nope"}})); r.status != 422 {
		t.Errorf("imposing a data source that does not exist: %d %s", r.status, r.raw)
	}
	e.must(201, "POST", "/api/v1/policies", e.admin, policy("project/cv", map[string]any{}, map[string]any{"imposedDataSources": []string{"datasets"}}))
	w := e.must(201, "POST", "/api/v1/projects/cv/workspaces", alice, wsBody("mounted"))
	if w.str("spec.dataSources.0.from.name") != "datasets" {
		t.Errorf("the imposed data source is not mounted: %s", w.raw)
	}
}
