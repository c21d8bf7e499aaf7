package main

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/runtime/kube/kubetest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// floorRound is the floor: n pods created with client-go by clients
// goroutines in a namespace of the round's own, timed from the namespace's
// creation until an informer has seen every pod Ready. The namespace is
// made inside the timed part because labspace makes its project's
// namespace at the first start too.
func floorRound(ctx context.Context, c *kubetest.Cluster, round, n, clients int) (sample, error) {
	ns := "floor-" + strconv.Itoa(round)
	// Started before the clock, as labspace's informers are started
	// before its round: LIST and WATCH of a namespace not made yet.
	w, err := watchNamespace(c, ns, n)
	if err != nil {
		return sample{}, err
	}
	defer w.stop()
	quiet(c)
	s, err := measure(c.Pids(), 0, func() error {
		t0 := time.Now()
		if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		// The ServiceAccount admission plugin refuses pods until the
		// controller manager has made the namespace's default account.
		if err := w.await(w.account, "the default service account"); err != nil {
			return err
		}
		benchkit.Progress("namespace %s and its service account made in %s", ns, time.Since(t0).Round(time.Millisecond))
		err := parallel(n, clients, func(i int) error {
			_, err := c.Client.CoreV1().Pods(ns).Create(ctx, floorPod(ns, i), metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		benchkit.Progress("all %d created in %s", n, time.Since(t0).Round(time.Millisecond))
		return w.await(w.allReady, "every pod Ready")
	})
	if err == nil {
		err = dropNamespace(ctx, c, ns)
	}
	return s, err
}

// floorPod is the pod labspace would make, bare: one container asking
// for the same CPU and memory as the benchmark's compute resource.
func floorPod(ns string, i int) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p" + strconv.Itoa(i), Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: "example.com/tool:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("16Mi")}}}}}}
}

// nsWatch follows a namespace's pods and service accounts through
// informers, counting Ready pods as the events arrive.
type nsWatch struct {
	ready    atomic.Int64
	account  chan struct{} // closed once the default service account exists
	allReady chan struct{} // closed once n pods have been Ready
	done     chan struct{}
	f        informers.SharedInformerFactory
}

func watchNamespace(c *kubetest.Cluster, ns string, n int) (*nsWatch, error) {
	w := &nsWatch{account: make(chan struct{}), allReady: make(chan struct{}), done: make(chan struct{})}
	f := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	w.f = f
	// Handlers of one informer run one at a time: seen needs no lock.
	seen := map[string]bool{}
	pod := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || seen[p.Name] || !podReady(p) {
			return
		}
		seen[p.Name] = true
		if w.ready.Add(1) == int64(n) {
			close(w.allReady)
		}
	}
	_, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: pod, UpdateFunc: func(_, obj any) { pod(obj) }})
	if err != nil {
		return nil, err
	}
	found := false
	_, err = f.Core().V1().ServiceAccounts().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == "default" && !found {
			found = true
			close(w.account)
		}
	}})
	if err != nil {
		return nil, err
	}
	f.Start(w.done)
	for typ, ok := range f.WaitForCacheSync(w.done) {
		if !ok {
			w.stop()
			return nil, errors.New("informer of " + typ.String() + " in " + ns + " did not sync")
		}
	}
	return w, nil
}

// await waits until ch is closed, saying every second how many pods are Ready.
func (w *nsWatch) await(ch chan struct{}, what string) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case <-ch:
			return nil
		case <-t.C:
			benchkit.Progress("%d pods Ready", w.ready.Load())
		case <-timeout:
			return errors.New("no " + what + " within 5m")
		}
	}
}

func (w *nsWatch) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
		w.f.Shutdown()
	}
}

func podReady(p *corev1.Pod) bool {
	for _, cd := range p.Status.Conditions {
		if cd.Type == corev1.PodReady {
			return cd.Status == corev1.ConditionTrue
		}
	}
	return false
}
