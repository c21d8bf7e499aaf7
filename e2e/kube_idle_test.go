package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePrometheus answers instant queries with series shaped as NVIDIA's
// DCGM exporter (GPU utilisation) and the kubelet's cAdvisor (CPU,
// memory) label them, with the values the test sets for each pod.
type fakePrometheus struct {
	mu      sync.Mutex
	values  map[string]map[string]float64 // metric -> namespace/pod -> value
	queries []string
}

// The metrics each default query reads.
const (
	dcgmUtil   = "DCGM_FI_DEV_GPU_UTIL"
	cpuSeconds = "container_cpu_usage_seconds_total"
	workingSet = "container_memory_working_set_bytes"
)

func (f *fakePrometheus) set(metric, ns, pod string, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.values == nil {
		f.values = map[string]map[string]float64{}
	}
	if f.values[metric] == nil {
		f.values[metric] = map[string]float64{}
	}
	f.values[metric][ns+"/"+pod] = v
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query().Get("query")
	f.queries = append(f.queries, q)
	result := []map[string]any{}
	for metric, pods := range f.values {
		if !strings.Contains(q, metric) {
			continue
		}
		for key, v := range pods {
			ns, pod, _ := strings.Cut(key, "/")
			labels := map[string]string{"namespace": ns, "pod": pod} // what "by (namespace, pod)" keeps
			if metric == dcgmUtil {
				labels = map[string]string{"__name__": dcgmUtil, "gpu": "0", "modelName": "NVIDIA A100-SXM4-80GB",
					"Hostname": "gpu-1", "namespace": ns, "pod": pod, "container": "workspace"}
			}
			result = append(result, map[string]any{"metric": labels, "value": []any{float64(time.Now().Unix()), fmt.Sprint(v)}})
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
}

// On Kubernetes, GPU use comes from the DCGM exporter's series through
// Prometheus and CPU use from cAdvisor's: the workspace whose pod's GPU is
// busy runs on, and so does the one whose CPU is; the other is stopped
// with the reason.
func TestKubeIdleGPUFromPrometheus(t *testing.T) {
	c := cluster(t)
	cleanPods(t, c, "gpuidle")
	prom := &fakePrometheus{}
	promSrv := httptest.NewServer(prom)
	t.Cleanup(promSrv.Close)
	s := startServer(t, freeAddr(t), t.TempDir(), "--kubeconfig", c.Kubeconfig, "--prometheus-url", promSrv.URL)
	kubeBlocks(s, freePort(t))
	s.project("gpuidle", map[string]any{"gpus": 3})
	s.idlePolicy(map[string]any{"idleStopSeconds": 10, "warnBeforeSeconds": 4, "idleSignals": []string{"gpu", "cpu"}, "gpuIdleBelowPercent": 20})
	ns := "labspace-gpuidle"
	pod := map[string]string{}
	for _, n := range []string{"training", "preprocessing", "parked"} {
		w := s.kubeCreate("gpuidle", n, "gpu-one", nil)
		s.waitPhase("gpuidle", n, "Running", converge)
		ps := pods(t, c, ns, w.Meta.ID)
		if len(ps) != 1 {
			t.Fatalf("%s has %d pods", n, len(ps))
		}
		pod[n] = ps[0].Name
		prom.set(dcgmUtil, ns, pod[n], 0)
		prom.set(cpuSeconds, ns, pod[n], 0.02)
	}
	time.Sleep(2 * time.Second)
	prom.set(dcgmUtil, ns, pod["training"], 90)
	prom.set(dcgmUtil, ns, pod["parked"], 12) // under the rule's 20%: idle
	prom.set(cpuSeconds, ns, pod["preprocessing"], 1.5)
	w := s.waitPhase("gpuidle", "parked", "Stopped", 40*time.Second)
	if w.Status.PhaseReason != "IdleTimeout" || !strings.Contains(w.Status.PhaseMessage, "without GPU use or CPU use") {
		t.Errorf("the parked workspace: %+v", w.Status)
	}
	time.Sleep(5 * time.Second)
	for _, n := range []string{"training", "preprocessing"} {
		if w := s.get("gpuidle", n); w.Status.Phase != "Running" {
			t.Errorf("the %s workspace is %s: %s", n, w.Status.Phase, w.Status.PhaseMessage)
		}
	}
	prom.mu.Lock()
	defer prom.mu.Unlock()
	if !slices.Contains(prom.queries, "max by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL)") ||
		!slices.Contains(prom.queries, `sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!=""}[2m]))`) {
		t.Errorf("queries %q", prom.queries)
	}
}
