package kubebench

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
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

// floorPod is the pod labspace would make, bare: one container asking
// for the same CPU and memory as the benchmarks' compute resource.
func floorPod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: "example.com/tool:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("16Mi")}}}}}}
}

// Watch says which pods a PodWatch counts and how it waits.
type Watch struct {
	Namespace string               // only this namespace; "" for all
	Selector  string               // label selector of the pods; "" for all
	Keep      func(ns string) bool // which namespaces' pods count; nil for all
	Pods      int                  // AllReady closes once this many have been Ready
	// Accounts, when above 0, is how many namespaces named with
	// AccountPrefix must have their default service account before
	// Accounts closes: admission refuses pods until then.
	Accounts      int
	AccountPrefix string
	// Await (and Floor) need Within and SayEvery; Say begins their
	// progress lines.
	Within   time.Duration // how long Await waits
	SayEvery time.Duration // how often Await says how many pods are Ready
	Say      string
}

// PodWatch follows pods through informers, counting Ready ones as the
// events arrive (nothing polls), and, for the floor, service accounts.
type PodWatch struct {
	Ready    atomic.Int64
	ReadyAt  time.Time     // when the last pod needed was Ready; read after AllReady
	Accounts chan struct{} // closed once the service accounts exist
	AllReady chan struct{} // closed once enough pods have been Ready
	o        Watch
	done     chan struct{}
	once     sync.Once
	fs       []informers.SharedInformerFactory
}

// WatchPods starts the informers and returns once they have synced.
func WatchPods(c *kubetest.Cluster, o Watch) (*PodWatch, error) {
	w := &PodWatch{Accounts: make(chan struct{}), AllReady: make(chan struct{}), done: make(chan struct{}), o: o}
	pods := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.Selector }))
	w.fs = []informers.SharedInformerFactory{pods}
	// Handlers of one informer run one at a time: the maps need no lock.
	seen := map[string]bool{}
	pod := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || (o.Keep != nil && !o.Keep(p.Namespace)) || seen[p.Namespace+"/"+p.Name] || !podReady(p) {
			return
		}
		seen[p.Namespace+"/"+p.Name] = true
		if w.Ready.Add(1) == int64(o.Pods) {
			w.ReadyAt = time.Now()
			close(w.AllReady)
		}
	}
	_, err := pods.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: pod, UpdateFunc: func(_, obj any) { pod(obj) }})
	if err != nil {
		return nil, err
	}
	if o.Accounts > 0 {
		all := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(o.Namespace))
		w.fs = append(w.fs, all)
		found := map[string]bool{}
		_, err = all.Core().V1().ServiceAccounts().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
			sa, ok := obj.(*corev1.ServiceAccount)
			if !ok || sa.Name != "default" || !strings.HasPrefix(sa.Namespace, o.AccountPrefix) || found[sa.Namespace] {
				return
			}
			found[sa.Namespace] = true
			if len(found) == o.Accounts {
				close(w.Accounts)
			}
		}})
		if err != nil {
			return nil, err
		}
	}
	for _, f := range w.fs {
		f.Start(w.done)
		for typ, ok := range f.WaitForCacheSync(w.done) {
			if !ok {
				w.Stop()
				return nil, errors.New("informer of " + typ.String() + " did not sync")
			}
		}
	}
	return w, nil
}

// Await waits until ch is closed, saying how many pods are Ready.
func (w *PodWatch) Await(ch chan struct{}, what string) error {
	t := time.NewTicker(w.o.SayEvery)
	defer t.Stop()
	timeout := time.After(w.o.Within)
	for {
		select {
		case <-ch:
			return nil
		case <-t.C:
			benchkit.Progress("%s%d pods Ready", w.o.Say, w.Ready.Load())
		case <-timeout:
			return errors.New("no " + what + " within " + w.o.Within.String())
		}
	}
}

// Stop ends the informers; it may be called more than once.
func (w *PodWatch) Stop() {
	w.once.Do(func() {
		close(w.done)
		for _, f := range w.fs {
			f.Shutdown()
		}
	})
}

func podReady(p *corev1.Pod) bool {
	for _, cd := range p.Status.Conditions {
		if cd.Type == corev1.PodReady {
			return cd.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Floor is the floor's timed part: it makes the namespaces nss (with
// labels), waits for their default service accounts (w must watch them),
// then creates n bare pods spread over them from clients goroutines and
// waits until w has seen every one Ready.
func Floor(ctx context.Context, c *kubetest.Cluster, w *PodWatch, nss []string, n, clients int, labels map[string]string) error {
	t0 := time.Now()
	err := Parallel(len(nss), clients, func(i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nss[i], Labels: labels}}
		_, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	// The ServiceAccount admission plugin refuses pods until the
	// controller manager (20 requests/s by default) has made each
	// namespace's default account.
	if err := w.Await(w.Accounts, "every default service account"); err != nil {
		return err
	}
	if len(nss) == 1 {
		benchkit.Progress("%snamespace %s and its service account made in %s", w.o.Say, nss[0], time.Since(t0).Round(time.Millisecond))
	} else {
		benchkit.Progress("%s%d namespaces and their service accounts in %s", w.o.Say, len(nss), time.Since(t0).Round(time.Millisecond))
	}
	err = Parallel(n, clients, func(i int) error {
		ns := nss[i%len(nss)]
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, floorPod(ns, "p"+strconv.Itoa(i), labels), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	benchkit.Progress("%sall %d pods created in %s", w.o.Say, n, time.Since(t0).Round(time.Millisecond))
	return w.Await(w.AllReady, "every pod Ready")
}
