package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// /metrics shows, in Prometheus' format, what an operator watches: API
// requests by status, the controller's passes and the phases reached.
func TestMetrics(t *testing.T) {
	requireTools(t, "python3")
	s := startServer(t, freeAddr(t), t.TempDir())
	s.project("watched", map[string]any{"gpus": 0})
	tiny(s)
	if code := create(s, "watched", "web"); code != 201 {
		t.Fatalf("create: %d", code)
	}
	s.waitPhase("watched", "web", "Running", converge)
	res, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`labspace_http_requests_total{code="201",handler="api"}`,
		`labspace_controller_passes_total{result="ok"}`,
		`labspace_workspace_transitions_total{phase="Initializing"}`,
		`labspace_workspace_transitions_total{phase="Running"}`,
		`labspace_workspaces{phase="Running"}`,
	} {
		m := regexp.MustCompile(regexp.QuoteMeta(want) + ` (\S+)`).FindSubmatch(body)
		if m == nil {
			t.Errorf("no %s in /metrics", want)
			continue
		}
		if v, _ := strconv.ParseFloat(string(m[1]), 64); v < 1 {
			t.Errorf("%s = %s, want at least 1", want, m[1])
		}
	}
	// What the project holds and deserves, for utilisation dashboards: web's 100m and 64Mi.
	for _, want := range []string{`labspace_project_allocated_cpu_cores{department="",project="watched"} 0.1`,
		`labspace_project_allocated_memory_bytes{department="",project="watched"} 6.7108864e+07`,
		`labspace_project_allocated_gpus{department="",project="watched"} 0`, `labspace_project_quota_gpus{department="",project="watched"} 0`} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("no %s in /metrics", want)
		}
	}
	if !regexp.MustCompile(`labspace_controller_queue_depth \d`).Match(body) {
		t.Error("no queue depth")
	}
}
