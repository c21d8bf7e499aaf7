package kube

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels on everything labspace makes. The workspace id label is how the
// runtime finds a workspace's objects again, after any restart.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedBy        = "labspace"
	LabelWorkspaceID = "labspace.dev/workspace-id"
	LabelWorkspace   = "labspace.dev/workspace"
	LabelProject     = "labspace.dev/project"
	// LabelInstance tells apart the objects of labspace installations
	// sharing a cluster: each one sees and collects only its own.
	LabelInstance = "labspace.dev/instance"
	// LabelNodePool is the node label a workspace's node pool selects,
	// and the key of the taint its pool's nodes may carry.
	LabelNodePool = "labspace.dev/node-pool"
	// GPUResource is the extended resource of NVIDIA's device plugin.
	GPUResource = corev1.ResourceName("nvidia.com/gpu")
	// AnnotationGPUPortion records a GPU fraction for schedulers that share GPUs.
	AnnotationGPUPortion = "labspace.dev/gpu-portion"
	// AnnotationContent is a keyed digest of a Secret's contents: a start
	// whose Secret already holds them sends no write for it.
	AnnotationContent = "labspace.dev/content"
)

// Images of the helper init containers.
const (
	DefaultGitImage = "alpine/git:2.47.2"
	DefaultS3Image  = "amazon/aws-cli:2.22.0"
)

// workload is every object a workspace needs, built from the workspace
// alone (and its opened credentials): Apply creates what is missing.
type workload struct {
	secrets  []*corev1.Secret
	claims   []*corev1.PersistentVolumeClaim
	service  *corev1.Service // nil when no tool listens
	pod      *corev1.Pod
	warnings []string
}

// baseName is the name of a workspace's objects: its name, for people
// reading kubectl, and 8 characters of its id, so a workspace deleted and
// created again under the same name never meets its predecessor's objects.
func baseName(w *labspace.Workspace) string {
	n := strings.TrimRight(w.Name, "-")
	if len(n) > 50 {
		n = strings.TrimRight(n[:50], "-")
	}
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		n = "ws-" + n // Service names must start with a letter
	}
	id := strings.ReplaceAll(w.ID, "-", "")
	if len(id) > 8 {
		id = id[:8]
	}
	return n + "-" + id
}

func labelsOf(w *labspace.Workspace) map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelWorkspaceID: w.ID, LabelWorkspace: w.Name, LabelProject: w.Project()}
}

func meta(w *labspace.Workspace, ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labelsOf(w)}
}

// build returns the objects of w in namespace ns.
func build(w *labspace.Workspace, in *runtime.Inputs, opts *Options) *workload {
	base := baseName(w)
	wl := &workload{}
	creds := &corev1.Secret{ObjectMeta: meta(w, in.Namespace, base+"-credentials"), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{}}
	b := &podBuilder{w: w, in: in, opts: opts, base: base, creds: creds, wl: wl}
	pod := b.pod()
	if len(creds.Data) > 0 {
		wl.secrets = append(wl.secrets, creds)
	}
	if pull := pullSecret(w, in, base); pull != nil {
		wl.secrets = append(wl.secrets, pull)
		pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: pull.Name}}
	}
	wl.pod = pod
	wl.service = service(w, in.Namespace, base)
	for _, s := range wl.secrets {
		seal(s, opts.ToolKey)
	}
	if opts.Instance != "" {
		metas := []*metav1.ObjectMeta{&wl.pod.ObjectMeta}
		for _, s := range wl.secrets {
			metas = append(metas, &s.ObjectMeta)
		}
		for _, c := range wl.claims {
			metas = append(metas, &c.ObjectMeta)
		}
		if wl.service != nil {
			metas = append(metas, &wl.service.ObjectMeta)
		}
		for _, m := range metas {
			m.Labels[LabelInstance] = opts.Instance
		}
	}
	return wl
}

// seal notes a keyed digest of s's type and data on s (AnnotationContent):
// keyed, so the annotation, readable by more people than the Secret, says
// nothing of a weak password.
func seal(s *corev1.Secret, key []byte) {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s.Type))
	for _, k := range slices.Sorted(maps.Keys(s.Data)) {
		fmt.Fprintf(h, "\x00%s\x00%d:", k, len(s.Data[k]))
		h.Write(s.Data[k])
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[AnnotationContent] = hex.EncodeToString(h.Sum(nil)[:16])
}

// selector selects the objects of this installation (and of workspace
// id, when given).
func (o *Options) selector(id string) string {
	sel := LabelManagedBy + "=" + ManagedBy
	if o.Instance != "" {
		sel += "," + LabelInstance + "=" + o.Instance
	}
	if id != "" {
		sel += "," + LabelWorkspaceID + "=" + id
	}
	return sel
}

// podBuilder gathers the pod's parts; volumes may add secrets and claims.
type podBuilder struct {
	w     *labspace.Workspace
	in    *runtime.Inputs
	opts  *Options
	base  string
	creds *corev1.Secret
	wl    *workload
	spec  corev1.PodSpec
	main  corev1.Container
}

func (b *podBuilder) pod() *corev1.Pod {
	w, env := b.w, &b.w.Spec.Environment.Spec
	b.main = corev1.Container{Name: "workspace", Image: env.Image, ImagePullPolicy: corev1.PullPolicy(env.ImagePullPolicy),
		Command: w.Spec.Command, Args: w.Spec.Args, WorkingDir: env.WorkingDir, Env: b.env(),
		Resources: resources(&w.Spec.Compute.Spec), SecurityContext: containerSecurity(env)}
	for _, t := range env.Tools {
		if t.Port > 0 {
			b.main.Ports = append(b.main.Ports, corev1.ContainerPort{Name: portName(t.Name), ContainerPort: int32(t.Port), Protocol: corev1.ProtocolTCP})
		}
	}
	if len(b.main.Ports) > 0 {
		// Ready once the first tool answers, like the local runtime.
		b.main.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(b.main.Ports[0].ContainerPort)}}, PeriodSeconds: 2}
	}
	b.spec.RestartPolicy = corev1.RestartPolicyAlways
	b.spec.SecurityContext = podSecurity(env)
	// The workload does not talk to the cluster's API in labspace's name,
	// nor in the namespace's default account's.
	noToken := false
	b.spec.AutomountServiceAccountToken = &noToken
	for i := range w.Spec.DataSources {
		b.volume(i, &w.Spec.DataSources[i])
	}
	if w.Spec.Compute.Spec.LargeShm {
		b.spec.Volumes = append(b.spec.Volumes, corev1.Volume{Name: "dshm", VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}})
		b.main.VolumeMounts = append(b.main.VolumeMounts, corev1.VolumeMount{Name: "dshm", MountPath: "/dev/shm"})
	}
	placement(&b.spec, w)
	b.spec.Containers = []corev1.Container{b.main}
	pod := &corev1.Pod{ObjectMeta: meta(w, b.in.Namespace, b.base), Spec: b.spec}
	for k, v := range w.Spec.General.Labels {
		if _, ours := pod.Labels[k]; !ours && !strings.HasPrefix(k, "labspace.dev/") {
			pod.Labels[k] = v
		}
	}
	podLabels(pod, w)
	pod.Annotations = map[string]string{}
	for k, v := range w.Spec.General.Annotations {
		pod.Annotations[k] = v
	}
	if p := w.Spec.Compute.Spec.GPUPortion; p != nil {
		pod.Annotations[AnnotationGPUPortion] = p.Memory
		if p.Percent > 0 {
			pod.Annotations[AnnotationGPUPortion] = strconv.Itoa(p.Percent) + "%"
		}
	}
	return pod
}

// env is the tool variables, then the workspace's own; Kubernetes expands
// $(VAR) in values, command and args from the variables before it.
func (b *podBuilder) env() []corev1.EnvVar {
	w := b.w
	ports := map[string]int{}
	for _, t := range w.Spec.Environment.Spec.Tools {
		if t.Port > 0 {
			ports[t.Name] = t.Port
		}
	}
	vars := runtime.ToolVars(w, ports)
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.EnvVar
	for _, k := range keys {
		out = append(out, corev1.EnvVar{Name: k, Value: vars[k]})
	}
	// The tool token, through the credentials Secret: not in the pod's
	// spec. A workspace with no tool has nothing for it to guard, and no
	// Secret to write unless it has credentials.
	if len(w.Spec.Environment.Spec.Tools) > 0 {
		token := runtime.Credential{ID: "labspace", Values: map[string]string{"tool-token": runtime.ToolToken(b.opts.ToolKey, w.ID)}}
		out = append(out, b.secretEnv(runtime.ToolTokenVar, token, "tool-token"))
	}
	for _, e := range w.Spec.Env {
		if e.Credential == nil {
			out = append(out, corev1.EnvVar{Name: e.Name, Value: e.Value})
			continue
		}
		out = append(out, b.secretEnv(e.Name, b.in.ByID[e.Credential.ID], e.Credential.Key))
	}
	return out
}

// secretEnv is a variable drawn from key of credential c, through the
// workspace's credentials Secret.
func (b *podBuilder) secretEnv(name string, c runtime.Credential, key string) corev1.EnvVar {
	skey := c.ID + "." + key
	b.creds.Data[skey] = []byte(c.Values[key])
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: b.creds.Name}, Key: skey}}}
}

// portName is a tool's port name: at most 15 characters, as Kubernetes wants.
func portName(tool string) string {
	if len(tool) > 15 {
		tool = strings.TrimRight(tool[:15], "-")
	}
	return tool
}

func resources(c *labspace.ComputeSpec) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	set := func(l corev1.ResourceList, name corev1.ResourceName, q string) {
		if q != "" {
			if v, err := resource.ParseQuantity(q); err == nil {
				l[name] = v
			}
		}
	}
	set(r.Requests, corev1.ResourceCPU, c.CPURequest)
	set(r.Limits, corev1.ResourceCPU, c.CPULimit)
	set(r.Requests, corev1.ResourceMemory, c.MemoryRequest)
	set(r.Limits, corev1.ResourceMemory, c.MemoryLimit)
	if c.GPUDevices > 0 {
		// Extended resources: requests must equal limits.
		q := *resource.NewQuantity(int64(c.GPUDevices), resource.DecimalSI)
		r.Requests[GPUResource], r.Limits[GPUResource] = q, q
	}
	for _, e := range c.ExtendedResources {
		set(r.Requests, corev1.ResourceName(e.Name), e.Quantity)
		set(r.Limits, corev1.ResourceName(e.Name), e.Quantity)
	}
	return r
}

// placement pins the pod to its node pool (tolerating the pool's taint)
// and lets GPU pods onto nodes tainted for GPUs.
func placement(spec *corev1.PodSpec, w *labspace.Workspace) {
	if pool := w.Spec.General.NodePool; pool != "" {
		spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: LabelNodePool, Operator: corev1.NodeSelectorOpIn, Values: []string{pool}}}}}}}}
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: LabelNodePool, Operator: corev1.TolerationOpEqual,
			Value: pool, Effect: corev1.TaintEffectNoSchedule})
	}
	if w.Spec.Compute.Spec.GPUDevices > 0 {
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: string(GPUResource), Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoSchedule})
	}
}

// service exposes the tools that listen; its type follows the tools'
// connections (a node port or load balancer tool makes it one).
// service exposes the tools reached without labspace's proxy (node port,
// load balancer); nil when every tool goes through the proxy, which
// reaches the pod at its own address and needs no Service.
func service(w *labspace.Workspace, ns, base string) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: meta(w, ns, base), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
		Selector: map[string]string{LabelWorkspaceID: w.ID}}}
	for _, t := range w.Spec.Environment.Spec.Tools {
		if t.Port == 0 || t.Connection != labspace.ConnNodePort && t.Connection != labspace.ConnLoadBalancer {
			continue
		}
		p := corev1.ServicePort{Name: portName(t.Name), Port: int32(t.Port), TargetPort: intstr.FromInt32(int32(t.Port)), Protocol: corev1.ProtocolTCP}
		if t.Connection == labspace.ConnNodePort {
			p.NodePort = int32(t.NodePort)
		} else {
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer // which gives node ports too
		}
		svc.Spec.Ports = append(svc.Spec.Ports, p)
	}
	if len(svc.Spec.Ports) == 0 {
		return nil
	}
	return svc
}

// pullSecret holds the project's registry credentials as a
// dockerconfigjson Secret; the kubelet picks the one of the image's registry.
func pullSecret(w *labspace.Workspace, in *runtime.Inputs, base string) *corev1.Secret {
	if len(in.Registries) == 0 {
		return nil
	}
	type auth struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Auth     string `json:"auth"`
	}
	auths := map[string]auth{}
	for _, c := range in.Registries {
		u, p := c.Values["username"], c.Values["password"]
		auths[c.Registry] = auth{u, p, base64.StdEncoding.EncodeToString([]byte(u + ":" + p))}
	}
	doc, _ := json.Marshal(map[string]any{"auths": auths})
	return &corev1.Secret{ObjectMeta: meta(w, in.Namespace, base+"-pull"), Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: doc}}
}
