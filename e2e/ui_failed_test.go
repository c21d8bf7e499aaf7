package e2e

import (
	"strings"
	"testing"
)

// A workspace that failed offers "Start again" on its page, beside Stop,
// and that start is recorded and tried.
func TestUIFailedWorkspaceStartsAgain(t *testing.T) {
	requireTools(t, "python3")
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	s.project("lab", map[string]any{"gpus": 0})
	tiny(s)
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin, map[string]any{"name": "broken", "environment": "python-http",
		"compute": "tiny", "command": []string{"/bin/sh", "-c", "echo no model file; exit 3"}}, nil)
	s.waitPhase("lab", "broken", "Failed", converge)
	b := newBrowser(t, s)
	b.signIn("admin", adminPassword, "/projects/lab/workspaces/broken")
	b.waitFor("Start again", "#start-again", uiStep)
	b.waitFor("Stop beside it", "#stop", uiStep)
	starts := func() int {
		var events struct{ Items []struct{ Type string } }
		s.must(200, "GET", "/api/v1/projects/lab/workspaces/broken/events", s.admin, nil, &events)
		n := 0
		for _, e := range events.Items {
			if e.Type == "StartRequested" {
				n++
			}
		}
		return n
	}
	before := starts()
	b.click("#start-again")
	waitFor(t, "the start to be recorded", converge, func() bool { return starts() == before+1 })
	if w := s.waitPhase("lab", "broken", "Failed", converge); !strings.Contains(w.Status.PhaseMessage, "no model file") {
		t.Errorf("the second run's failure: %+v", w.Status)
	}
}
