package kube

import (
	"context"
	"sync"

	"github.com/labspace/labspace/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// capacity is the cluster's nodes summed up, kept until the node informer
// reports a change that matters: every admission asks for it, and walking
// a thousand nodes per admission was a sixth of labspace's CPU while ten
// thousand workspaces started. Heartbeats, which change nothing it sums,
// keep it.
type capacity struct {
	list func() []any // the node informer's objects

	mu    sync.Mutex
	gen   uint64 // bumped by every change that matters
	built uint64 // the gen sum was built at
	sum   *runtime.Capacity
}

// handler is what the node informer calls; it runs after the informer's
// store holds the change, so a summary built later sees it.
func (c *capacity) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.invalidate() },
		DeleteFunc: func(any) { c.invalidate() },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || summary(o) != summary(n) {
				c.invalidate()
			}
		},
	}
}

func (c *capacity) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
}

// get returns the summary, built again only after a change. Its Nodes are
// shared between callers, who only read them.
func (c *capacity) get() runtime.Capacity {
	c.mu.Lock()
	if c.sum != nil && c.built == c.gen {
		defer c.mu.Unlock()
		return *c.sum
	}
	gen := c.gen
	c.mu.Unlock()
	sum := c.build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen { // no change came while building
		c.sum, c.built = &sum, gen
	}
	return sum
}

// build sums the nodes: the totals are what the ready, schedulable ones
// can hold. A cordoned or NotReady node is maintenance, not a smaller
// cluster: it is still listed, to decide whether a request could ever fit.
func (c *capacity) build() runtime.Capacity {
	sum := runtime.Capacity{Scheduled: true}
	for _, o := range c.list() {
		n, ok := o.(*corev1.Node)
		if !ok {
			continue
		}
		node := summary(n)
		if node.Unavailable == "" {
			sum.MilliCPU += node.MilliCPU
			sum.MemoryBytes += node.MemoryBytes
		}
		sum.Nodes = append(sum.Nodes, node)
	}
	return sum
}

// summary is what labspace reads of a node.
func summary(n *corev1.Node) runtime.Node {
	a := n.Status.Allocatable
	gpus := a[GPUResource]
	node := runtime.Node{Name: n.Name, Pool: n.Labels[LabelNodePool], GPUs: int(gpus.Value()),
		MilliCPU: quantity(a, corev1.ResourceCPU, true), MemoryBytes: quantity(a, corev1.ResourceMemory, false)}
	switch {
	case n.Spec.Unschedulable:
		node.Unavailable = "cordoned"
	case !nodeReady(n):
		node.Unavailable = "not ready"
	}
	return node
}

// Capacity is the cluster's nodes summed up (see capacity).
func (r *Runtime) Capacity(ctx context.Context) (runtime.Capacity, error) {
	return r.capacity.get(), nil
}

func quantity(l corev1.ResourceList, name corev1.ResourceName, milli bool) int64 {
	q, ok := l[name]
	if !ok {
		return 0
	}
	if milli {
		return q.MilliValue()
	}
	return q.Value()
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
