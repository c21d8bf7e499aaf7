package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/labspace/labspace/runtime/kube"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Review finding S5 on the test cluster: a researcher's privileged
// settings are refused by labspace's API; the namespace labspace makes
// enforces the restricted Pod Security level, so that a privileged pod
// created there directly is refused by the API server itself; the
// workspace's pod is restricted and mounts no token; and the namespace's
// network policies let only labspace's namespace (and, for a shared
// workspace, the project's own workspaces) reach workspace pods.
func TestKubeWorkspacesAreNoWayOut(t *testing.T) {
	s, c := kubeServer(t, "secure")
	ctx := context.Background()
	kubeBlocks(s, freePort(t))
	s.project("secure", map[string]any{"gpus": 2})
	s.must(201, "POST", "/api/v1/users", s.admin, map[string]any{"meta": map[string]any{"name": "rae"}, "password": "rae-password-1"}, nil)
	s.must(201, "POST", "/api/v1/access-rules", s.admin, map[string]any{
		"meta": map[string]any{"scope": map[string]any{"type": "project", "name": "secure"}},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "rae"}, "role": "l1-researcher"}}, nil)
	var tok struct{ AccessToken string }
	s.must(200, "POST", "/api/v1/token", "", map[string]any{"username": "rae", "password": "rae-password-1"}, &tok)
	proj := map[string]any{"type": "project", "name": "secure"}

	for what, body := range map[string]map[string]any{
		"a root environment": {"meta": map[string]any{"name": "root", "scope": proj}, "spec": map[string]any{"image": "x",
			"runAs": map[string]any{"source": "custom", "uid": 0}, "capabilities": []string{"SYS_ADMIN"},
			"security": map[string]any{"allowPrivilegeEscalation": true}}},
	} {
		if code, raw := s.call("POST", "/api/v1/environments", tok.AccessToken, body, nil); code != 403 {
			t.Errorf("%s: %d %s, want 403", what, code, raw)
		}
	}
	if code, raw := s.call("POST", "/api/v1/data-sources", tok.AccessToken, map[string]any{"meta": map[string]any{"name": "root", "scope": proj},
		"spec": map[string]any{"type": "host-path", "hostPath": map[string]any{"path": "/"}, "mountPath": "/host"}}, nil); code != 403 {
		t.Errorf("a host path of /: %d %s, want 403", code, raw)
	}

	var w workspace
	s.must(201, "POST", "/api/v1/projects/secure/workspaces", tok.AccessToken,
		map[string]any{"name": "nb", "environment": "tool", "compute": "one-cpu"}, &w)
	s.waitPhase("secure", "nb", "Running", converge)
	const ns = "labspace-secure"
	got, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels[kube.LabelEnforce] != kube.LevelRestricted {
		t.Errorf("namespace labels %v, want enforce=restricted", got.Labels)
	}
	ps := pods(t, c, ns, w.Meta.ID)
	if len(ps) != 1 {
		t.Fatalf("%d pods", len(ps))
	}
	p := ps[0]
	if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
		t.Error("the workspace's pod mounts a service-account token")
	}
	for _, v := range p.Spec.Volumes {
		if v.Projected != nil {
			t.Errorf("volume %s projects a token", v.Name)
		}
	}
	sc := p.Spec.Containers[0].SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 {
		t.Errorf("container security context %+v", sc)
	}

	// The API server itself refuses a privileged pod in that namespace.
	// (The test cluster refuses privileged containers outright; what is
	// left, root with SYS_ADMIN and the node's /, is Pod Security's to refuse.)
	root, yes := int64(0), true
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "escape", Namespace: ns}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "busybox", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &yes, RunAsUser: &root, Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}}},
		Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}}}
	_, err = c.Client.CoreV1().Pods(ns).Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
		t.Errorf("a privileged pod in %s: %v, want refused by Pod Security admission", ns, err)
	}
	_ = c.Client.CoreV1().Pods(ns).Delete(ctx, "escape", metav1.DeleteOptions{})

	// The network policies.
	list, err := c.Client.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]networkingv1.NetworkPolicy{}
	for _, np := range list.Items {
		byName[np.Name] = np
	}
	proxy, ok := byName["labspace-from-proxy"]
	if !ok || len(proxy.Spec.Ingress) != 1 || len(proxy.Spec.Ingress[0].From) != 1 ||
		proxy.Spec.Ingress[0].From[0].NamespaceSelector == nil ||
		proxy.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "labspace" ||
		proxy.Spec.PodSelector.MatchLabels[kube.LabelManagedBy] != kube.ManagedBy {
		t.Errorf("labspace-from-proxy: %+v", proxy.Spec)
	}
	shared, ok := byName["labspace-shared"]
	if !ok || shared.Spec.PodSelector.MatchLabels[kube.LabelShared] != "true" || len(shared.Spec.Ingress) != 1 ||
		len(shared.Spec.Ingress[0].From) != 1 || shared.Spec.Ingress[0].From[0].NamespaceSelector != nil ||
		shared.Spec.Ingress[0].From[0].PodSelector.MatchLabels[kube.LabelManagedBy] != kube.ManagedBy {
		t.Errorf("labspace-shared: %+v", shared.Spec)
	}
	if _, ok := byName["labspace-exposed"]; !ok {
		t.Error("no policy for exposed tools")
	}
	for _, np := range byName {
		for _, rule := range np.Spec.Ingress {
			for _, from := range rule.From {
				if from.IPBlock != nil || (from.NamespaceSelector != nil && len(from.NamespaceSelector.MatchLabels) == 0) {
					t.Errorf("%s lets in any namespace or address: %+v", np.Name, from)
				}
			}
		}
	}
	// The pod is selected by the proxy's policy, and not by the shared one.
	if p.Labels[kube.LabelManagedBy] != kube.ManagedBy || p.Labels[kube.LabelShared] != "" {
		t.Errorf("pod labels %v", p.Labels)
	}
}
