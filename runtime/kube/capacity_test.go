package kube

import (
	"fmt"
	"testing"
	"time"

	"github.com/labspace/labspace/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func testNode(name string, gpus int) *corev1.Node {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("64Gi"),
		GPUResource: *resource.NewQuantity(int64(gpus), resource.DecimalSI)}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelNodePool: "a100"}},
		Status: corev1.NodeStatus{Allocatable: alloc, Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}}}
}

// nodeCache is a node informer's store and the capacity fed by it, the
// store changed before the handler is told, as an informer does.
type nodeCache struct {
	store cache.Store
	c     *capacity
	h     cache.ResourceEventHandler
	built int
}

func newNodeCache(nodes ...*corev1.Node) *nodeCache {
	nc := &nodeCache{store: cache.NewStore(cache.MetaNamespaceKeyFunc)}
	nc.c = &capacity{list: func() []any { nc.built++; return nc.store.List() }}
	nc.h = nc.c.handler()
	for _, n := range nodes {
		nc.add(n)
	}
	return nc
}

func (nc *nodeCache) add(n *corev1.Node) {
	_ = nc.store.Add(n)
	nc.h.OnAdd(n, false)
}

func (nc *nodeCache) update(name string, change func(n *corev1.Node)) {
	o, _, _ := nc.store.GetByKey(name)
	old := o.(*corev1.Node)
	n := old.DeepCopy()
	change(n)
	_ = nc.store.Update(n)
	nc.h.OnUpdate(old, n)
}

// A cordon, a node going NotReady, a new node and a deleted one show at the
// next read; a heartbeat, which changes nothing labspace sums, does not
// make the nodes be walked again.
func TestCapacityFollowsTheNodes(t *testing.T) {
	nc := newNodeCache(testNode("gpu-1", 2), testNode("gpu-2", 2))
	if got := nc.c.get(); got.MilliCPU != 16000 || len(got.Nodes) != 2 || !got.Scheduled {
		t.Fatalf("two ready nodes: %+v", got)
	}
	nc.update("gpu-1", func(n *corev1.Node) {
		n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(time.Now().Add(time.Minute))
	})
	nc.c.get()
	if nc.built != 1 {
		t.Errorf("a heartbeat had the nodes walked again (%d walks)", nc.built)
	}

	nc.update("gpu-1", func(n *corev1.Node) { n.Spec.Unschedulable = true })
	got := nc.c.get()
	if got.MilliCPU != 8000 || unavailable(got.Nodes, "gpu-1") != "cordoned" {
		t.Errorf("gpu-1 cordoned: %+v", got)
	}
	nc.update("gpu-2", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse })
	got = nc.c.get()
	if got.MilliCPU != 0 || unavailable(got.Nodes, "gpu-2") != "not ready" || len(got.Nodes) != 2 {
		t.Errorf("gpu-1 cordoned, gpu-2 not ready: %+v", got)
	}
	nc.update("gpu-2", func(n *corev1.Node) {
		n.Status.Allocatable[GPUResource] = *resource.NewQuantity(8, resource.DecimalSI)
	})
	if got := nc.c.get(); got.Nodes[1].GPUs+got.Nodes[0].GPUs != 10 {
		t.Errorf("gpu-2 now has 8 GPUs: %+v", got.Nodes)
	}
	nc.add(testNode("gpu-3", 4))
	_ = nc.store.Delete(testNode("gpu-1", 2))
	nc.h.OnDelete(testNode("gpu-1", 2))
	got = nc.c.get()
	if len(got.Nodes) != 2 || unavailable(got.Nodes, "gpu-1") != "gone" || got.MilliCPU != 8000 {
		t.Errorf("gpu-3 added, gpu-1 deleted: %+v", got)
	}
}

func unavailable(nodes []runtime.Node, name string) string {
	for _, n := range nodes {
		if n.Name == name {
			return n.Unavailable
		}
	}
	return "gone"
}

// BenchmarkCapacity reads the capacity of a thousand nodes as each
// admission does: kept between changes against walked every time (the
// code before).
func BenchmarkCapacity(b *testing.B) {
	var nodes []*corev1.Node
	for i := range 1000 {
		nodes = append(nodes, testNode(fmt.Sprintf("node-%d", i), 8))
	}
	nc := newNodeCache(nodes...)
	b.Run("walked", func(b *testing.B) {
		for b.Loop() {
			nc.c.build()
		}
	})
	b.Run("kept", func(b *testing.B) {
		for b.Loop() {
			nc.c.get()
		}
	})
}
