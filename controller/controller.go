// Package controller drives every workspace from its desired phase to the
// runtime, level-triggered like a Kubernetes controller: work queue keys
// are workspace ids, each pass re-reads the workspace and observes the
// runtime, acts, and writes back what it saw. Any pass may be cut short by
// a crash; the next one, after a restart, picks up from what is true.
package controller

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/metrics"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/service"
)

// Options configure a Controller.
type Options struct {
	Service *service.Service
	Runtime runtime.Runtime
	Logger  *slog.Logger
	// PublicURL prefixes the tool URLs shown to users.
	PublicURL string
	// ToolURL, when set, builds them instead (proxy.ToolURL: a tool on a
	// host of its own is opened through labspace's /connect/ link).
	ToolURL func(w *labspace.Workspace, tool string) string
	// Workers is how many workspaces are reconciled at once (default 4).
	Workers int
	// Resync is how often every workspace is looked at even without a
	// change (default 5s): it notices processes that end on their own.
	Resync time.Duration
	// WatchedResync replaces Resync for workspaces whose processes are
	// under way (Initializing, Running, Stopping...) when the runtime
	// reports their changes itself (runtime.Watcher: Kubernetes'
	// informers), default a minute. Their passes then come from the
	// runtime's reports, polls and the idle rules' own timers; this one
	// is a safety net, and the delay after which a new idle rule reaches
	// a running workspace.
	WatchedResync time.Duration
	// Poll is how soon a workspace in transition is looked at again (default 50ms).
	Poll time.Duration
	// Metrics, when set, counts passes and transitions.
	Metrics *metrics.Metrics
	// ToolKey derives workspaces' tool tokens, to read Jupyter's kernels.
	ToolKey []byte
	// UseEvery is how often what running workspaces use is sampled, for
	// /metrics and the projects' charts (default a minute).
	UseEvery time.Duration
}

// Controller reconciles workspaces.
type Controller struct {
	opts  Options
	svc   *service.Service
	rt    runtime.Runtime
	log   *slog.Logger
	qmu   sync.Mutex
	queue workQueue // of the Run under way (work)
	lanes *lanes    // its order

	mu      sync.RWMutex
	targets map[string]map[string]string // workspace id -> tool -> address
	seen    map[string]seenTools         // the same, while not leading (Target)
	kernels *kernelReader
	watched bool // the runtime reports changes (runtime.Watcher)
}

// New returns a controller; Run starts it.
func New(o Options) *Controller {
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Resync == 0 {
		o.Resync = 5 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = 50 * time.Millisecond
	}
	if o.WatchedResync == 0 {
		o.WatchedResync = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.UseEvery == 0 {
		o.UseEvery = time.Minute
	}
	// Retries back off up to 10s: after an outage of the runtime (an API
	// server down), everything is tried again within seconds of its return.
	c := &Controller{opts: o, svc: o.Service, rt: o.Runtime, log: o.Logger, targets: map[string]map[string]string{},
		seen: map[string]seenTools{}, kernels: newKernelReader(o.ToolKey)}
	if o.Metrics != nil {
		o.Metrics.QueueDepth(func() int {
			if q := c.work(); q != nil {
				return q.Len()
			}
			return 0
		})
	}
	if w, ok := o.Runtime.(runtime.Watcher); ok {
		w.Watch(c.reported) // the runtime says when to look, on top of the polls
		c.watched = true
	}
	return c
}

// work is the queue of the Run under way, nil between runs (a replica
// that does not lead).
func (c *Controller) work() workQueue {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.queue
}

// Notify queues a workspace whose desired phase changed (service.Lifecycle).
func (c *Controller) Notify(id string) {
	if q := c.work(); q != nil {
		q.Add(id)
	}
}

// reported queues a workspace the runtime reported a change of; a
// settled one goes ahead of the rest (lanes).
func (c *Controller) reported(id string, settled bool) {
	c.qmu.Lock()
	q, l := c.queue, c.lanes
	c.qmu.Unlock()
	if q == nil {
		return
	}
	if settled {
		l.settle(id)
	}
	q.Add(id)
}

// Target returns the address the proxy forwards tool of workspace id to.
func (c *Controller) Target(id, tool string) (string, bool) {
	c.mu.RLock()
	t, ok := c.targets[id][tool]
	seen, fresh := c.seen[id], time.Since(c.seen[id].at) < seenFor
	c.mu.RUnlock()
	if ok || c.work() != nil {
		return t, ok // the leader keeps them up to date as it reconciles
	}
	if fresh {
		t, ok = seen.tools[tool]
		return t, ok
	}
	// A replica that does not lead asks the runtime, which on Kubernetes
	// answers from its informers' view of the pod; for a moment only.
	ctx, cancel := context.WithTimeout(service.AsController(context.Background()), 5*time.Second)
	defer cancel()
	w, err := c.svc.WorkspaceByID(ctx, id)
	if err != nil {
		return "", false
	}
	obs, err := c.rt.Observe(ctx, w)
	if err != nil {
		return "", false
	}
	c.mu.Lock()
	if len(c.seen) > 10000 {
		c.seen = map[string]seenTools{} // of workspaces long gone, mostly
	}
	c.seen[id] = seenTools{tools: obs.Tools, at: time.Now()}
	c.mu.Unlock()
	t, ok = obs.Tools[tool]
	return t, ok
}

// seenTools are a workspace's tool addresses as a replica that does not
// lead last asked the runtime; they serve for seenFor.
type seenTools struct {
	tools map[string]string
	at    time.Time
}

const seenFor = 2 * time.Second

// Run reconciles until ctx ends. It first queues every workspace and stops
// processes that no workspace claims, so a restart converges. It may run
// again after it returns (a replica that leads again).
func (c *Controller) Run(ctx context.Context) error {
	ctx = service.AsController(ctx)
	l := newLanes()
	q := newQueue(l)
	c.qmu.Lock()
	c.queue, c.lanes = q, l
	c.qmu.Unlock()
	defer func() {
		c.qmu.Lock()
		c.queue, c.lanes = nil, nil
		c.qmu.Unlock()
		q.ShutDown()
	}()
	if err := c.svc.RebuildAdmissionLedger(ctx); err != nil {
		c.log.Warn("admission ledger", "err", err)
	}
	if err := c.collectOrphans(ctx); err != nil {
		c.log.Warn("orphan collection", "err", err)
	}
	c.queueAll(ctx)
	var wg sync.WaitGroup
	for i := 0; i < c.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.next(ctx, q) {
			}
		}()
	}
	t := time.NewTicker(c.opts.Resync)
	defer t.Stop()
	watched := time.NewTicker(c.opts.WatchedResync)
	defer watched.Stop()
	use := time.NewTicker(c.opts.UseEvery)
	defer use.Stop()
	for {
		select {
		case <-ctx.Done():
			q.ShutDown()
			wg.Wait()
			return nil
		case <-t.C:
			// Stopped and Failed workspaces change only when a user acts,
			// and that queues them; the rest may change on their own.
			c.queueAll(ctx, c.resynced()...)
		case <-watched.C:
			if c.watched {
				c.queueAll(ctx, active...)
			}
		case <-use.C:
			c.sampleUse(ctx)
		}
	}
}

// sampleUse records what running workspaces use, for /metrics and the
// projects' charts.
func (c *Controller) sampleUse(ctx context.Context) {
	var meter func(*labspace.Workspace) runtime.Use
	if m, ok := c.rt.(runtime.Meter); ok {
		meter = func(w *labspace.Workspace) runtime.Use { return m.Use(ctx, w) }
	}
	if err := c.svc.SampleUse(ctx, meter); err != nil && ctx.Err() == nil {
		c.log.Warn("sample what workspaces use", "err", err)
	}
}

// active are the phases in which a workspace can change without a request.
var active = []labspace.Phase{labspace.PhaseCreating, labspace.PhasePending, labspace.PhaseInitializing,
	labspace.PhaseRunning, labspace.PhaseDegraded, labspace.PhaseStopping, labspace.PhaseDeleting}

// resynced are the phases looked at every Resync: all the active ones,
// or, when the runtime reports changes itself, only those waiting on
// labspace rather than on the runtime (a quota raised, a workspace just
// made). The rest come at WatchedResync: at 10,000 workspaces the passes
// every 5 s cost a third of a core at rest, and during a mass start they
// filled the queue ahead of the starts.
func (c *Controller) resynced() []labspace.Phase {
	if !c.watched {
		return active
	}
	return []labspace.Phase{labspace.PhaseCreating, labspace.PhasePending}
}

// queueAll queues the workspaces in phases (all of them when none is given).
func (c *Controller) queueAll(ctx context.Context, phases ...labspace.Phase) {
	ids, err := c.svc.WorkspaceIDs(ctx, phases...)
	if err != nil {
		c.log.Warn("list workspaces", "err", err)
		return
	}
	q := c.work()
	for _, id := range ids {
		if q != nil {
			q.Add(id)
		}
	}
}

// collectOrphans removes workloads whose workspace no longer exists.
func (c *Controller) collectOrphans(ctx context.Context) error {
	running, err := c.rt.Workloads(ctx)
	if err != nil {
		return err
	}
	for _, id := range running {
		if _, err := c.svc.WorkspaceByID(ctx, id); labspace.ErrorCode(err) == labspace.ENOTFOUND {
			c.log.Info("removing orphaned workload", "workspace", id)
			if err := c.rt.Delete(ctx, &labspace.Workspace{Meta: labspace.Meta{ID: id}}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Controller) next(ctx context.Context, q workQueue) bool {
	id, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(id)
	after, err := c.reconcile(ctx, id)
	if m := c.opts.Metrics; m != nil && ctx.Err() == nil {
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.Passes.WithLabelValues(result).Inc()
	}
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.Warn("reconcile", "workspace", id, "err", err)
		q.AddRateLimited(id)
	case err == nil:
		q.Forget(id)
		if after > 0 {
			q.AddAfter(id, after)
		}
	}
	return true
}

func (c *Controller) setTargets(id string, t map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t == nil {
		delete(c.targets, id)
		c.kernels.forget(id)
		return
	}
	c.targets[id] = t
}

// toolStatus lists the tools of w with their public URLs.
func (c *Controller) toolStatus(w *labspace.Workspace, ready bool) []labspace.ToolStatus {
	vars := runtime.WorkloadVars(w, nil)
	var out []labspace.ToolStatus
	for _, t := range w.Spec.Environment.Spec.Tools {
		ts := labspace.ToolStatus{Name: t.Name, Type: t.Type, Ready: ready, URL: c.opts.PublicURL + runtime.BasePath(w, t.Name)}
		if c.opts.ToolURL != nil {
			ts.URL = c.opts.ToolURL(w, t.Name)
		}
		if t.Type == "external" {
			ts.URL = expandBraces(t.URL, vars)
		}
		out = append(out, ts)
	}
	return out
}

// expandBraces fills ${VAR} in an external tool's URL template.
func expandBraces(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "${"+k+"}", v)
	}
	return s
}
