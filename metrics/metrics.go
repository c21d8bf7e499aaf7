// Package metrics exposes labspace's Prometheus metrics at /metrics: HTTP
// requests by part of the server, the lifecycle controller's passes and
// transitions, its queue, workspaces by phase and what each project holds
// (read at each scrape).
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds labspace's collectors in a registry of its own.
type Metrics struct {
	Registry *prometheus.Registry
	// Passes counts controller passes by result (ok, error).
	Passes *prometheus.CounterVec
	// Transitions counts observed phase changes by the phase reached.
	Transitions *prometheus.CounterVec
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
}

// New returns the metrics, with Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(),
		Passes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labspace_controller_passes_total",
			Help: "Reconcile passes of the lifecycle controller, by result."}, []string{"result"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labspace_workspace_transitions_total",
			Help: "Observed phase changes of workspaces, by the phase reached."}, []string{"phase"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labspace_http_requests_total",
			Help: "HTTP requests, by part of the server (api, web, proxy) and status code."}, []string{"handler", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "labspace_http_request_duration_seconds",
			Help: "Time to the end of the response, by part of the server.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)},
			[]string{"handler"}),
	}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Passes, m.Transitions, m.requests, m.latency)
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Instrument counts and times the requests h serves, as part name.
func (m *Metrics) Instrument(name string, h http.Handler) http.Handler {
	l := prometheus.Labels{"handler": name}
	return promhttp.InstrumentHandlerDuration(m.latency.MustCurryWith(l),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h))
}

// QueueDepth reports the length of the controller's work queue.
func (m *Metrics) QueueDepth(length func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "labspace_controller_queue_depth",
		Help: "Workspaces waiting for a pass of the lifecycle controller."}, func() float64 { return float64(length()) }))
}

// WorkspacePhases reports how many workspaces are in each phase, asking
// count at each scrape (one indexed count in the store).
func (m *Metrics) WorkspacePhases(count func(ctx context.Context) (map[string]int, error)) {
	m.Registry.MustRegister(&phaseCollector{count: count, desc: prometheus.NewDesc("labspace_workspaces",
		"Workspaces by observed phase.", []string{"phase"}, nil)})
}

type phaseCollector struct {
	count func(ctx context.Context) (map[string]int, error)
	desc  *prometheus.Desc
}

func (c *phaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *phaseCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for phase, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), phase)
	}
}

// Allocation is what one project's admitted workspaces hold.
type Allocation struct {
	Project, Department string
	GPUs                float64
	MilliCPU, Memory    int64
	// QuotaGPUs is what the project deserves.
	QuotaGPUs float64
}

// ProjectAllocations reports, at each scrape, what each project holds and
// deserves, labelled with its department ("" for none).
func (m *Metrics) ProjectAllocations(read func(ctx context.Context) ([]Allocation, error)) {
	labels := []string{"project", "department"}
	c := &allocCollector{read: read, descs: [4]*prometheus.Desc{
		prometheus.NewDesc("labspace_project_allocated_gpus", "GPUs held by a project's admitted workspaces.", labels, nil),
		prometheus.NewDesc("labspace_project_allocated_cpu_cores", "CPU cores requested by a project's admitted workspaces.", labels, nil),
		prometheus.NewDesc("labspace_project_allocated_memory_bytes", "Memory requested by a project's admitted workspaces.", labels, nil),
		prometheus.NewDesc("labspace_project_quota_gpus", "GPUs a project deserves.", labels, nil)}}
	m.Registry.MustRegister(c)
}

type allocCollector struct {
	read  func(ctx context.Context) ([]Allocation, error)
	descs [4]*prometheus.Desc
}

func (c *allocCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *allocCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	all, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.descs[0], err)
		return
	}
	for _, a := range all {
		for i, v := range []float64{a.GPUs, float64(a.MilliCPU) / 1000, float64(a.Memory), a.QuotaGPUs} {
			ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.GaugeValue, v, a.Project, a.Department)
		}
	}
}
