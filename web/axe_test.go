package web_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/internal/chromium"
	"github.com/labspace/labspace/service"
)

// Every page, and the workspace page and grid with a workspace in every
// phase (and about to be stopped), checked by axe-core in Chromium: no
// serious or critical violation. The controller does not run here, so
// each phase stays as set, transient ones included.
func TestAccessibilityOfEveryPageAndPhase(t *testing.T) {
	path, axe := chromium.Path(t), chromium.Axe(t)
	k := newKit(t, "")
	srv := httptest.NewServer(k.ui)
	t.Cleanup(srv.Close)
	k.project("lab")
	ctl := service.AsController(k.admin)
	states := []struct {
		name string
		obs  service.Observed
	}{
		{"creating", service.Observed{Phase: labspace.PhaseCreating, Reason: "Created"}},
		{"pending", service.Observed{Phase: labspace.PhasePending, Reason: "NonPreemptibleOverQuota",
			Message: "Waiting: project lab's CPU quota (2 cores) is in use: 2 cores held by its other workspaces, and this one needs 1 core."}},
		{"initializing", service.Observed{Phase: labspace.PhaseInitializing, Reason: "Starting", Message: "Starting the processes."}},
		{"running", service.Observed{Phase: labspace.PhaseRunning, Reason: "Ready"}},
		{"degraded", service.Observed{Phase: labspace.PhaseDegraded, Reason: "ToolDown", Message: "Tool web does not answer."}},
		{"stopping", service.Observed{Phase: labspace.PhaseStopping, Reason: "Stopping"}},
		{"stopped", service.Observed{Phase: labspace.PhaseStopped, Reason: "Stopped", Release: true}},
		{"failed", service.Observed{Phase: labspace.PhaseFailed, Reason: "StartFailed", Message: "exit status 3", Release: true}},
		{"deleting", service.Observed{Phase: labspace.PhaseDeleting, Reason: "Deleting", Message: "Stopping the processes."}},
		{"warned", service.Observed{Phase: labspace.PhaseRunning, Reason: "Ready"}},
	}
	for _, s := range states {
		w, err := k.svc.CreateWorkspace(k.admin, "lab", &labspace.WorkspaceCreate{Name: "ws-" + s.name, Environment: "python-http", Compute: "cpu-small"})
		k.must(w, err)
		k.must(k.svc.SetObserved(ctl, w, s.obs))
	}
	warned, err := k.svc.GetWorkspace(k.admin, "lab", "ws-warned")
	k.must(warned, err)
	k.must(nil, k.svc.SetIdle(ctl, warned.ID, nil, &labspace.StopNotice{At: time.Now().Add(10 * time.Minute),
		Reason: "StopComing", Message: "Stops in 10 min unless used: idle since 13:02."}))
	k.must(k.svc.SetDesiredPhase(k.admin, "lab", "ws-deleting", labspace.PhaseDeleted))

	pages := []string{"/", "/?sort=idle", "/workspaces/new", "/workspaces/new?project=lab", "/admin/projects", "/admin/departments",
		"/admin/access-rules", "/admin/users", "/admin/applications", "/admin/tokens", "/admin/audit", "/admin/projects/new",
		"/environments", "/environments/new", "/compute-resources", "/data-sources", "/credentials", "/credentials/new", "/templates",
		"/no/such/page"}
	for _, s := range states {
		pages = append(pages, "/projects/lab/workspaces/ws-"+s.name)
	}
	pages = append(pages, "/projects/lab/workspaces/ws-running/delete")

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser: no timeout on this first call
		t.Fatalf("start chromium: %v", err)
	}
	check := func(page string) {
		t.Helper()
		step, done := context.WithTimeout(ctx, 30*time.Second)
		defer done()
		if _, err := chromedp.Run(step, chromedp.Navigate(srv.URL+page)); err != nil {
			t.Fatalf("%s: %v", page, err)
		}
		found, err := chromium.Check(step, axe)
		if err != nil {
			t.Fatalf("%s: axe-core: %v", page, err)
		}
		for _, v := range found {
			t.Errorf("%s: %s", page, v)
		}
	}
	// The check sees what it must: an image without a text alternative.
	bad, stop := context.WithTimeout(ctx, 30*time.Second)
	if err := chromedp.Do(bad, chromedp.Navigate(`data:text/html,<html lang="en"><title>x</title><main><img src="x.png"></main></html>`)); err != nil {
		t.Fatal(err)
	}
	if found, err := chromium.Check(bad, axe); err != nil || len(found) == 0 || found[0].ID != "image-alt" {
		t.Fatalf("axe-core on a page with an image without alt: %v %v", found, err)
	}
	stop()
	check("/login") // signed out
	signIn, done := context.WithTimeout(ctx, 30*time.Second)
	if err := chromedp.Do(signIn, chromedp.SendKeys(chromedp.CSS("#username"), "admin"),
		chromedp.SendKeys(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS("#who"))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	done()
	for _, p := range pages {
		check(p)
	}
	// The pages were what they claim: the grid lists every state's row.
	grid := k.do("GET", "/", k.token("admin", adminPassword), nil).Body.String()
	for _, s := range states {
		if !strings.Contains(grid, "ws-"+s.name) {
			t.Errorf("the grid lacks ws-%s", s.name)
		}
	}
}
