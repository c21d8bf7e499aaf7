package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labspace/labspace/runtime/kube/kubetest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// events lists a workspace's events as the API gives them.
func (s *server) events(project, name string) []struct{ Type, Reason, Message string } {
	s.t.Helper()
	var out struct {
		Items []struct{ Type, Reason, Message string }
	}
	s.must(200, "GET", "/api/v1/projects/"+project+"/workspaces/"+name+"/events", s.admin, nil, &out)
	return out.Items
}

// The first workspace of a new project, while the controller manager is
// stalled: ServiceAccount admission refuses its pod ("error looking up
// service account") until the namespace's default account exists. That
// heals by itself: the workspace says it is retrying (its reason, a
// Warning event) and runs once the account appears, instead of failing
// for good.
func TestKubeTransientRefusalHeals(t *testing.T) {
	s, c := kubeServer(t, "fresh")
	kubeBlocks(s, freePort(t))
	s.project("fresh", map[string]any{"gpus": 0})
	c.PauseControllerManager()
	paused := true
	defer func() {
		if paused {
			c.ResumeControllerManager()
		}
	}()
	s.kubeCreate("fresh", "first", "one-cpu", nil)
	var w workspace
	waitFor(t, "the workspace to say it is retrying", converge, func() bool {
		s.must(200, "GET", "/api/v1/projects/fresh/workspaces/first", s.admin, nil, &w)
		if w.Status.Phase == "Failed" {
			t.Fatalf("a refusal that heals failed the workspace: %s: %s", w.Status.PhaseReason, w.Status.PhaseMessage)
		}
		return w.Status.PhaseReason == "StartRetrying"
	})
	if !strings.Contains(w.Status.PhaseMessage, "service account") {
		t.Errorf("the retry does not say why: %q", w.Status.PhaseMessage)
	}
	warned := 0
	for _, e := range s.events("fresh", "first") {
		if e.Type == "Warning" && e.Reason == "StartRetrying" {
			warned++
		}
	}
	time.Sleep(3 * time.Second) // several retries while the account is missing
	if w := s.waitPhase("fresh", "first", w.Status.Phase, time.Second); w.Status.PhaseReason != "StartRetrying" {
		t.Errorf("still retrying? %s: %s", w.Status.PhaseReason, w.Status.PhaseMessage)
	}
	again := 0
	for _, e := range s.events("fresh", "first") {
		if e.Type == "Warning" && e.Reason == "StartRetrying" {
			again++
		}
	}
	if warned != 1 || again != 1 {
		t.Errorf("%d then %d StartRetrying warnings, want one while the reason holds", warned, again)
	}
	c.ResumeControllerManager()
	paused = false
	s.waitPhase("fresh", "first", "Running", converge)
}

// Maintenance is "not now", not "never": with both GPU nodes cordoned (or
// one cordoned and the other NotReady), a two-GPU workspace is still
// created, waits Pending or Initializing with the scheduler's reason, and
// runs once a node is back. A request no node could ever hold is still 422.
func TestKubeCordonedNodesAreNotNever(t *testing.T) {
	s, c := kubeServer(t, "maint")
	kubeBlocks(s, freePort(t))
	s.project("maint", map[string]any{"gpus": 4})
	ctx := context.Background()
	nodes := c.Client.CoreV1().Nodes()
	setNode := func(name string, change func(n *corev1.Node), status bool) {
		t.Helper()
		for try := 0; ; try++ {
			n, err := nodes.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			change(n)
			if status {
				_, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
			} else {
				_, err = nodes.Update(ctx, n, metav1.UpdateOptions{})
			}
			if err == nil {
				return
			}
			if try == 10 {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	cordon := func(name string, on bool) {
		setNode(name, func(n *corev1.Node) { n.Spec.Unschedulable = on }, false)
	}
	// Whatever happens, the next test gets its nodes back.
	t.Cleanup(func() {
		setNode("gpu-2", func(n *corev1.Node) { n.Annotations["kwok.x-k8s.io/node"] = "fake" }, false)
		cordon("gpu-1", false)
		cordon("gpu-2", false)
		if err := c.WaitNodesReady(ctx, converge); err != nil {
			t.Error(err)
		}
	})
	cordon("gpu-1", true)
	cordon("gpu-2", true)
	time.Sleep(1500 * time.Millisecond) // the service reads capacity at most once a second

	s.kubeCreate("maint", "waits", "gpu-two", map[string]any{"nodePool": "a100"})
	var w workspace
	waitFor(t, "the workspace to wait for the scheduler", converge, func() bool {
		s.must(200, "GET", "/api/v1/projects/maint/workspaces/waits", s.admin, nil, &w)
		return strings.Contains(w.Status.PhaseMessage, "unschedulable") || strings.Contains(w.Status.PhaseMessage, "cordoned")
	})
	if w.Status.Phase == "Failed" || w.Status.Phase == "Running" {
		t.Fatalf("with every GPU node cordoned: %s (%s: %s)", w.Status.Phase, w.Status.PhaseReason, w.Status.PhaseMessage)
	}
	// "Never" still answers 422 when the nodes are cordoned.
	status, body := s.call("POST", "/api/v1/projects/maint/workspaces", s.admin, map[string]any{"name": "never", "environment": "tool", "compute": "gpu-four"}, nil)
	if status != 422 || !strings.Contains(string(body), "largest node") {
		t.Errorf("four GPUs with every GPU node cordoned: %d %s, want 422 naming the largest node", status, body)
	}

	// One node cordoned, the other NotReady: still not "never".
	setNode("gpu-2", func(n *corev1.Node) {
		delete(n.Annotations, "kwok.x-k8s.io/node") // kwok would mend it
	}, false)
	setNode("gpu-2", func(n *corev1.Node) {
		for i := range n.Status.Conditions {
			if n.Status.Conditions[i].Type == corev1.NodeReady {
				n.Status.Conditions[i].Status = corev1.ConditionFalse
				n.Status.Conditions[i].Reason = "KubeletDown"
			}
		}
	}, true)
	cordon("gpu-2", false)
	time.Sleep(1500 * time.Millisecond)
	s.kubeCreate("maint", "waits-too", "gpu-two", map[string]any{"nodePool": "a100"})
	if w := s.waitPhase("maint", "waits-too", "Pending", converge); w.Status.Phase == "Failed" {
		t.Fatalf("with gpu-1 cordoned and gpu-2 NotReady: %+v", w.Status)
	}

	// Back from maintenance: both run.
	setNode("gpu-2", func(n *corev1.Node) { n.Annotations["kwok.x-k8s.io/node"] = "fake" }, false)
	cordon("gpu-1", false)
	if err := c.WaitNodesReady(ctx, converge); err != nil {
		t.Fatal(err)
	}
	s.waitPhase("maint", "waits", "Running", converge)
	s.waitPhase("maint", "waits-too", "Running", converge)
	for _, n := range []string{"waits", "waits-too"} {
		for _, e := range s.events("maint", n) {
			if e.Type == "Warning" {
				t.Errorf("%s: %s", n, fmt.Sprint(e))
			}
		}
	}
}

// apiProxy stands in front of the test cluster's API server: it answers
// the first pod creations in namespace ns with faults, one each, in order
// (the refusals a busy or restarting cluster gives), and records every
// request that is not a watch.
type apiProxy struct {
	ns       string
	mu       sync.Mutex
	faults   []int // HTTP statuses still to give
	injected []int
	requests []string // "POST /api/v1/namespaces/x/pods"
}

func (f *apiProxy) fault(r *http.Request) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Query().Get("watch") != "true" {
		f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	}
	if len(f.faults) == 0 || r.Method != "POST" || r.URL.Path != "/api/v1/namespaces/"+f.ns+"/pods" {
		return 0
	}
	code := f.faults[0]
	f.faults, f.injected = f.faults[1:], append(f.injected, code)
	return code
}

// since returns the requests recorded after the first n.
func (f *apiProxy) since(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests[n:]...)
}

func (f *apiProxy) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// kubeconfig starts the proxy and writes a kubeconfig that goes through it.
func (f *apiProxy) kubeconfig(t *testing.T, c *kubetest.Cluster) string {
	target, err := url.Parse(c.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	rp.FlushInterval = -1 // watches stream
	reasons := map[int]string{409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := f.fault(r); code != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected %d","reason":%q,"code":%d}`, code, reasons[code], code)
			return
		}
		// client-go sends no bearer token over plain HTTP: the proxy
		// signs the requests in.
		r.Header.Set("Authorization", "Bearer "+c.Config.BearerToken)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: p, cluster: {server: %q}}]\nusers: [{name: u, user: {}}]\n"+
		"contexts: [{name: p, context: {cluster: p, user: u}}]\ncurrent-context: p\n", srv.URL)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Conflicts, throttling, server errors and timeouts on pod creation are
// tried again: every workspace runs, none is ever Failed, and the retries
// show as StartRetrying warnings.
func TestKubeInjectedFaultsAreRetried(t *testing.T) {
	c := cluster(t)
	cleanPods(t, c, "faulty")
	f := &apiProxy{ns: "labspace-faulty", faults: []int{409, 429, 500, 503, 504, 500, 504}}
	s := startServer(t, freeAddr(t), t.TempDir(), "--kubeconfig", f.kubeconfig(t, c))
	kubeBlocks(s, freePort(t))
	s.project("faulty", map[string]any{"gpus": 0})
	for i := range 4 {
		s.kubeCreate("faulty", fmt.Sprintf("w%d", i), "one-cpu", nil)
	}
	converged(t, s, "faulty", converge)
	f.mu.Lock()
	injected, left := f.injected, len(f.faults)
	f.mu.Unlock()
	if left != 0 {
		t.Fatalf("only %v of the faults were met", injected)
	}
	warnings := 0
	for i := range 4 {
		for _, e := range s.events("faulty", fmt.Sprintf("w%d", i)) {
			if strings.Contains(e.Message, "Failed") || e.Reason == "StartFailed" {
				t.Errorf("w%d: %+v", i, e)
			}
			if e.Type == "Warning" && e.Reason == "StartRetrying" {
				warnings++
			}
		}
	}
	if warnings == 0 {
		t.Error("no StartRetrying warning after 7 refused pod creations")
	}
}

// Every call labspace makes to start a workspace has a reason: the start
// of a workspace with one proxied tool and no credentials writes two
// objects (the Secret with its tool token, the pod), a restart only the
// pod (the Secret holds the same token), and neither reads the pods of
// the whole cluster.
func TestKubeStartRequestEconomy(t *testing.T) {
	c := cluster(t)
	cleanPods(t, c, "thrifty")
	f := &apiProxy{ns: "labspace-thrifty"}
	s := startServer(t, freeAddr(t), t.TempDir(), "--kubeconfig", f.kubeconfig(t, c))
	kubeBlocks(s, freePort(t))
	s.project("thrifty", map[string]any{"gpus": 0})
	s.kubeCreate("thrifty", "first", "one-cpu", nil) // makes the namespace and its policies
	s.waitPhase("thrifty", "first", "Running", converge)

	check := func(what string, from, most int) {
		t.Helper()
		var writes []string
		all := f.since(from)
		for _, r := range all {
			if !strings.HasPrefix(r, "GET ") {
				writes = append(writes, r)
			}
			if r == "GET /api/v1/pods" {
				t.Errorf("%s: a cluster-wide pod LIST", what)
			}
		}
		t.Logf("%s: %d writes in %d requests: %v", what, len(writes), len(all), all)
		if len(writes) > most {
			t.Errorf("%s: %d writes, want at most %d", what, len(writes), most)
		}
	}
	from := f.count()
	s.kubeCreate("thrifty", "second", "one-cpu", nil)
	s.waitPhase("thrifty", "second", "Running", converge)
	check("first start", from, 2)

	s.must(202, "POST", "/api/v1/projects/thrifty/workspaces/second/stop", s.admin, nil, nil)
	s.waitPhase("thrifty", "second", "Stopped", converge)
	from = f.count()
	s.must(202, "POST", "/api/v1/projects/thrifty/workspaces/second/start", s.admin, nil, nil)
	s.waitPhase("thrifty", "second", "Running", converge)
	check("restart", from, 1)
}
