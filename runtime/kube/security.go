package kube

import (
	"context"
	"os"
	"strings"

	"github.com/labspace/labspace"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A workspace pod is no way out of its container: it runs under the Pod
// Security Standards' restricted level unless a setting an administrator
// permitted (labspace.Privilege) needs more, mounts no service-account
// token, and takes connections only from labspace (and, when its creator
// shares it, from its project's other workspaces).

// Pod Security Standards levels, as the namespace label takes them.
const (
	LevelRestricted = "restricted"
	LevelBaseline   = "baseline"
	LevelPrivileged = "privileged"
)

// Labels of namespaces (Pod Security admission) and pods (network policy).
const (
	LabelEnforce        = "pod-security.kubernetes.io/enforce"
	LabelEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	LabelShared         = "labspace.dev/shared"  // "true": the creator shares it
	LabelExposed        = "labspace.dev/exposed" // "true": a tool on a node port or load balancer
)

var levelRank = map[string]int{LevelRestricted: 0, LevelBaseline: 1, LevelPrivileged: 2}

// Higher returns the stricter-to-looser maximum of two levels.
func higher(a, b string) string {
	if levelRank[b] > levelRank[a] {
		return b
	}
	return a
}

// baselineCaps are the capabilities the baseline level lets a container add.
var baselineCaps = map[string]bool{"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true,
	"FSETID": true, "KILL": true, "MKNOD": true, "NET_BIND_SERVICE": true, "SETFCAP": true, "SETGID": true,
	"SETPCAP": true, "SETUID": true, "SYS_CHROOT": true}

// PodSecurityLevel is the strictest level w's pod passes.
func PodSecurityLevel(w *labspace.Workspace) string {
	level := LevelRestricted
	env := &w.Spec.Environment.Spec
	if runsAsRoot(env) || env.Security.AllowPrivilegeEscalation {
		level = LevelBaseline
	}
	for _, c := range env.Capabilities {
		if c == "NET_BIND_SERVICE" {
			continue // restricted allows adding this one
		}
		if baselineCaps[strings.TrimPrefix(c, "CAP_")] {
			level = higher(level, LevelBaseline)
		} else {
			level = LevelPrivileged
		}
	}
	for _, d := range w.Spec.DataSources {
		switch d.Spec.Type {
		case labspace.DataHostPath:
			level = LevelPrivileged
		case labspace.DataNFS:
			level = higher(level, LevelBaseline) // restricted allows no nfs volumes
		}
	}
	return level
}

// runsAsRoot reports an environment an administrator set to run as uid 0.
func runsAsRoot(env *labspace.EnvironmentSpec) bool {
	return env.RunAs.Source == labspace.UIDFromCustom && env.RunAs.UID != nil && *env.RunAs.UID == 0
}

func podSecurity(env *labspace.EnvironmentSpec) *corev1.PodSecurityContext {
	sc := &corev1.PodSecurityContext{SupplementalGroups: env.RunAs.SupplementalGroups,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if env.RunAs.Source == labspace.UIDFromCustom || env.RunAs.Source == labspace.UIDFromIdP {
		sc.RunAsUser, sc.RunAsGroup = env.RunAs.UID, env.RunAs.GID
	}
	if !runsAsRoot(env) {
		// An image that runs as root is refused by the kubelet, with the
		// reason in the workspace's phase: an administrator gives its
		// environment a uid.
		t := true
		sc.RunAsNonRoot = &t
	}
	return sc
}

// containerSecurity drops every capability but those the environment
// adds (a privileged setting), and escalation unless it allows it.
func containerSecurity(env *labspace.EnvironmentSpec) *corev1.SecurityContext {
	ro, esc := env.Security.ReadOnlyRootFilesystem, env.Security.AllowPrivilegeEscalation
	sc := &corev1.SecurityContext{ReadOnlyRootFilesystem: &ro, AllowPrivilegeEscalation: &esc,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	for _, c := range env.Capabilities {
		sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(c))
	}
	return sc
}

// helperSecurity is the context of labspace's own init containers (git
// clone, s3 copy): nothing but what restricted allows.
func helperSecurity() *corev1.SecurityContext {
	f := false
	return &corev1.SecurityContext{AllowPrivilegeEscalation: &f, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
}

// networkPolicies are a project namespace's: workspace pods take
// connections from labspace's proxy only; a shared workspace also from the
// project's own workspaces; a tool exposed on a node port or load
// balancer (the environment's choice) from anywhere.
func (o *Options) networkPolicies(ns string) []*networkingv1.NetworkPolicy {
	ours := map[string]string{LabelManagedBy: ManagedBy}
	if o.Instance != "" {
		ours[LabelInstance] = o.Instance
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range ours {
			m[a] = b
		}
		return m
	}
	policy := func(name string, selected map[string]string, from []networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
		rule := networkingv1.NetworkPolicyIngressRule{From: from}
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: ours},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: selected},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{rule}}}
	}
	proxy := []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{"kubernetes.io/metadata.name": o.proxyNamespace()}}}}
	if o.ProxyPeers != nil {
		proxy = o.ProxyPeers
	}
	return []*networkingv1.NetworkPolicy{
		policy("labspace-from-proxy", ours, proxy),
		policy("labspace-shared", with(LabelShared, "true"),
			[]networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: ours}}}),
		// No peers: from anywhere, as the tool's connection asks.
		policy("labspace-exposed", with(LabelExposed, "true"), nil),
	}
}

// proxyNamespace is where labspace runs: the namespace of its own pod, else
// "labspace" (docs/examples/rbac.yaml).
func (o *Options) proxyNamespace() string {
	if o.ProxyNamespace != "" {
		return o.ProxyNamespace
	}
	if raw, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(raw) > 0 {
		return strings.TrimSpace(string(raw))
	}
	return "labspace"
}

// ensurePolicies creates ns's network policies, or puts them back as
// they should be.
func (r *Runtime) ensurePolicies(ctx context.Context, ns string) error {
	api := r.client.NetworkingV1().NetworkPolicies(ns)
	for _, want := range r.opts.networkPolicies(ns) {
		got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
			err = ignoreExists(err)
		case err == nil:
			want.ResourceVersion = got.ResourceVersion
			_, err = api.Update(ctx, want, metav1.UpdateOptions{})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// podLabels marks a pod for the network policies.
func podLabels(pod *corev1.Pod, w *labspace.Workspace) {
	if w.Sharing.Project || len(w.Sharing.Users) > 0 {
		pod.Labels[LabelShared] = "true"
	}
	for _, t := range w.Spec.Environment.Spec.Tools {
		if t.Connection == labspace.ConnNodePort || t.Connection == labspace.ConnLoadBalancer {
			pod.Labels[LabelExposed] = "true"
		}
	}
}
