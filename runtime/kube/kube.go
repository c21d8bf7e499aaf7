// Package kube runs workspaces on Kubernetes: a project is a namespace, a
// workspace a Pod (with Secrets for its tool token and credentials, claims
// for new volumes, a Service for tools reached without the proxy), all
// labelled with the workspace's id: delete and the orphan sweep find them
// by that label, so no owner object is written per workspace. What the
// cluster does is read from informers, never polled.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Options configure the Kubernetes runtime.
type Options struct {
	Config *rest.Config
	// Inputs returns a workspace's namespace and opened credentials.
	Inputs func(ctx context.Context, w *labspace.Workspace) (*runtime.Inputs, error)
	Logger *slog.Logger
	// GitImage and S3Image run the init containers of git and s3 data sources.
	GitImage, S3Image string
	// Instance labels every object of this installation; it sees and
	// removes only those (several installations may share a cluster).
	Instance string
	// ToolKey derives each workspace's tool token (runtime.ToolToken).
	ToolKey []byte
	// PodSecurity is the least Pod Security level of the namespaces labspace
	// creates (default restricted); a workspace whose permitted settings need
	// a looser one raises its namespace to it.
	PodSecurity string
	// ProxyNamespace is where labspace runs, the only namespace whose pods
	// reach workspaces (default: its own pod's, else "labspace");
	// ProxyPeers, when set, replaces that rule (labspace outside the cluster).
	ProxyNamespace string
	ProxyPeers     []networkingv1.NetworkPolicyPeer
	// MetricsURL is a Prometheus (or compatible) API with NVIDIA's DCGM
	// exporter's and the kubelets' series, for what workloads use (idle
	// rules, /metrics); the queries give each pod's figure (use.go).
	MetricsURL                      string
	GPUQuery, CPUQuery, MemoryQuery string
}

// Runtime is the Kubernetes runtime.
type Runtime struct {
	opts   Options
	client kubernetes.Interface
	log    *slog.Logger
	stop   context.CancelFunc

	pods, services, claims, nodes cache.SharedIndexInformer
	// secrets sees only the metadata of labspace's Secrets (never their
	// values): whether a start must write one, and what a sweep must remove.
	secrets cache.SharedIndexInformer

	mu       sync.Mutex
	watchers []func(string, bool)
	ensured  map[string]string // namespaces known to exist, with the level set
	// made are the pods this process created lately, by workspace id,
	// until the informer shows them: a pass right after a start then
	// needs no LIST to learn that the pod exists.
	made map[string]madePod
	// meters read what workloads use from Prometheus (use.go); nil without one.
	meters *meters

	capacity capacity
}

type madePod struct {
	namespace, name string
	at              time.Time
}

// informerLag is how long a pod just made may be missing from the
// informer's cache before the API server is asked.
const informerLag = 10 * time.Second

const byWorkspace = "workspace"

// The content types of labspace's requests to the API server.
const (
	ContentType        = "application/vnd.kubernetes.protobuf"
	AcceptContentTypes = ContentType + ",application/json"
)

// New connects to the cluster and starts the informers; it returns once
// their caches are filled.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if _, ok := levelRank[opts.PodSecurity]; opts.PodSecurity != "" && !ok {
		return nil, fmt.Errorf("pod security level must be restricted, baseline or privileged (got %q)", opts.PodSecurity)
	}
	if opts.PodSecurity == "" {
		opts.PodSecurity = LevelRestricted
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.GitImage == "" {
		opts.GitImage = DefaultGitImage
	}
	if opts.S3Image == "" {
		opts.S3Image = DefaultS3Image
	}
	cfg := rest.CopyConfig(opts.Config)
	cfg.QPS, cfg.Burst = 500, 1000 // starts come in bursts, of two writes each
	// Protobuf, as the cluster's own components speak: cheaper to encode
	// for the API server, for every object sent and every watch event.
	cfg.ContentType, cfg.AcceptContentTypes = ContentType, AcceptContentTypes
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &Runtime{opts: opts, client: client, log: opts.Logger, stop: stop, ensured: map[string]string{}, made: map[string]madePod{}}
	r.meters = newMeters(opts)
	ours := informers.NewSharedInformerFactoryWithOptions(client, 10*time.Minute,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = opts.selector("") }))
	r.pods = ours.Core().V1().Pods().Informer()
	r.services = ours.Core().V1().Services().Informer()
	r.claims = ours.Core().V1().PersistentVolumeClaims().Informer()
	metas := metadatainformer.NewFilteredSharedInformerFactory(meta, 10*time.Minute, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.LabelSelector = opts.selector("") })
	r.secrets = metas.ForResource(corev1.SchemeGroupVersion.WithResource("secrets")).Informer()
	all := informers.NewSharedInformerFactory(client, 10*time.Minute)
	r.nodes = all.Core().V1().Nodes().Informer()
	if err := r.prepare(); err != nil {
		stop()
		return nil, err
	}
	ours.Start(ctx.Done())
	metas.Start(ctx.Done())
	all.Start(ctx.Done())
	for _, inf := range append(r.ours(), r.nodes) {
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			stop()
			return nil, errors.New("kubernetes: informer caches did not sync")
		}
	}
	return r, nil
}

// Close stops the informers.
func (r *Runtime) Close() { r.stop() }

// ours are the informers of the objects labspace makes.
func (r *Runtime) ours() []cache.SharedIndexInformer {
	return []cache.SharedIndexInformer{r.pods, r.services, r.claims, r.secrets}
}

// prepare indexes the informers by workspace and has the ones whose
// objects make a workspace's phase (not its Secrets) say when they change.
func (r *Runtime) prepare() error {
	if err := r.nodes.SetTransform(lean); err != nil {
		return err
	}
	r.capacity.list = r.nodes.GetStore().List
	if _, err := r.nodes.AddEventHandler(r.capacity.handler()); err != nil {
		return err
	}
	for _, inf := range r.ours() {
		if err := inf.SetTransform(lean); err != nil {
			return err
		}
		if err := inf.AddIndexers(cache.Indexers{byWorkspace: workspaceIndex}); err != nil {
			return err
		}
		if inf == r.secrets {
			continue
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { r.changed(o, false) },
			DeleteFunc: func(o any) { r.changed(o, true) },
			UpdateFunc: func(old, o any) { r.changed(o, settled(old, o)) }}); err != nil {
			return err
		}
	}
	return nil
}

// lean drops what labspace never reads from the objects its informers
// keep (managed fields are most of a small object's size).
func lean(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

func workspaceIndex(obj any) ([]string, error) {
	if m, ok := obj.(metav1.Object); ok {
		if id := m.GetLabels()[LabelWorkspaceID]; id != "" {
			return []string{id}, nil
		}
	}
	return nil, nil
}

// Watch registers changed to hear of every change to a workspace's objects.
func (r *Runtime) Watch(changed func(workspaceID string, settled bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchers = append(r.watchers, changed)
}

func (r *Runtime) changed(obj any, settled bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	ids, _ := workspaceIndex(obj)
	r.mu.Lock()
	ws := r.watchers
	r.mu.Unlock()
	for _, id := range ids {
		for _, f := range ws {
			f(id, settled)
		}
	}
}

// settled reports whether a pod's update is one a workspace's phase
// follows: it became ready or stopped being so, it ended or broke for
// good, or it is being deleted (runtime.Watcher).
func settled(old, cur any) bool {
	o, ok1 := old.(*corev1.Pod)
	p, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 {
		return false
	}
	ended := func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
	}
	brokeOld, _ := broken(o)
	brokeNew, _ := broken(p)
	return podReady(o) != podReady(p) || ended(o) != ended(p) || brokeOld != brokeNew ||
		(o.DeletionTimestamp == nil) != (p.DeletionTimestamp == nil)
}

func podReady(p *corev1.Pod) bool {
	c := condition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

// of lists the objects of workspace id that informer inf holds.
func of[T any](inf cache.SharedIndexInformer, id string) []T {
	objs, _ := inf.GetIndexer().ByIndex(byWorkspace, id)
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Observe reports w's pod as the informers last saw it.
func (r *Runtime) Observe(ctx context.Context, w *labspace.Workspace) (runtime.Observation, error) {
	pod := current(of[*corev1.Pod](r.pods, w.ID))
	r.mu.Lock()
	made, isMade := r.made[w.ID]
	if pod != nil || !w.Holds() {
		delete(r.made, w.ID)
	}
	r.mu.Unlock()
	if pod == nil && w.Holds() && isMade && time.Since(made.at) < informerLag {
		// Made a moment ago; the informer has not shown it yet.
		pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: made.name, Namespace: made.namespace, CreationTimestamp: metav1.NewTime(made.at)}}
		return observe(w, pod, ""), nil
	}
	if pod == nil && w.Holds() {
		// An admitted workspace should have a pod: ask the API server
		// before believing the cache, which can lag for up to a minute
		// after an outage (the informers' back-off).
		ns := ""
		if isMade {
			ns = made.namespace
		}
		list, err := r.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: r.opts.selector(w.ID), ResourceVersion: "0"})
		if err == nil {
			pods := make([]*corev1.Pod, len(list.Items))
			for i := range list.Items {
				pods[i] = &list.Items[i]
			}
			pod = current(pods)
		}
	}
	return observe(w, pod, r.missing(ctx, w, pod)), nil
}

// current is the pod that is not being deleted, else any.
func current(pods []*corev1.Pod) *corev1.Pod {
	var pod *corev1.Pod
	for _, p := range pods {
		if pod == nil || p.DeletionTimestamp == nil {
			pod = p
		}
	}
	return pod
}

// missing says what a running pod of w lost: its service, or a claim.
// What the informers miss is confirmed with the API server first: after
// an outage their caches can lag behind for a while.
func (r *Runtime) missing(ctx context.Context, w *labspace.Workspace, pod *corev1.Pod) string {
	if pod == nil {
		return ""
	}
	if svc := service(w, pod.Namespace, baseName(w)); svc != nil {
		ok := false
		for _, s := range of[*corev1.Service](r.services, w.ID) {
			ok = ok || s.DeletionTimestamp == nil
		}
		if !ok {
			got, err := r.client.CoreV1().Services(pod.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
			if err != nil && apierrors.IsNotFound(err) || err == nil && got.DeletionTimestamp != nil {
				return "The service of its tools is gone; putting it back."
			}
		}
	}
	claims := map[string]bool{}
	for _, c := range of[*corev1.PersistentVolumeClaim](r.claims, w.ID) {
		claims[c.Name] = c.DeletionTimestamp == nil && c.Status.Phase != corev1.ClaimLost
	}
	for _, v := range pod.Spec.Volumes {
		if c := v.PersistentVolumeClaim; c != nil {
			if ok, ours := claims[c.ClaimName]; ours && !ok || !ours && isOurClaim(w, c.ClaimName) {
				got, err := r.client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, c.ClaimName, metav1.GetOptions{})
				if err != nil && !apierrors.IsNotFound(err) || err == nil && got.DeletionTimestamp == nil && got.Status.Phase != corev1.ClaimLost {
					continue // the cache lags (or the API is away): no verdict
				}
				return fmt.Sprintf("Volume %s (claim %s) is gone or lost.", v.Name, c.ClaimName)
			}
		}
	}
	return ""
}

// isOurClaim tells a claim labspace made for w (named after it) from one
// that existed before.
func isOurClaim(w *labspace.Workspace, claim string) bool {
	for _, d := range w.Spec.DataSources {
		if d.Spec.PVC != nil && d.Spec.PVC.New != nil && baseName(w)+"-"+d.From.Name == claim {
			return true
		}
	}
	return false
}

// Workloads lists the workspaces that have any object in the cluster.
func (r *Runtime) Workloads(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var ids []string
	for _, inf := range r.ours() {
		for _, id := range inf.GetIndexer().ListIndexFuncValues(byWorkspace) {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}
