package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePrometheus answers instant queries with DCGM-shaped series: the
// utilisation the test sets for each pod, labelled as NVIDIA's exporter
// labels them.
type fakePrometheus struct {
	mu      sync.Mutex
	util    map[string]int // namespace/pod -> percent
	queries []string
}

func (f *fakePrometheus) set(ns, pod string, pct int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.util[ns+"/"+pod] = pct
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, r.URL.Query().Get("query"))
	var result []map[string]any
	for key, pct := range f.util {
		ns, pod, _ := strings.Cut(key, "/")
		result = append(result, map[string]any{
			"metric": map[string]string{"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "0", "modelName": "NVIDIA A100-SXM4-80GB",
				"Hostname": "gpu-1", "namespace": ns, "pod": pod, "container": "workspace"},
			"value": []any{float64(time.Now().Unix()), fmt.Sprint(pct)}})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
}

// On Kubernetes, GPU use comes from the DCGM exporter's series through
// Prometheus: the workspace whose pod's GPU is busy runs on, the other is
// stopped with the reason.
func TestKubeIdleGPUFromPrometheus(t *testing.T) {
	c := cluster(t)
	cleanPods(t, c, "gpuidle")
	prom := &fakePrometheus{util: map[string]int{}}
	promSrv := httptest.NewServer(prom)
	t.Cleanup(promSrv.Close)
	s := startServer(t, freeAddr(t), t.TempDir(), "--kubeconfig", c.Kubeconfig, "--gpu-metrics-url", promSrv.URL)
	kubeBlocks(s, freePort(t))
	s.project("gpuidle", map[string]any{"gpus": 2})
	s.idlePolicy(map[string]any{"idleStopSeconds": 10, "warnBeforeSeconds": 4, "idleSignals": []string{"gpu"}, "gpuIdleBelowPercent": 20})
	ns := "labspace-gpuidle"
	pod := map[string]string{}
	for _, n := range []string{"training", "parked"} {
		w := s.kubeCreate("gpuidle", n, "gpu-one", nil)
		s.waitPhase("gpuidle", n, "Running", converge)
		ps := pods(t, c, ns, w.Meta.ID)
		if len(ps) != 1 {
			t.Fatalf("%s has %d pods", n, len(ps))
		}
		pod[n] = ps[0].Name
		prom.set(ns, pod[n], 0)
	}
	time.Sleep(2 * time.Second)
	prom.set(ns, pod["training"], 90)
	prom.set(ns, pod["parked"], 12) // under the rule's 20%: idle
	w := s.waitPhase("gpuidle", "parked", "Stopped", 40*time.Second)
	if w.Status.PhaseReason != "IdleTimeout" || !strings.Contains(w.Status.PhaseMessage, "without GPU use") {
		t.Errorf("the parked workspace: %+v", w.Status)
	}
	time.Sleep(5 * time.Second)
	if w := s.get("gpuidle", "training"); w.Status.Phase != "Running" {
		t.Errorf("the training workspace is %s: %s", w.Status.Phase, w.Status.PhaseMessage)
	}
	prom.mu.Lock()
	defer prom.mu.Unlock()
	if len(prom.queries) == 0 || prom.queries[0] != "max by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL)" {
		t.Errorf("queries %q", prom.queries)
	}
}
