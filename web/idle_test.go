package web_test

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
)

// The grid sorts by "last used": running workspaces idle the longest
// first, then the rest; each row says when, from its recorded activity.
func TestGridSortsByIdleTime(t *testing.T) {
	k := newKit(t, "http://labspace.test")
	k.project("lab")
	ctl := service.AsController(k.admin)
	run := func(name string, started, active time.Duration) {
		k.must(k.svc.CreateWorkspace(k.admin, "lab", &labspace.WorkspaceCreate{Name: name, Environment: "python-http", Compute: "cpu-small"}))
		w, err := k.svc.GetWorkspace(k.admin, "lab", name)
		if err != nil {
			t.Fatal(err)
		}
		k.ago = started
		k.must(k.svc.SetObserved(ctl, w, service.Observed{Phase: labspace.PhaseRunning, Reason: "Ready"}))
		k.ago = 0
		if active > 0 {
			act := &labspace.Activity{Last: time.Now().Add(-active), Signal: labspace.SignalToolTraffic}
			if err := k.svc.SetIdle(ctl, w.ID, act, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	run("forgotten", 3*time.Hour, 0)              // idle since it started
	run("used", 3*time.Hour, 2*time.Minute)       // used two minutes ago
	run("quiet", 2*time.Hour, 40*time.Minute+5e9) // used 40 minutes ago
	k.workspace("lab", "stopped")

	page := k.do("GET", "/?sort=idle", k.token("admin", adminPassword), nil)
	expect(t, "the grid sorted by idle time", page, 200, `aria-sort="ascending"><a href="/?order=desc&amp;sort=idle">Last used</a>`)
	rows := regexp.MustCompile(`(?s)<tr data-id="[^"]+"[^>]*>.*?<th scope="row"><a [^>]+>([^<]+)</a>.*?<td class="lastused-cell"><time[^>]*>([^<]+)</time></td>`).
		FindAllStringSubmatch(page.Body.String(), -1)
	var got []string
	for _, r := range rows {
		got = append(got, r[1]+": "+r[2])
	}
	want := []string{"forgotten: 3 h ago", "quiet: 40 min ago", "used: 2 min ago", "stopped: —"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	bad := k.do("GET", "/?sort=idleness", k.token("admin", adminPassword), nil)
	expect(t, "an unknown sort", bad, 400, "must be name, createdAt, phase or idle")
}
