package web_test

import (
	"context"
	"html"
	"net/url"
	"strings"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store"
)

// A researcher creates, edits, copies and deletes a compute resource in
// her project; bad specs come back beside the spec, nothing saved.
func TestBuildingBlockPages(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	rita := k.researcher("rita", "lab")
	page := k.do("GET", "/compute-resources/new?project=lab", rita, nil)
	expect(t, "new compute resource", page, 200, `<option selected>project/lab</option>`, `"cpuRequest": "1"`)
	token := csrf(t, page.Body.String())
	form := func(name, scope, spec string) url.Values {
		return url.Values{"csrf": {token}, "name": {name}, "scope": {scope}, "description": {"for tests"}, "spec": {spec}}
	}
	for _, bad := range []struct{ spec, want string }{
		{`{"gpuDevices": "two"}`, "does not fit a compute resource"},
		{`{"gpuDevices": 1`, "is not valid JSON"},
		{`{"gpuDevices": 1, "colour": "red"}`, `unknown field "colour"`},
		{`{"gpuDevices": 1, "cpuRequest": "lots"}`, "spec.cpuRequest: "},
		{`{} {}`, "must hold one JSON object and nothing after it"},
		{`{}, "meta": {"name": "other"}`, "must hold one JSON object and nothing after it"},
	} {
		w := k.do("POST", "/compute-resources/new", rita, form("tiny", "project/lab", bad.spec))
		expect(t, bad.spec, w, 422, `id="spec-err"><p class="fielderr">`)
		if !strings.Contains(html.UnescapeString(w.Body.String()), bad.want) {
			t.Errorf("%s: the page lacks %q", bad.spec, bad.want)
		}
	}
	w := k.do("POST", "/compute-resources/new", rita, form("Tiny!", "global", `{"cpuRequest": "1"}`))
	expect(t, "bad name, global scope", w, 422, `id="name-err"><p class="fielderr">`)
	if list, _, _ := k.svc.List(k.admin, labspace.KindComputeResource, store.ListQuery{Search: "tiny"}); len(list) != 0 {
		t.Fatalf("bad forms saved %d compute resources", len(list))
	}
	w = k.do("POST", "/compute-resources/new", rita, form("tiny", "global", `{"cpuRequest": "1"}`))
	expect(t, "a researcher creating a global block", w, 403, `id="scope-err"><p class="fielderr">Your role does not allow`)

	w = k.do("POST", "/compute-resources/new", rita, form("tiny", "project/lab", `{"cpuRequest": "500m", "memoryRequest": "1Gi"}`))
	if w.Code != 303 {
		t.Fatalf("create: %d\n%.1500s", w.Code, w.Body.String())
	}
	expect(t, "the same name again", k.do("POST", "/compute-resources/new", rita, form("tiny", "project/lab", `{}`)), 422,
		`id="name-err"><p class="fielderr">`)
	list := k.do("GET", "/compute-resources?q=tiny", rita, nil)
	expect(t, "list", list, 200, `data-name="tiny"`, "GPUs 0 · CPU 500m · memory 1Gi", "project lab")
	id := regexpFind(t, list.Body.String(), `href="/compute-resources/([^/"]+)/edit"`)

	edit := k.do("GET", "/compute-resources/"+id+"/edit", rita, nil)
	expect(t, "edit page", edit, 200, `"cpuRequest": "500m"`, `name="resourceVersion" value="1"`)
	save := form("tiny", "project/lab", `{"cpuRequest": "2", "memoryRequest": "1Gi"}`)
	save.Set("resourceVersion", "1")
	if w := k.do("POST", "/compute-resources/"+id+"/edit", rita, save); w.Code != 303 {
		t.Fatalf("save: %d\n%.1500s", w.Code, w.Body.String())
	}
	expect(t, "stale save", k.do("POST", "/compute-resources/"+id+"/edit", rita, save), 422, "resourceVersion")
	expect(t, "copy", k.do("GET", "/compute-resources/new?copy="+id, rita, nil), 200, `value="tiny-copy"`, `"cpuRequest": "2"`)

	// In use, it cannot go; the page says by what.
	ws, err := k.svc.CreateWorkspace(k.admin, "lab", &labspace.WorkspaceCreate{Name: "user", Environment: "python-http",
		Compute: id, DesiredPhase: labspace.PhaseStopped})
	k.must(ws, err)
	del := url.Values{"csrf": {token}}
	expect(t, "delete in use", k.do("POST", "/compute-resources/"+id+"/delete", rita, del), 409, `id="delete-refused"`, "user")
	// The workspace goes (as the controller removes a deleted one).
	k.must(nil, k.svc.RemoveWorkspace(service.AsController(context.Background()), ws.ID))
	if w := k.do("POST", "/compute-resources/"+id+"/delete", rita, del); w.Code != 303 {
		t.Fatalf("delete: %d\n%.1000s", w.Code, w.Body.String())
	}
	expect(t, "another project's block", k.do("GET", "/compute-resources/"+id+"/edit", rita, nil), 404)
}

// The compute resource's own form: an input per field, errors beside
// them, and keys it does not show kept through an edit.
func TestComputeResourceFriendlyForm(t *testing.T) {
	k := newKit(t, "")
	admin := k.token("admin", adminPassword)
	page := k.do("GET", "/compute-resources/new", admin, nil)
	expect(t, "the form", page, 200, `id="f-gpuDevices" name="f.gpuDevices" value="0"`, `id="f-memoryLimit" name="f.memoryLimit" value="2Gi"`,
		`href="/compute-resources/new?json=1"`)
	post := k.poster(admin, csrf(t, page.Body.String()))
	form := url.Values{"name": {"half"}, "scope": {"global"}, "fields": {"1"}, "spec": {`{"gpuPortion": {"percent": 50}}`},
		"f.gpuDevices": {"one"}, "f.cpuRequest": {"lots"}}
	expect(t, "not a number", post("/compute-resources/new", form), 422, `id="f-gpuDevices-err"><p class="fielderr">must be a whole number`)
	form.Set("f.gpuDevices", "1")
	expect(t, "bad CPU", post("/compute-resources/new", form), 422, `id="f-cpuRequest-err"><p class="fielderr">`)
	form.Set("f.cpuRequest", "2")
	form.Set("f.largeShm", "on")
	if w := post("/compute-resources/new", form); w.Code != 303 {
		t.Fatalf("create: %d\n%.1500s", w.Code, w.Body.String())
	}
	list, _, _ := k.svc.List(k.admin, labspace.KindComputeResource, store.ListQuery{Search: "half"})
	if len(list) != 1 {
		t.Fatalf("%d compute resources named half", len(list))
	}
	c := list[0].(*labspace.ComputeResource)
	if c.Spec.GPUDevices != 1 || c.Spec.GPUPortion == nil || c.Spec.GPUPortion.Percent != 50 || c.Spec.CPURequest != "2" || !c.Spec.LargeShm {
		t.Fatalf("saved: %+v", c.Spec)
	}
	expect(t, "its edit form", k.do("GET", "/compute-resources/"+c.ID+"/edit", admin, nil), 200,
		`id="f-cpuRequest" name="f.cpuRequest" value="2"`, `id="f-largeShm" name="f.largeShm" checked`, `&#34;percent&#34;: 50`)
}

// Copying the seeded jupyter environment through its form keeps its tools
// (not on the form) and takes the new arguments.
func TestEnvironmentFormKeepsWhatItDoesNotShow(t *testing.T) {
	k := newKit(t, "")
	admin := k.token("admin", adminPassword)
	jupyter, _, err := k.svc.List(k.admin, labspace.KindEnvironment, store.ListQuery{Names: []string{"jupyter"}})
	if err != nil || len(jupyter) != 1 {
		t.Fatalf("the seeded environment: %v", err)
	}
	page := k.do("GET", "/environments/new?copy="+jupyter[0].GetMeta().ID, admin, nil)
	expect(t, "the copy's form", page, 200, `value="jupyter-copy"`, `id="f-command" name="f.command" value="jupyter-notebook"`,
		`--NotebookApp.base_url=$(BASE_URL)`, `id="kept">Also set, and kept as they are: env, imagePullPolicy, runAs, security, tools.`)
	form := url.Values{"name": {"jupyter-copy"}, "scope": {"global"}, "fields": {"1"},
		"spec":    {html.UnescapeString(regexpFind(t, page.Body.String(), `name="spec" value="([^"]*)"`))},
		"f.image": {"quay.io/jupyter/base-notebook:latest"}, "f.command": {"jupyter-notebook"}, "f.args": {"--port=$(PORT) --no-browser"}}
	if w := k.poster(admin, csrf(t, page.Body.String()))("/environments/new", form); w.Code != 303 {
		t.Fatalf("save the copy: %d\n%.1500s", w.Code, w.Body.String())
	}
	list, _, _ := k.svc.List(k.admin, labspace.KindEnvironment, store.ListQuery{Names: []string{"jupyter-copy"}})
	if len(list) != 1 {
		t.Fatal("no copy")
	}
	e := list[0].(*labspace.Environment)
	if len(e.Spec.Tools) != 1 || e.Spec.Tools[0].Name != "jupyter" || strings.Join(e.Spec.Args, " ") != "--port=$(PORT) --no-browser" {
		t.Fatalf("the copy: tools %v, args %q", e.Spec.Tools, e.Spec.Args)
	}
	if len(e.Spec.Env) != 1 || e.Spec.Env[0].Name != "JUPYTER_TOKEN" {
		t.Errorf("the copy lost the tool token variable: %+v", e.Spec.Env)
	}
}
