package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/labspace/labspace/runtime/kube/kubetest"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// labspace runs with nothing but the rules of docs/examples/rbac.yaml:
// a workspace with a credential, a registry credential and a new volume
// starts, stops, starts and is deleted, leaving nothing behind.
func TestKubeRBACExampleSuffices(t *testing.T) {
	c := cluster(t)
	ctx := context.Background()
	role := exampleClusterRole(t)
	role.Name = "labspace-example"
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "labspace-example"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: kubetest.LimitedUser}}}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.RbacV1().ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})
		_ = c.Client.RbacV1().ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})
	})
	// The user can do no more than the role says.
	cfg, err := clientcmd.BuildConfigFromFlags("", c.LimitedKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	limited := kubernetes.NewForConfigOrDie(cfg)
	if _, err := limited.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("the limited user may list cluster roles: the test would prove nothing")
	}

	cleanPods(t, c, "guarded")
	s := startServer(t, freeAddr(t), t.TempDir(), "--kubeconfig", c.LimitedKubeconfig)
	kubeBlocks(s, freePort(t))
	s.project("guarded", map[string]any{"gpus": 2})
	proj := map[string]any{"type": "project", "name": "guarded"}
	s.must(201, "POST", "/api/v1/credentials", s.admin, map[string]any{"meta": map[string]any{"name": "registry", "scope": proj},
		"spec": map[string]any{"type": "docker-registry", "registry": "registry.example.com", "username": "bot", "password": "pw"}}, nil)
	s.must(201, "POST", "/api/v1/credentials", s.admin, map[string]any{"meta": map[string]any{"name": "api", "scope": proj},
		"spec": map[string]any{"type": "generic-secret", "data": map[string]string{"TOKEN": "t"}}}, nil)
	s.must(201, "POST", "/api/v1/data-sources", s.admin, map[string]any{"meta": map[string]any{"name": "scratch", "scope": proj},
		"spec": map[string]any{"type": "pvc", "mountPath": "/scratch", "pvc": map[string]any{"new": map[string]any{"size": "1Gi"}}}}, nil)
	// A tool reached by node port: the workspace then has a Service too.
	s.must(201, "POST", "/api/v1/environments", s.admin, map[string]any{"meta": map[string]any{"name": "tool-np", "scope": proj},
		"spec": map[string]any{"image": "example.com/tool:1", "command": []string{"serve"},
			"tools": []map[string]any{{"name": "ssh", "type": "custom", "port": 2222, "connection": "node-port", "nodePort": 30223}}}}, nil)
	w := s.kubeCreate("guarded", "ws", "one-cpu", map[string]any{"environment": "tool-np", "dataSources": []map[string]any{{"name": "scratch"}}})
	// No volume is bound here (no provisioner): the pod waits to be
	// scheduled, which is as far as labspace's rights matter.
	waitFor(t, "the workspace's objects", converge, func() bool {
		left := strings.Join(labelled(t, c, "labspace-guarded", w.Meta.ID), " ")
		return strings.Contains(left, "pod/") && strings.Contains(left, "pvc/") && strings.Contains(left, "service/") &&
			strings.Contains(left, "secret/")
	})
	s.must(202, "POST", "/api/v1/projects/guarded/workspaces/ws/stop", s.admin, nil, nil)
	s.waitPhase("guarded", "ws", "Stopped", converge)
	s.must(202, "DELETE", "/api/v1/projects/guarded/workspaces/ws", s.admin, nil, nil)
	waitFor(t, "nothing labelled with the workspace", converge, func() bool { return len(labelled(t, c, "labspace-guarded", w.Meta.ID)) == 0 })
	if strings.Contains(s.log.String(), "forbidden") {
		t.Errorf("labspace met a forbidden request:\n%s", lastLines(s.log.String(), 20))
	}
}

// exampleClusterRole reads the ClusterRole of docs/examples/rbac.yaml.
func exampleClusterRole(t *testing.T) *rbacv1.ClusterRole {
	raw, err := os.ReadFile("../docs/examples/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		if strings.Contains(doc, "kind: ClusterRole\n") {
			var role rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
				t.Fatal(err)
			}
			return &role
		}
	}
	t.Fatal("no ClusterRole in docs/examples/rbac.yaml")
	return nil
}
