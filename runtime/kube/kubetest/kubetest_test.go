package kubetest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace/runtime/kube/kubetest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const settle = 60 * time.Second

// The harness gives a real control plane: the scheduler places pods on
// kwok's nodes, refuses a GPU request no node holds with the scheduler's
// own message, and the API server can be stopped and brought back.
func TestControlPlane(t *testing.T) {
	if why := kubetest.Available(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	ctx := context.Background()
	c, err := kubetest.Start(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	create(t, c, "small", nil)
	p := waitPod(t, c, "small", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if !strings.HasPrefix(p.Spec.NodeName, "cpu-") && !strings.HasPrefix(p.Spec.NodeName, "gpu-") {
		t.Errorf("scheduled on %q", p.Spec.NodeName)
	}
	create(t, c, "two-gpus", corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2")})
	if p := waitPod(t, c, "two-gpus", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }); !strings.HasPrefix(p.Spec.NodeName, "gpu-") {
		t.Errorf("a GPU pod on %q", p.Spec.NodeName)
	}
	create(t, c, "four-gpus", corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("4")})
	waitPod(t, c, "four-gpus", func(p *corev1.Pod) bool {
		for _, cd := range p.Status.Conditions {
			if cd.Type == corev1.PodScheduled && cd.Reason == "Unschedulable" && strings.Contains(cd.Message, "Insufficient nvidia.com/gpu") {
				return true
			}
		}
		return false
	})

	c.StopAPIServer()
	if _, err := c.Client.CoreV1().Pods("default").Get(ctx, "small", metav1.GetOptions{}); err == nil {
		t.Fatal("the API server answers while stopped")
	}
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "small", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	// A running pod marked NotReady (as the node lifecycle controller does
	// to the pods of a node it lost) is reported Ready again, as a kubelet
	// would.
	p = waitPod(t, c, "small", func(p *corev1.Pod) bool { return ready(p) })
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			p.Status.Conditions[i].Status, p.Status.Conditions[i].Reason = corev1.ConditionFalse, "NodeNotReady"
		}
	}
	if _, err := c.Client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "small", func(p *corev1.Pod) bool { return ready(p) })
}

func ready(p *corev1.Pod) bool {
	for _, cd := range p.Status.Conditions {
		if cd.Type == corev1.PodReady {
			return cd.Status == corev1.ConditionTrue
		}
	}
	return false
}

func create(t *testing.T, c *kubetest.Cluster, name string, limits corev1.ResourceList) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/tool",
			Resources: corev1.ResourceRequirements{Limits: limits, Requests: limits}}}}}
	if _, err := c.Client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitPod(t *testing.T, c *kubetest.Cluster, name string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		p, err := c.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s never got there: %v %+v\nscheduler: %s", name, err, p.Status, c.Logs("kube-scheduler"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
