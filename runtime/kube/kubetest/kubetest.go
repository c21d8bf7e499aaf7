// Package kubetest starts a real Kubernetes control plane for tests: etcd,
// kube-apiserver, kube-scheduler and kube-controller-manager on free
// loopback ports, with kwok playing the kubelet of fake nodes (some with
// nvidia.com/gpu, in two node pools). The binaries come from tools/build,
// which compiles them once into a cache folder.
//
// A test package starts one cluster in TestMain and shares it; each test
// works in its own namespaces.
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labspace/labspace/runtime/kube"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// LimitedUser is a user of the test cluster with no rights until a test
// binds it a role; LimitedKubeconfig signs in as it.
const LimitedUser = "labspace-limited"

// PodCIDR is where kwok takes pod addresses from: loopback addresses, so
// that a test can serve a stand-in tool at a pod's own address.
const PodCIDR = "127.1.0.1/16"

// HoldAnnotation on a pod keeps kwok from making it ready: a test then
// plays the kubelet itself (image pull failures, crashes).
const HoldAnnotation = "kwok.labspace.dev/hold"

// holdable writes a copy of kwok's pod-ready stage that skips held pods.
func holdable(stage, dir string) (string, error) {
	b, err := os.ReadFile(stage)
	if err != nil {
		return "", err
	}
	const anchor = "    matchExpressions:\n"
	if !strings.Contains(string(b), anchor) {
		return "", fmt.Errorf("%s: no matchExpressions to extend", stage)
	}
	extra := anchor + "    - key: '.metadata.annotations.\"" + HoldAnnotation + "\"'\n      operator: 'DoesNotExist'\n"
	out := filepath.Join(dir, "pod-ready.yaml")
	return out, os.WriteFile(out, []byte(strings.Replace(string(b), anchor, extra, 1)), 0o600)
}

// readyAgain is a kwok stage that plays one more part of the kubelet:
// reporting a running pod Ready again once its node is back. The node
// lifecycle controller marks the pods of a node it has not heard from
// NotReady (an API server stopped past the node monitor's grace period,
// on a loaded machine); a kubelet sets them Ready at its next status
// sync, but kwok's own stages only make pending pods ready, so such a pod
// stayed NotReady for good. Held pods are left to their test.
const readyAgain = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.metadata.annotations."` + HoldAnnotation + `"'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
`

// Node describes a fake node.
type Node struct {
	Name    string
	Pool    string // label labspace.dev/node-pool
	GPUs    int
	CPU     string
	Memory  string
	Taints  []corev1.Taint
	MaxPods int
}

// DefaultNodes: two CPU nodes in pool "cpu", two 2-GPU nodes in pool "a100".
var DefaultNodes = []Node{
	{Name: "cpu-1", Pool: "cpu", CPU: "16", Memory: "64Gi", MaxPods: 500},
	{Name: "cpu-2", Pool: "cpu", CPU: "16", Memory: "64Gi", MaxPods: 500},
	{Name: "gpu-1", Pool: "a100", GPUs: 2, CPU: "32", Memory: "256Gi", MaxPods: 500},
	{Name: "gpu-2", Pool: "a100", GPUs: 2, CPU: "32", Memory: "256Gi", MaxPods: 500},
}

// Cluster is a running control plane.
type Cluster struct {
	Dir        string
	Config     *rest.Config
	Client     kubernetes.Interface
	Kubeconfig string
	// LimitedKubeconfig signs in as LimitedUser.
	LimitedKubeconfig string
	procs             map[string]*exec.Cmd
	exited            map[string]chan struct{}
	bin               string
	args              map[string][]string
}

// BinDir returns the folder with the control plane binaries: $LABSPACE_KUBE_BIN,
// or the default cache folder of tools/build.
func BinDir() string {
	if d := os.Getenv("LABSPACE_KUBE_BIN"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = filepath.Join(os.Getenv("HOME"), ".cache")
	}
	return filepath.Join(cache, "labspace", "kube-v1.37.2")
}

// Available reports why the binaries are missing, or "" when they are there.
func Available() string {
	for _, b := range []string{"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kwok"} {
		if _, err := os.Stat(filepath.Join(BinDir(), b)); err != nil {
			return fmt.Sprintf("%s is missing in %s: run tools/build", b, BinDir())
		}
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Options change the test cluster from how clusters ship.
type Options struct {
	Nodes []Node // DefaultNodes when nil
	// TunedRates raises the scheduler's and controller manager's client
	// rates (default 50 and 20 requests/s) and the API server's requests in
	// flight to what a benchmark of hundreds of starts wants. Tests leave it
	// off: a real cluster's defaults are what labspace must live with.
	TunedRates bool
}

// Start runs a control plane in dir with nodes (DefaultNodes when nil),
// configured as clusters ship: default admission plugins (ServiceAccount
// and PodSecurity among them) and default component rates. It returns once
// every node is Ready and without the taints of a node not ready yet.
func Start(ctx context.Context, dir string, nodes []Node) (*Cluster, error) {
	return StartWith(ctx, dir, Options{Nodes: nodes})
}

// StartWith is Start with options.
func StartWith(ctx context.Context, dir string, o Options) (*Cluster, error) {
	if why := Available(); why != "" {
		return nil, errors.New(why)
	}
	nodes := o.Nodes
	if nodes == nil {
		nodes = DefaultNodes
	}
	c := &Cluster{Dir: dir, procs: map[string]*exec.Cmd{}, exited: map[string]chan struct{}{}, bin: BinDir(), args: map[string][]string{}}
	if err := c.prepare(o.TunedRates); err != nil {
		return nil, err
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if err := c.startProc(name); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.waitAPI(ctx, 60*time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		if err := c.startProc(name); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.AddNodes(ctx, nodes); err != nil {
		c.Stop()
		return nil, err
	}
	// The node lifecycle controller untaints at its default 20 requests/s
	// while kwok's heartbeats conflict: 1,000 nodes took nearly 4 minutes.
	if err := c.WaitNodesReady(ctx, max(3*time.Minute, time.Duration(len(nodes))*400*time.Millisecond)); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// notReadyTaints are put on a node until it reports Ready.
var notReadyTaints = map[string]bool{"node.kubernetes.io/not-ready": true, "node.kubernetes.io/unreachable": true}

// WaitNodesReady waits until every node is Ready, schedulable as far as
// its taints go (none of notReadyTaints), and the namespace "default" has
// its service account: until then the scheduler or admission refuses pods.
func (c *Cluster) WaitNodesReady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		why := c.notReady(ctx)
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready after %s: %s\n%s", within, why, c.Logs("kube-controller-manager"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// notReady says what is not ready yet, or "".
func (c *Cluster) notReady(ctx context.Context) string {
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	for _, n := range nodes.Items {
		ready := false
		for _, cd := range n.Status.Conditions {
			ready = ready || cd.Type == corev1.NodeReady && cd.Status == corev1.ConditionTrue
		}
		if !ready {
			return "node " + n.Name + " is not Ready"
		}
		for _, t := range n.Spec.Taints {
			if notReadyTaints[t.Key] {
				return "node " + n.Name + " has taint " + t.Key
			}
		}
	}
	if _, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return "service account default/default: " + err.Error()
	}
	return ""
}

// PauseControllerManager stops kube-controller-manager in its tracks
// (SIGSTOP), as a slow or restarting one is: new namespaces get no
// service account, nothing is garbage collected. ResumeControllerManager
// lets it go on.
func (c *Cluster) PauseControllerManager() { c.signal("kube-controller-manager", syscall.SIGSTOP) }

// ResumeControllerManager undoes PauseControllerManager.
func (c *Cluster) ResumeControllerManager() { c.signal("kube-controller-manager", syscall.SIGCONT) }

func (c *Cluster) signal(name string, sig syscall.Signal) {
	if p := c.procs[name]; p != nil && p.Process != nil {
		_ = syscall.Kill(-p.Process.Pid, sig)
	}
}

// prepare writes keys, the token file and kubeconfig, and the command lines.
func (c *Cluster) prepare(tuned bool) error {
	ports := map[string]int{}
	for _, n := range []string{"etcd", "etcd-peer", "apiserver", "scheduler", "kcm", "kwok"} {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[n] = p
	}
	tokenRaw := make([]byte, 16)
	_, _ = rand.Read(tokenRaw)
	token := hex.EncodeToString(tokenRaw)
	saKey := filepath.Join(c.Dir, "sa.key")
	if err := writeKey(saKey); err != nil {
		return err
	}
	// A second user with no rights of its own: tests bind it a role and
	// run labspace as it, to check that the role suffices.
	limitedRaw := make([]byte, 16)
	_, _ = rand.Read(limitedRaw)
	limited := hex.EncodeToString(limitedRaw)
	tokens := token + ",admin,admin,system:masters\n" + limited + "," + LimitedUser + "," + LimitedUser + "\n"
	if err := os.WriteFile(filepath.Join(c.Dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(ports["apiserver"])
	// Protobuf and 500 requests/s, as labspace's own client (kube.New):
	// the benchmarks' floor gets every setting labspace gets.
	c.Config = &rest.Config{Host: server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS: 500, Burst: 1000, ContentConfig: rest.ContentConfig{ContentType: kube.ContentType, AcceptContentTypes: kube.AcceptContentTypes}}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, server, token)
	if err := os.WriteFile(c.Kubeconfig, []byte(kc), 0o600); err != nil {
		return err
	}
	c.LimitedKubeconfig = filepath.Join(c.Dir, "kubeconfig-"+LimitedUser)
	if err := os.WriteFile(c.LimitedKubeconfig, []byte(strings.ReplaceAll(kc, token, limited)), 0o600); err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports["etcd"])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports["etcd-peer"])
	c.args["etcd"] = []string{"--data-dir", filepath.Join(c.Dir, "etcd"), "--listen-client-urls", etcdURL,
		"--advertise-client-urls", etcdURL, "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default=" + peerURL, "--log-level", "error", "--quota-backend-bytes", "4294967296"}
	c.args["kube-apiserver"] = []string{"--etcd-servers", etcdURL, "--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(ports["apiserver"]),
		"--cert-dir", filepath.Join(c.Dir, "certs"), "--token-auth-file", filepath.Join(c.Dir, "tokens.csv"),
		"--authorization-mode", "RBAC", "--service-account-key-file", saKey, "--service-account-signing-key-file", saKey,
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-cluster-ip-range", "10.96.0.0/16",
		"--endpoint-reconciler-type", "none", "-v", "0"}
	common := []string{"--kubeconfig", c.Kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1", "-v", "0"}
	c.args["kube-controller-manager"] = append(append([]string{}, common...), "--secure-port", strconv.Itoa(ports["kcm"]),
		"--service-account-private-key-file", saKey, "--use-service-account-credentials=false",
		"--controllers", "*,-nodeipam")
	c.args["kube-scheduler"] = append(append([]string{}, common...), "--secure-port", strconv.Itoa(ports["scheduler"]))
	if tuned {
		c.args["kube-apiserver"] = append(c.args["kube-apiserver"], "--max-requests-inflight", "2000", "--max-mutating-requests-inflight", "1000")
		for _, n := range []string{"kube-controller-manager", "kube-scheduler"} {
			c.args[n] = append(c.args[n], "--kube-api-qps", "500", "--kube-api-burst", "1000")
		}
	}
	stages, _ := filepath.Glob(filepath.Join(c.bin, "kwok-stages", "*.yaml"))
	kwok := []string{"--kubeconfig", c.Kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake", "--server-address", "127.0.0.1:" + strconv.Itoa(ports["kwok"]),
		"--node-ip", "127.0.0.1", "--cidr", PodCIDR}
	for _, s := range stages {
		if filepath.Base(s) == "pod-ready.yaml" {
			held, err := holdable(s, c.Dir)
			if err != nil {
				return err
			}
			s = held
		}
		kwok = append(kwok, "--config", s)
	}
	again := filepath.Join(c.Dir, "pod-ready-again.yaml")
	if err := os.WriteFile(again, []byte(readyAgain), 0o600); err != nil {
		return err
	}
	c.args["kwok"] = append(kwok, "--config", again)
	return nil
}

func (c *Cluster) startProc(name string) error {
	logf, err := os.OpenFile(filepath.Join(c.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.bin, name), c.args[name]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	c.procs[name] = cmd
	c.exited[name] = exited
	return nil
}

func (c *Cluster) waitAPI(ctx context.Context, within time.Duration) error {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	c.Client = cs
	deadline := time.Now().Add(within)
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-c.exited["kube-apiserver"]:
			return fmt.Errorf("kube-apiserver exited:\n%s", c.Logs("kube-apiserver"))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready: %v\n%s", err, c.Logs("kube-apiserver"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// AddNodes creates fake nodes that kwok keeps Ready.
func (c *Cluster) AddNodes(ctx context.Context, nodes []Node) error {
	for _, n := range nodes {
		alloc := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(n.CPU),
			corev1.ResourceMemory: resource.MustParse(n.Memory),
			corev1.ResourcePods:   *resource.NewQuantity(int64(max(n.MaxPods, 110)), resource.DecimalSI),
		}
		if n.GPUs > 0 {
			alloc["nvidia.com/gpu"] = *resource.NewQuantity(int64(n.GPUs), resource.DecimalSI)
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels: map[string]string{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux",
					"type": "kwok", "labspace.dev/node-pool": n.Pool}},
			Spec:   corev1.NodeSpec{Taints: n.Taints},
			Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc},
		}
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	return nil
}

// StopAPIServer stops kube-apiserver (a fault to survive); StartAPIServer
// brings it back on the same port.
func (c *Cluster) StopAPIServer() { c.kill("kube-apiserver") }

// StartAPIServer restarts kube-apiserver and waits until it answers.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.startProc("kube-apiserver"); err != nil {
		return err
	}
	return c.waitAPI(ctx, 60*time.Second)
}

func (c *Cluster) kill(name string) {
	if p := c.procs[name]; p != nil && p.Process != nil {
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		select {
		case <-c.exited[name]:
		case <-time.After(5 * time.Second):
		}
		delete(c.procs, name)
	}
}

// Stop ends every process of the control plane.
func (c *Cluster) Stop() {
	for _, n := range []string{"kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		c.kill(n)
	}
}

// Logs returns the tail of a component's log, for failure messages.
func (c *Cluster) Logs(name string) string {
	raw, _ := os.ReadFile(filepath.Join(c.Dir, name+".log"))
	return tail(strings.TrimSpace(string(raw)), 4000)
}

// Pids returns the process id of each running control plane program,
// for benchmarks that report the control plane's CPU time and memory.
func (c *Cluster) Pids() map[string]int {
	out := map[string]int{}
	for name, p := range c.procs {
		if p != nil && p.Process != nil && p.ProcessState == nil {
			out[name] = p.Process.Pid
		}
	}
	return out
}
