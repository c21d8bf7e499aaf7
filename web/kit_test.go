package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store/sqlstore"
	"github.com/labspace/labspace/web"
)

// kit is the UI over a real service and SQLite store, with an
// administrator and researchers signed in through the service.
type kit struct {
	tb    testing.TB
	svc   *service.Service
	ui    *web.Handler
	admin context.Context
	// ago sets the service's clock back (tests of times past); 0: now.
	ago time.Duration
}

const adminPassword = "admin-password-1"

func newKit(tb testing.TB, publicURL string) *kit {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(tb.TempDir(), "labspace.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	k := &kit{tb: tb}
	svc := service.New(service.Options{Store: db, Box: box, BcryptCost: 4, Now: func() time.Time { return time.Now().Add(-k.ago) }})
	if _, err := svc.EnsureAdmin(ctx, adminPassword); err != nil {
		tb.Fatal(err)
	}
	k.svc, k.ui = svc, web.New(web.Options{Service: svc, PublicURL: publicURL})
	k.admin = service.WithActor(ctx, k.actor(k.token("admin", adminPassword)))
	return k
}

func (k *kit) token(user, password string) string {
	k.tb.Helper()
	raw, _, err := k.svc.Login(context.Background(), user, password)
	if err != nil {
		k.tb.Fatal(err)
	}
	return raw
}

func (k *kit) actor(token string) *labspace.Actor {
	a, _, err := k.svc.Authenticate(context.Background(), token)
	if err != nil {
		k.tb.Fatal(err)
	}
	return a
}

func (k *kit) must(_ any, err error) {
	k.tb.Helper()
	if err != nil {
		k.tb.Fatal(err)
	}
}

// project creates a project with a quota.
func (k *kit) project(name string) {
	k.must(k.svc.Create(k.admin, &labspace.Project{Meta: labspace.Meta{Name: name, Scope: labspace.Global},
		Spec: labspace.ProjectSpec{Quota: labspace.Quota{GPUs: 4}}}))
}

// researcher creates user name, l1-researcher in projects, and returns its session token.
func (k *kit) researcher(name string, projects ...string) string {
	k.must(k.svc.CreateUser(k.admin, &labspace.User{Meta: labspace.Meta{Name: name}}, name+"-password"))
	for _, p := range projects {
		k.must(k.svc.Create(k.admin, &labspace.AccessRule{Meta: labspace.Meta{Scope: labspace.ProjectScope(p)},
			Spec: labspace.AccessRuleSpec{Subject: labspace.Subject{Type: labspace.SubjectUser, Name: name},
				Role: labspace.RoleL1Researcher}}))
	}
	return k.token(name, name+"-password")
}

// workspace creates a workspace (kept stopped: no controller runs here).
func (k *kit) workspace(project, name string) {
	k.must(k.svc.CreateWorkspace(k.admin, project, &labspace.WorkspaceCreate{Name: name, Environment: "python-http",
		Compute: "cpu-small", DesiredPhase: labspace.PhaseStopped}))
}

// do sends a request to the UI, with the session cookie when token is set.
func (k *kit) do(method, target, token string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		r.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: token})
	}
	w := httptest.NewRecorder()
	k.ui.ServeHTTP(w, r)
	return w
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page.
func csrf(tb testing.TB, page string) string {
	tb.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		tb.Fatalf("no CSRF field in the page:\n%.500s", page)
	}
	return m[1]
}

func expect(tb testing.TB, what string, w *httptest.ResponseRecorder, status int, contains ...string) {
	tb.Helper()
	if w.Code != status {
		tb.Fatalf("%s: status %d, want %d\n%.800s", what, w.Code, status, w.Body.String())
	}
	for _, c := range contains {
		if !strings.Contains(w.Body.String(), c) && !strings.Contains(html.UnescapeString(w.Body.String()), c) {
			tb.Fatalf("%s: the page lacks %q\n%.1500s", what, c, w.Body.String())
		}
	}
}

func itoa(i int) string { return fmt.Sprint(i) }

func httptestRequest(method, target string, form url.Values) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func serve(k *kit, r *http.Request) *http.Response {
	w := httptest.NewRecorder()
	k.ui.ServeHTTP(w, r)
	return w.Result()
}

func regexpFind(tb testing.TB, s, re string) string {
	tb.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		tb.Fatalf("no %s in:\n%.1500s", re, s)
	}
	return m[1]
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "labspace-web-bench") }

// poster returns a function that posts a form as the session of token,
// with that session's CSRF token.
func (k *kit) poster(token, csrf string) func(path string, v url.Values) *httptest.ResponseRecorder {
	return func(path string, v url.Values) *httptest.ResponseRecorder {
		v.Set("csrf", csrf)
		return k.do("POST", path, token, v)
	}
}
