package web

import (
	"slices"
	"testing"
	"time"

	"github.com/labspace/labspace"
)

func TestOffers(t *testing.T) {
	for _, tc := range []struct {
		desired, phase labspace.Phase
		want           offer
	}{
		{labspace.PhaseStopped, labspace.PhaseStopped, offer{Start: true, Delete: true}},
		{labspace.PhaseRunning, labspace.PhaseRunning, offer{Stop: true, Delete: true}},
		{labspace.PhaseRunning, labspace.PhasePending, offer{Stop: true, Delete: true}},
		{labspace.PhaseRunning, labspace.PhaseFailed, offer{Start: true, Stop: true, Delete: true, Again: true}},
		{labspace.PhaseStopped, labspace.PhaseFailed, offer{Start: true, Delete: true, Again: true}},
		{labspace.PhaseStopped, labspace.PhaseStopping, offer{Start: true, Delete: true}},
		{labspace.PhaseDeleted, labspace.PhaseDeleting, offer{}},
		{labspace.PhaseDeleted, labspace.PhaseRunning, offer{}},
	} {
		if got := offers(tc.desired, tc.phase); got != tc.want {
			t.Errorf("desired %s, phase %s: %+v, want %+v", tc.desired, tc.phase, got, tc.want)
		}
	}
}

func TestRelativeTimes(t *testing.T) {
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d           time.Duration
		ago, before string
	}{
		{0, "just now", "any moment"},
		{59 * time.Second, "just now", "any moment"},
		{time.Minute, "1 min ago", "in 1 min"},
		{59*time.Minute + 59*time.Second, "59 min ago", "in 59 min"},
		{time.Hour, "1 h ago", "in 1 h"},
		{80 * time.Minute, "1 h 20 min ago", "in 1 h 20 min"},
		{30 * time.Hour, "30 h ago", "in 30 h"},
		{30*time.Hour + 5*time.Minute, "30 h ago", "in 30 h"},
		{50 * time.Hour, "2 days ago", "in 2 days"},
	} {
		if got := ago(now, now.Add(-tc.d)); got != tc.ago {
			t.Errorf("%v ago: %q, want %q", tc.d, got, tc.ago)
		}
		if got := until(now, now.Add(tc.d)); got != tc.before {
			t.Errorf("%v ahead: %q, want %q", tc.d, got, tc.before)
		}
	}
	if ago(now, time.Time{}) != "—" || until(now, time.Time{}) != "—" {
		t.Error("no time is not a dash")
	}
	if got := until(now, now.Add(-time.Hour)); got != "any moment" {
		t.Errorf("a stop past due: %q", got)
	}
}

func TestActionSummary(t *testing.T) {
	for _, tc := range []struct {
		res  actionResult
		want string
	}{
		{actionResult{Action: "start", Done: []string{"lab/a"}}, "Started 1 workspace: lab/a."},
		{actionResult{Action: "stop", Done: []string{"a/1", "a/2", "a/3", "a/4"}}, "Stopped 4 workspaces."},
		{actionResult{Action: "delete", Done: []string{"a/1"}, Failed: []failure{{"b/2", "Workspace \"2\" not found in project \"b\""},
			{"c/3", "Workspace \"3\" is being deleted"}}},
			`Deleting 1 of 3 workspaces. Not deleted: b/2 (Workspace "2" not found in project "b"); c/3 (Workspace "3" is being deleted).`},
	} {
		if got := tc.res.summary(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
}

func TestColumnChoices(t *testing.T) {
	if got := chosenColumns([]string{"stopsIn", "bogus", "project", "project"}); !slices.Equal(got, []string{"project", "stopsIn"}) {
		t.Errorf("chosen: %q", got)
	}
	if got := chosenColumns(nil); got == nil || len(got) != 0 {
		t.Errorf("none chosen: %#v, want an empty choice", got)
	}
	if show := shownColumns(nil); !show["phase"] || show["tools"] {
		t.Errorf("defaults: %v", show)
	}
	if show := shownColumns([]string{"tools", "gone"}); !show["tools"] || show["phase"] || len(show) != 1 {
		t.Errorf("a saved choice with a column since removed: %v", show)
	}
}

func TestGridBackStaysOnTheGrid(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                 "/",
		"project=lab&sort=idle&order=desc": "/?order=desc&project=lab&sort=idle",
		"next=https://evil.example/":       "/",
		"limit=9999":                       "/",
		"%zz":                              "/",
		"q=//evil.example":                 "/?q=%2F%2Fevil.example",
	} {
		if got := gridBack(raw); got != want {
			t.Errorf("gridBack(%q) = %q, want %q", raw, got, want)
		}
	}
}
