package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
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

// mailbox is an SMTP server (go-smtp) that keeps the mails it receives.
type mailbox struct {
	mu    sync.Mutex
	mails []string // "to\ndata"
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: m}, nil }

type mailSession struct {
	box *mailbox
	to  string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	s.box.mu.Lock()
	s.box.mails = append(s.box.mails, s.to+"\n"+string(raw))
	s.box.mu.Unlock()
	return err
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// The creator of a workspace stopped by a policy's rule gets a mail
// through the SMTP server labspace is given.
func TestMailNotices(t *testing.T) {
	requireTools(t, "python3")
	box := &mailbox{}
	srv := smtp.NewServer(box)
	srv.Domain, srv.AllowInsecureAuth = "localhost", true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	s := startServer(t, freeAddr(t), t.TempDir(), "--smtp-addr", l.Addr().String(), "--smtp-from", "labspace@example.org")
	s.must(201, "POST", "/api/v1/users", s.admin, map[string]any{"meta": map[string]any{"name": "rita"},
		"spec": map[string]any{"email": "rita@example.org"}, "password": "rita-password"}, nil)
	s.project("lab", map[string]any{"gpus": 0})
	s.must(201, "POST", "/api/v1/access-rules", s.admin, map[string]any{
		"meta": map[string]any{"scope": map[string]any{"type": "project", "name": "lab"}},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "rita"}, "role": "l1-researcher"}}, nil)
	var tok struct{ AccessToken string }
	s.must(200, "POST", "/api/v1/token", "", map[string]any{"username": "rita", "password": "rita-password"}, &tok)
	s.idlePolicy(map[string]any{"idleStopSeconds": 6, "warnBeforeSeconds": 3})
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", tok.AccessToken,
		map[string]any{"name": "quiet", "environment": "python-http", "compute": "cpu-small"}, nil)
	waitFor(t, "the mails", 40*time.Second, func() bool {
		box.mu.Lock()
		defer box.mu.Unlock()
		return len(box.mails) >= 2
	})
	box.mu.Lock()
	defer box.mu.Unlock()
	for _, m := range box.mails {
		if !strings.HasPrefix(m, "rita@example.org\n") || !strings.Contains(m, "Subject: [labspace] quiet in lab:") || !strings.Contains(m, "From: labspace@example.org") {
			t.Errorf("mail:\n%s", m)
		}
	}
	if !strings.Contains(box.mails[len(box.mails)-1], "AutoStopped") {
		t.Errorf("the last mail is not the stop:\n%s", box.mails[len(box.mails)-1])
	}
}
