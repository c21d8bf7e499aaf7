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
	// Leader is 1 while this replica runs the controller.
	Leader   prometheus.Gauge
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns the metrics, with Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(),
		Passes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labspace_controller_passes_total",
			Help: "Reconcile passes of the lifecycle controller, by result."}, []string{"result"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labspace_workspace_transitions_total",
			Help: "Observed phase changes of workspaces, by the phase reached."}, []string{"phase"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "labspace_leader",
			Help: "1 while this replica leads (runs the lifecycle controller), else 0."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "labspace_http_requests_total",
			Help: "HTTP requests, by part of the server (api, web, proxy) and status code."}, []string{"handler", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "labspace_http_request_duration_seconds",
			Help: "Time to the end of the response, by part of the server.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9)},
			[]string{"handler"}),
	}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Passes, m.Transitions, m.Leader, m.requests, m.latency)
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
	c := &allocCollector{read: read, descs: descs{
		prometheus.NewDesc("labspace_project_allocated_gpus", "GPUs held by a project's admitted workspaces.", labels, nil),
		prometheus.NewDesc("labspace_project_allocated_cpu_cores", "CPU cores requested by a project's admitted workspaces.", labels, nil),
		prometheus.NewDesc("labspace_project_allocated_memory_bytes", "Memory requested by a project's admitted workspaces.", labels, nil),
		prometheus.NewDesc("labspace_project_quota_gpus", "GPUs a project deserves.", labels, nil)}}
	m.Registry.MustRegister(c)
}

// descs describe a collector's metrics.
type descs []*prometheus.Desc

func (d descs) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range d {
		ch <- x
	}
}

// scrape calls read with a scrape's time limit.
func scrape[T any](read func(ctx context.Context) ([]T, error)) ([]T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return read(ctx)
}

type allocCollector struct {
	descs
	read func(ctx context.Context) ([]Allocation, error)
}

func (c *allocCollector) Collect(ch chan<- prometheus.Metric) {
	all, err := scrape(c.read)
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

// WorkspaceUse is one running workspace's allocation and use at the
// controller's last sample; a use below 0 is unknown and not reported.
type WorkspaceUse struct {
	Workspace, Project, Department string
	GPUs                           float64
	MilliCPU, Memory               int64
	GPUPercent                     int
	CPUCores                       float64
	MemoryBytes                    int64
	IdleSeconds                    float64
}

// WorkspaceUses reports each running workspace's allocation, use and idle
// time, and each project's use summed from them, at each scrape.
func (m *Metrics) WorkspaceUses(read func(ctx context.Context) ([]WorkspaceUse, error)) {
	ws := []string{"project", "department", "workspace"}
	ps := []string{"project", "department"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	m.Registry.MustRegister(&useCollector{read: read, descs: descs{
		d("labspace_workspace_allocated_gpus", "GPUs a running workspace holds.", ws),
		d("labspace_workspace_allocated_cpu_cores", "CPU cores a running workspace requests.", ws),
		d("labspace_workspace_allocated_memory_bytes", "Memory a running workspace requests.", ws),
		d("labspace_workspace_gpu_utilisation_percent", "Utilisation of a running workspace's busiest GPU.", ws),
		d("labspace_workspace_cpu_cores_used", "CPU cores a running workspace's processes use.", ws),
		d("labspace_workspace_memory_used_bytes", "Resident memory of a running workspace's processes.", ws),
		d("labspace_workspace_idle_seconds", "Time since any signal saw a running workspace in use.", ws),
		d("labspace_project_used_gpus", "A project's GPUs times their utilisation, over its running workspaces with a reading.", ps),
		d("labspace_project_cpu_cores_used", "CPU cores a project's running workspaces use.", ps),
		d("labspace_project_memory_used_bytes", "Resident memory of a project's running workspaces.", ps),
	}})
}

type useCollector struct {
	descs
	read func(ctx context.Context) ([]WorkspaceUse, error)
}

func (c *useCollector) Collect(ch chan<- prometheus.Metric) {
	all, err := scrape(c.read)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.descs[0], err)
		return
	}
	type sums struct {
		gpus, cpu, mem float64
		known          [3]bool
	}
	projects := map[[2]string]*sums{}
	for _, u := range all {
		labels := []string{u.Project, u.Department, u.Workspace}
		values := []float64{u.GPUs, float64(u.MilliCPU) / 1000, float64(u.Memory), float64(u.GPUPercent), u.CPUCores,
			float64(u.MemoryBytes), u.IdleSeconds}
		for i, v := range values {
			if i < 3 || i == 6 || v >= 0 {
				ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.GaugeValue, v, labels...)
			}
		}
		p := projects[[2]string{u.Project, u.Department}]
		if p == nil {
			p = &sums{}
			projects[[2]string{u.Project, u.Department}] = p
		}
		if u.GPUs > 0 && u.GPUPercent >= 0 {
			p.gpus, p.known[0] = p.gpus+u.GPUs*float64(u.GPUPercent)/100, true
		}
		if u.CPUCores >= 0 {
			p.cpu, p.known[1] = p.cpu+u.CPUCores, true
		}
		if u.MemoryBytes >= 0 {
			p.mem, p.known[2] = p.mem+float64(u.MemoryBytes), true
		}
	}
	for k, p := range projects {
		for i, v := range []float64{p.gpus, p.cpu, p.mem} {
			if p.known[i] {
				ch <- prometheus.MustNewConstMetric(c.descs[7+i], prometheus.GaugeValue, v, k[0], k[1])
			}
		}
	}
}
