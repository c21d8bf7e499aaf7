package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The log panel of a workspace that never ran says so (not "The log
// ended" above an empty box), is a live region screen readers know (role
// log), and memory reads as people write it.
func TestUILogOfAWorkspaceThatNeverRan(t *testing.T) {
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	team(t, s)
	s.must(201, "POST", "/api/v1/projects/vision/workspaces", s.admin,
		map[string]any{"name": "later", "environment": "python-http", "compute": "cpu-small", "desiredPhase": "Stopped"}, nil)
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/projects/vision/workspaces/later")
	b.waitFor("the logs button", "#follow", uiStep)
	if role := eval[string](b, "the log's role", `document.getElementById("logs").getAttribute("role")`); role != "log" {
		t.Errorf("the log panel's role is %q", role)
	}
	b.do("follow the logs", chromedp.Click(chromedp.CSS("#follow")))
	got := run(b, "the log's state", chromedp.Poll[string](`(() => { const s = document.getElementById("logs-state").textContent;
		return s !== "" && s !== "Following…" ? s : false })()`, chromedp.WithPollingTimeout(10*time.Second)))
	if got != "No output yet: the workspace is not running." {
		t.Errorf("the log panel says %q", got)
	}
	b.open("/workspaces/new?project=vision")
	if text := b.text(".quota"); !strings.Contains(text, "Memory: 0 of 32Gi in use") {
		t.Errorf("the quota says %q", text)
	}
}
