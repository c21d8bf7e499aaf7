package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The policy in the new-workspace form itself: a researcher sees the
// environment the global policy locks chosen and not changeable, the
// project's default compute resource chosen for her, the GPUs bounded,
// each with the scope it comes from; the form sends the locked value, and
// a default is only a default.
func TestUINewWorkspaceFormShowsLocksAndDefaults(t *testing.T) {
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	team(t, s)
	s.must(201, "POST", "/api/v1/policies", s.admin, map[string]any{
		"meta": map[string]any{"name": "workspaces", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"fields": map[string]any{"environment": map[string]any{"default": "python-http", "canEdit": false}}}}, nil)
	s.must(201, "POST", "/api/v1/policies", s.admin, map[string]any{
		"meta": map[string]any{"name": "workspaces", "scope": map[string]any{"type": "project", "name": "vision"}},
		"spec": map[string]any{"fields": map[string]any{"compute": map[string]any{"default": "cpu-small"},
			"compute.gpuDevices": map[string]any{"max": "1"}}}}, nil)
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/workspaces/new")
	b.waitFor("the lock beside the environments", "#environment-policy", uiStep)
	b.shot("new-workspace-policy-form")

	if got := b.text("#environment-policy"); !strings.Contains(got, "fixed at python-http (global)") {
		t.Errorf("beside the environments: %q", got)
	}
	if !eval[bool](b, "the locked environment", `document.getElementById("environment-python-http").checked`) {
		t.Error("the locked environment is not the one chosen")
	}
	if n := eval[int](b, "changeable environments", `[...document.querySelectorAll('input[name=environment]:not([type=hidden])')].filter(i => !i.disabled).length`); n != 0 {
		t.Errorf("%d environments can still be chosen against the lock", n)
	}
	sent := `(name) => new FormData(document.getElementById("new-workspace")).getAll(name).join(",")`
	if got := eval[string](b, "the environment sent", "("+sent+`)("environment")`); got != "python-http" {
		t.Errorf("the form sends environment %q, want the locked python-http", got)
	}
	if !eval[bool](b, "the default compute resource", `document.getElementById("compute-cpu-small").checked && !document.getElementById("compute-cpu-small").disabled`) {
		t.Error("the project's default compute resource is not chosen, or cannot be")
	}
	if got := b.text("#compute-policy"); !strings.Contains(got, "cpu-small unless you choose (project vision)") {
		t.Errorf("beside the compute resources: %q", got)
	}
	// The bound is the policy's 1, or this host's GPUs when it has none.
	want := "1"
	if strings.Contains(b.text("#gpuDevices-max"), "has 0 GPUs") {
		want = "0"
	}
	if got := eval[string](b, "the GPUs' bound", `document.getElementById("gpuDevices").max`); got != want {
		t.Errorf("the GPUs input's max is %q, want %s", got, want)
	}
	if got := b.text("#gpuDevices-policy"); !strings.Contains(got, "at most 1 (project vision)") {
		t.Errorf("beside the GPUs: %q", got)
	}
	b.do("ask for 2 GPUs", chromedp.SendKeys(chromedp.CSS("#gpuDevices"), "2"))
	if eval[bool](b, "check the GPUs", `document.getElementById("gpuDevices").checkValidity()`) {
		t.Error("the browser lets 2 GPUs through a maximum of 1")
	}

	// A default is only a default: she picks another compute resource and
	// creates the workspace stopped, with the locked environment.
	eval[string](b, "take the 2 back", `document.getElementById("gpuDevices").value = ""`)
	b.do("fill in the form",
		chromedp.Click(chromedp.CSS("#compute-cpu-small")), chromedp.Click(chromedp.CSS("#start")),
		chromedp.SendKeys(chromedp.CSS("#name"), "mine"))
	b.click("#create")
	if loc := b.location(); loc != b.base+"/projects/vision/workspaces/mine" {
		b.fail("create", errorf("landed on %s", loc))
	}
	var w struct {
		Spec struct {
			Environment, Compute struct{ From struct{ Name string } }
		}
	}
	s.must(200, "GET", "/api/v1/projects/vision/workspaces/mine", s.admin, nil, &w)
	if w.Spec.Environment.From.Name != "python-http" || w.Spec.Compute.From.Name != "cpu-small" {
		t.Errorf("the workspace has environment %q and compute %q, want python-http and cpu-small",
			w.Spec.Environment.From.Name, w.Spec.Compute.From.Name)
	}
}
