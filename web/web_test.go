package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/web"
)

func TestSignedOutPagesGoToLogin(t *testing.T) {
	k := newKit(t, "")
	w := k.do("GET", "/?project=lab&q=x", "", nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?next=%2F%3Fproject%3Dlab%26q%3Dx" {
		t.Fatalf("signed out: %d to %q", w.Code, w.Header().Get("Location"))
	}
	w = k.do("GET", "/projects/lab/workspaces/x", "lss_forged", nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("a forged session: %d", w.Code)
	}
}

// login signs in through the form and returns the response.
func login(t *testing.T, k *kit, user, password, next string) *http.Response {
	t.Helper()
	page := k.do("GET", "/login", "", nil)
	expect(t, "login page", page, 200, `name="username"`, `name="password"`)
	form := url.Values{"csrf": {csrf(t, page.Body.String())}, "username": {user}, "password": {password}, "next": {next}}
	r := httptestRequest("POST", "/login", form)
	for _, c := range page.Result().Cookies() {
		r.AddCookie(c)
	}
	return serve(k, r)
}

func TestLoginSetsTheSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		public string
		secure bool
	}{{"http://127.0.0.1:8080", false}, {"https://labspace.example.com", true}} {
		k := newKit(t, tc.public)
		res := login(t, k, "admin", adminPassword, "/workspaces/new")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/workspaces/new" {
			t.Fatalf("sign-in: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		var session *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == web.SessionCookie {
				session = c
			}
		}
		if session == nil || !strings.HasPrefix(session.Value, "lss_") || !session.HttpOnly || session.Path != "/" ||
			session.SameSite != http.SameSiteStrictMode || session.Secure != tc.secure {
			t.Fatalf("public URL %s: session cookie %+v", tc.public, session)
		}
		if _, _, err := k.svc.Authenticate(k.admin, session.Value); err != nil {
			t.Fatalf("the cookie's token: %v", err)
		}
	}
}

func TestLoginRefusals(t *testing.T) {
	k := newKit(t, "")
	if res := login(t, k, "admin", "wrong-password", "/"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d", res.StatusCode)
	}
	// A redirect after sign-in stays on this site.
	// (S10: browsers drop tabs and newlines, so "/\t/evil.example" left it.)
	for _, next := range []string{"//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com",
		"/\t/evil.example/phish", "/\n/evil.example", "/\r\n/evil.example", "/%2F/evil.example", "/ /evil.example", "javascript:alert(1)"} {
		if res := login(t, k, "admin", adminPassword, next); res.Header.Get("Location") != "/" {
			t.Errorf("next=%q: to %q", next, res.Header.Get("Location"))
		}
	}
	if res := login(t, k, "admin", adminPassword, "/projects/lab/workspaces/nb?tab=logs"); res.Header.Get("Location") != "/projects/lab/workspaces/nb?tab=logs" {
		t.Errorf("a path of this site: to %q", res.Header.Get("Location"))
	}
	// S11: a disabled user's password is not confirmed.
	k.must(k.svc.CreateUser(k.admin, &labspace.User{Meta: labspace.Meta{Name: "dora"}}, "dora-password"))
	dora, err := k.svc.Get(k.admin, labspace.KindUser, "dora")
	if err != nil {
		t.Fatal(err)
	}
	dora.(*labspace.User).Spec.Disabled = true
	k.must(k.svc.UpdateUser(k.admin, "dora", dora.(*labspace.User), ""))
	_, _, right := k.svc.Login(context.Background(), "dora", "dora-password")
	_, _, wrong := k.svc.Login(context.Background(), "dora", "not-her-password")
	if right == nil || wrong == nil || right.Error() != wrong.Error() {
		t.Errorf("a disabled user: right password %v, wrong one %v: the answers differ", right, wrong)
	}
	// Without the form's token, nobody is signed in.
	r := httptestRequest("POST", "/login", url.Values{"username": {"admin"}, "password": {adminPassword}})
	if res := serve(k, r); res.StatusCode != http.StatusForbidden || len(res.Cookies()) > 1 {
		t.Errorf("login without its CSRF token: %d %v", res.StatusCode, res.Cookies())
	}
}

func TestPostsNeedTheSessionsCSRFToken(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	rita := k.researcher("rita", "lab")
	oscar := k.researcher("oscar", "lab")
	k.workspace("lab", "nb")
	page := k.do("GET", "/projects/lab/workspaces/nb", rita, nil)
	expect(t, "workspace page", page, 200, "Start")
	token := csrf(t, page.Body.String())
	for _, bad := range []url.Values{{}, {"csrf": {"x"}}, {"csrf": {csrf(t, k.do("GET", "/", oscar, nil).Body.String())}}} {
		expect(t, "start without rita's token", k.do("POST", "/projects/lab/workspaces/nb/start", rita, bad), 403)
	}
	if w, _ := k.svc.GetWorkspace(k.admin, "lab", "nb"); w.DesiredPhase != labspace.PhaseStopped {
		t.Fatalf("a refused form started the workspace: %s", w.DesiredPhase)
	}
	w := k.do("POST", "/projects/lab/workspaces/nb/start", rita, url.Values{"csrf": {token}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("start with the token: %d", w.Code)
	}
	if w, _ := k.svc.GetWorkspace(k.admin, "lab", "nb"); w.DesiredPhase != labspace.PhaseRunning {
		t.Fatalf("start: desired %s", w.DesiredPhase)
	}
}

func TestLogoutRevokesTheSession(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	rita := k.researcher("rita", "lab")
	token := csrf(t, k.do("GET", "/", rita, nil).Body.String())
	w := k.do("POST", "/logout", rita, url.Values{"csrf": {token}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if w := k.do("GET", "/", rita, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("the revoked session still opens the grid: %d", w.Code)
	}
}

// Bad input is a page that says what is wrong, never a server error.
func TestBadInputIsNeverAServerError(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	rita := k.researcher("rita", "lab")
	for _, target := range []string{"/?limit=abc", "/?limit=0", "/?continue=garbage", "/?phase=Sleeping", "/?project=Not_A_Name",
		"/?sort=size", "/?q=" + strings.Repeat("x", 100), "/workspaces.csv?phase=nope", "/workspaces/phases?limit=-1"} {
		if w := k.do("GET", target, rita, nil); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", target, w.Code)
		}
	}
	for _, target := range []string{"/projects/lab/workspaces/nope", "/projects/other/workspaces/x/delete", "/no/such/page",
		"/projects/lab/workspaces/nope/logs"} {
		expect(t, target, k.do("GET", target, rita, nil), 404, "404")
	}
	form := url.Values{"csrf": {csrf(t, k.do("GET", "/", rita, nil).Body.String())}, "project": {"lab"}, "name": {"x"},
		"environment": {"python-http"}, "compute": {"cpu-small"}, "args": {strings.Repeat("a ", 300)},
		"dataSources": {"nope"}, "var.X": {"y"}, "env": {"A=1\nB"}, "gpuDevices": {"-1"}}
	expect(t, "create with bad values", k.do("POST", "/workspaces/new", rita, form), 422, "line 2 must read NAME=value")
	delete(form, "env")
	expect(t, "create with bad values", k.do("POST", "/workspaces/new", rita, form), 422, `id="gpuDevices-err"><p class="fielderr">`)
}

func TestGridShowsOnlyVisibleWorkspacesAndPages(t *testing.T) {
	k := newKit(t, "")
	k.project("lab")
	k.project("other")
	rita := k.researcher("rita", "lab")
	for i := range 7 {
		k.workspace("lab", "ws-"+itoa(i))
	}
	k.workspace("other", "hidden")
	w := k.do("GET", "/?limit=3", rita, nil)
	expect(t, "first page", w, 200, "ws-0", "ws-2", `rel="next"`)
	if strings.Contains(w.Body.String(), "ws-3") || strings.Contains(w.Body.String(), "/projects/other/workspaces/hidden") {
		t.Fatal("the first page shows more than its 3 rows, or another project's workspace")
	}
	next := regexpFind(t, w.Body.String(), `href="(/\?[^"]*continue=[^"]*)" rel="next"`)
	w = k.do("GET", strings.ReplaceAll(next, "&amp;", "&"), rita, nil)
	expect(t, "second page", w, 200, "ws-3", "ws-5", `rel="prev"`)
	csv := k.do("GET", "/workspaces.csv?q=ws", rita, nil)
	expect(t, "CSV", csv, 200, "ws-6,lab,Stopped")
	if strings.Count(csv.Body.String(), "\n") != 8 || strings.Contains(csv.Body.String(), "hidden,") {
		t.Fatalf("CSV:\n%s", csv.Body.String())
	}
}

// S8: forms are urlencoded only, within a size limit: a multipart body to
// /login (spooled to disk before, 300 MiB of it) is refused at once.
func TestFormsAreSmallAndURLEncoded(t *testing.T) {
	k := newKit(t, "")
	r := httptestRequest("POST", "/login", nil)
	r.Body = io.NopCloser(strings.NewReader("--x\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\r\n\r\n" + strings.Repeat("A", 1<<20)))
	r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	if res := serve(k, r); res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a multipart sign-in: %d, want 415", res.StatusCode)
	}
	r = httptestRequest("POST", "/login", url.Values{"username": {"admin"}, "password": {strings.Repeat("p", 100<<10)}})
	if res := serve(k, r); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 100 KiB sign-in form: %d, want 413", res.StatusCode)
	}
}
