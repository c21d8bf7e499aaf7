package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/store"
)

// capacitySource reports what the runtime can hold; the service reads it
// to refuse, at creation, a workspace that no node could ever hold.
type capacitySource struct {
	mu      sync.Mutex
	get     func(context.Context) (HostCapacity, error)
	last    HostCapacity
	lastErr error
	at      time.Time
}

// SetCapacity tells the service how to read the runtime's capacity.
func (s *Service) SetCapacity(get func(context.Context) (HostCapacity, error)) {
	s.capacity.mu.Lock()
	defer s.capacity.mu.Unlock()
	s.capacity.get, s.capacity.at = get, time.Time{}
}

// read returns the capacity, read again at most once a second (nodes come
// and go rarely; creates are many). ok is false when no source is set.
func (c *capacitySource) read(ctx context.Context) (HostCapacity, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.get == nil {
		return HostCapacity{}, false, nil
	}
	if time.Since(c.at) > time.Second {
		c.last, c.lastErr = c.get(ctx)
		c.at = time.Now()
	}
	return c.last, true, c.lastErr
}

// feasible refuses (422) a workspace whose compute request no node could
// ever hold, instead of letting it wait forever.
func feasible(w *labspace.Workspace, c HostCapacity) error {
	if len(c.Nodes) == 0 {
		return nil // the runtime does not know its nodes (yet)
	}
	spec := &w.Spec.Compute.Spec
	cpu, _ := labspace.MilliCPU(spec.CPURequest)
	mem, _ := labspace.MemoryBytes(spec.MemoryRequest)
	pool := w.Spec.General.NodePool
	var largest *runtime.Node
	for i, n := range c.Nodes {
		if pool != "" && n.Pool != pool {
			continue
		}
		if n.GPUs >= spec.GPUDevices && n.MilliCPU >= cpu && n.MemoryBytes >= mem {
			return nil
		}
		if largest == nil || n.GPUs > largest.GPUs || n.GPUs == largest.GPUs && n.MilliCPU > largest.MilliCPU {
			largest = &c.Nodes[i]
		}
	}
	var v labspace.Invalid
	if largest == nil {
		v.Add("nodePool", "no node is in node pool %q", pool)
		return v.ErrCode(labspace.EUNPROCESSABLE)
	}
	where := largest.Name
	if largest.Pool != "" {
		where += " in pool " + largest.Pool
	}
	gpus := func(n int) string { return labspace.Count(float64(n), "GPU", "GPUs") }
	v.Add("compute", "no node can ever hold this workspace: it asks for %s, %s and %s of memory; "+
		"the largest node (%s) has %s, %s and %s", gpus(spec.GPUDevices), labspace.FormatCores(cpu), labspace.FormatMemory(mem),
		where, gpus(largest.GPUs), labspace.FormatCores(largest.MilliCPU), labspace.FormatMemory(largest.MemoryBytes))
	return v.ErrCode(labspace.EUNPROCESSABLE)
}

// withinWholeQuota refuses (422) a workspace that asks for more than its
// project's whole quota, unless it may run over quota (preemptible in a
// project that allows it): it would wait Pending forever.
func withinWholeQuota(tx store.Tx, w *labspace.Workspace) error {
	q, err := projectQuota(tx, map[string]*labspace.Quota{}, w.Project())
	if err != nil {
		return err
	}
	return fitsWholeQuota(w, q)
}

// fitsWholeQuota is withinWholeQuota with the project's quota at hand.
func fitsWholeQuota(w *labspace.Workspace, q *labspace.Quota) error {
	if w.Spec.General.Preemptible && q.OverQuota {
		return nil
	}
	over := overQuota(q, asks(w))
	if over == "" {
		return nil
	}
	milli, _ := labspace.MilliCPU(q.CPU)
	quota := map[string]string{"gpus": labspace.Count(q.GPUs, "GPU", "GPUs"),
		"cpu": labspace.Count(float64(milli)/1000, "CPU core", "CPU cores"), "memory": q.Memory + " of memory"}[over]
	return unprocessable("compute", "this workspace asks for more than project %s's whole quota of %s: it could never start; ask for less, or for a larger quota", w.Project(), quota)
}

// ComputeFit is how a compute resource would fare in a project, said
// before a workspace is created: Never when the service would refuse it
// (over the project's whole quota, or no node could ever hold it), Waits
// when it would wait for quota the project's other workspaces hold now.
type ComputeFit struct{ Never, Waits string }

// NewWorkspaceLimits is what a new workspace of a project may ask for, as
// the new-workspace page shows it before submit.
type NewWorkspaceLimits struct {
	// Computes judges each compute resource offered, by name.
	Computes map[string]ComputeFit
	// MaxGPUs is the most GPUs one workspace may ask for (-1: no bound
	// known), and MaxGPUsWhy says what sets it.
	MaxGPUs    int
	MaxGPUsWhy string
}

// CreateLimits judges compute resources and GPU counts for a new workspace
// of project (not preemptible, on any node pool) as creation would, so
// that the new-workspace page can say no before the user submits.
func (s *Service) CreateLimits(ctx context.Context, project string, computes []*labspace.ComputeResource) (*NewWorkspaceLimits, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if !canSee(a, labspace.KindProject, labspace.ProjectScope(project)) {
		return nil, labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", project)
	}
	capacity, known, err := s.capacity.read(ctx)
	if err != nil || !known {
		capacity = HostCapacity{} // unknown nodes refuse nothing, as at creation
	}
	out := &NewWorkspaceLimits{Computes: map[string]ComputeFit{}, MaxGPUs: -1}
	for _, n := range capacity.Nodes {
		if n.GPUs > out.MaxGPUs {
			out.MaxGPUs, out.MaxGPUsWhy = n.GPUs, "the largest node ("+n.Name+") has "+labspace.Count(float64(n.GPUs), "GPU", "GPUs")
		}
	}
	err = s.store.View(ctx, func(tx store.Tx) error {
		quota, err := projectQuota(tx, map[string]*labspace.Quota{}, project)
		if err != nil {
			return err
		}
		if q := int(quota.GPUs); out.MaxGPUs < 0 || q < out.MaxGPUs {
			out.MaxGPUs, out.MaxGPUsWhy = q, "project "+project+"'s whole quota is "+labspace.Count(quota.GPUs, "GPU", "GPUs")
		}
		inProject, _, _, err := readLedger(tx, projectLedger(project))
		if err != nil {
			return err
		}
		for _, c := range computes {
			w := &labspace.Workspace{Meta: labspace.Meta{Scope: labspace.ProjectScope(project)}}
			w.Spec.Compute.Spec = c.Spec
			var fit ComputeFit
			if err := feasible(w, capacity); err != nil {
				fit.Never = detail(err)
			} else if err := fitsWholeQuota(w, quota); err != nil {
				fit.Never = detail(err)
			} else if over := overQuota(quota, addTo(inProject, w)); over != "" {
				fit.Waits = quotaWait("project "+project, over, quota, inProject, asks(w))
			}
			out.Computes[c.Name] = fit
		}
		return nil
	})
	return out, err
}

// detail is an error's words for people: its first field's detail.
func detail(err error) string {
	var e *labspace.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		return e.Fields[0].Detail
	}
	return err.Error()
}
