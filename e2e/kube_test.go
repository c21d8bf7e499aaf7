package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labspace/labspace/runtime/kube"
	"github.com/labspace/labspace/runtime/kube/kubetest"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeobj "k8s.io/apimachinery/pkg/runtime"
)

var (
	kubeOnce    sync.Once
	kubeCluster *kubetest.Cluster
	kubeErr     error
)

// cluster is the test package's one Kubernetes control plane (etcd,
// apiserver, scheduler, controller manager, kwok nodes: cpu-1, cpu-2 and
// gpu-1, gpu-2 with 2 GPUs each in pool a100).
func cluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	if why := kubetest.Available(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	kubeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "labspace-kube")
		if err != nil {
			kubeErr = err
			return
		}
		kubeCluster, kubeErr = kubetest.Start(context.Background(), dir, nil)
		afterAll = append(afterAll, func() {
			if kubeCluster != nil {
				kubeCluster.Stop()
			}
			os.RemoveAll(dir)
		})
	})
	if kubeErr != nil {
		t.Fatal(kubeErr)
	}
	return kubeCluster
}

// kubeServer starts labspace on the test cluster, emptying the projects'
// namespaces of pods when the test ends (see cleanPods).
func kubeServer(t *testing.T, projects ...string) (*server, *kubetest.Cluster) {
	c := cluster(t)
	cleanPods(t, c, projects...)
	return startServer(t, freeAddr(t), t.TempDir(), "--kubeconfig", c.Kubeconfig), c
}

// cleanPods deletes, when the test ends (after its servers are killed),
// the pods of projects, so that the next test has the cluster's GPUs.
func cleanPods(t *testing.T, c *kubetest.Cluster, projects ...string) {
	t.Cleanup(func() {
		ctx := context.Background()
		zero := int64(0)
		for _, p := range projects {
			ns := "labspace-" + p
			_ = c.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
		}
		deadline := time.Now().Add(converge)
		for _, p := range projects {
			for len(pods(t, c, "labspace-"+p, "")) > 0 && time.Now().Before(deadline) {
				time.Sleep(pollInterval)
			}
		}
	})
}

// pods lists the pods in ns (of one workspace, when id is set), not being deleted.
func pods(t *testing.T, c *kubetest.Cluster, ns, id string) []corev1.Pod {
	t.Helper()
	sel := kube.LabelManagedBy + "=" + kube.ManagedBy
	if id != "" {
		sel += "," + kube.LabelWorkspaceID + "=" + id
	}
	list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// kubeBlocks creates what the Kubernetes tests build workspaces from: an
// environment whose one tool listens on port, and compute resources.
func kubeBlocks(s *server, port int) {
	global := map[string]any{"type": "global"}
	s.must(201, "POST", "/api/v1/environments", s.admin, map[string]any{
		"meta": map[string]any{"name": "tool", "scope": global},
		"spec": map[string]any{"image": "example.com/tool:1", "imagePullPolicy": "IfNotPresent",
			"command": []string{"serve"}, "args": []string{"--port=$(PORT)"},
			"tools": []map[string]any{{"name": "web", "type": "custom", "port": port}}}}, nil)
	for name, spec := range map[string]map[string]any{
		"one-cpu":  {"cpuRequest": "1", "memoryRequest": "1Gi"},
		"gpu-one":  {"gpuDevices": 1, "cpuRequest": "1", "cpuLimit": "2", "memoryRequest": "1Gi", "memoryLimit": "2Gi", "largeShm": true},
		"gpu-two":  {"gpuDevices": 2, "cpuRequest": "1", "memoryRequest": "1Gi"},
		"gpu-four": {"gpuDevices": 4, "cpuRequest": "1", "memoryRequest": "1Gi"},
	} {
		s.must(201, "POST", "/api/v1/compute-resources", s.admin, map[string]any{
			"meta": map[string]any{"name": name, "scope": global}, "spec": spec}, nil)
	}
}

func freePort(t *testing.T) int {
	addr := freeAddr(t)
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (s *server) kubeCreate(project, name, compute string, extra map[string]any) workspace {
	s.t.Helper()
	body := map[string]any{"name": name, "environment": "tool", "compute": compute}
	for k, v := range extra {
		body[k] = v
	}
	var w workspace
	s.must(201, "POST", "/api/v1/projects/"+project+"/workspaces", s.admin, body, &w)
	return w
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollInterval)
	}
}

// A workspace with a GPU, a new volume, a variable drawn from a credential
// and a private registry runs on Kubernetes as the objects below, checked
// field by field; its tool answers through the proxy; stop keeps the
// volume, start reuses it, and delete leaves nothing labelled as ours.
func TestKubeWorkspaceLifecycle(t *testing.T) {
	s, c := kubeServer(t, "vision")
	ctx := context.Background()
	port := freePort(t)
	kubeBlocks(s, port)
	s.project("vision", map[string]any{"gpus": 4})
	ns := "labspace-vision"
	proj := map[string]any{"type": "project", "name": "vision"}
	var api, reg struct{ Meta struct{ ID string } }
	s.must(201, "POST", "/api/v1/credentials", s.admin, map[string]any{"meta": map[string]any{"name": "api", "scope": proj},
		"spec": map[string]any{"type": "generic-secret", "data": map[string]string{"TOKEN": "tok-123"}}}, &api)
	s.must(201, "POST", "/api/v1/credentials", s.admin, map[string]any{"meta": map[string]any{"name": "registry", "scope": proj},
		"spec": map[string]any{"type": "docker-registry", "registry": "registry.example.com", "username": "bot", "password": "pw-456"}}, &reg)
	s.must(201, "POST", "/api/v1/data-sources", s.admin, map[string]any{"meta": map[string]any{"name": "scratch", "scope": proj},
		"spec": map[string]any{"type": "pvc", "mountPath": "/scratch", "pvc": map[string]any{"new": map[string]any{"size": "1Gi"}}}}, nil)
	s.must(201, "POST", "/api/v1/environments", s.admin, map[string]any{"meta": map[string]any{"name": "tool-cred", "scope": proj},
		"spec": map[string]any{"image": "registry.example.com/team/tool:2", "command": []string{"serve"},
			"tools": []map[string]any{{"name": "web", "type": "custom", "port": port},
				{"name": "ssh", "type": "custom", "port": 2222, "connection": "node-port", "nodePort": 30222}},
			"env":   []map[string]any{{"name": "API_TOKEN", "credential": map[string]any{"name": "api", "key": "TOKEN"}}, {"name": "MODE", "value": "train"}},
			"runAs": map[string]any{"source": "custom", "uid": 1000, "gid": 100}, "capabilities": []string{"SYS_PTRACE"},
			"security": map[string]any{"runAsNonRoot": true}}}, nil)
	// Storage for the new claim: the cluster has no provisioner.
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "vision-pv"}, Spec: corev1.PersistentVolumeSpec{
		Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: t.TempDir()}}}}
	if _, err := c.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Client.CoreV1().PersistentVolumes().Delete(ctx, "vision-pv", metav1.DeleteOptions{}) })
	// Something in the namespace that is not labspace's must survive.
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "theirs"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	w := s.kubeCreate("vision", "train", "gpu-one", map[string]any{"environment": "tool-cred", "nodePool": "a100",
		"dataSources": []map[string]any{{"name": "scratch"}}, "labels": map[string]string{"team": "cv"}})
	s.waitPhase("vision", "train", "Running", converge)
	ps := pods(t, c, ns, w.Meta.ID)
	if len(ps) != 1 {
		t.Fatalf("%d pods for the workspace, want 1", len(ps))
	}
	pod := ps[0]
	checkPod(t, &pod, w.Meta.ID, port, api.Meta.ID)
	base := pod.Name
	checkObjects(t, c, ns, base, w.Meta.ID, port, api.Meta.ID)
	nsObj, _ := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if nsObj.Labels[kube.LabelProject] != "vision" {
		t.Errorf("namespace labels %v: not adopted", nsObj.Labels)
	}

	// The tool answers through labspace's proxy, at the pod's address.
	standIn := serveAt(t, net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(port)))
	var body string
	waitFor(t, "the tool through the proxy", converge, func() bool {
		code, raw := s.call("GET", "/ws/vision/train/web/hello", s.admin, nil, nil)
		body = string(raw)
		return code == 200
	})
	if body != "stand-in tool at "+standIn+": /ws/vision/train/web/hello" {
		t.Errorf("proxied reply %q", body)
	}
	if code, _ := s.call("GET", "/ws/vision/train/web/hello", "", nil, nil); code != 401 {
		t.Errorf("anonymous through the proxy: %d, want 401", code)
	}

	// A running workspace that loses its service is Degraded, and labspace
	// puts the service back.
	svc, _ := c.Client.CoreV1().Services(ns).Get(ctx, base, metav1.GetOptions{})
	if err := c.Client.CoreV1().Services(ns).Delete(ctx, base, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a Degraded event about the service", converge, func() bool {
		var events struct {
			Items []struct{ ToPhase, Message string }
		}
		s.must(200, "GET", "/api/v1/projects/vision/workspaces/train/events", s.admin, nil, &events)
		for _, e := range events.Items {
			if e.ToPhase == "Degraded" && strings.Contains(e.Message, "service") {
				return true
			}
		}
		return false
	})
	s.waitPhase("vision", "train", "Running", converge)
	if again, err := c.Client.CoreV1().Services(ns).Get(ctx, base, metav1.GetOptions{}); err != nil || again.UID == svc.UID {
		t.Errorf("the service was not put back: %v", err)
	}

	claim, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, base+"-scratch", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.must(202, "POST", "/api/v1/projects/vision/workspaces/train/stop", s.admin, nil, nil)
	s.waitPhase("vision", "train", "Stopped", converge)
	if n := len(pods(t, c, ns, w.Meta.ID)); n != 0 {
		t.Errorf("%d pods after stop", n)
	}
	kept, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim.Name, metav1.GetOptions{})
	if err != nil || kept.UID != claim.UID {
		t.Fatalf("the claim after stop: %v (uid %v, was %v)", err, kept.UID, claim.UID)
	}
	// A credential changed while the workspace was stopped reaches its
	// Secret at the next start.
	var cur struct{ Meta struct{ ResourceVersion int } }
	s.must(200, "GET", "/api/v1/credentials/"+api.Meta.ID, s.admin, nil, &cur)
	s.must(200, "PUT", "/api/v1/credentials/"+api.Meta.ID, s.admin, map[string]any{
		"meta": map[string]any{"name": "api", "scope": proj, "resourceVersion": cur.Meta.ResourceVersion},
		"spec": map[string]any{"type": "generic-secret", "data": map[string]string{"TOKEN": "tok-789"}}}, nil)
	s.must(202, "POST", "/api/v1/projects/vision/workspaces/train/start", s.admin, nil, nil)
	s.waitPhase("vision", "train", "Running", converge)
	if creds, err := c.Client.CoreV1().Secrets(ns).Get(ctx, base+"-credentials", metav1.GetOptions{}); err != nil ||
		string(creds.Data[api.Meta.ID+".TOKEN"]) != "tok-789" {
		t.Errorf("the credentials Secret after the credential changed: %v %q", err, creds.Data[api.Meta.ID+".TOKEN"])
	}
	again := pods(t, c, ns, w.Meta.ID)
	if len(again) != 1 || again[0].Spec.Volumes[0].PersistentVolumeClaim.ClaimName != claim.Name {
		t.Fatalf("after start: %d pods, want one on claim %s", len(again), claim.Name)
	}
	if kept, _ := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim.Name, metav1.GetOptions{}); kept.UID != claim.UID {
		t.Errorf("start made a new claim")
	}

	s.must(202, "DELETE", "/api/v1/projects/vision/workspaces/train", s.admin, nil, nil)
	waitFor(t, "the workspace's record to go", converge, func() bool {
		code, _ := s.call("GET", "/api/v1/projects/vision/workspaces/train", s.admin, nil, nil)
		return code == 404
	})
	waitFor(t, "nothing labelled with the workspace", converge, func() bool { return len(labelled(t, c, ns, w.Meta.ID)) == 0 })
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "theirs", metav1.GetOptions{}); err != nil {
		t.Errorf("delete removed what was not labspace's: %v", err)
	}
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Errorf("the project's namespace: %v", err)
	}
}

// labelled lists what still exists with workspace id's label, by kind.
func labelled(t *testing.T, c *kubetest.Cluster, ns, id string) []string {
	ctx := context.Background()
	o := metav1.ListOptions{LabelSelector: kube.LabelWorkspaceID + "=" + id}
	core := c.Client.CoreV1()
	lists := map[string]func() (runtimeobj.Object, error){
		"pod":       func() (runtimeobj.Object, error) { return core.Pods(ns).List(ctx, o) },
		"service":   func() (runtimeobj.Object, error) { return core.Services(ns).List(ctx, o) },
		"secret":    func() (runtimeobj.Object, error) { return core.Secrets(ns).List(ctx, o) },
		"pvc":       func() (runtimeobj.Object, error) { return core.PersistentVolumeClaims(ns).List(ctx, o) },
		"configmap": func() (runtimeobj.Object, error) { return core.ConfigMaps(ns).List(ctx, o) },
	}
	var left []string
	for kind, list := range lists {
		l, err := list()
		if err != nil {
			t.Fatal(err)
		}
		items, _ := apimeta.ExtractList(l)
		for _, x := range items {
			m, _ := apimeta.Accessor(x)
			left = append(left, kind+"/"+m.GetName())
		}
	}
	return left
}

// serveAt runs a stand-in tool at addr (a pod's loopback address).
func serveAt(t *testing.T, addr string) string {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "stand-in tool at %s: %s", addr, r.URL.Path)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return addr
}

func checkPod(t *testing.T, p *corev1.Pod, id string, port int, credID string) {
	t.Helper()
	if p.Labels[kube.LabelWorkspaceID] != id || p.Labels[kube.LabelProject] != "vision" || p.Labels["team"] != "cv" {
		t.Errorf("pod labels %v", p.Labels)
	}
	if len(p.OwnerReferences) != 0 {
		t.Errorf("pod owners %v: want none, labspace finds its objects by label", p.OwnerReferences)
	}
	if !strings.HasPrefix(p.Spec.NodeName, "gpu-") {
		t.Errorf("a GPU workspace on node %q", p.Spec.NodeName)
	}
	ct := p.Spec.Containers[0]
	if ct.Image != "registry.example.com/team/tool:2" || strings.Join(ct.Command, " ") != "serve" {
		t.Errorf("container image %q command %v", ct.Image, ct.Command)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range ct.Env {
		env[e.Name] = e
	}
	if env["PORT"].Value != strconv.Itoa(port) || env["BASE_URL"].Value != "/ws/vision/train/web/" || env["MODE"].Value != "train" {
		t.Errorf("env PORT=%q BASE_URL=%q MODE=%q", env["PORT"].Value, env["BASE_URL"].Value, env["MODE"].Value)
	}
	ref := env["API_TOKEN"].ValueFrom
	if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != p.Name+"-credentials" || ref.SecretKeyRef.Key != credID+".TOKEN" {
		t.Errorf("API_TOKEN comes from %+v", ref)
	}
	gpu := ct.Resources.Limits[kube.GPUResource]
	cpu := ct.Resources.Requests[corev1.ResourceCPU]
	mem := ct.Resources.Limits[corev1.ResourceMemory]
	if gpu.Value() != 1 || cpu.String() != "1" || mem.String() != "2Gi" {
		t.Errorf("resources %v", ct.Resources)
	}
	mounts := map[string]string{}
	for _, m := range ct.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if mounts["/dev/shm"] == "" || mounts["/scratch"] == "" {
		t.Errorf("mounts %v", mounts)
	}
	sc := p.Spec.SecurityContext
	if sc.RunAsUser == nil || *sc.RunAsUser != 1000 || *sc.RunAsGroup != 100 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("pod security %+v", sc)
	}
	if caps := ct.SecurityContext.Capabilities; caps == nil || len(caps.Add) != 1 || caps.Add[0] != "SYS_PTRACE" {
		t.Errorf("capabilities %+v", caps)
	}
	if len(p.Spec.ImagePullSecrets) != 1 || p.Spec.ImagePullSecrets[0].Name != p.Name+"-pull" {
		t.Errorf("image pull secrets %v", p.Spec.ImagePullSecrets)
	}
	aff := p.Spec.Affinity
	if aff == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "a100" {
		t.Errorf("node affinity %+v", aff)
	}
	if p.Status.PodIP == "" || !strings.HasPrefix(p.Status.PodIP, "127.1.") {
		t.Errorf("pod address %q", p.Status.PodIP)
	}
}

func checkObjects(t *testing.T, c *kubetest.Cluster, ns, base, id string, port int, credID string) {
	t.Helper()
	ctx := context.Background()
	core := c.Client.CoreV1()
	creds, err := core.Secrets(ns).Get(ctx, base+"-credentials", metav1.GetOptions{})
	if err != nil || string(creds.Data[credID+".TOKEN"]) != "tok-123" || creds.Labels[kube.LabelWorkspaceID] != id {
		t.Errorf("credentials secret: %v %v", err, creds)
	}
	pull, err := core.Secrets(ns).Get(ctx, base+"-pull", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Username, Password string }
	}
	if err := json.Unmarshal(pull.Data[corev1.DockerConfigJsonKey], &cfg); err != nil || pull.Type != corev1.SecretTypeDockerConfigJson ||
		cfg.Auths["registry.example.com"].Username != "bot" || cfg.Auths["registry.example.com"].Password != "pw-456" {
		t.Errorf("pull secret %s: %v %+v", pull.Type, err, cfg)
	}
	svc, err := core.Services(ns).Get(ctx, base, metav1.GetOptions{})
	// The Service exposes the tool reached without the proxy only.
	if err != nil || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 2222 || svc.Spec.Ports[0].NodePort != 30222 ||
		svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Selector[kube.LabelWorkspaceID] != id {
		t.Errorf("service: %v %+v", err, svc)
	}
	pvc, err := core.PersistentVolumeClaims(ns).Get(ctx, base+"-scratch", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; size.String() != "1Gi" || pvc.Labels[kube.LabelWorkspaceID] != id {
		t.Errorf("claim size %s labels %v", size.String(), pvc.Labels)
	}
	if cms, err := core.ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelWorkspaceID + "=" + id}); err != nil || len(cms.Items) != 0 {
		t.Errorf("config maps of the workspace: %v %d, want none", err, len(cms.Items))
	}
}
