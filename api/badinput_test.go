package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Every write endpoint refuses bad input with a 4xx problem document that
// names the field at fault, and writes nothing: the kind's list, the
// caller's tokens and the audit log are the same after as before.
func TestBadInputIsRefusedAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/departments", e.admin, obj("dept", "global", map[string]any{"quota": map[string]any{"gpus": 16}}))
	e.project("pa", "dept")
	e.project("pb", "")
	e.blocks()
	e.user("u1")
	e.grant("user", "u1", "viewer", "project/pa")
	researcher := e.user("u2")
	e.grant("user", "u2", "l1-researcher", "project/pa")
	e.must(201, "POST", "/api/v1/groups", e.admin, obj("grp", "global", map[string]any{"members": []any{"u1"}}))
	e.must(201, "POST", "/api/v1/applications", e.admin, map[string]any{"meta": map[string]any{"name": "app1"}, "password": adminPassword})
	ids := map[string]string{} // "kind/name" -> id
	for _, b := range []struct{ path, name, scope string }{
		{"environments", "env-a", "project/pa"}, {"environments", "env-b", "project/pb"},
		{"compute-resources", "cr-a", "project/pa"}, {"compute-resources", "cr-b", "project/pb"},
		{"data-sources", "ds-a", "project/pa"}, {"credentials", "cred-a", "project/pa"}, {"credentials", "cred-b", "project/pb"},
		{"templates", "tpl-a", "project/pa"}, {"templates", "tpl-b", "project/pb"},
	} {
		ids[b.path+"/"+b.name] = e.must(201, "POST", "/api/v1/"+b.path, e.admin, obj(b.name, b.scope, biSpec(b.path))).str("meta.id")
	}
	e.must(201, "POST", "/api/v1/compute-resources", e.admin, obj("half-gpu", "project/pa",
		biSet(biSpec("compute-resources"), "gpuPortion", map[string]any{"percent": 50})))
	rules := e.must(200, "GET", "/api/v1/access-rules"+q("scope", "project/pa"), e.admin, nil)
	ids["access-rules/u1"] = rules.str("items.0.meta.id")
	stopped := wsBody("ws1")
	stopped["desiredPhase"] = "Stopped"
	e.must(201, "POST", "/api/v1/projects/pa/workspaces", e.admin, stopped)

	// Valid bodies; every bad one is one of these with one thing wrong.
	put := func(name, scope string, spec map[string]any) map[string]any {
		b := obj(name, scope, spec)
		b["meta"].(map[string]any)["resourceVersion"] = 2 // after the bump below
		return b
	}
	rule := func(subject string) map[string]any {
		return map[string]any{"meta": map[string]any{"scope": scopeOf("project/pa")},
			"spec": map[string]any{"subject": map[string]any{"type": "user", "name": subject}, "role": "viewer"}}
	}
	ruleUpd := rule("u1")
	ruleUpd["meta"].(map[string]any)["resourceVersion"] = 2
	ws := wsBody("new-ws")
	ws["desiredPhase"] = "Stopped"
	targets := []*biTarget{
		{"POST departments", "POST", "/api/v1/departments", "/api/v1/departments", "meta.name",
			obj("new-dept", "global", map[string]any{"quota": map[string]any{"gpus": 4}})},
		{"PUT departments", "PUT", "/api/v1/departments/dept", "/api/v1/departments", "meta.name",
			put("dept", "global", map[string]any{"quota": map[string]any{"gpus": 16}})},
		{"POST projects", "POST", "/api/v1/projects", "/api/v1/projects", "meta.name",
			obj("new-proj", "department/dept", map[string]any{"quota": map[string]any{"gpus": 2}})},
		{"PUT projects", "PUT", "/api/v1/projects/pa", "/api/v1/projects", "meta.name",
			put("pa", "department/dept", map[string]any{"quota": map[string]any{"gpus": 8}})},
		{"POST groups", "POST", "/api/v1/groups", "/api/v1/groups", "meta.name",
			obj("new-grp", "global", map[string]any{"members": []any{"u1"}})},
		{"PUT groups", "PUT", "/api/v1/groups/grp", "/api/v1/groups", "meta.name",
			put("grp", "global", map[string]any{"members": []any{"u1"}})},
		{"POST access-rules", "POST", "/api/v1/access-rules", "/api/v1/access-rules", "spec.subject.name", rule("admin")},
		{"PUT access-rules", "PUT", "/api/v1/access-rules/" + ids["access-rules/u1"], "/api/v1/access-rules", "spec.subject.name", ruleUpd},
		{"POST environments", "POST", "/api/v1/environments", "/api/v1/environments", "meta.name",
			obj("new-env", "project/pa", biSpec("environments"))},
		{"PUT environments", "PUT", "/api/v1/environments/" + ids["environments/env-a"], "/api/v1/environments", "meta.name",
			put("env-a", "project/pa", biSpec("environments"))},
		{"POST compute-resources", "POST", "/api/v1/compute-resources", "/api/v1/compute-resources", "meta.name",
			obj("new-cr", "project/pa", biSpec("compute-resources"))},
		{"PUT compute-resources", "PUT", "/api/v1/compute-resources/" + ids["compute-resources/cr-a"], "/api/v1/compute-resources", "meta.name",
			put("cr-a", "project/pa", biSpec("compute-resources"))},
		{"POST data-sources", "POST", "/api/v1/data-sources", "/api/v1/data-sources", "meta.name",
			obj("new-ds", "project/pa", biSpec("data-sources"))},
		{"PUT data-sources", "PUT", "/api/v1/data-sources/" + ids["data-sources/ds-a"], "/api/v1/data-sources", "meta.name",
			put("ds-a", "project/pa", biSpec("data-sources"))},
		{"POST credentials", "POST", "/api/v1/credentials", "/api/v1/credentials", "meta.name",
			obj("new-cred", "project/pa", biSpec("credentials"))},
		{"PUT credentials", "PUT", "/api/v1/credentials/" + ids["credentials/cred-a"], "/api/v1/credentials", "meta.name",
			put("cred-a", "project/pa", biSpec("credentials"))},
		{"POST templates", "POST", "/api/v1/templates", "/api/v1/templates", "meta.name",
			obj("new-tpl", "project/pa", biSpec("templates"))},
		{"PUT templates", "PUT", "/api/v1/templates/" + ids["templates/tpl-a"], "/api/v1/templates", "meta.name",
			put("tpl-a", "project/pa", biSpec("templates"))},
		{"POST users", "POST", "/api/v1/users", "/api/v1/users", "meta.name",
			map[string]any{"meta": map[string]any{"name": "new-user"}, "password": "long-enough-password"}},
		{"PUT users", "PUT", "/api/v1/users/u1", "/api/v1/users", "meta.name",
			map[string]any{"meta": map[string]any{"name": "u1", "resourceVersion": 2}, "spec": map[string]any{"displayName": "U One"}}},
		{"POST applications", "POST", "/api/v1/applications", "/api/v1/applications", "meta.name",
			map[string]any{"meta": map[string]any{"name": "new-app"}, "password": adminPassword}},
		{"POST tokens", "POST", "/api/v1/tokens", "/api/v1/tokens", "name", map[string]any{"name": "ci", "expiresInSeconds": 3600, "password": adminPassword}},
		{"POST token", "POST", "/api/v1/token", "/api/v1/tokens", "", map[string]any{"username": "admin", "password": adminPassword}},
		{"POST workspaces", "POST", "/api/v1/projects/pa/workspaces", "/api/v1/workspaces", "name", ws},
		{"POST workspaces as a researcher", "POST", "/api/v1/projects/pa/workspaces", "/api/v1/workspaces", "name", biSet(ws, "name", "rs-ws")},
	}
	tokenOf := func(tg *biTarget) string {
		switch tg.label {
		case "POST token":
			return "" // signing in is public
		case "POST workspaces as a researcher":
			return researcher
		}
		return e.admin
	}
	byName := map[string]*biTarget{}
	for _, tg := range targets {
		byName[tg.label] = tg
		if tg.method == "PUT" { // its valid body takes it from resourceVersion 1 to 2: 1 is stale after
			b := biSet(tg.valid, "meta.resourceVersion", 1)
			e.must(200, "PUT", tg.path, e.admin, b)
		}
	}

	var cases []biCase
	add := func(target, label string, body any, status int, field string) {
		cases = append(cases, biCase{byName[target], label, body, status, field})
	}
	// Shapes every endpoint refuses.
	for _, tg := range targets {
		l := tg.label
		add(l, "malformed JSON", `{"meta":`, 400, "body")
		add(l, "empty body", "", 400, "body")
		add(l, "array for the object", `[]`, 400, "body")
		add(l, "string for the object", `"x"`, 400, "body")
		add(l, "trailing data", `{} {}`, 400, "body")
		add(l, "unknown field", biSet(tg.valid, "bogus", 1), 400, "bogus")
		add(l, "empty key", biSet(tg.valid, "", 1), 400, "body")
		add(l, "wrong Content-Type", biContentType{"text/plain", tg.valid}, 400, "Content-Type")
		if tg.nameField != "" {
			bads := []any{strings.Repeat("a", 64), "Bad_Name", "UPPER", "-x", "x-"}
			if tg.method == "POST" || tg.nameField != "meta.name" {
				bads = append(bads, "") // a PUT without meta.name keeps the name
			}
			for _, bad := range bads {
				add(l, fmt.Sprintf("name %q", bad), biSet(tg.valid, tg.nameField, bad), 400, tg.nameField)
			}
			add(l, "number for the name", biSet(tg.valid, tg.nameField, 5), 400, tg.nameField)
		}
		if strings.HasPrefix(tg.nameField, "meta.") || strings.HasPrefix(tg.nameField, "spec.") {
			add(l, "nested unknown field", biSet(tg.valid, "meta.bogus", 1), 400, "meta.bogus")
			add(l, "array for meta", biSet(tg.valid, "meta", []any{}), 400, "meta")
			add(l, "string for spec", biSet(tg.valid, "spec", "x"), 400, "spec")
		}
		if tg.method == "PUT" {
			add(l, "stale resourceVersion", biSet(tg.valid, "meta.resourceVersion", 1), 409, "")
			add(l, "no resourceVersion", biSet(tg.valid, "meta.resourceVersion", biAbsent), 400, "meta.resourceVersion")
			add(l, "string resourceVersion", biSet(tg.valid, "meta.resourceVersion", "2"), 400, "meta.resourceVersion")
		}
	}
	for _, l := range []string{"PUT departments", "PUT projects", "PUT groups", "PUT environments", "PUT compute-resources",
		"PUT data-sources", "PUT credentials", "PUT templates", "PUT users"} {
		add(l, "renamed", biSet(byName[l].valid, "meta.name", "renamed"), 400, "meta.name")
	}
	for _, l := range []string{"PUT departments", "PUT projects", "PUT environments", "PUT access-rules"} {
		add(l, "moved", biSet(byName[l].valid, "meta.scope", scopeOf("project/pb")), 400, "meta.scope")
	}
	// Duplicates.
	add("POST departments", "duplicate name", biSet(byName["POST departments"].valid, "meta.name", "dept"), 409, "")
	add("POST projects", "duplicate name", biSet(byName["POST projects"].valid, "meta.name", "pb"), 409, "")
	add("POST groups", "duplicate name", biSet(byName["POST groups"].valid, "meta.name", "grp"), 409, "")
	add("POST access-rules", "duplicate rule", rule("u1"), 409, "")
	for k, name := range map[string]string{"environments": "env-a", "compute-resources": "cr-a", "data-sources": "ds-a",
		"credentials": "cred-a", "templates": "tpl-a"} {
		add("POST "+k, "duplicate name", biSet(byName["POST "+k].valid, "meta.name", name), 409, "")
	}
	add("POST users", "duplicate name", biSet(byName["POST users"].valid, "meta.name", "u1"), 409, "")
	add("POST applications", "duplicate name", biSet(byName["POST applications"].valid, "meta.name", "app1"), 409, "")
	add("POST workspaces", "duplicate name", biSet(ws, "name", "ws1"), 409, "")

	// Quotas: wrong types, negative and absurd quantities.
	for _, l := range []string{"POST departments", "PUT departments", "POST projects", "PUT projects"} {
		v := byName[l].valid
		add(l, "gpus -1", biSet(v, "spec.quota.gpus", -1), 400, "spec.quota.gpus")
		add(l, "gpus 1e30", biSet(v, "spec.quota.gpus", 1e30), 400, "spec.quota.gpus")
		add(l, "gpus as a string", biSet(v, "spec.quota.gpus", "4"), 400, "spec.quota.gpus")
		add(l, "cpu as a number", biSet(v, "spec.quota.cpu", 64), 400, "spec.quota.cpu")
		add(l, "cpu -1", biSet(v, "spec.quota.cpu", "-1"), 400, "spec.quota.cpu")
		add(l, "memory 1e30", biSet(v, "spec.quota.memory", "1e30"), 400, "spec.quota.memory")
		add(l, "quota as an array", biSet(v, "spec.quota", []any{}), 400, "spec.quota")
	}
	add("POST departments", "long description", biSet(byName["POST departments"].valid, "meta.description", strings.Repeat("d", 1025)), 400, "meta.description")
	add("POST projects", "project in a project", biSet(byName["POST projects"].valid, "meta.scope", scopeOf("project/pa")), 400, "meta.scope.type")
	add("POST projects", "no such department", biSet(byName["POST projects"].valid, "meta.scope", scopeOf("department/nope")), 422, "meta.scope.name")
	add("POST projects", "bad namespace", biSet(byName["POST projects"].valid, "spec.namespace", "Bad_NS"), 400, "spec.namespace")

	// Groups and access rules.
	for _, l := range []string{"POST groups", "PUT groups"} {
		v := byName[l].valid
		add(l, "members as a string", biSet(v, "spec.members", "u1"), 400, "spec.members")
		add(l, "member as a number", biSet(v, "spec.members", []any{5}), 400, "spec.members")
		add(l, "bad member name", biSet(v, "spec.members", []any{"Bad_Name"}), 400, "spec.members[0]")
		add(l, "no such member", biSet(v, "spec.members", []any{"u1", "nobody"}), 422, "spec.members[1]")
	}
	for _, l := range []string{"POST access-rules", "PUT access-rules"} {
		v := byName[l].valid
		add(l, "bad subject type", biSet(v, "spec.subject.type", "robot"), 400, "spec.subject.type")
		add(l, "bad role", biSet(v, "spec.role", "boss"), 400, "spec.role")
		add(l, "role as a number", biSet(v, "spec.role", 5), 400, "spec.role")
		add(l, "subject as an array", biSet(v, "spec.subject", []any{}), 400, "spec.subject")
	}
	add("POST access-rules", "bad scope type", biSet(byName["POST access-rules"].valid, "meta.scope.type", "planet"), 400, "meta.scope.type")
	add("POST access-rules", "no such project", biSet(byName["POST access-rules"].valid, "meta.scope", scopeOf("project/nope")), 422, "meta.scope.name")
	add("POST access-rules", "no such subject", rule("nobody"), 422, "spec.subject.name")

	// Building blocks.
	for _, l := range []string{"POST environments", "PUT environments"} {
		v := byName[l].valid
		add(l, "no image", biSet(v, "spec.image", ""), 400, "spec.image")
		add(l, "image with a space", biSet(v, "spec.image", "python 3"), 400, "spec.image")
		add(l, "bad pull policy", biSet(v, "spec.imagePullPolicy", "Sometimes"), 400, "spec.imagePullPolicy")
		add(l, "command as a string", biSet(v, "spec.command", "ls"), 400, "spec.command")
		add(l, "port as a string", biSet(v, "spec.tools", []any{map[string]any{"name": "t", "type": "custom", "port": "80"}}), 400, "spec.tools.port")
		add(l, "port 70000", biSet(v, "spec.tools", []any{map[string]any{"name": "t", "type": "custom", "port": 70000}}), 400, "spec.tools[0].port")
		add(l, "unknown tool field", biSet(v, "spec.tools", []any{map[string]any{"name": "t", "type": "custom", "port": 80, "bogus": 1}}), 400, "spec.tools[0].bogus")
		add(l, "bad env name", biSet(v, "spec.env", []any{map[string]any{"name": "1X", "value": "v"}}), 400, "spec.env[0].name")
		add(l, "relative workingDir", biSet(v, "spec.workingDir", "work"), 400, "spec.workingDir")
		add(l, "negative uid", biSet(v, "spec.runAs", map[string]any{"source": "custom", "uid": -1}), 400, "spec.runAs.uid")
		add(l, "credential of another project", biSet(v, "spec.env", []any{map[string]any{"name": "K",
			"credential": map[string]any{"name": "cred-b", "key": "API_KEY"}}}), 422, "spec.env[0].credential.name")
	}
	for _, l := range []string{"POST compute-resources", "PUT compute-resources"} {
		v := byName[l].valid
		add(l, "gpuDevices -1", biSet(v, "spec.gpuDevices", -1), 400, "spec.gpuDevices")
		add(l, "gpuDevices 5000", biSet(v, "spec.gpuDevices", 5000), 400, "spec.gpuDevices")
		add(l, "gpuDevices 1.5", biSet(v, "spec.gpuDevices", 1.5), 400, "spec.gpuDevices")
		add(l, "gpuDevices 1e30", biSet(v, "spec.gpuDevices", 1e30), 400, "spec.gpuDevices")
		add(l, "gpuDevices as a string", biSet(v, "spec.gpuDevices", "1"), 400, "spec.gpuDevices")
		add(l, "memoryRequest 1e30", biSet(v, "spec.memoryRequest", "1e30"), 400, "spec.memoryRequest")
		add(l, "memoryRequest as a number", biSet(v, "spec.memoryRequest", 1024), 400, "spec.memoryRequest")
		add(l, "memoryLimit below request", biSet(v, "spec.memoryLimit", "1Mi"), 400, "spec.memoryLimit")
		add(l, "cpuRequest -1", biSet(v, "spec.cpuRequest", "-1"), 400, "spec.cpuRequest")
		add(l, "cpuRequest two million cores", biSet(v, "spec.cpuRequest", "2000000"), 400, "spec.cpuRequest")
		add(l, "portion of two GPUs", biSet(biSet(v, "spec.gpuDevices", 2), "spec.gpuPortion", map[string]any{"percent": 50}), 400, "spec.gpuPortion")
		add(l, "portion of 150%", biSet(v, "spec.gpuPortion", map[string]any{"percent": 150}), 400, "spec.gpuPortion.percent")
		add(l, "extended resource -1", biSet(v, "spec.extendedResources", []any{map[string]any{"name": "example.com/fpga", "quantity": "-1"}}), 400, "spec.extendedResources[0].quantity")
	}
	for _, l := range []string{"POST data-sources", "PUT data-sources"} {
		v := byName[l].valid
		add(l, "bad type", biSet(v, "spec.type", "ftp"), 400, "spec.type")
		add(l, "relative mountPath", biSet(v, "spec.mountPath", "data"), 400, "spec.mountPath")
		add(l, "second block", biSet(v, "spec.pvc", map[string]any{"claimName": "c"}), 400, "spec.pvc")
		add(l, "credential of another project", biSet(v, "spec", map[string]any{"type": "s3", "mountPath": "/s3",
			"s3": map[string]any{"bucket": "bucket", "credential": "cred-b"}}), 422, "spec.s3.credential")
		add(l, "negative claim size", biSet(v, "spec", map[string]any{"type": "pvc", "mountPath": "/d",
			"pvc": map[string]any{"new": map[string]any{"size": "-1Gi"}}}), 400, "spec.pvc.new.size")
	}
	for _, l := range []string{"POST credentials", "PUT credentials"} {
		v := byName[l].valid
		add(l, "bad type", biSet(v, "spec.type", "magic"), 400, "spec.type")
		add(l, "bad key", biSet(v, "spec.data", map[string]any{"1BAD": "v"}), 400, "spec.data.1BAD")
		add(l, "data as a string", biSet(v, "spec.data", "x"), 400, "spec.data")
		add(l, "value as a number", biSet(v, "spec.data", map[string]any{"K": 5}), 400, "spec.data")
		add(l, "no password", biSet(v, "spec", map[string]any{"type": "docker-registry", "registry": "r.example.com", "username": "u"}), 400, "spec.password")
	}
	for _, l := range []string{"POST templates", "PUT templates"} {
		v := byName[l].valid
		add(l, "no environment", biSet(v, "spec.environment", ""), 400, "spec.environment")
		add(l, "environment of another project", biSet(v, "spec.environment", "env-b"), 422, "spec.environment")
		add(l, "compute of another project", biSet(v, "spec.compute", "cr-b"), 422, "spec.compute")
		add(l, "compute of another project by id", biSet(v, "spec.compute", ids["compute-resources/cr-b"]), 422, "spec.compute")
		add(l, "bad data source name", biSet(v, "spec.dataSources", []any{map[string]any{"name": "Bad_Name"}}), 400, "spec.dataSources[0].name")
		add(l, "autoDelete -1", biSet(v, "spec.general.autoDeleteSeconds", -1), 400, "spec.general.autoDeleteSeconds")
		add(l, "autoDelete as a string", biSet(v, "spec.general.autoDeleteSeconds", "60"), 400, "spec.general.autoDeleteSeconds")
		add(l, "bad label key", biSet(v, "spec.general.labels", map[string]any{"bad key": "v"}), 400, "spec.general.labels.bad key")
	}

	// Identities and tokens.
	for _, l := range []string{"POST users", "PUT users"} {
		v := byName[l].valid
		add(l, "short password", biSet(v, "password", "short"), 400, "password")
		add(l, "password as a number", biSet(v, "password", 12345678), 400, "password")
		add(l, "bad email", biSet(v, "spec.email", "not-an-email"), 400, "spec.email")
		add(l, "disabled as a string", biSet(v, "spec.disabled", "yes"), 400, "spec.disabled")
	}
	add("POST applications", "long description", biSet(byName["POST applications"].valid, "meta.description", strings.Repeat("d", 1025)), 400, "meta.description")
	for _, secs := range []any{-1, 0, 63072001, 18446744074, -18446744073, 1e30, "3600", 1.5} {
		add("POST tokens", fmt.Sprintf("expiresInSeconds %v", secs), biSet(byName["POST tokens"].valid, "expiresInSeconds", secs), 400, "expiresInSeconds")
	}
	tokenBad := []struct {
		label string
		body  any
		field string
	}{
		{"username as a number", map[string]any{"username": 5, "password": "x"}, "username"},
		{"nothing to sign in with", map[string]any{}, "username"},
		{"user and client both", map[string]any{"username": "admin", "password": adminPassword, "clientId": "app-app1"}, "username"},
		{"clientSecret as an object", map[string]any{"clientId": "app-app1", "clientSecret": map[string]any{}}, "clientSecret"},
	}
	for _, c := range tokenBad {
		add("POST token", c.label, c.body, 400, c.field)
	}

	// Workspaces.
	wsCases := []struct {
		label  string
		body   map[string]any
		status int
		field  string
	}{
		{"environment of another project", biSet(ws, "environment", "env-b"), 422, "environment"},
		{"environment of another project by id", biSet(ws, "environment", ids["environments/env-b"]), 422, "environment"},
		{"compute of another project", biSet(ws, "compute", "cr-b"), 422, "compute"},
		{"template of another project", biSet(ws, "template", "tpl-b"), 422, "template"},
		{"template of another project by id", biSet(ws, "template", ids["templates/tpl-b"]), 422, "template"},
		{"env left for the user not filled", biSet(ws, "env", biAbsent), 422, "env.WANDB_KEY"},
		{"env left for the user empty", biSet(ws, "env", map[string]any{"WANDB_KEY": ""}), 422, "env.WANDB_KEY"},
		{"env value as a number", biSet(ws, "env", map[string]any{"WANDB_KEY": 5}), 400, "env"},
		{"bad env name", biSet(ws, "env", map[string]any{"WANDB_KEY": "k", "1X": "v"}), 400, "env.1X"},
		{"no blocks", biSet(ws, "environment", biAbsent), 400, "template"},
		{"gpuDevices -1", biSet(ws, "gpuDevices", -1), 400, "gpuDevices"},
		{"gpuDevices 5000", biSet(ws, "gpuDevices", 5000), 400, "gpuDevices"},
		{"gpuDevices as a string", biSet(ws, "gpuDevices", "1"), 400, "gpuDevices"},
		{"portion of two GPUs", biSet(biSet(ws, "compute", "half-gpu"), "gpuDevices", 2), 400, "compute.gpuPortion"},
		{"bad desired phase", biSet(ws, "desiredPhase", "Paused"), 400, "desiredPhase"},
		{"dataSources as an object", biSet(ws, "dataSources", map[string]any{}), 400, "dataSources"},
		{"unknown data source field", biSet(ws, "dataSources", []any{map[string]any{"name": "ds-a", "bogus": 1}}), 400, "dataSources[0].bogus"},
		{"preemptible as a string", biSet(ws, "preemptible", "yes"), 400, "preemptible"},
		{"bad node pool", biSet(ws, "nodePool", "Bad_Pool"), 400, "nodePool"},
		{"bad label key", biSet(ws, "labels", map[string]any{"bad key": "v"}), 400, "labels.bad key"},
	}
	for _, c := range wsCases {
		add("POST workspaces", c.label, c.body, c.status, c.field)
		if c.status == 422 { // the same for a caller who holds no role in pb
			add("POST workspaces as a researcher", c.label, biSet(c.body, "name", "rs-ws"), c.status, c.field)
		}
	}

	for _, c := range cases {
		before := biSnapshot(e, c.target.list)
		var r *response
		if ct, ok := c.body.(biContentType); ok {
			r = biSend(e, c.target.method, c.target.path, tokenOf(c.target), ct.contentType, ct.body)
		} else {
			r = e.do(c.target.method, c.target.path, tokenOf(c.target), c.body)
		}
		what := c.target.label + " " + c.label
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", what, r.status, c.status, r.raw)
			continue
		}
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" || r.str("detail") == "" || r.field("status") != float64(c.status) {
			t.Errorf("%s: not a problem document (%s): %s", what, ct, r.raw)
		}
		if c.field != "" && !slices.Contains(r.fieldErrors(), c.field) {
			t.Errorf("%s: errors name %q, want %q: %s", what, r.fieldErrors(), c.field, r.raw)
		}
		if after := biSnapshot(e, c.target.list); after != before {
			t.Errorf("%s: something was written:\nbefore %s\nafter  %s", what, before, after)
		}
	}

	// Lists refuse bad paging with 400 naming the parameter.
	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	lists := []string{"departments", "projects", "groups", "access-rules", "environments", "compute-resources", "data-sources",
		"credentials", "templates", "users", "applications", "workspaces", "projects/pa/workspaces"}
	for _, l := range lists {
		for _, c := range []struct{ query, field string }{
			{q("continue", "!!!"), "continue"},
			{q("continue", cursor("not json")), "continue"},
			{q("continue", cursor(`{"v":"x","id":"y"}`), "sortBy", "createdAt"), "continue"},
			{q("limit", "0"), "limit"},
			{q("limit", "abc"), "limit"},
			{q("limit", "-1"), "limit"},
			{q("limit", "1001"), "limit"},
			{q("sortOrder", "up"), "sortOrder"},
		} {
			r := e.must(400, "GET", "/api/v1/"+l+c.query, e.admin, nil)
			if !slices.Contains(r.fieldErrors(), c.field) {
				t.Errorf("GET %s%s: errors name %q, want %q", l, c.query, r.fieldErrors(), c.field)
			}
		}
	}
	for _, c := range []struct{ query, field string }{
		{q("continue", "abc"), "continue"}, {q("continue", "-5"), "continue"},
		{q("limit", "0"), "limit"}, {q("limit", "abc"), "limit"},
	} {
		r := e.must(400, "GET", "/api/v1/audit"+c.query, e.admin, nil)
		if !slices.Contains(r.fieldErrors(), c.field) {
			t.Errorf("GET audit%s: errors name %q, want %q", c.query, r.fieldErrors(), c.field)
		}
	}

	// A known path with another method is 405 naming the methods it takes
	// in Allow; an unknown path is 404. Neither writes anything.
	for _, c := range []struct{ method, path, allow string }{
		{"PUT", "/api/v1/applications/app1", "GET, DELETE"}, {"PUT", "/api/v1/tokens/x", "DELETE"}, {"PUT", "/api/v1/token", "POST"},
		{"PATCH", "/api/v1/departments/dept", "GET, PUT, DELETE"}, {"PUT", "/api/v1/projects/pa/workspaces/ws1", "GET, DELETE"},
		{"PATCH", "/api/v1/projects/pa", "GET, PUT, DELETE"}, {"PUT", "/api/v1/nothing/here", ""},
	} {
		before := biSnapshot(e, "/api/v1/applications")
		want := 405
		if c.allow == "" {
			want = 404
		}
		r := e.must(want, c.method, c.path, e.admin, map[string]any{"meta": map[string]any{"name": "app1"}})
		if r.header.Get("Content-Type") != "application/problem+json" || biSnapshot(e, "/api/v1/applications") != before ||
			r.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: Allow %q, want %q: %s", c.method, c.path, r.header.Get("Allow"), c.allow, r.raw)
		}
	}

	// The control: every valid body is accepted, so each refusal above was
	// for the one thing wrong with it.
	for _, tg := range targets {
		want := map[string]int{"PUT": 200, "POST": 201}[tg.method]
		if tg.label == "POST token" {
			want = 200
		}
		e.must(want, tg.method, tg.path, tokenOf(tg), tg.valid)
	}
}

// biTarget is one write endpoint, a valid body for it, and the list whose
// reply shows whether it wrote something.
type biTarget struct {
	label        string
	method, path string
	list         string
	nameField    string // the JSON path of the name the caller chooses, if any
	valid        map[string]any
}

type biCase struct {
	target *biTarget
	label  string
	body   any // a string is sent as is; a biContentType with its own type
	status int
	field  string // the JSON path the problem must name, "" for none
}

// biContentType is a body sent with another Content-Type.
type biContentType struct {
	contentType string
	body        any
}

// biAbsent, as a value for biSet, removes the key.
var biAbsent = &struct{}{}

// biSet returns a deep copy of m with the dotted path set to v.
func biSet(m map[string]any, path string, v any) map[string]any {
	var out map[string]any
	raw, _ := json.Marshal(m)
	_ = json.Unmarshal(raw, &out)
	cur := out
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[k] = next
		}
		cur = next
	}
	if last := keys[len(keys)-1]; v == biAbsent {
		delete(cur, last)
	} else {
		cur[last] = v
	}
	return out
}

// biSpec is a valid spec for a building block kind, usable in project pa.
func biSpec(kind string) map[string]any {
	switch kind {
	case "environments":
		return map[string]any{"image": "python:3.12"}
	case "compute-resources":
		return map[string]any{"gpuDevices": 1, "cpuRequest": "1", "memoryRequest": "1Gi"}
	case "data-sources":
		return map[string]any{"type": "nfs", "mountPath": "/data", "nfs": map[string]any{"server": "nfs.local", "path": "/x"}}
	case "credentials":
		return map[string]any{"type": "generic-secret", "data": map[string]any{"API_KEY": "v"}}
	case "templates":
		return map[string]any{"environment": "notebook", "compute": "one-gpu"}
	}
	panic(kind)
}

// biSnapshot sums up what is stored: the ids and resourceVersions of the
// list's items (only ids for workspaces, whose status the controller
// changes), and the audit log.
func biSnapshot(e *env, list string) string {
	e.t.Helper()
	var b strings.Builder
	r := e.must(200, "GET", list+q("limit", "1000"), e.admin, nil)
	if list == "/api/v1/tokens" {
		r = e.must(200, "GET", list, e.admin, nil)
	}
	items, _ := r.body["items"].([]any)
	for _, it := range items {
		m := it.(map[string]any)
		if meta, ok := m["meta"].(map[string]any); ok {
			m = meta
			if list == "/api/v1/workspaces" {
				delete(m, "resourceVersion")
			}
		}
		fmt.Fprintf(&b, "%v@%v ", m["id"], m["resourceVersion"])
	}
	audit := e.must(200, "GET", "/api/v1/audit"+q("limit", "1000"), e.admin, nil)
	n := len(audit.body["items"].([]any))
	fmt.Fprintf(&b, "| audit %d %v", n, audit.field("items.0.id"))
	return b.String()
}

// biSend is env.do with a Content-Type of choice.
func biSend(e *env, method, path, token, contentType string, body any) *response {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(string(raw)))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	r := &response{status: res.StatusCode, header: res.Header, raw: out}
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(out, &r.body); err != nil {
			e.t.Fatalf("%s %s: reply is not JSON: %s", method, path, out)
		}
	}
	record(req, r)
	return r
}
