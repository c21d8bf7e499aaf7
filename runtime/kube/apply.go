package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Apply creates what w lacks: its namespace (or adopts it), Secrets,
// claims, Service and Pod. Objects that exist are left alone, except
// Secrets, which take the credentials' current values.
func (r *Runtime) Apply(ctx context.Context, w *labspace.Workspace) error {
	in, err := r.opts.Inputs(ctx, w)
	if err != nil {
		return err
	}
	if err := r.ensureNamespace(ctx, in.Namespace, w.Project(), higher(r.opts.PodSecurity, PodSecurityLevel(w))); err != nil {
		return refusal(err)
	}
	err = r.apply(ctx, w, in)
	if apierrors.IsNotFound(err) || err != nil && strings.Contains(err.Error(), "is being terminated") {
		// The namespace went away behind labspace's back: make it again next time.
		r.mu.Lock()
		delete(r.ensured, in.Namespace)
		r.mu.Unlock()
	}
	return refusal(err)
}

// apply writes what is missing, Secrets and claims first: the kubelet
// starts the pod only once what it mounts exists.
func (r *Runtime) apply(ctx context.Context, w *labspace.Workspace, in *runtime.Inputs) error {
	wl := build(w, in, &r.opts)
	core := r.client.CoreV1()
	for _, s := range wl.secrets {
		if r.holds(w.ID, s) {
			continue // same contents as this start's: no write
		}
		// Created at a workspace's first start; updated when the
		// credentials changed between starts.
		_, err := core.Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			_, err = core.Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		}
		if err != nil {
			return err
		}
	}
	for _, c := range wl.claims {
		if r.has(r.claims, w.ID, c.Name) {
			continue
		}
		if _, err := core.PersistentVolumeClaims(c.Namespace).Create(ctx, c, metav1.CreateOptions{}); ignoreExists(err) != nil {
			return err
		}
	}
	// The service and the pod do not wait on each other: made side by side.
	svcErr := make(chan error, 1)
	go func() {
		s := wl.service
		if s == nil || r.has(r.services, w.ID, s.Name) {
			svcErr <- nil
			return
		}
		_, err := core.Services(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		svcErr <- ignoreExists(err)
	}()
	podErr := r.createPod(ctx, w, wl.pod)
	return errors.Join(podErr, <-svcErr)
}

// holds reports whether the cluster has Secret s with the contents s
// has, as the Secrets' informer last saw it.
func (r *Runtime) holds(id string, s *corev1.Secret) bool {
	objs, _ := r.secrets.GetIndexer().ByIndex(byWorkspace, id)
	for _, o := range objs {
		m, ok := o.(metav1.Object)
		if ok && m.GetName() == s.Name && m.GetNamespace() == s.Namespace && m.GetDeletionTimestamp() == nil {
			return m.GetAnnotations()[AnnotationContent] == s.Annotations[AnnotationContent]
		}
	}
	return false
}

// createPod creates pod unless the informer holds it already.
func (r *Runtime) createPod(ctx context.Context, w *labspace.Workspace, pod *corev1.Pod) error {
	if r.has(r.pods, w.ID, pod.Name) {
		return nil
	}
	_, err := r.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err == nil {
		r.mu.Lock()
		r.made[w.ID] = madePod{namespace: pod.Namespace, name: pod.Name, at: time.Now()}
		r.mu.Unlock()
	}
	return ignoreExists(err)
}

// has reports whether informer inf holds object name of workspace id
// (not being deleted).
func (r *Runtime) has(inf cache.SharedIndexInformer, id, name string) bool {
	objs, _ := inf.GetIndexer().ByIndex(byWorkspace, id)
	for _, o := range objs {
		if m, ok := o.(metav1.Object); ok && m.GetName() == name && m.GetDeletionTimestamp() == nil {
			return true
		}
	}
	return false
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// ensureNamespace creates the project's namespace, or adopts an existing
// one by labelling it (it is never deleted: it may hold what is not ours),
// with Pod Security admission enforcing level (or a looser level it
// already has) and the network policies of security.go.
func (r *Runtime) ensureNamespace(ctx context.Context, name, project, level string) error {
	r.mu.Lock()
	done, ok := r.ensured[name]
	r.mu.Unlock()
	if ok && higher(done, level) == done {
		return nil
	}
	nss := r.client.CoreV1().Namespaces()
	ns, err := nss.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: ManagedBy,
			LabelProject: project, LabelEnforce: level, LabelEnforceVersion: "latest"}}}
		_, err = nss.Create(ctx, ns, metav1.CreateOptions{})
		err = ignoreExists(err)
	case err == nil:
		if cur := ns.Labels[LabelEnforce]; cur != "" && levelRank[cur] > levelRank[level] {
			level = cur // an administrator loosened it: not ours to tighten
		}
		if ns.Labels[LabelProject] != project || ns.Labels[LabelEnforce] != level {
			patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q,%q:%q,%q:"latest"}}}`, LabelProject, project,
				LabelEnforce, level, LabelEnforceVersion)
			_, err = nss.Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
		}
	}
	if err == nil {
		err = r.ensurePolicies(ctx, name)
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.ensured[name] = level
	r.mu.Unlock()
	return nil
}

// Stop deletes w's pod; its claims, Secrets and Service stay for the next start.
func (r *Runtime) Stop(ctx context.Context, w *labspace.Workspace) error {
	r.forget(w.ID)
	for _, p := range of[*corev1.Pod](r.pods, w.ID) {
		if p.DeletionTimestamp != nil {
			continue
		}
		err := r.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}

// Delete removes everything labelled with w's id, each kind by label,
// in every namespace where the informers saw one of its objects. (The
// anchor ConfigMaps that owned a workspace's objects in earlier versions
// go the same way.)
func (r *Runtime) Delete(ctx context.Context, w *labspace.Workspace) error {
	r.forget(w.ID)
	namespaces := map[string]bool{}
	for _, inf := range r.ours() {
		for _, o := range of[metav1.Object](inf, w.ID) {
			namespaces[o.GetNamespace()] = true
		}
	}
	sel := metav1.ListOptions{LabelSelector: r.opts.selector(w.ID)}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	core := r.client.CoreV1()
	for ns := range namespaces {
		steps := []func() error{
			func() error { return core.Pods(ns).DeleteCollection(ctx, del, sel) },
			func() error { return deleteServices(ctx, r, ns, w.ID) },
			func() error { return core.Secrets(ns).DeleteCollection(ctx, del, sel) },
			func() error { return core.PersistentVolumeClaims(ns).DeleteCollection(ctx, del, sel) },
			func() error { return core.ConfigMaps(ns).DeleteCollection(ctx, del, sel) },
		}
		for _, step := range steps {
			if err := step(); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// deleteServices deletes one by one: Services have no collection delete.
func deleteServices(ctx context.Context, r *Runtime, ns, id string) error {
	for _, s := range of[*corev1.Service](r.services, id) {
		if s.Namespace != ns || s.DeletionTimestamp != nil {
			continue
		}
		if err := r.client.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// Logs streams the workspace container's output from the cluster.
func (r *Runtime) Logs(ctx context.Context, w *labspace.Workspace, follow bool) (io.ReadCloser, error) {
	for _, p := range of[*corev1.Pod](r.pods, w.ID) {
		if p.DeletionTimestamp == nil {
			return r.client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: "workspace", Follow: follow}).Stream(ctx)
		}
	}
	return io.NopCloser(strings.NewReader("")), nil
}

// forget drops what this process remembers of w's pod.
func (r *Runtime) forget(id string) {
	r.mu.Lock()
	delete(r.made, id)
	r.mu.Unlock()
}
