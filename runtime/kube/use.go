package kube

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labspace/labspace"
	corev1 "k8s.io/api/core/v1"
)

// GPU use on Kubernetes comes from NVIDIA's DCGM exporter, through the
// Prometheus that scrapes it: one instant query for every pod at once,
// read at most every gpuSample. The exporter labels its series with the
// pod's namespace and name when it maps devices to pods.

// DefaultGPUQuery is the utilisation of each pod's busiest GPU.
const DefaultGPUQuery = `max by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL)`

const gpuSample = 5 * time.Second

// gpuUse caches the last query's answer, by namespace/pod.
type gpuUse struct {
	url, query string
	client     *http.Client
	mu         sync.Mutex
	at         time.Time
	use        map[string]int
	okay       bool
}

func (g *gpuUse) read(ctx context.Context) (map[string]int, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.at) < gpuSample {
		return g.use, g.okay
	}
	g.at = time.Now()
	g.use, g.okay = map[string]int{}, false
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(g.url, "/")+"/api/v1/query?query="+url.QueryEscape(g.query), nil)
	if err != nil {
		return g.use, false
	}
	res, err := g.client.Do(req)
	if err != nil {
		return g.use, false
	}
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"` // [time, "value"]
			} `json:"result"`
		} `json:"data"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&body) != nil || body.Status != "success" {
		return g.use, false
	}
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			continue
		}
		key := r.Metric["namespace"] + "/" + r.Metric["pod"]
		g.use[key] = max(g.use[key], int(v))
	}
	g.okay = true
	return g.use, true
}

// GPUBusy reads w's pod's GPU utilisation from Prometheus (Options.GPUMetricsURL).
func (r *Runtime) GPUBusy(ctx context.Context, w *labspace.Workspace) (int, bool) {
	if r.gpuUse == nil {
		return 0, false
	}
	pod := current(of[*corev1.Pod](r.pods, w.ID))
	if pod == nil {
		return 0, false
	}
	use, ok := r.gpuUse.read(ctx)
	if !ok {
		return 0, false
	}
	p, ok := use[pod.Namespace+"/"+pod.Name]
	return p, ok
}
