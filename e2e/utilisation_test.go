package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What running workspaces use, as operators and administrators see it: a
// workspace computing on a GPU that nvidia-smi reports 90 % busy shows in
// /metrics with its allocation, utilisation, CPU, memory and idle time,
// and its project's page draws its GPUs allocated and used.
func TestUtilisationInMetricsAndChart(t *testing.T) {
	requireTools(t, "python3")
	requireChromium(t)
	util := fakeNvidiaSMI(t)
	s := startServer(t, freeAddr(t), t.TempDir(), "--use-sample-every", "300ms")
	s.project("lab", map[string]any{"gpus": 2})
	s.must(201, "POST", "/api/v1/compute-resources", s.admin, map[string]any{
		"meta": map[string]any{"name": "one-gpu-small", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"gpuDevices": 1, "cpuRequest": "100m", "memoryRequest": "64Mi"}}, nil)
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin, map[string]any{"name": "train", "environment": "python-http",
		"compute": "one-gpu-small", "command": []string{"/bin/sh", "-c", "python3 -m http.server $PORT --bind 127.0.0.1 & while :; do :; done"}}, nil)
	s.waitPhase("lab", "train", "Running", toolStart)
	var w struct {
		Status struct{ Admission struct{ GPUDevices []int } }
	}
	s.must(200, "GET", "/api/v1/projects/lab/workspaces/train", s.admin, nil, &w)
	if err := os.WriteFile(util, []byte(fmt.Sprintf("%d, 90\n", w.Status.Admission.GPUDevices[0])), 0o644); err != nil {
		t.Fatal(err)
	}
	labels := `{department="",project="lab",workspace="train"}`
	var body string
	// The CPU rate needs two readings of the process table, 5 s apart.
	waitFor(t, "the workspace's use in /metrics", 30*time.Second, func() bool {
		body = scrape(t, s)
		return metric(body, "labspace_workspace_gpu_utilisation_percent"+labels) == 90 &&
			metric(body, "labspace_workspace_cpu_cores_used"+labels) > 0.1
	})
	for name, want := range map[string]float64{
		"labspace_workspace_allocated_gpus" + labels:                   1,
		"labspace_workspace_allocated_cpu_cores" + labels:              0.1,
		"labspace_workspace_allocated_memory_bytes" + labels:           64 << 20,
		`labspace_project_used_gpus{department="",project="lab"}`:      0.9,
		`labspace_project_allocated_gpus{department="",project="lab"}`: 1,
		`labspace_project_quota_gpus{department="",project="lab"}`:     2,
	} {
		if got := metric(body, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if m := metric(body, "labspace_workspace_memory_used_bytes"+labels); m < 1<<20 {
		t.Errorf("memory used %v bytes: the processes' resident memory was not read", m)
	}
	if idle := metric(body, "labspace_workspace_idle_seconds"+labels); idle < 0 || idle > 120 {
		t.Errorf("idle for %v s", idle)
	}

	b := newBrowser(t, s)
	b.signIn("admin", adminPassword, "/")
	b.open("/admin/projects")
	b.waitFor("the chart", `section[data-name="lab"] figure.chart svg polygon.chart-used`, uiStep)
	caption := b.text(`section[data-name="lab"] figure.chart figcaption`)
	if !strings.Contains(caption, "1 GPU allocated now, 0.9 GPUs used (90%)") {
		t.Errorf("the chart says %q", caption)
	}
	s.must(202, "POST", "/api/v1/projects/lab/workspaces/train/stop", s.admin, nil, nil)
}

// scrape reads /metrics.
func scrape(t *testing.T, s *server) string {
	t.Helper()
	res, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return string(body)
}

// metric is the value of the series named with its labels, or -1.
func metric(body, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}
