package kube

import (
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func workspace() *labspace.Workspace {
	w := &labspace.Workspace{Meta: labspace.Meta{ID: "0f1e2d3c-aaaa-bbbb-cccc-000000000001", Name: "exp", Scope: labspace.ProjectScope("vision")}}
	w.Spec.Environment.Spec = labspace.EnvironmentSpec{Image: "img:1", Tools: []labspace.Tool{{Name: "web", Type: "custom", Port: 8080}}}
	return w
}

// The names labspace gives objects are valid Kubernetes names whatever
// the workspace is called, and differ between namesakes.
func TestBaseName(t *testing.T) {
	w := workspace()
	if got := baseName(w); got != "exp-0f1e2d3c" {
		t.Errorf("baseName = %q", got)
	}
	w.Name = "1st"
	if got := baseName(w); got != "ws-1st-0f1e2d3c" {
		t.Errorf("a name starting with a digit: %q", got)
	}
	w.Name = strings.Repeat("a", 62) + "-b"
	if got := baseName(w); len(got) > 63 || strings.Contains(got, "--") {
		t.Errorf("a long name: %q (%d)", got, len(got))
	}
	other := workspace()
	other.ID = "99999999-aaaa-bbbb-cccc-000000000001"
	if baseName(other) == baseName(workspace()) {
		t.Error("namesakes share object names")
	}
}

// Data sources become volumes, and git and S3 an init container each that
// fetches the data without putting secrets on a command line.
func TestDataSourcesAndConnections(t *testing.T) {
	w := workspace()
	w.Spec.Environment.Spec.Tools = append(w.Spec.Environment.Spec.Tools,
		labspace.Tool{Name: "ssh", Type: "custom", Port: 22, Connection: labspace.ConnNodePort, NodePort: 30022})
	w.Spec.Compute.Spec.ExtendedResources = []labspace.ExtendedResource{{Name: "example.com/fpga", Quantity: "2"}}
	ds := func(name string, spec labspace.DataSourceSpec) labspace.ResolvedDataSource {
		return labspace.ResolvedDataSource{From: labspace.AssetRef{Name: name}, Spec: spec}
	}
	w.Spec.DataSources = []labspace.ResolvedDataSource{
		ds("code", labspace.DataSourceSpec{Type: labspace.DataGit, MountPath: "/code",
			Git: &labspace.GitSource{Repository: "https://git.example.com/r.git", Branch: "main", Credential: "git"}}),
		ds("bucket", labspace.DataSourceSpec{Type: labspace.DataS3, MountPath: "/data",
			S3: &labspace.S3Source{Bucket: "b", URL: "https://s3.example.com", Credential: "s3"}}),
		ds("share", labspace.DataSourceSpec{Type: labspace.DataNFS, MountPath: "/share", ReadOnly: true,
			NFS: &labspace.NFSSource{Server: "nfs.example.com", Path: "/export"}}),
		ds("conf", labspace.DataSourceSpec{Type: labspace.DataConfigMap, MountPath: "/conf", ConfigMap: &labspace.ConfigMapSource{Name: "cfg"}}),
	}
	in := &runtime.Inputs{Namespace: "labspace-vision", ByName: map[string]runtime.Credential{
		"git": {ID: "g1", Values: map[string]string{"username": "u", "password": "git-pw"}},
		"s3":  {ID: "s1", Values: map[string]string{"accessKeyId": "AK", "secretAccessKey": "s3-secret"}},
	}}
	wl := build(w, in, &Options{GitImage: DefaultGitImage, S3Image: DefaultS3Image, ToolKey: []byte("k")})
	pod := wl.pod
	if n := len(pod.Spec.InitContainers); n != 2 {
		t.Fatalf("%d init containers, want 2 (git, s3)", n)
	}
	for _, ic := range pod.Spec.InitContainers {
		line := strings.Join(append(ic.Command, ic.Args...), " ")
		if strings.Contains(line, "git-pw") || strings.Contains(line, "s3-secret") {
			t.Errorf("a secret on the command line of %s: %s", ic.Name, line)
		}
		for _, e := range ic.Env {
			if e.Value == "git-pw" || e.Value == "s3-secret" {
				t.Errorf("%s: secret %s as a plain value", ic.Name, e.Name)
			}
		}
	}
	if got := strings.Join(pod.Spec.InitContainers[1].Args, " "); got != "s3 sync s3://b /data --endpoint-url https://s3.example.com" {
		t.Errorf("s3 args %q", got)
	}
	for _, e := range pod.Spec.Containers[0].Env {
		if e.Name == runtime.ToolTokenVar && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("the tool token is not drawn from a Secret: %+v", e)
		}
	}
	creds := wl.secrets[0]
	if want := runtime.ToolToken([]byte("k"), w.ID); string(creds.Data["labspace.tool-token"]) != want {
		t.Errorf("tool token in the Secret %q, want %q", creds.Data["labspace.tool-token"], want)
	}
	if string(creds.Data["g1.password"]) != "git-pw" || string(creds.Data["s1.secretAccessKey"]) != "s3-secret" {
		t.Errorf("credentials secret keys %v", keys(creds.Data))
	}
	vols := map[string]corev1.VolumeSource{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v.VolumeSource
	}
	if vols["ds-2"].NFS == nil || vols["ds-2"].NFS.Server != "nfs.example.com" || !vols["ds-2"].NFS.ReadOnly {
		t.Errorf("nfs volume %+v", vols["ds-2"])
	}
	if vols["ds-3"].ConfigMap == nil || vols["ds-3"].ConfigMap.Name != "cfg" {
		t.Errorf("config map volume %+v", vols["ds-3"])
	}
	fpga := pod.Spec.Containers[0].Resources.Limits["example.com/fpga"]
	if fpga.String() != "2" {
		t.Errorf("extended resource %v", pod.Spec.Containers[0].Resources.Limits)
	}
	// Only the tool reached without the proxy has a Service port.
	if wl.service.Spec.Type != corev1.ServiceTypeNodePort || len(wl.service.Spec.Ports) != 1 || wl.service.Spec.Ports[0].NodePort != 30022 {
		t.Errorf("service %s %+v", wl.service.Spec.Type, wl.service.Spec.Ports)
	}
}

// A workspace whose tools all go through the proxy, with no credentials
// and no new claims, is two objects: the Secret with its tool token and
// the pod. No Service, and no owner object. With no tool, the pod alone.
func TestAPlainWorkspaceIsTwoObjects(t *testing.T) {
	w := &labspace.Workspace{Meta: labspace.Meta{ID: "0f3c2a1b-aaaa-bbbb-cccc-000000000001", Name: "plain",
		Scope: labspace.ProjectScope("p")}}
	w.Spec.Environment.Spec = labspace.EnvironmentSpec{Image: "img:1", Tools: []labspace.Tool{{Name: "web", Type: "custom", Port: 8080}}}
	wl := build(w, &runtime.Inputs{Namespace: "labspace-p"}, &Options{})
	if wl.service != nil || len(wl.secrets) != 1 || len(wl.claims) != 0 || wl.pod == nil {
		t.Errorf("service %v, %d secrets, %d claims; want one Secret and the pod", wl.service != nil, len(wl.secrets), len(wl.claims))
	}
	if len(wl.pod.OwnerReferences) != 0 || len(wl.secrets[0].OwnerReferences) != 0 {
		t.Errorf("owners: pod %v, secret %v", wl.pod.OwnerReferences, wl.secrets[0].OwnerReferences)
	}
	// With no tool there is no token to guard: the pod alone.
	w.Spec.Environment.Spec.Tools = nil
	if wl := build(w, &runtime.Inputs{Namespace: "labspace-p"}, &Options{}); len(wl.secrets) != 0 || wl.pod == nil {
		t.Errorf("a workspace with no tool and no credentials: %d secrets, want the pod alone", len(wl.secrets))
	}
}

// A Secret's content digest changes with any of its values, keys or type,
// and with labspace's key: it tells a start whether to write the Secret,
// and says nothing of the values to whoever reads only annotations.
func TestSealFollowsTheContents(t *testing.T) {
	digest := func(typ corev1.SecretType, data map[string][]byte, key string) string {
		s := &corev1.Secret{Type: typ, Data: data}
		seal(s, []byte(key))
		return s.Annotations[AnnotationContent]
	}
	base := digest(corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, "k")
	same := digest(corev1.SecretTypeOpaque, map[string][]byte{"b": []byte("2"), "a": []byte("1")}, "k")
	if base == "" || base != same {
		t.Fatalf("the same contents give %q and %q", base, same)
	}
	for name, other := range map[string]string{
		"value":   digest(corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("1"), "b": []byte("3")}, "k"),
		"key":     digest(corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("1"), "c": []byte("2")}, "k"),
		"split":   digest(corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("1\x00b"), "": []byte("2")}, "k"),
		"type":    digest(corev1.SecretTypeDockerConfigJson, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, "k"),
		"hmacKey": digest(corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, "other"),
	} {
		if other == base {
			t.Errorf("a different %s gives the same digest", name)
		}
	}
	if len(base) != 32 {
		t.Errorf("digest %q: want 16 bytes in hex", base)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// What the cluster shows of a pod maps to the runtime's states with the
// cluster's own reasons.
func TestObserve(t *testing.T) {
	w := workspace()
	now := metav1.NewTime(time.Now())
	pod := func(mut func(p *corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "exp-0f1e2d3c"}, Spec: corev1.PodSpec{NodeName: "gpu-1"},
			Status: corev1.PodStatus{Phase: corev1.PodPending}}
		mut(p)
		return p
	}
	waiting := func(reason string) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "workspace", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}}
		}
	}
	ready := func(p *corev1.Pod) {
		p.Status.Phase, p.Status.PodIP = corev1.PodRunning, "10.1.2.3"
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		missing string
		state   runtime.State
		reason  string
	}{
		{"no pod", nil, "", runtime.Absent, ""},
		{"being deleted", pod(func(p *corev1.Pod) { p.DeletionTimestamp = &now }), "", runtime.Stopping, "PodTerminating"},
		{"unschedulable", pod(func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
				Message: "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}}
		}), "", runtime.Waiting, "Unschedulable"},
		{"pulling", pod(waiting("ContainerCreating")), "", runtime.Starting, "ContainerCreating"},
		{"pull failing for a while", pod(waiting("ErrImagePull")), "", runtime.Starting, "ErrImagePull"},
		{"pull backing off", pod(waiting("ImagePullBackOff")), "", runtime.Exited, "ImagePullBackOff"},
		{"bad config", pod(waiting("CreateContainerConfigError")), "", runtime.Exited, "CreateContainerConfigError"},
		{"out of memory", pod(func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "workspace",
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}
		}), "", runtime.Exited, "OOMKilled"},
		{"evicted", pod(func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }), "", runtime.Exited, "Evicted"},
		{"ready", pod(ready), "", runtime.Ready, ""},
		{"ready without its service", pod(ready), "The service of its tools is gone.", runtime.Degraded, "Degraded"},
	}
	for _, tt := range tests {
		o := observe(w, tt.pod, tt.missing)
		if o.State != tt.state || o.Reason != tt.reason {
			t.Errorf("%s: %s (%s: %s), want %s (%s)", tt.name, o.State, o.Reason, o.Message, tt.state, tt.reason)
		}
	}
	if o := observe(w, pod(ready), ""); o.Tools["web"] != "http://10.1.2.3:8080" {
		t.Errorf("tools %v", o.Tools)
	}
	if o := observe(w, tests[2].pod, ""); !strings.Contains(o.Message, "Insufficient nvidia.com/gpu") {
		t.Errorf("scheduler's message lost: %q", o.Message)
	}
}
