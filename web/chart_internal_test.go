package web

import (
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace/service"
)

// The chart says in words what it draws, places the newest sample at the
// right edge, and draws no "used" area when no GPU was read.
func TestGPUChart(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	h := []service.UsePoint{
		{At: now.Add(-3 * time.Hour), Allocated: 1, Used: 0.2, UsedKnown: true},
		{At: now.Add(-time.Hour), Allocated: 3, Used: 2.7, UsedKnown: true},
		{At: now, Allocated: 2, Used: 0.9, UsedKnown: true},
	}
	got := string(gpuChart(h, 4, now))
	for _, want := range []string{
		`aria-label="GPUs over the last 6 h: 2 GPUs allocated now, 0.9 GPUs used (45%); at most 3 GPUs allocated."`,
		`points="160.0,61.0 266.7,23.0 320.0,42.0"`, // x: hours into the 6 h window; y: of the quota's 4
		`class="chart-quota"`, `class="chart-used"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("chart lacks %s:\n%s", want, got)
		}
	}
	unread := string(gpuChart([]service.UsePoint{{At: now, Allocated: 1}}, 0, now))
	if strings.Contains(unread, "chart-used") || !strings.Contains(unread, "use unknown") || strings.Contains(unread, "chart-quota") {
		t.Errorf("a chart without GPU readings or quota:\n%s", unread)
	}
	if empty := string(gpuChart(nil, 2, now)); !strings.Contains(empty, "No samples yet") {
		t.Errorf("an empty chart: %s", empty)
	}
}
