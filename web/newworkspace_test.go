package web_test

import (
	"net/url"
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
