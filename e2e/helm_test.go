package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace/runtime/kube/kubetest"
	"github.com/labspace/labspace/store/pgtest"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	runtimeobj "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

const chartDir = "../deploy/helm/labspace"

// rendered is a chart's output: its objects by kind/name.
type rendered map[string]*unstructured.Unstructured

// renderChart lints the chart with vals and renders it as release name in
// ns. With cfg, the chart's lookups read that cluster (as on an upgrade).
func renderChart(t *testing.T, name, ns string, vals map[string]any, cfg *rest.Config) rendered {
	t.Helper()
	linter := lint.All(chartDir, vals, ns, false)
	for _, m := range linter.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
	out, err := renderErr(name, ns, vals, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// renderErr renders the chart, returning why it fails to.
func renderErr(name, ns string, vals map[string]any, cfg *rest.Config) (rendered, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	opts := chartutil.ReleaseOptions{Name: name, Namespace: ns, Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	var files map[string]string
	if cfg != nil {
		files, err = engine.RenderWithClient(ch, rv, cfg)
	} else {
		files, err = engine.Render(ch, rv)
	}
	if err != nil {
		return nil, err
	}
	objs := rendered{}
	for file, text := range files {
		if !strings.HasSuffix(file, ".yaml") {
			continue
		}
		for _, doc := range strings.Split(text, "\n---") {
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if m == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			objs[u.GetKind()+"/"+u.GetName()] = u
		}
	}
	return objs, nil
}

// as converts the rendered object key into out, a typed object.
func (r rendered) as(t *testing.T, key string, out any) {
	t.Helper()
	u, ok := r[key]
	if !ok {
		t.Fatalf("no %s rendered; have %v", key, r.keys())
	}
	if err := runtimeobj.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatal(err)
	}
}

func (r rendered) keys() []string { return slices.Sorted(maps.Keys(r)) }

// container is the Deployment's labspace container.
func (r rendered) container(t *testing.T, fullname string) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	r.as(t, "Deployment/"+fullname, &d)
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(d.Spec.Template.Spec.Containers))
	}
	return &d, d.Spec.Template.Spec.Containers[0]
}

// envFrom is where variable name comes from: "secret/key", or "" when unset.
func envFrom(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return ""
}

// The chart renders, and lints clean, with its defaults: one replica on
// SQLite in a claim, a generated key, the restricted security context,
// the probes, and the ClusterRole of docs/examples/rbac.yaml.
func TestHelmChartDefaults(t *testing.T) {
	r := renderChart(t, "lsd", "labspace", nil, nil)
	d, c := r.container(t, "lsd-labspace")
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d, strategy %q: want 1, Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	for _, want := range []string{"serve", "--in-cluster", "--data-dir=/data", "--instance=lsd-labspace",
		"--proxy-namespace=labspace", "--public-url=http://lsd-labspace.labspace.svc:80"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	if got := envFrom(c, "LABSPACE_SECRET_KEY"); got != "lsd-labspace/secret-key" {
		t.Errorf("LABSPACE_SECRET_KEY from %q", got)
	}
	if envFrom(c, "LABSPACE_DATABASE") != "" {
		t.Errorf("a database without one given")
	}
	var secret corev1.Secret
	r.as(t, "Secret/lsd-labspace", &secret)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).Match(secret.Data["secret-key"]) {
		t.Errorf("generated key %q: not 64 hex digits", secret.Data["secret-key"])
	}
	again, _ := renderErr("lsd", "labspace", nil, nil)
	var other corev1.Secret
	again.as(t, "Secret/lsd-labspace", &other)
	if string(other.Data["secret-key"]) == string(secret.Data["secret-key"]) {
		t.Errorf("two installs generated the same key")
	}
	pod := d.Spec.Template.Spec
	sc := c.SecurityContext
	if !*pod.SecurityContext.RunAsNonRoot || *pod.SecurityContext.RunAsUser != 65532 || !*sc.ReadOnlyRootFilesystem ||
		*sc.AllowPrivilegeEscalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("security context: pod %+v, container %+v", pod.SecurityContext, sc)
	}
	if c.LivenessProbe.HTTPGet.Path != "/livez" || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
		c.ReadinessProbe.HTTPGet.Port.String() != "http" || c.Ports[0].Name != "http" {
		t.Errorf("probes: %+v, %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if pod.Volumes[0].Name != "data" || pod.Volumes[0].PersistentVolumeClaim == nil || pod.Volumes[0].PersistentVolumeClaim.ClaimName != "lsd-labspace-data" {
		t.Errorf("data volume %+v: want the claim", pod.Volumes[0])
	}
	var role rbacv1.ClusterRole
	r.as(t, "ClusterRole/labspace-lsd-labspace", &role)
	if want := exampleClusterRole(t).Rules; !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("the chart's rules differ from docs/examples/rbac.yaml:\n%+v\n%+v", role.Rules, want)
	}
	for _, k := range []string{"PersistentVolumeClaim/lsd-labspace-data", "Service/lsd-labspace", "ServiceAccount/lsd-labspace",
		"ClusterRoleBinding/labspace-lsd-labspace"} {
		if r[k] == nil {
			t.Errorf("no %s", k)
		}
	}
	for _, k := range []string{"Ingress/lsd-labspace", "PodDisruptionBudget/lsd-labspace"} {
		if r[k] != nil {
			t.Errorf("%s without being asked for", k)
		}
	}
}

// Three replicas on an existing database Secret, behind an Ingress with a
// wildcard host for the tools: the URL comes from that Secret, a
// disruption budget keeps two up, the data folder is an emptyDir.
func TestHelmChartReplicasIngress(t *testing.T) {
	vals := map[string]any{"replicaCount": 3, "instance": "prod",
		"database":    map[string]any{"existingSecret": "pg", "existingSecretKey": "uri"},
		"proxyDomain": "tools.example.com", "trustedProxies": []any{"10.0.0.0/8"},
		"ingress": map[string]any{"enabled": true, "className": "nginx", "host": "labspace.example.com",
			"tls": map[string]any{"enabled": true, "secretName": "labspace-tls", "wildcardSecretName": "tools-tls"}}}
	r := renderChart(t, "ha", "team", vals, nil)
	d, c := r.container(t, "ha-labspace")
	if *d.Spec.Replicas != 3 || d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d, strategy %q", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	for _, want := range []string{"--instance=prod", "--public-url=https://labspace.example.com",
		"--proxy-domain=tools.example.com", "--trusted-proxy=10.0.0.0/8"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	if got := envFrom(c, "LABSPACE_DATABASE"); got != "pg/uri" {
		t.Errorf("LABSPACE_DATABASE from %q, want pg/uri", got)
	}
	if v := d.Spec.Template.Spec.Volumes[0]; v.EmptyDir == nil {
		t.Errorf("data volume %+v: want an emptyDir", v)
	}
	if r["PersistentVolumeClaim/ha-labspace-data"] != nil {
		t.Errorf("a claim with PostgreSQL")
	}
	var pdb policyv1.PodDisruptionBudget
	r.as(t, "PodDisruptionBudget/ha-labspace", &pdb)
	if pdb.Spec.MaxUnavailable.IntValue() != 1 || !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("disruption budget %+v", pdb.Spec)
	}
	var ing networkingv1.Ingress
	r.as(t, "Ingress/ha-labspace", &ing)
	var hosts []string
	for _, rule := range ing.Spec.Rules {
		hosts = append(hosts, rule.Host)
		if b := rule.HTTP.Paths[0].Backend.Service; b.Name != "ha-labspace" || b.Port.Name != "http" {
			t.Errorf("%s goes to %+v", rule.Host, b)
		}
	}
	if !reflect.DeepEqual(hosts, []string{"labspace.example.com", "*.tools.example.com"}) || *ing.Spec.IngressClassName != "nginx" {
		t.Errorf("ingress hosts %q, class %v", hosts, ing.Spec.IngressClassName)
	}
	if len(ing.Spec.TLS) != 2 || ing.Spec.TLS[0].SecretName != "labspace-tls" || ing.Spec.TLS[1].SecretName != "tools-tls" ||
		ing.Spec.TLS[1].Hosts[0] != "*.tools.example.com" {
		t.Errorf("ingress TLS %+v", ing.Spec.TLS)
	}
	var secret corev1.Secret
	r.as(t, "Secret/ha-labspace", &secret)
	if _, ok := secret.Data["database-url"]; ok {
		t.Errorf("the chart's Secret holds a database URL given in another Secret")
	}
	// What the chart refuses, with the reason.
	for want, bad := range map[string]map[string]any{
		"replicaCount > 1 needs PostgreSQL":  {"replicaCount": 2},
		"secretKey.value must be 64 hex":     {"secretKey": map[string]any{"value": "short"}},
		"ingress.enabled needs ingress.host": {"ingress": map[string]any{"enabled": true}},
	} {
		if _, err := renderErr("bad", "team", bad, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("values %v: %v, want an error saying %q", bad, err, want)
		}
	}
}

// Single sign-on: the --oidc-* flags, the client secret in the chart's
// Secret and handed over in $LABSPACE_OIDC_CLIENT_SECRET, a given key and
// admin password.
func TestHelmChartSSO(t *testing.T) {
	key := strings.Repeat("ab", 32)
	vals := map[string]any{"publicURL": "https://ls.example.org", "secretKey": map[string]any{"value": key},
		"database":      map[string]any{"url": "postgres://ls:pw@db/ls"},
		"adminPassword": map[string]any{"existingSecret": "boot", "existingSecretKey": "pw"},
		"oidc": map[string]any{"issuer": "https://idp.example.org", "clientID": "labspace", "clientSecret": "s3cret",
			"name": "Example ID", "only": true, "adminGroups": []any{"admins", "ops"}, "scopes": []any{"openid", "email"}}}
	r := renderChart(t, "sso", "ls", vals, nil)
	_, c := r.container(t, "sso-labspace")
	for _, want := range []string{"--oidc-issuer=https://idp.example.org", "--oidc-client-id=labspace", "--oidc-name=Example ID",
		"--oidc-only", "--oidc-admin-groups=admins,ops", "--oidc-scopes=openid,email", "--public-url=https://ls.example.org"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	for name, want := range map[string]string{"LABSPACE_OIDC_CLIENT_SECRET": "sso-labspace/oidc-client-secret",
		"LABSPACE_DATABASE": "sso-labspace/database-url", "LABSPACE_ADMIN_PASSWORD": "boot/pw",
		"LABSPACE_SECRET_KEY": "sso-labspace/secret-key"} {
		if got := envFrom(c, name); got != want {
			t.Errorf("%s from %q, want %s", name, got, want)
		}
	}
	var secret corev1.Secret
	r.as(t, "Secret/sso-labspace", &secret)
	if string(secret.Data["oidc-client-secret"]) != "s3cret" || string(secret.Data["secret-key"]) != key ||
		string(secret.Data["database-url"]) != "postgres://ls:pw@db/ls" {
		t.Errorf("the chart's Secret holds %v", secret.Data)
	}
	if strings.Contains(strings.Join(c.Args, " "), "s3cret") || strings.Contains(strings.Join(c.Args, " "), "pw@db") {
		t.Errorf("a secret on the command line: %q", c.Args)
	}
}

// applyAll server-side applies objs as field manager helm-test.
func applyAll(t *testing.T, c *kubetest.Cluster, objs rendered) {
	t.Helper()
	ctx := context.Background()
	dyn := dynamic.NewForConfigOrDie(c.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	for _, k := range objs.keys() {
		u := objs[k]
		m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if u.GetNamespace() != "" {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		if _, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "helm-test", Force: true}); err != nil {
			t.Fatalf("apply %s: %v", k, err)
		}
	}
}

// helmNamespace makes ns, enforcing the restricted Pod Security level, and
// deletes it, and the release's cluster-wide objects, when the test ends.
func helmNamespace(t *testing.T, c *kubetest.Cluster, ns, release string) {
	ctx := context.Background()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release}
		_ = c.Client.RbacV1().ClusterRoleBindings().DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
		_ = c.Client.RbacV1().ClusterRoles().DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	})
}

// serviceAccountKubeconfig writes a kubeconfig signing in as the service
// account with a token from the TokenRequest API, on the test cluster's
// server with its CA.
func serviceAccountKubeconfig(t *testing.T, c *kubetest.Cluster, ns, name string) string {
	t.Helper()
	hour := int64(3600)
	tok, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]
	if cluster.CertificateAuthority == "" && len(cluster.CertificateAuthorityData) == 0 {
		// The test cluster's kubeconfig skips verification: trust the
		// apiserver's own (self-signed) certificate instead.
		raw, err := os.ReadFile(filepath.Join(c.Dir, "certs", "apiserver.crt"))
		if err != nil {
			t.Fatal(err)
		}
		cluster.CertificateAuthorityData, cluster.InsecureSkipTLSVerify = raw, false
	}
	out := clientcmdapi.NewConfig()
	out.Clusters["test"] = cluster
	out.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	out.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name}
	out.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*out, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// chartFlags are the Deployment's labspace flags for a process here: on
// the cluster of kubeconfig instead of --in-cluster, with the harness's
// address and data folder. The Secrets the variables name are read from
// the cluster into this process's environment (t.Setenv).
func chartFlags(t *testing.T, c *kubetest.Cluster, objs rendered, fullname, kubeconfig string) []string {
	t.Helper()
	d, ct := objs.container(t, fullname)
	flags := []string{"--kubeconfig", kubeconfig}
	for _, a := range ct.Args[1:] {
		if a != "--in-cluster" && !strings.HasPrefix(a, "--addr=") && !strings.HasPrefix(a, "--data-dir=") {
			flags = append(flags, a)
		}
	}
	for _, e := range ct.Env {
		ref := e.ValueFrom.SecretKeyRef
		s, err := c.Client.CoreV1().Secrets(d.Namespace).Get(context.Background(), ref.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		t.Setenv(e.Name, string(s.Data[ref.Key]))
	}
	return flags
}

// installChart renders the chart against the cluster and applies it in a
// new namespace; the Deployment's pods, made by the cluster's controllers,
// pass the restricted Pod Security admission.
func installChart(t *testing.T, c *kubetest.Cluster, name, ns string, vals map[string]any, edit func(rendered)) rendered {
	t.Helper()
	objs := renderChart(t, name, ns, vals, c.Config)
	if edit != nil {
		edit(objs)
	}
	applyAll(t, c, objs)
	d, _ := objs.container(t, name+"-labspace")
	sel := metav1.FormatLabelSelector(d.Spec.Selector)
	waitFor(t, "the Deployment's pods", converge, func() bool {
		list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
		return err == nil && len(list.Items) == int(*d.Spec.Replicas)
	})
	return objs
}

// The chart installed on the test cluster (server-side apply, real
// admission) with two replicas on PostgreSQL: its pods pass the
// restricted Pod Security level; an upgrade keeps the generated key; two
// labspace processes with the chart's flags, Secrets and service account
// share the work: one leads, and a workspace with a tool and a credential
// runs, its namespace, network policies and Secret made with the chart's
// rules alone.
func TestHelmInstallRuns(t *testing.T) {
	c := cluster(t)
	ns := "helm-ha"
	helmNamespace(t, c, ns, "ha")
	cleanPods(t, c, "helmha")
	db := pgtest.Start(t).Database(t)
	ctx := context.Background()
	pg := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pg"}, StringData: map[string]string{"uri": db}}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, pg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{"replicaCount": 2, "image": map[string]any{"repository": "example.com/labspace", "tag": "test"},
		"database": map[string]any{"existingSecret": "pg", "existingSecretKey": "uri"}}
	objs := installChart(t, c, "ha", ns, vals, nil)
	root := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "root"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, root, metav1.CreateOptions{DryRun: []string{"All"}}); err == nil {
		t.Fatalf("the namespace admits a pod that breaks restricted: admitting the chart's pods proves nothing")
	}
	key := func(r rendered) string {
		var s corev1.Secret
		r.as(t, "Secret/ha-labspace", &s)
		return string(s.Data["secret-key"])
	}
	if upgrade := renderChart(t, "ha", ns, vals, c.Config); key(upgrade) != key(objs) {
		t.Errorf("an upgrade would change the generated key")
	}

	kc := serviceAccountKubeconfig(t, c, ns, "ha-labspace")
	flags := chartFlags(t, c, objs, "ha-labspace", kc)
	reps := []*server{startServer(t, freeAddr(t), t.TempDir(), flags...), startServer(t, freeAddr(t), t.TempDir(), flags...)}
	waitFor(t, "one leader", 20*time.Second, func() bool { return leads(t, reps[0]) != leads(t, reps[1]) })
	s := reps[1]
	port := freePort(t)
	kubeBlocks(s, port)
	s.project("helmha", map[string]any{"gpus": 0, "cpu": "4"})
	proj := map[string]any{"type": "project", "name": "helmha"}
	s.must(201, "POST", "/api/v1/credentials", s.admin, map[string]any{"meta": map[string]any{"name": "api", "scope": proj},
		"spec": map[string]any{"type": "generic-secret", "data": map[string]string{"TOKEN": "t"}}}, nil)
	s.must(201, "POST", "/api/v1/environments", s.admin, map[string]any{"meta": map[string]any{"name": "tool-cred", "scope": proj},
		"spec": map[string]any{"image": "example.com/tool:1", "command": []string{"serve"},
			"tools": []map[string]any{{"name": "web", "type": "custom", "port": port}},
			"env":   []map[string]any{{"name": "API_TOKEN", "credential": map[string]any{"name": "api", "key": "TOKEN"}}}}}, nil)
	w := reps[0].kubeCreate("helmha", "ws", "one-cpu", map[string]any{"environment": "tool-cred"})
	reps[0].waitPhase("helmha", "ws", "Running", converge)
	checkHelmProject(t, c, "labspace-helmha", ns, w.Meta.ID)
	// The tool answers through either replica's proxy, at the pod's address.
	ps := pods(t, c, "labspace-helmha", w.Meta.ID)
	if len(ps) != 1 {
		t.Fatalf("%d pods for the workspace", len(ps))
	}
	serveAt(t, net.JoinHostPort(ps[0].Status.PodIP, strconv.Itoa(port)))
	for _, r := range reps {
		waitFor(t, "the tool through a replica's proxy", converge, func() bool {
			code, _ := r.call("GET", "/ws/helmha/ws/web/", r.admin, nil, nil)
			return code == 200
		})
	}
	for _, r := range reps {
		if strings.Contains(r.log.String(), "forbidden") {
			t.Errorf("labspace met a forbidden request:\n%s", lastLines(r.log.String(), 20))
		}
	}
}

// checkHelmProject checks what labspace made for a workspace with the
// chart's rights: the project's namespace, its network policies letting in
// the release's namespace, the workspace's pod and credential Secret.
func checkHelmProject(t *testing.T, c *kubetest.Cluster, pns, release, id string) {
	t.Helper()
	ctx := context.Background()
	if n, err := c.Client.CoreV1().Namespaces().Get(ctx, pns, metav1.GetOptions{}); err != nil || n.Labels["pod-security.kubernetes.io/enforce"] == "" {
		t.Errorf("the project's namespace: %v", err)
	}
	np, err := c.Client.NetworkingV1().NetworkPolicies(pns).Get(ctx, "labspace-from-proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if from := np.Spec.Ingress[0].From[0].NamespaceSelector; from == nil || from.MatchLabels["kubernetes.io/metadata.name"] != release {
		t.Errorf("labspace-from-proxy lets in %+v, want namespace %s", np.Spec.Ingress[0].From, release)
	}
	if left := strings.Join(labelled(t, c, pns, id), " "); !strings.Contains(left, "secret/") || !strings.Contains(left, "pod/") {
		t.Errorf("the workspace's objects: %s", left)
	}
}

// The chart's rules are all needed: a ClusterRole without one of them
// fails the test. Without the network policies' or the namespaces' rule a
// workspace does not start and the server says why (StartRetrying,
// forbidden); without the nodes' rule labspace does not come up (its
// informers cannot list nodes). With the rule back, both recover.
func TestHelmRBACMissingRuleFails(t *testing.T) {
	c := cluster(t)
	for resource, name := range map[string]string{"networkpolicies": "np", "namespaces": "ns", "nodes": "nodes"} {
		t.Run(resource, func(t *testing.T) { missingRule(t, c, resource, name) })
	}
}

// withoutRule installs the chart as release name in namespace helm-<name>
// with its ClusterRole lacking the rule on resource; it returns the role.
func withoutRule(t *testing.T, c *kubetest.Cluster, resource, name string) (rendered, *unstructured.Unstructured) {
	ns := "helm-" + name
	helmNamespace(t, c, ns, name)
	role := "ClusterRole/" + ns + "-" + name + "-labspace"
	var full *unstructured.Unstructured
	objs := installChart(t, c, name, ns, map[string]any{"persistence": map[string]any{"enabled": false}}, func(r rendered) {
		full = r[role].DeepCopy()
		rules, _, _ := unstructured.NestedSlice(r[role].Object, "rules")
		var kept []any
		for _, rule := range rules {
			res, _, _ := unstructured.NestedStringSlice(rule.(map[string]any), "resources")
			if !slices.Equal(res, []string{resource}) {
				kept = append(kept, rule)
			}
		}
		if len(kept) != len(rules)-1 {
			t.Fatalf("no rule for %s alone in %v", resource, rules)
		}
		_ = unstructured.SetNestedSlice(r[role].Object, kept, "rules")
	})
	return objs, full
}

func missingRule(t *testing.T, c *kubetest.Cluster, resource, name string) {
	objs, full := withoutRule(t, c, resource, name)
	kc := serviceAccountKubeconfig(t, c, "helm-"+name, name+"-labspace")
	flags := chartFlags(t, c, objs, name+"-labspace", kc)
	if resource == "nodes" {
		nodesRuleMissing(t, c, flags, full)
		return
	}
	project := "helm" + name
	cleanPods(t, c, project)
	s := startServer(t, freeAddr(t), t.TempDir(), flags...)
	kubeBlocks(s, freePort(t))
	s.project(project, map[string]any{"gpus": 0})
	s.kubeCreate(project, "ws", "one-cpu", nil)
	var w workspace
	waitFor(t, "the start to fail for want of the rule", converge, func() bool {
		s.must(200, "GET", "/api/v1/projects/"+project+"/workspaces/ws", s.admin, nil, &w)
		if w.Status.Phase == "Running" {
			t.Fatalf("the workspace runs without the %s rule", resource)
		}
		return w.Status.PhaseReason == "StartRetrying" && strings.Contains(w.Status.PhaseMessage, resource)
	})
	t.Logf("without the rule: %s: %s", w.Status.PhaseReason, w.Status.PhaseMessage)
	if !strings.Contains(w.Status.PhaseMessage, "forbidden") {
		t.Errorf("the reason does not say forbidden: %s", w.Status.PhaseMessage)
	}
	applyAll(t, c, rendered{"ClusterRole/" + full.GetName(): full})
	s.waitPhase(project, "ws", "Running", converge)
}

// nodesRuleMissing: labspace, unable to list nodes, does not come up and
// logs why; with the rule back it does.
func nodesRuleMissing(t *testing.T, c *kubetest.Cluster, flags []string, full *unstructured.Unstructured) {
	addr, dir := freeAddr(t), t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	log := func() string { raw, _ := os.ReadFile(logf.Name()); return string(raw) }
	cmd := exec.Command(binary, append([]string{"serve", "--addr", addr, "--data-dir", dir}, flags...)...)
	cmd.Env = append(os.Environ(), "LABSPACE_ADMIN_PASSWORD="+adminPassword)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	healthy := func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}
	waitFor(t, "labspace to say it may not list nodes", converge, func() bool {
		return strings.Contains(log(), `cannot list resource \"nodes\"`) || strings.Contains(log(), `cannot list resource "nodes"`)
	})
	if healthy() {
		t.Fatalf("labspace serves without the nodes rule:\n%s", lastLines(log(), 10))
	}
	t.Logf("without the rule: %s", lastLines(log(), 1))
	applyAll(t, c, rendered{"ClusterRole/" + full.GetName(): full})
	waitFor(t, "labspace to come up with the rule back", converge, healthy)
}
