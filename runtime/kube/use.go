package kube

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	corev1 "k8s.io/api/core/v1"
)

// What workloads use, on Kubernetes, comes from the Prometheus that scrapes
// NVIDIA's DCGM exporter (GPUs) and the kubelets' cAdvisor (CPU and
// memory): one instant query for every pod at once per figure, read at
// most every useSample. Both label their series with the pod's namespace
// and name (the DCGM exporter when it maps devices to pods).

// The default queries, each giving one value per namespace and pod.
const (
	// DefaultGPUQuery is the utilisation (percent) of each pod's busiest GPU.
	DefaultGPUQuery = `max by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL)`
	// DefaultCPUQuery is each pod's CPU cores in use, over two minutes.
	DefaultCPUQuery = `sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!=""}[2m]))`
	// DefaultMemoryQuery is each pod's working set in bytes.
	DefaultMemoryQuery = `sum by (namespace, pod) (container_memory_working_set_bytes{container!=""})`
)

const useSample = 5 * time.Second

// promQuery caches one query's last answer, by namespace/pod.
type promQuery struct {
	url, query string
	client     *http.Client
	runtime.Sample[map[string]float64]
}

func (g *promQuery) read(ctx context.Context) (map[string]float64, bool) {
	return g.Get(useSample, func() (map[string]float64, bool) { return g.query1(ctx) })
}

// query1 asks Prometheus once.
func (g *promQuery) query1(ctx context.Context) (map[string]float64, bool) {
	values := map[string]float64{}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(g.url, "/")+"/api/v1/query?query="+url.QueryEscape(g.query), nil)
	if err != nil {
		return values, false
	}
	res, err := g.client.Do(req)
	if err != nil {
		return values, false
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
		return values, false
	}
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			continue
		}
		key := r.Metric["namespace"] + "/" + r.Metric["pod"]
		values[key] = max(values[key], v)
	}
	return values, true
}

// meters are the queries of Options.MetricsURL; nil without one.
type meters struct{ gpu, cpu, memory *promQuery }

func newMeters(o Options) *meters {
	if o.MetricsURL == "" {
		return nil
	}
	c := &http.Client{Timeout: 3 * time.Second}
	q := func(query, def string) *promQuery {
		return &promQuery{url: o.MetricsURL, query: cmp.Or(query, def), client: c}
	}
	return &meters{gpu: q(o.GPUQuery, DefaultGPUQuery), cpu: q(o.CPUQuery, DefaultCPUQuery), memory: q(o.MemoryQuery, DefaultMemoryQuery)}
}

// Use reads what w's pod uses from Prometheus (runtime.Meter).
func (r *Runtime) Use(ctx context.Context, w *labspace.Workspace) runtime.Use {
	u := runtime.Unknown
	pod := current(of[*corev1.Pod](r.pods, w.ID))
	if r.meters == nil || pod == nil {
		return u
	}
	key := pod.Namespace + "/" + pod.Name
	if v, ok := r.meters.cpu.read(ctx); ok {
		if c, ok := v[key]; ok {
			u.CPUCores = c
		}
	}
	if v, ok := r.meters.memory.read(ctx); ok {
		if m, ok := v[key]; ok {
			u.MemoryBytes = int64(m)
		}
	}
	if v, ok := r.meters.gpu.read(ctx); ok {
		if p, ok := v[key]; ok {
			u.GPUPercent = int(p)
		}
	}
	return u
}
