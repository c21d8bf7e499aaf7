package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/server"
	"github.com/labspace/labspace/service"
)

// env is a labspace server started for one test, on a free port, with a
// temporary database; tests talk to it over HTTP as any client would.
type env struct {
	t     *testing.T
	url   string
	admin string // the admin's token
	svc   *service.Service
}

const adminPassword = "admin-password-1"

func newEnv(t *testing.T) *env { return newEnvIn(t, t.TempDir()) }

func newEnvIn(t *testing.T, dir string) *env {
	t.Helper()
	s, err := server.Open(context.Background(), server.Config{DataDir: dir, Addr: "127.0.0.1:0",
		AdminPassword: adminPassword, BcryptCost: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// The API's tests describe a GPU server, whatever this machine is, so
	// that GPU workspaces pass the feasibility check at creation.
	s.Service.SetCapacity(func(context.Context) (service.HostCapacity, error) {
		return service.HostCapacity{Nodes: []runtime.Node{{Name: "gpu-server", GPUs: 8, MilliCPU: 64000, MemoryBytes: 512 << 30}}}, nil
	})
	go s.Serve()
	t.Cleanup(func() { s.Close(context.Background()) })
	e := &env{t: t, url: s.URL(), svc: s.Service}
	e.admin = e.login("admin", adminPassword)
	return e
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// field returns the value at a dotted path such as "meta.id" or "items.0.meta.name".
func (r *response) field(path string) any {
	var cur any = r.body
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i := 0
			for _, ch := range p {
				i = i*10 + int(ch-'0')
			}
			if i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func (r *response) str(path string) string { s, _ := r.field(path).(string); return s }

// fieldErrors returns the field paths a problem document names.
func (r *response) fieldErrors() []string {
	var out []string
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		out = append(out, e.(map[string]any)["field"].(string))
	}
	return out
}

// do sends a request with a JSON body (a string is sent as is) and the
// token, records it for the OpenAPI conformance check, and decodes the reply.
func (e *env) do(method, path, token string, body any) *response {
	e.t.Helper()
	return e.doWith(nil, method, path, token, body)
}

// doWith is do with request headers (If-Match).
func (e *env) doWith(hdr map[string]string, method, path, token string, body any) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: reply is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	record(req, r)
	return r
}

// must is do that fails the test unless the status is want.
func (e *env) must(want int, method, path, token string, body any) *response {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

func (e *env) login(user, password string) string {
	e.t.Helper()
	return e.must(200, "POST", "/api/v1/token", "", map[string]any{"username": user, "password": password}).str("accessToken")
}

// user creates a user and returns its token.
func (e *env) user(name string) string {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/users", e.admin, map[string]any{"meta": map[string]any{"name": name}, "password": name + "-password"})
	return e.login(name, name+"-password")
}

// grant gives subject a role over scope ("global", "project/x", "department/y").
func (e *env) grant(subjectType, subject, role, scope string) {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/access-rules", e.admin, map[string]any{
		"meta": map[string]any{"scope": scopeOf(scope)},
		"spec": map[string]any{"subject": map[string]any{"type": subjectType, "name": subject}, "role": role}})
}

func scopeOf(s string) map[string]any {
	typ, name, _ := strings.Cut(s, "/")
	if typ == "global" {
		return map[string]any{"type": "global"}
	}
	return map[string]any{"type": typ, "name": name}
}

// meta builds a {"meta": ..., "spec": ...} body.
func obj(name, scope string, spec map[string]any) map[string]any {
	return map[string]any{"meta": map[string]any{"name": name, "scope": scopeOf(scope)}, "spec": spec}
}

// project creates a project (in a department when dept is not "").
func (e *env) project(name, dept string) {
	e.t.Helper()
	scope := "global"
	if dept != "" {
		scope = "department/" + dept
	}
	e.must(201, "POST", "/api/v1/projects", e.admin, obj(name, scope, map[string]any{"quota": map[string]any{"gpus": 8}}))
}

// blocks creates an environment and a compute resource usable everywhere.
func (e *env) blocks() {
	e.t.Helper()
	e.must(201, "POST", "/api/v1/environments", e.admin, obj("notebook", "global", map[string]any{
		"image": "quay.io/jupyter/base-notebook", "tools": []any{map[string]any{"name": "jupyter", "type": "jupyter-notebook", "port": 8888}},
		"env": []any{map[string]any{"name": "GREETING", "value": "hello"}, map[string]any{"name": "WANDB_KEY", "fromUser": true}}}))
	e.must(201, "POST", "/api/v1/compute-resources", e.admin, obj("one-gpu", "global", map[string]any{
		"gpuDevices": 1, "cpuRequest": "2", "memoryRequest": "8Gi"}))
}

func wsBody(name string) map[string]any {
	return map[string]any{"name": name, "environment": "notebook", "compute": "one-gpu", "env": map[string]any{"WANDB_KEY": "k"}}
}

func q(v ...string) string {
	vals := url.Values{}
	for i := 0; i+1 < len(v); i += 2 {
		vals.Set(v[i], v[i+1])
	}
	return "?" + vals.Encode()
}

// exchanges recorded for the OpenAPI conformance check in TestMain.
var (
	recMu    sync.Mutex
	recorded []exchange
)

type exchange struct {
	method, path string
	status       int
	contentType  string
	raw          []byte
}

func record(req *http.Request, r *response) {
	recMu.Lock()
	defer recMu.Unlock()
	recorded = append(recorded, exchange{method: req.Method, path: req.URL.Path, status: r.status,
		contentType: r.header.Get("Content-Type"), raw: r.raw})
}
