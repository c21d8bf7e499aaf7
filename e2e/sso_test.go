package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labspace/labspace/sso"
	"github.com/labspace/labspace/sso/ssotest"
)

// ssoServer is labspace signing people in through a real OpenID provider
// running in the test, with rita in the provider's group vision-team,
// which an access rule makes a researcher of project vision.
func ssoServer(t *testing.T, flags ...string) (*server, *ssotest.Provider) {
	t.Helper()
	addr := freeAddr(t)
	p := ssotest.Start(t, "http://"+addr+sso.CallbackPath)
	p.AllowPostLogoutRedirect("http://" + addr + "/login")
	p.SetUser(ssotest.User{Username: "rita", Email: "rita@example.org", Password: "rita-password-1", Groups: []string{"vision-team"}})
	t.Setenv("LABSPACE_OIDC_CLIENT_SECRET", p.ClientSecret)
	s := startServer(t, addr, t.TempDir(), append([]string{"--oidc-issuer", p.Issuer, "--oidc-client-id", p.ClientID,
		"--oidc-name", "Example ID"}, flags...)...)
	s.project("vision", map[string]any{"gpus": 0})
	s.must(201, "POST", "/api/v1/access-rules", s.admin, map[string]any{
		"meta": map[string]any{"scope": map[string]any{"type": "project", "name": "vision"}},
		"spec": map[string]any{"subject": map[string]any{"type": "group", "name": "vision-team"}, "role": "l1-researcher"}}, nil)
	return s, p
}

// providerSignIn signs in at the provider's page, from labspace's login page.
func (b *browser) providerSignIn(user, password string) {
	b.t.Helper()
	b.open("/login")
	b.click("#sso-sign-in")
	b.do("fill in the provider's form", chromedp.WaitVisible(chromedp.CSS("#login #username")),
		chromedp.SendKeys(chromedp.CSS("#login #username"), user), chromedp.SendKeys(chromedp.CSS("#login #password"), password))
	b.click("#login #submit")
}

// In Chromium: "Sign in with Example ID" signs rita in as a new user whose
// provider group gives her project vision; dropped from the group at the
// provider, she loses it at her next sign-in; signing out offers the
// provider's sign-out; disabled in labspace, she cannot sign in.
func TestSSOInTheBrowser(t *testing.T) {
	requireChromium(t)
	s, p := ssoServer(t)
	b := newBrowser(t, s)
	b.providerSignIn("rita", "rita-password-1")
	if who := b.text("#who"); who != "rita" {
		t.Fatalf("signed in as %q at %s", who, b.location())
	}
	b.open("/admin/projects")
	if n := eval[int](b, "vision on the projects page", `document.querySelectorAll('section[data-name="vision"]').length`); n != 1 {
		t.Errorf("rita, in vision-team, sees %d project vision", n)
	}
	b.shot("sso-signed-in")
	// No labspace password: the fresh sign-in confirms a personal token.
	b.open("/admin/tokens")
	b.waitFor("the note instead of a password", "#password-note", uiStep)
	b.do("name the token", chromedp.SendKeys(chromedp.CSS("#name"), "ci"))
	b.click("#add-token")
	if secret := b.text("#secret"); !strings.HasPrefix(secret, "lsp_") {
		t.Errorf("a personal token for a provider's user: %q", secret)
	}

	p.SetUser(ssotest.User{Username: "rita", Email: "rita@example.org", Password: "rita-password-1"})
	b.click(`form[action="/logout"] button`)
	b.waitFor("the offer to sign out at the provider", "#provider-sign-out", uiStep)
	if href := eval[string](b, "the link", `document.getElementById("provider-sign-out").href`); !strings.HasPrefix(href, p.EndSessionURL()+"?client_id=") {
		t.Errorf("sign out of the provider at %s", href)
	}
	b.providerSignIn("rita", "rita-password-1")
	b.open("/admin/projects")
	if n := eval[int](b, "vision on the projects page", `document.querySelectorAll('section[data-name="vision"]').length`); n != 0 {
		t.Errorf("rita, out of vision-team at the provider, still sees project vision")
	}

	var u struct {
		Meta   map[string]any
		Spec   map[string]any
		Status struct {
			Identity struct{ Issuer, Subject string }
		}
	}
	s.must(200, "GET", "/api/v1/users/rita", s.admin, nil, &u)
	if u.Status.Identity.Issuer != p.Issuer || u.Status.Identity.Subject != "sub-rita" {
		t.Errorf("rita's identity: %+v", u.Status.Identity)
	}
	u.Spec["disabled"] = true
	s.must(200, "PUT", "/api/v1/users/rita", s.admin, map[string]any{"meta": u.Meta, "spec": u.Spec}, nil)
	b.click(`form[action="/logout"] button`)
	b.providerSignIn("rita", "rita-password-1")
	if msg := b.text("#login-error"); !strings.Contains(msg, "disabled") {
		t.Errorf("a disabled user signing in sees %q", msg)
	}
}

// The command line signs in through the browser: labspace login --sso
// prints an address, the browser (signed in through the provider)
// confirms, and the command line holds a token of rita's.
func TestSSOCommandLineLogin(t *testing.T) {
	requireChromium(t)
	s, _ := ssoServer(t)
	b := newBrowser(t, s)
	b.providerSignIn("rita", "rita-password-1")

	cfg := filepath.Join(t.TempDir(), "config.json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "login", "http://"+s.addr, "--sso", "--no-browser")
	cmd.Env = append(os.Environ(), "LABSPACE_CONFIG="+cfg)
	stderr, _ := cmd.StderrPipe()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	link := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); strings.HasPrefix(l, "http://") {
				link <- l
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	var to string
	select {
	case to = <-link:
	case <-ctx.Done():
		t.Fatal("labspace login printed no address")
	}
	if !strings.HasPrefix(to, "http://"+s.addr+"/auth/cli?") {
		t.Fatalf("the address to open: %s", to)
	}
	b.open(strings.TrimPrefix(to, "http://"+s.addr))
	b.click("#cli-confirm")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("labspace login: %v (%s)", err, out.String())
	}
	if !strings.Contains(out.String(), "as rita") {
		t.Errorf("labspace login says %q", out.String())
	}
	who := exec.Command(binary, "whoami")
	who.Env = append(os.Environ(), "LABSPACE_CONFIG="+cfg)
	if raw, err := who.CombinedOutput(); err != nil || !strings.Contains(string(raw), "rita") {
		t.Errorf("labspace whoami with the new token: %v: %s", err, raw)
	}
}

// ssoToken signs user in through the provider without a browser and
// returns the session labspace gives, usable as a bearer token.
func ssoToken(t *testing.T, s *server, p *ssotest.Provider, user, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	back, err := p.Login(t.Context(), c, "http://"+s.addr+"/auth/sso/start", user, password)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == "labspace_session" && ck.Value != "" {
			return ck.Value
		}
	}
	t.Fatalf("no session after the provider's sign-in: %s", res.Status)
	return ""
}

// An environment that runs as the identity provider's user runs rita's
// workload as her uid, gid and groups from the provider (labspace as
// root; otherwise it says it cannot).
func TestSSORunAsTheProvidersUser(t *testing.T) {
	requireTools(t, "python3")
	s, p := ssoServer(t, "--oidc-uid-claim", "uid_number", "--oidc-gid-claim", "gid_number",
		"--oidc-supplementary-gids-claim", "supplementary_gids")
	p.SetUser(ssotest.User{Username: "rita", Email: "rita@example.org", Password: "rita-password-1", Groups: []string{"vision-team"},
		UID: 20001, GID: 20000, ExtraGroups: []int{30001}})
	s.must(201, "POST", "/api/v1/environments", s.admin, map[string]any{
		"meta": map[string]any{"name": "as-me", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"image": "python:3-slim", "runAs": map[string]any{"source": "identity-provider"},
			"tools":   []map[string]any{{"name": "web", "type": "custom", "port": 8000, "connection": "external-url", "stripPrefix": true}},
			"command": []string{"/bin/sh", "-c", `echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"; exec python3 -m http.server $PORT --bind 127.0.0.1`}}}, nil)
	rita := ssoToken(t, s, p, "rita", "rita-password-1")
	s.must(201, "POST", "/api/v1/projects/vision/workspaces", rita, map[string]any{"name": "mine", "environment": "as-me", "compute": "cpu-small"}, nil)
	s.waitPhase("vision", "mine", "Running", toolStart)
	_, logs := s.call("GET", "/api/v1/projects/vision/workspaces/mine/logs", rita, nil, nil)
	if os.Geteuid() != 0 {
		if !strings.Contains(string(logs), "runAs (identity-provider) is not applied") {
			t.Errorf("not root, the log should say runAs is not applied:\n%s", logs)
		}
		return
	}
	if !strings.Contains(string(logs), "uid=20001 gid=20000 groups=20000 30001") {
		t.Errorf("the workload's identity:\n%s", logs)
	}
}
