package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
)

// The workspace page says who connects to its tools: its creator decides,
// and only where tools have addresses of their own; others read who it is
// shared with. The new-workspace page offers the arguments only to those
// who may replace them.
func TestWorkspacePageSharing(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	rita := k.researcher("rita", "lab")
	oscar := k.researcher("oscar", "lab")
	ctx := service.WithActor(k.admin, k.actor(rita))
	k.must(k.svc.CreateWorkspace(ctx, "lab", &labspace.WorkspaceCreate{Name: "nb", Environment: "python-http",
		Compute: "cpu-small", DesiredPhase: labspace.PhaseStopped}))
	const page = "/projects/lab/workspaces/nb"

	expect(t, "the creator, tools by path", k.do("GET", page, rita, nil), 200, `id="sharing-note">Only you connect`, "--proxy-domain")
	expect(t, "another member", k.do("GET", page, oscar, nil), 200, `Only rita, who created it, connects`)

	k.svc.SetToolOrigins(true)
	w := k.do("GET", page, rita, nil)
	expect(t, "the creator, tools on their own hosts", w, 200, `id="share-project"`)
	post := k.poster(rita, csrf(t, w.Body.String()))
	if w := post(page+"/sharing", url.Values{"project": {"1"}, "users": {""}}); w.Code != 303 {
		t.Fatalf("share: %d %.500s", w.Code, w.Body.String())
	}
	expect(t, "another member, shared with the project", k.do("GET", page, oscar, nil), 200, `rita shares its tools with the project.`)
	if w := k.poster(oscar, csrf(t, k.do("GET", page, oscar, nil).Body.String()))(page+"/sharing", url.Values{"users": {""}}); w.Code != 403 {
		t.Errorf("oscar shares rita's workspace: %d", w.Code)
	}

	form := k.do("GET", "/workspaces/new?project=lab", rita, nil).Body.String()
	if strings.Contains(form, `id="args"`) || !strings.Contains(form, "override-command") {
		t.Errorf("a researcher is offered the arguments: %.300s", form)
	}
	if !strings.Contains(k.do("GET", "/workspaces/new?project=lab", k.token("admin", adminPassword), nil).Body.String(), `id="args"`) {
		t.Error("an administrator is not offered the arguments")
	}
}
