package kube

import (
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
)

// A workspace's pod passes the strictest Pod Security level its settings
// allow: restricted unless an administrator's setting needs more.
func TestPodSecurityLevel(t *testing.T) {
	zero, uid := int64(0), int64(1000)
	for _, tc := range []struct {
		name string
		edit func(w *labspace.Workspace)
		want string
	}{
		{"plain", func(*labspace.Workspace) {}, LevelRestricted},
		{"a uid of its own", func(w *labspace.Workspace) {
			w.Spec.Environment.Spec.RunAs = labspace.RunAs{Source: labspace.UIDFromCustom, UID: &uid}
		}, LevelRestricted},
		{"NET_BIND_SERVICE", func(w *labspace.Workspace) { w.Spec.Environment.Spec.Capabilities = []string{"NET_BIND_SERVICE"} }, LevelRestricted},
		{"uid 0", func(w *labspace.Workspace) {
			w.Spec.Environment.Spec.RunAs = labspace.RunAs{Source: labspace.UIDFromCustom, UID: &zero}
		}, LevelBaseline},
		{"escalation", func(w *labspace.Workspace) { w.Spec.Environment.Spec.Security.AllowPrivilegeEscalation = true }, LevelBaseline},
		{"CHOWN", func(w *labspace.Workspace) { w.Spec.Environment.Spec.Capabilities = []string{"CHOWN"} }, LevelBaseline},
		{"nfs", func(w *labspace.Workspace) {
			w.Spec.DataSources = []labspace.ResolvedDataSource{{Spec: labspace.DataSourceSpec{Type: labspace.DataNFS,
				NFS: &labspace.NFSSource{Server: "s", Path: "/p"}, MountPath: "/n"}}}
		}, LevelBaseline},
		{"SYS_ADMIN", func(w *labspace.Workspace) { w.Spec.Environment.Spec.Capabilities = []string{"CHOWN", "SYS_ADMIN"} }, LevelPrivileged},
		{"host path", func(w *labspace.Workspace) {
			w.Spec.DataSources = []labspace.ResolvedDataSource{{Spec: labspace.DataSourceSpec{Type: labspace.DataHostPath,
				HostPath: &labspace.HostPathSource{Path: "/"}, MountPath: "/host"}}}
		}, LevelPrivileged},
	} {
		w := workspace()
		tc.edit(w)
		if got := PodSecurityLevel(w); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// By default a pod is what the restricted level asks: no escalation, every
// capability dropped, the runtime's seccomp profile, not root, and no
// service-account token; a shared workspace and an exposed tool are marked
// for the network policies.
func TestPodIsRestrictedByDefault(t *testing.T) {
	w := workspace()
	w.Spec.General.Labels = map[string]string{LabelShared: "true", "team": "a"}
	pod := build(w, &runtime.Inputs{Namespace: "ns"}, &Options{}).pod
	sc, c := pod.Spec.SecurityContext, pod.Spec.Containers[0].SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.SeccompProfile == nil || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod security context %+v", sc)
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation || c.Capabilities == nil ||
		len(c.Capabilities.Drop) != 1 || c.Capabilities.Drop[0] != "ALL" || len(c.Capabilities.Add) != 0 {
		t.Errorf("container security context %+v", c)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the pod mounts a service-account token")
	}
	if pod.Labels[LabelShared] != "" || pod.Labels["team"] != "a" {
		t.Errorf("labels %v: a user's label may not claim the shared mark", pod.Labels)
	}
	w.Sharing.Project = true
	w.Spec.Environment.Spec.Tools[0].Connection = labspace.ConnNodePort
	pod = build(w, &runtime.Inputs{Namespace: "ns"}, &Options{}).pod
	if pod.Labels[LabelShared] != "true" || pod.Labels[LabelExposed] != "true" {
		t.Errorf("labels %v, want shared and exposed", pod.Labels)
	}
}

// An environment that runs as the identity provider's user: the pod runs
// as the uid, gid and groups the service filled in from the creator's
// sign-in, still non-root.
func TestPodRunsAsTheProvidersUser(t *testing.T) {
	w := workspace()
	uid, gid := int64(20001), int64(20000)
	w.Spec.Environment.Spec.RunAs = labspace.RunAs{Source: labspace.UIDFromIdP, UID: &uid, GID: &gid, SupplementalGroups: []int64{30001}}
	sc := build(w, &runtime.Inputs{Namespace: "ns"}, &Options{}).pod.Spec.SecurityContext
	if sc.RunAsUser == nil || *sc.RunAsUser != 20001 || sc.RunAsGroup == nil || *sc.RunAsGroup != 20000 ||
		len(sc.SupplementalGroups) != 1 || sc.SupplementalGroups[0] != 30001 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("pod security context %+v", sc)
	}
}
