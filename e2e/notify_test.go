package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint that keeps what it is sent.
type receiver struct {
	mu      sync.Mutex
	notices []map[string]any
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	var n map[string]any
	_ = json.Unmarshal(raw, &n)
	r.mu.Lock()
	r.notices = append(r.notices, n)
	r.mu.Unlock()
}

func (r *receiver) types(workspace string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.notices {
		if n["workspace"] == workspace {
			out = append(out, n["type"].(string))
		}
	}
	return strings.Join(out, " ")
}

// A project's webhook hears of a workspace about to be stopped by a
// policy, of the stop, and of a failure, with the project and workspace.
func TestWebhookNotices(t *testing.T) {
	requireTools(t, "python3")
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	t.Cleanup(hook.Close)
	s := startServer(t, freeAddr(t), t.TempDir(), "--webhooks-to-private-networks")
	s.must(201, "POST", "/api/v1/projects", s.admin, map[string]any{
		"meta": map[string]any{"name": "lab", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"quota": map[string]any{"gpus": 0}, "webhook": hook.URL + "/labspace"}}, nil)
	s.idlePolicy(map[string]any{"idleStopSeconds": 6, "warnBeforeSeconds": 3})
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
		map[string]any{"name": "idle", "environment": "python-http", "compute": "cpu-small"}, nil)
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
		map[string]any{"name": "broken", "environment": "python-http", "compute": "cpu-small", "args": []string{"-c", "import sys; sys.exit(3)"}}, nil)
	waitFor(t, "the notices", 40*time.Second, func() bool {
		return rec.types("idle") == "StopComing AutoStopped" && strings.Contains(rec.types("broken"), "Failed")
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, n := range rec.notices {
		if n["project"] != "lab" || n["workspaceId"] == "" || n["message"] == "" || n["createdBy"] != "admin" {
			t.Errorf("notice %v", n)
		}
	}
}

// A project editor may set the webhook: it must not make labspace reach
// the cloud's metadata service, or (unless the operator allows it)
// labspace's own host and private networks, by address or by name.
func TestWebhookCannotReachInside(t *testing.T) {
	requireTools(t, "python3")
	rec := &receiver{}
	hook := httptest.NewServer(rec)
	t.Cleanup(hook.Close)
	s := startServer(t, freeAddr(t), t.TempDir())
	project := func(name, webhook string) (int, []byte) {
		return s.call("POST", "/api/v1/projects", s.admin, map[string]any{
			"meta": map[string]any{"name": name, "scope": map[string]any{"type": "global"}},
			"spec": map[string]any{"quota": map[string]any{"gpus": 0}, "webhook": webhook}}, nil)
	}
	for _, bad := range []string{"http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8080/api/v1/users", "http://10.0.0.1/", "file:///etc/passwd", "http://user:pw@example.com/"} {
		if code, body := project("p-bad", bad); code != 422 && code != 400 || !strings.Contains(string(body), "spec.webhook") {
			t.Errorf("webhook %s: %d %s", bad, code, body)
		}
	}
	// A name that resolves to loopback is accepted when written, refused when used.
	byName := strings.Replace(hook.URL, "127.0.0.1", "localhost", 1)
	if code, body := project("sneaky", byName); code != 201 {
		t.Fatalf("webhook by name: %d %s", code, body)
	}
	s.must(201, "POST", "/api/v1/projects/sneaky/workspaces", s.admin,
		map[string]any{"name": "broken", "environment": "python-http", "compute": "cpu-small", "args": []string{"-c", "import sys; sys.exit(3)"}}, nil)
	s.waitPhase("sneaky", "broken", "Failed", toolStart)
	waitFor(t, "the refusal in the log", 20*time.Second, func() bool {
		return strings.Contains(s.log.String(), "webhook not delivered") && strings.Contains(s.log.String(), "refused: loopback")
	})
	if got := rec.types("broken"); got != "" {
		t.Errorf("labspace posted to loopback through a name: %s", got)
	}
}
