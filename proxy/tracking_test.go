package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/proxy"
	"github.com/labspace/labspace/service"
)

// Options.NoActivityTracking: a request through a proxy that tracks
// activity moves the workspace's activity (idle stop), one through a
// proxy that does not leaves it be. Both proxies are made as the server
// makes its own, over the same service and controller.
func TestActivityTrackingSwitch(t *testing.T) {
	t.Parallel()
	s := newEchoSetup(t, "")
	var w struct{ Meta struct{ ID string } }
	if st, raw := s.call("GET", "/api/v1/projects/lab/workspaces/box", s.admin, nil, &w); st != 200 {
		t.Fatalf("get the workspace: %d: %s", st, raw)
	}
	for _, c := range []struct {
		off  bool
		want bool // tool traffic noted after the request
	}{{off: true, want: false}, {off: false, want: true}} { // off first: nothing noted before
		p := proxy.New(s.srv.Service, s.srv.Controller, proxy.Options{PublicURL: s.url, NoActivityTracking: c.off},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		ts := httptest.NewServer(p)
		via := *s.env
		via.url = ts.URL
		via.get("/ws/lab/box/web/", bearer(s.alice)).expect(t, "a request through the proxy", 200)
		ts.Close()
		if got := toolActivity(t, s.srv.Service, w.Meta.ID); got != c.want {
			t.Errorf("NoActivityTracking %v: tool traffic noted %v after a request, want %v", c.off, got, c.want)
		}
	}
}

// toolActivity says whether workspace id has tool traffic noted: in
// memory (what the controller's next idle pass would store) or stored.
func toolActivity(t *testing.T, svc *service.Service, id string) bool {
	t.Helper()
	ctx := service.AsController(context.Background())
	w, err := svc.WorkspaceByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := svc.PlanIdle(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*labspace.Activity{plan.Activity, w.Status.Activity} {
		if a != nil && a.Signal == labspace.SignalToolTraffic {
			return true
		}
	}
	return false
}
