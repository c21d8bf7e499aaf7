package web_test

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/service"
)

// From a template that leaves a variable open, with a data source ticked:
// the flow asks for the value beside its input, then creates the
// workspace with it.
func TestNewWorkspaceFromTemplate(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	rita := k.researcher("rita", "lab")
	lab := labspace.ProjectScope("lab")
	k.must(k.svc.Create(k.admin, &labspace.DataSource{Meta: labspace.Meta{Name: "imagenet", Scope: lab},
		Spec: labspace.DataSourceSpec{Type: labspace.DataHostPath, MountPath: "/data", HostPath: &labspace.HostPathSource{Path: "/srv"}}}))
	k.must(k.svc.Create(k.admin, &labspace.Template{Meta: labspace.Meta{Name: "train", Scope: lab},
		Spec: labspace.TemplateSpec{Environment: "python-http", Compute: "cpu-small",
			Env: []labspace.EnvVar{{Name: "WANDB_KEY", FromUser: true, Description: "your W&B key"}}}}))
	page := k.do("GET", "/workspaces/new", rita, nil)
	expect(t, "the flow", page, 200, `id="template-train"`, `id="ds-imagenet"`, `data-for="template:train"`,
		`name="var.WANDB_KEY"`, "your W&amp;B key", "GPUs: 0 of 4 in use")
	form := url.Values{"csrf": {csrf(t, page.Body.String())}, "project": {"lab"}, "template": {"train"},
		"environment": {""}, "compute": {""}, "dataSources": {"imagenet"}, "name": {"run-1"}}
	w := k.do("POST", "/workspaces/new", rita, form)
	expect(t, "the open variable left empty", w, 422, `class="var-err"><p class="fielderr">is left for you to fill in`)
	if !strings.Contains(w.Body.String(), `id="ds-imagenet" checked`) || !strings.Contains(w.Body.String(), `id="template-train" checked`) {
		t.Error("the choices were not kept")
	}
	form.Set("var.WANDB_KEY", "k-123")
	if w := k.do("POST", "/workspaces/new", rita, form); w.Code != 303 || w.Header().Get("Location") != "/projects/lab/workspaces/run-1" {
		t.Fatalf("create: %d to %q\n%.1500s", w.Code, w.Header().Get("Location"), w.Body.String())
	}
	ws, err := k.svc.GetWorkspace(k.admin, "lab", "run-1")
	k.must(ws, err)
	if ws.Spec.Template == nil || ws.Spec.Template.Name != "train" || len(ws.Spec.DataSources) != 1 || ws.Spec.Env[0].Value != "k-123" {
		t.Fatalf("the workspace: template %v, data sources %v, env %v", ws.Spec.Template, ws.Spec.DataSources, ws.Spec.Env)
	}
	expect(t, "its page", k.do("GET", "/projects/lab/workspaces/run-1", rita, nil), 200, "imagenet at /data", "train")
}

// A policy's lock, default and bounds show in the form itself, each with
// the scope it comes from: the locked environment fixed at its value, the
// project's default compute resource chosen, the GPUs bounded, the data
// source every workspace mounts ticked for good.
func TestNewWorkspaceFormShowsThePolicy(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	rita := k.researcher("rita", "lab")
	lockPolicy(k)
	page := k.do("GET", "/workspaces/new", rita, nil)
	expect(t, "the form", page, 200,
		`<input type="hidden" name="environment" value="python-http">`,
		`id="environment-python-http" checked disabled>`,
		`id="environment-jupyter" disabled aria-describedby="environment-jupyter-no"`,
		`id="environment-policy">Policy: fixed at python-http (global)</p>`,
		`aria-describedby="environment-policy environment-err"`,
		`id="compute-cpu-medium" checked required>`,
		`id="compute-cpu-small" required>`,
		`id="compute-policy">Policy: cpu-medium unless you choose (project lab); required (project lab)</p>`,
		`id="gpuDevices" name="gpuDevices" type="number" step="1" min="0" max="1" value=""`,
		`id="gpuDevices-policy">Policy: at most 1 (project lab)</p>`,
		`id="ds-scratch" checked disabled aria-describedby="ds-scratch-policy"`,
		`id="ds-scratch-policy">Policy: always mounted (global)</span>`,
		"Environment: fixed at python-http (global)") // the summary above the form stays
	var checked []string
	for _, m := range regexp.MustCompile(`<input [^>]*id="([^"]+)"[^>]* checked[ >]`).FindAllStringSubmatch(page.Body.String(), -1) {
		checked = append(checked, m[1])
	}
	if want := []string{"template-none", "environment-python-http", "compute-cpu-medium", "ds-scratch", "start"}; !slices.Equal(checked, want) {
		t.Errorf("chosen: %q, want %q", checked, want)
	}

	// With a template, “The template's” stays chosen (a block chosen here
	// would replace the template's) and says what applies without one.
	k.must(k.svc.Create(k.admin, &labspace.Template{Meta: labspace.Meta{Name: "train", Scope: labspace.ProjectScope("lab")},
		Spec: labspace.TemplateSpec{Environment: "python-http", Compute: "cpu-small"}}))
	expect(t, "the form with a template", k.do("GET", "/workspaces/new", rita, nil), 200,
		`id="environment-default" disabled>`, `id="compute-default" checked required>`,
		"Without a template: cpu-medium, the default (project lab)")
}

// The form cannot change a locked field: re-enabled by hand, a radio of
// another environment is refused by the service, which names the lock.
func TestNewWorkspaceRefusesALockedFieldChanged(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	rita := k.researcher("rita", "lab")
	lockPolicy(k)
	page := k.do("GET", "/workspaces/new", rita, nil)
	form := url.Values{"csrf": {csrf(t, page.Body.String())}, "project": {"lab"}, "environment": {"jupyter"},
		"compute": {"cpu-small"}, "name": {"sneaky"}}
	w := k.do("POST", "/workspaces/new", rita, form)
	expect(t, "another environment than the locked one", w, 422,
		`id="environment-err"><p class="fielderr">is locked to python-http by the global policy`,
		`id="environment-python-http" checked disabled>`)
	form.Set("gpuDevices", "2")
	form.Set("environment", "python-http")
	expect(t, "more GPUs than the maximum", k.do("POST", "/workspaces/new", rita, form), 422,
		"is 2, above the maximum of 1 set by the project lab policy")
	if _, err := k.svc.GetWorkspace(k.admin, "lab", "sneaky"); labspace.ErrorCode(err) != labspace.ENOTFOUND {
		t.Fatalf("a workspace was created against the policy (%v)", err)
	}
	form.Del("gpuDevices")
	if w := k.do("POST", "/workspaces/new", rita, form); w.Code != 303 {
		t.Fatalf("within the policy: %d\n%.1500s", w.Code, w.Body.String())
	}
}

// lockPolicy locks environments to python-http and imposes data source
// scratch everywhere; project lab defaults to cpu-medium, requires a
// compute resource and allows one GPU at most.
func lockPolicy(k *kit) {
	k.must(k.svc.Create(k.admin, &labspace.DataSource{Meta: labspace.Meta{Name: "scratch", Scope: labspace.Global},
		Spec: labspace.DataSourceSpec{Type: labspace.DataHostPath, MountPath: "/scratch", HostPath: &labspace.HostPathSource{Path: "/srv"}}}))
	no := false
	k.must(k.svc.Create(k.admin, &labspace.Policy{Meta: labspace.Meta{Name: labspace.PolicyName, Scope: labspace.Global},
		Spec: labspace.PolicySpec{Fields: map[string]labspace.FieldRule{"environment": {Default: "python-http", CanEdit: &no}},
			ImposedDataSources: []string{"scratch"}}}))
	k.must(k.svc.Create(k.admin, &labspace.Policy{Meta: labspace.Meta{Name: labspace.PolicyName, Scope: labspace.ProjectScope("lab")},
		Spec: labspace.PolicySpec{Fields: map[string]labspace.FieldRule{"compute": {Default: "cpu-medium", Required: true},
			"compute.gpuDevices": {Max: "1"}}}}))
}

// The flow says no before submit: a compute resource over the project's
// whole quota, or larger than any node, is disabled with the reason; one
// that fits but would wait for quota held now says so; the GPU count is
// bounded; the name comes right after the project.
func TestNewWorkspaceSaysNoBeforeSubmit(t *testing.T) {
	k := newKit(t, "")
	k.svc.SetCapacity(func(context.Context) (service.HostCapacity, error) {
		return service.HostCapacity{Nodes: []runtime.Node{{Name: "node-a", GPUs: 2, MilliCPU: 16000, MemoryBytes: 64 << 30}}}, nil
	})
	k.must(k.svc.Create(k.admin, &labspace.Project{Meta: labspace.Meta{Name: "lab", Scope: labspace.Global},
		Spec: labspace.ProjectSpec{Quota: labspace.Quota{GPUs: 4, CPU: "2"}}}))
	rita := k.researcher("rita", "lab")
	for name, spec := range map[string]labspace.ComputeSpec{
		"three-gpus": {GPUDevices: 3, CPURequest: "1"}, // within the quota, over every node
		"eight-gpus": {GPUDevices: 8, CPURequest: "1"}, // over the quota
		"two-cores":  {CPURequest: "2"},                // fits, but rita's other workspace holds a core
		"small":      {CPURequest: "500m"},             // fits now
	} {
		k.must(k.svc.Create(k.admin, &labspace.ComputeResource{Meta: labspace.Meta{Name: name, Scope: labspace.Global}, Spec: spec}))
	}
	w, err := k.svc.CreateWorkspace(k.admin, "lab", &labspace.WorkspaceCreate{Name: "busy", Environment: "python-http", Compute: "small"})
	k.must(w, err)
	k.must(k.svc.Admit(service.AsController(context.Background()), w.ID, service.HostCapacity{MilliCPU: 16000, MemoryBytes: 64 << 30}))

	page := k.do("GET", "/workspaces/new?project=lab", rita, nil).Body.String()
	for _, want := range []string{
		`id="compute-three-gpus" disabled aria-describedby="compute-three-gpus-no"`,
		`Cannot run here: no node can ever hold this workspace: it asks for 3 GPUs, 1 core and 0 of memory; the largest node (node-a) has 2 GPUs, 16 cores and 64Gi`,
		`id="compute-eight-gpus" disabled`,
		`Cannot run here: this workspace asks for more than project lab&#39;s whole quota`,
		`id="compute-two-cores" aria-describedby="compute-two-cores-no"`,
		`Waiting: project lab&#39;s CPU quota (2 cores) is in use: 0.5 cores held by its other workspaces, and this one needs 2 cores.`,
		`id="compute-small">`,
		`max="2"`, `At most 2: the largest node (node-a) has 2 GPUs.`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %s", want)
		}
	}
	if name, tmpl := strings.Index(page, `id="name"`), strings.Index(page, `id="template-none"`); name < 0 || name > tmpl {
		t.Error("the name is not asked right after the project")
	}
}

// Arguments are one per line, so that one may hold spaces.
func TestArgumentsOnePerLine(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	admin := k.token("admin", adminPassword)
	page := k.do("GET", "/workspaces/new?project=lab", admin, nil)
	form := url.Values{"csrf": {csrf(t, page.Body.String())}, "project": {"lab"}, "environment": {"python-http"},
		"compute": {"cpu-small"}, "name": {"argv"}, "args": {"-c\r\nimport sys; print(sys.argv)\r\n\r\n"}}
	if w := k.do("POST", "/workspaces/new", admin, form); w.Code != 303 {
		t.Fatalf("create: %d\n%.1500s", w.Code, w.Body.String())
	}
	ws, err := k.svc.GetWorkspace(k.admin, "lab", "argv")
	k.must(ws, err)
	if got := strings.Join(ws.Spec.Args, "|"); got != "-c|import sys; print(sys.argv)" {
		t.Errorf("arguments %q", ws.Spec.Args)
	}
}

// An administrator with no project is shown how to make one.
func TestAdministratorWithoutProjectIsShownTheWay(t *testing.T) {
	k := newKit(t, "")
	expect(t, "the admin's form", k.do("GET", "/workspaces/new", k.token("admin", adminPassword), nil), 200,
		`<a href="/admin/projects/new">Create a project</a>`)
	k.project("lab")
	k.must(k.svc.CreateUser(k.admin, &labspace.User{Meta: labspace.Meta{Name: "nora"}}, "nora-password"))
	page := k.do("GET", "/workspaces/new", k.token("nora", "nora-password"), nil).Body.String()
	if !strings.Contains(page, "ask an administrator") || strings.Contains(page, "/admin/projects/new") {
		t.Errorf("a researcher without a project: %.600s", page)
	}
}
