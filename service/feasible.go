package service

import (
	"context"
	"fmt"
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
	if w.Spec.General.Preemptible && q.OverQuota {
		return nil
	}
	var need usage
	need.add(w)
	over := overQuota(q, need)
	if over == "" {
		return nil
	}
	quota := map[string]string{"gpus": fmt.Sprintf("%g GPUs", q.GPUs), "cpu": q.CPU + " CPU cores", "memory": q.Memory + " of memory"}[over]
	return unprocessable("compute", "this workspace asks for more than project %s's whole quota of %s: it could never start; ask for less, or for a larger quota", w.Project(), quota)
}
