package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rest is labspace at rest: RSS and Go heap (medians of 10 samples 6 s
// apart, and their range: the garbage collector's swing), the CPU it used
// over that minute and its controller's passes a second.
type rest struct {
	rss, heap           int64
	rssLo, rssHi        int64
	heapLo, heapHi      int64
	cores, passesPerSec float64
}

// latency is the p50 and p99 of a series of requests.
type latency struct {
	what     string
	n, bytes int
	p50, p99 time.Duration
}

// restart is what a restart with everything running cost.
type restart struct {
	exit, healthy, adopted time.Duration   // from SIGTERM; healthy and adopted from the new start
	use                    kubebench.Usage // the new process, from its start until adopted
	pods, recreated        int             // pods before; pods whose UID changed or that are gone or new
	gone, added            int
}

// labspaceRun is every labspace figure.
type labspaceRun struct {
	start          kubebench.Usage
	podsReady      time.Duration // from the first create until informers saw every pod Ready
	peakQueue      float64       // the controller's deepest queue during the start
	atRest         rest
	lists          []latency
	withStopped    rest
	stoppedCreated time.Duration
	restart        restart
	log            string
}

// runLabspace starts labspace, measures the start of n workspaces, its
// rest, the API and UI with them listed, stopped workspaces' memory and a
// restart. p is left running for the caller to stop.
func runLabspace(ctx context.Context, c *kubetest.Cluster, exe, dir string, o opts) (res labspaceRun, err error) {
	dir = filepath.Join(dir, "labspace-data") // beside the binary, named labspace
	p, err := startLabspace(exe, dir, c.Kubeconfig, o.clients)
	if err != nil {
		return res, err
	}
	res.log = p.Log
	defer func() {
		if _, serr := p.Stop(); err == nil {
			err = serr
		}
	}()
	if err := createBlocks(p.API, o.projects, o.clients); err != nil {
		return res, err
	}
	// The pods' own readiness, seen as the floor's is, shows how far
	// behind the cluster labspace's API reports.
	w, err := kubebench.WatchPods(c, kubebench.Watch{Keep: func(ns string) bool { return strings.HasPrefix(ns, "labspace-p") },
		Pods: o.workspaces})
	if err != nil {
		return res, err
	}
	defer w.Stop()
	quiet(c)
	benchkit.Progress("labspace: starting %d workspaces in %d projects", o.workspaces, o.projects)
	var t0 time.Time
	res.start, err = measure(c, p.Pid, func() error {
		t0 = time.Now()
		if err := createWorkspaces(p.API, "w", 0, o.workspaces, o.projects, o.clients, "Running"); err != nil {
			return err
		}
		benchkit.Progress("labspace: all %d created in %s", o.workspaces, time.Since(t0).Round(time.Millisecond))
		return awaitPhase(p.API, "Running", o.workspaces, func(m kubebench.Samples) string {
			d := m["labspace_controller_queue_depth"]
			res.peakQueue = max(res.peakQueue, d)
			return fmt.Sprintf(" (pods Ready %d, controller queue %.0f)", w.Ready.Load(), d)
		})
	})
	select {
	case <-w.AllReady:
		res.podsReady = w.ReadyAt.Sub(t0)
	default:
	}
	w.Stop()
	if err != nil {
		return res, fmt.Errorf("%w\nlabspace's log ends:\n%s", err, p.LogTail())
	}
	benchkit.Progress("labspace: all Running in %s", res.start.Wall.Round(time.Second))
	settle(p)
	res.atRest = atRest(p)
	if res.lists, err = listLatencies(p.API); err != nil {
		return res, err
	}
	benchkit.Progress("labspace: creating %d stopped workspaces", o.stopped)
	t0 = time.Now()
	if err := createWorkspaces(p.API, "s", 0, o.stopped, o.projects, o.clients, "Stopped"); err != nil {
		return res, err
	}
	if err := awaitPhase(p.API, "Stopped", o.stopped, nil); err != nil {
		return res, err
	}
	res.stoppedCreated = time.Since(t0)
	settle(p)
	res.withStopped = atRest(p)
	res.restart, err = restartLabspace(ctx, c, exe, dir, &p, o)
	return res, err
}

// settle waits until labspace's controller queue is empty, and 10 seconds
// more, so that what follows measures labspace at rest.
func settle(p *kubebench.Labspace) {
	_ = kubebench.Poll(5*time.Minute, time.Second, func() (bool, error) {
		d, err := metric(p.API, "labspace_controller_queue_depth")
		return err == nil && d == 0, nil
	})
	time.Sleep(10 * time.Second)
}

// atRest samples labspace's RSS and Go heap in use every 6 s for a
// minute: the controller's slowest resync (WatchedResync) falls inside
// once, so the CPU and passes are an honest average, not a quiet 10 s.
func atRest(p *kubebench.Labspace) rest {
	var rss, heap []int64
	passes0, _ := metric(p.API, "labspace_controller_passes_total")
	cpu0, t0 := kubebench.CPUOf(p.Pid()), time.Now()
	for range 10 {
		rss = append(rss, kubebench.RSSOf(p.Pid()))
		if h, err := metric(p.API, "go_memstats_heap_inuse_bytes"); err == nil {
			heap = append(heap, int64(h))
		}
		time.Sleep(6 * time.Second)
	}
	wall := time.Since(t0)
	passes, _ := metric(p.API, "labspace_controller_passes_total")
	r := rest{cores: kubebench.Cores(kubebench.CPUOf(p.Pid())-cpu0, wall), passesPerSec: (passes - passes0) / wall.Seconds()}
	r.rss, r.rssLo, r.rssHi = spread(rss)
	r.heap, r.heapLo, r.heapHi = spread(heap)
	benchkit.Progress("labspace at rest: RSS %d MiB, heap %d MiB, %.2f cores, %.0f controller passes/s",
		r.rss>>20, r.heap>>20, r.cores, r.passesPerSec)
	return r
}

// spread is the median, least and greatest of vs.
func spread(vs []int64) (mid, lo, hi int64) {
	if len(vs) == 0 {
		return 0, 0, 0
	}
	slices.Sort(vs)
	return vs[len(vs)/2], vs[0], vs[len(vs)-1]
}

// listLatencies times the API's first page (all projects, then one) and
// the UI's workspace grid, as an admin who sees every workspace.
func listLatencies(api *benchkit.Client) ([]latency, error) {
	var out []latency
	for _, q := range []struct{ what, path string }{
		{"GET /api/v1/workspaces?limit=50", "/api/v1/workspaces?limit=50"},
		{"GET /api/v1/workspaces?project=p0&limit=50", "/api/v1/workspaces?project=" + projectName(0) + "&limit=50"},
	} {
		l := latency{what: q.what, n: 200}
		var err error
		l.p50, l.p99, err = latencies(l.n, func() error { return api.Do("GET", q.path, nil, 200, nil) })
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	hc, err := webSession(api.Base)
	if err != nil {
		return nil, err
	}
	l := latency{what: "GET / (workspace grid, signed in through the web form)", n: 50}
	l.p50, l.p99, err = latencies(l.n, func() error {
		var err error
		l.bytes, err = getPage(hc, api.Base+"/")
		return err
	})
	out = append(out, l)
	for _, l := range out {
		benchkit.Progress("%s: p50 %s, p99 %s", l.what, l.p50, l.p99)
	}
	return out, err
}

// restartLabspace stops labspace with SIGTERM and starts it again on the
// same data folder, timed until it lists every workspace in its phase
// again with its controller's queue empty; every pod's UID is compared
// before and after, so that a pod recreated on the way shows.
func restartLabspace(ctx context.Context, c *kubetest.Cluster, exe, dir string, p **kubebench.Labspace, o opts) (restart, error) {
	var r restart
	before, err := podUIDs(ctx, c, o.projects)
	if err != nil {
		return r, err
	}
	r.pods = len(before)
	benchkit.Progress("labspace: restart with %d pods running", r.pods)
	r.exit, err = (*p).Stop()
	if err != nil {
		return r, err
	}
	var healthyAt time.Time
	r.use, err = measure(c, func() int { return (*p).Pid() }, func() error {
		t0 := time.Now()
		np, err := startLabspace(exe, dir, c.Kubeconfig, o.clients)
		if err != nil {
			return err
		}
		*p = np
		healthyAt = time.Now()
		r.healthy = healthyAt.Sub(t0)
		if err := awaitPhase(np.API, "Running", o.workspaces, nil); err != nil {
			return err
		}
		if err := awaitPhase(np.API, "Stopped", o.stopped, nil); err != nil {
			return err
		}
		// Idle: every workspace has had a pass (the controller queues them
		// all at its start) and the queue is empty. A queue merely not
		// filled yet would look empty too.
		return kubebench.Poll(phaseLimit, time.Second, func() (bool, error) {
			passes, err := metric(np.API, "labspace_controller_passes_total")
			if err != nil || passes < float64(o.workspaces+o.stopped) {
				return false, nil
			}
			d, err := metric(np.API, "labspace_controller_queue_depth")
			return err == nil && d == 0, nil
		})
	})
	r.adopted = r.use.Wall
	if err != nil {
		return r, err
	}
	benchkit.Progress("labspace: healthy %s after its start, re-adopted in %s", r.healthy.Round(time.Millisecond), r.adopted.Round(time.Millisecond))
	// A recreated pod may still be on its way: look again after a pause.
	time.Sleep(10 * time.Second)
	after, err := podUIDs(ctx, c, o.projects)
	if err != nil {
		return r, err
	}
	for k, uid := range before {
		if a, ok := after[k]; !ok {
			r.gone++
		} else if a != uid {
			r.recreated++
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			r.added++
		}
	}
	return r, nil
}

// podUIDs is the UID of every pod in the projects' namespaces.
func podUIDs(ctx context.Context, c *kubetest.Cluster, projects int) (map[string]string, error) {
	out := map[string]string{}
	for i := range projects {
		ns := labspace.DefaultNamespace(projectName(i))
		next := ""
		for {
			list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 500, Continue: next})
			if err != nil {
				return nil, err
			}
			for _, pod := range list.Items {
				out[ns+"/"+pod.Name] = string(pod.UID)
			}
			if next = list.Continue; next == "" {
				break
			}
		}
	}
	return out, nil
}
