package web_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labspace/labspace"
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
