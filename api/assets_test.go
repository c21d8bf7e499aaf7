package api_test

import (
	"fmt"
	"testing"
)

// Every building block kind goes through create, get, list, update (with
// resourceVersion) and delete, and its fields come back as sent.
func TestBuildingBlockCRUD(t *testing.T) {
	e := newEnv(t)
	e.project("vision", "")
	cases := []struct {
		path      string
		spec      map[string]any
		updated   map[string]any
		check     string // a field of the updated object
		wantAfter string
	}{
		{"environments",
			map[string]any{"image": "python:3.12", "imagePullPolicy": "IfNotPresent", "command": []any{"python3"}, "args": []any{"-m", "http.server"},
				"workingDir": "/work", "runAs": map[string]any{"source": "custom", "uid": 1000, "gid": 100, "supplementalGroups": []any{44}},
				"capabilities": []any{"NET_ADMIN"}, "security": map[string]any{"runAsNonRoot": true, "readOnlyRootFilesystem": true},
				"tools": []any{map[string]any{"name": "web", "type": "custom", "port": 8000, "connection": "node-port", "nodePort": 30080},
					map[string]any{"name": "wandb", "type": "external", "url": "https://wandb.ai/${WANDB_ENTITY}"}}},
			map[string]any{"image": "python:3.13"}, "spec.image", "python:3.13"},
		{"compute-resources",
			map[string]any{"gpuDevices": 1, "gpuPortion": map[string]any{"memory": "8Gi"}, "cpuRequest": "500m", "cpuLimit": "2",
				"memoryRequest": "1Gi", "memoryLimit": "4Gi", "largeShm": true,
				"extendedResources": []any{map[string]any{"name": "example.com/fpga", "quantity": "1"}}},
			map[string]any{"gpuDevices": 4}, "spec.gpuDevices", "4"},
		{"data-sources",
			map[string]any{"type": "nfs", "mountPath": "/data", "readOnly": true, "nfs": map[string]any{"server": "nfs.local", "path": "/exports/data"}},
			map[string]any{"type": "git", "mountPath": "/code", "git": map[string]any{"repository": "https://example.com/repo.git", "branch": "main"}},
			"spec.git.branch", "main"},
		{"credentials",
			map[string]any{"type": "access-key", "accessKeyId": "AKIA", "secretAccessKey": "s3cr3t"},
			map[string]any{"type": "username-password", "username": "u", "password": "p"}, "spec.keys.0", "password"},
	}
	for _, c := range cases {
		created := e.must(201, "POST", "/api/v1/"+c.path, e.admin, obj("block", "project/vision", c.spec))
		id := created.str("meta.id")
		got := e.must(200, "GET", "/api/v1/"+c.path+"/"+id, e.admin, nil)
		if got.str("meta.scope.name") != "vision" || got.field("meta.resourceVersion") != float64(1) {
			t.Errorf("%s: %s", c.path, got.raw)
		}
		if items := e.must(200, "GET", "/api/v1/"+c.path+q("scope", "project/vision"), e.admin, nil).body["items"].([]any); len(items) != 1 {
			t.Errorf("%s: list has %d items", c.path, len(items))
		}
		upd := obj("block", "project/vision", c.updated)
		upd["meta"].(map[string]any)["resourceVersion"] = 1
		after := e.must(200, "PUT", "/api/v1/"+c.path+"/"+id, e.admin, upd)
		if v := after.field(c.check); v == nil || fmt.Sprint(v) != c.wantAfter {
			t.Errorf("%s: after update %s = %v, want %s", c.path, c.check, v, c.wantAfter)
		}
		e.must(204, "DELETE", "/api/v1/"+c.path+"/"+id, e.admin, nil)
		e.must(404, "GET", "/api/v1/"+c.path+"/"+id, e.admin, nil)
	}
	e.blocks()
	tm := e.must(201, "POST", "/api/v1/templates", e.admin, obj("t", "global", map[string]any{"environment": "notebook", "compute": "one-gpu"}))
	e.must(200, "GET", "/api/v1/templates", e.admin, nil)
	e.must(200, "GET", "/api/v1/data-sources", e.admin, nil)
	e.must(200, "GET", "/api/v1/compute-resources", e.admin, nil)
	upd := obj("t", "global", map[string]any{"environment": "notebook", "compute": "one-gpu", "args": []any{"--debug"}})
	upd["meta"].(map[string]any)["resourceVersion"] = 1
	e.must(200, "PUT", "/api/v1/templates/"+tm.str("meta.id"), e.admin, upd)
	e.must(204, "DELETE", "/api/v1/templates/"+tm.str("meta.id"), e.admin, nil)

	// An access rule's role can be changed.
	e.user("rita")
	r := e.must(201, "POST", "/api/v1/access-rules", e.admin, map[string]any{"meta": map[string]any{"scope": scopeOf("project/vision")},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "rita"}, "role": "viewer"}})
	rupd := map[string]any{"meta": map[string]any{"scope": scopeOf("project/vision"), "resourceVersion": 1},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "rita"}, "role": "l1-researcher"}}
	if got := e.must(200, "PUT", "/api/v1/access-rules/"+r.str("meta.id"), e.admin, rupd); got.str("spec.role") != "l1-researcher" {
		t.Errorf("rule update: %s", got.raw)
	}
	doc := e.must(200, "GET", "/api/v1/openapi.json", "", nil)
	if doc.str("openapi") != "3.1.0" {
		t.Errorf("openapi: %v", doc.field("openapi"))
	}
}
