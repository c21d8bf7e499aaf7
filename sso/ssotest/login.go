package ssotest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// The login page. A browser fills #username and #password and clicks
// #submit; a failed attempt shows the page again with the reason in #error.
var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>ssotest sign-in</title></head>
<body>
<form id="login" method="POST" action="` + loginPath + `">
<input type="hidden" name="id" value="{{.ID}}">
<p><label for="username">Username</label> <input id="username" name="username" autocomplete="username"></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button id="submit" type="submit">Sign in</button></p>
{{with .Error}}<p id="error">{{.}}</p>{{end}}
</form>
</body>
</html>
`))

// serveLogin shows the form (GET) and checks it (POST). On success it sends
// the browser to zitadel's authorize callback, which issues the code.
func (p *Provider) serveLogin(w http.ResponseWriter, r *http.Request) {
	var id, errMsg string
	status := http.StatusOK
	switch r.Method {
	case http.MethodGet:
		id = r.URL.Query().Get("authRequestID")
	case http.MethodPost:
		id = r.PostFormValue("id")
		err := p.store.checkLogin(id, r.PostFormValue("username"), r.PostFormValue("password"))
		if err == nil {
			http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
			return
		}
		errMsg, status = err.Error(), http.StatusUnauthorized
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, struct{ ID, Error string }{id, errMsg})
}

var errorPara = regexp.MustCompile(`<p id="error">([^<]*)</p>`)

// Login signs username in without a browser. It GETs authURL (an
// authorization request made by the relying party, or a relying-party URL
// that redirects to one), follows redirects within the provider, submits
// the login form and returns the provider's final redirect to the client's
// redirect URI (carrying code and state) without requesting it.
//
// c's cookie jar receives any cookies set on the way; c may be nil, and a
// jar is made when c has none. Login fails on a wrong password, an
// authorization request the provider refuses, or an error redirect (whose
// URL is then returned along with the error).
func (p *Provider) Login(ctx context.Context, c *http.Client, authURL, username, password string) (*url.URL, error) {
	c = p.loginClient(c)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := do(c, req)
	if err != nil {
		return nil, err
	}
	if loc, ok := redirectOut(resp); ok {
		return loc, redirectError(loc, "authorization request")
	}
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != loginPath {
		return nil, fmt.Errorf("ssotest: expected the login page, got %s at %s: %s",
			resp.Status, resp.Request.URL, resp.body)
	}
	form := url.Values{
		"id":       {resp.Request.URL.Query().Get("authRequestID")},
		"username": {username},
		"password": {password},
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, p.Issuer+loginPath, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = do(c, req)
	if err != nil {
		return nil, err
	}
	if loc, ok := redirectOut(resp); ok {
		return loc, redirectError(loc, "sign-in")
	}
	if m := errorPara.FindStringSubmatch(resp.body); m != nil {
		return nil, fmt.Errorf("ssotest: sign-in as %q refused: %s", username, html.UnescapeString(m[1]))
	}
	return nil, fmt.Errorf("ssotest: sign-in ended with %s at %s: %s", resp.Status, resp.Request.URL, resp.body)
}

// loginClient copies c to follow redirects only within the provider.
func (p *Provider) loginClient(c *http.Client) *http.Client {
	var cc http.Client
	if c != nil {
		cc = *c
	}
	if cc.Jar == nil {
		cc.Jar, _ = cookiejar.New(nil) // never fails with nil options
	}
	issuer, _ := url.Parse(p.Issuer)
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != issuer.Scheme || req.URL.Host != issuer.Host {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

type response struct {
	*http.Response
	body string // at most 4 KiB
}

func do(c *http.Client, req *http.Request) (*response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return nil, err
	}
	return &response{resp, string(b)}, nil
}

// redirectOut reports the redirect that loginClient did not follow: the one
// leaving the provider.
func redirectOut(resp *response) (*url.URL, bool) {
	if resp.StatusCode < 300 || resp.StatusCode >= 400 {
		return nil, false
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, false
	}
	return loc, true
}

func redirectError(loc *url.URL, step string) error {
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return fmt.Errorf("ssotest: %s redirected with error %q: %s", step, e, q.Get("error_description"))
	}
	if q.Get("code") == "" {
		return fmt.Errorf("ssotest: %s redirected without a code to %s", step, loc)
	}
	return nil
}
