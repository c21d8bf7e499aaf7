package ssotest_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/labspace/labspace/sso/ssotest"
)

// The relying party's redirect URI. Login never requests it.
const callback = "http://127.0.0.1:1/sso/callback"

var alice = ssotest.User{
	Username: "alice", Email: "alice@example.org", Password: "wonderland",
	Groups: []string{"staff", "gpu-users"}, UID: 1500, GID: 1501, ExtraGroups: []int{2000, 2001},
}

// relyingParty is a client built the way labspace builds one: go-oidc for
// discovery and ID token verification, x/oauth2 for the code flow.
type relyingParty struct {
	t        *testing.T
	p        *ssotest.Provider
	oidc     *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, p *ssotest.Provider, style oauth2.AuthStyle, scopes ...string) *relyingParty {
	t.Helper()
	prov, err := oidc.NewProvider(t.Context(), p.Issuer) // fails unless discovery's issuer is p.Issuer
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email", "groups"}
	}
	ep := prov.Endpoint()
	ep.AuthStyle = style
	return &relyingParty{
		t: t, p: p, oidc: prov,
		oauth: oauth2.Config{
			ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			Endpoint: ep, RedirectURL: callback, Scopes: scopes,
		},
		verifier: prov.Verifier(&oidc.Config{ClientID: p.ClientID}),
	}
}

// authorization is one authorization request's secrets.
type authorization struct {
	url, state, nonce, verifier string
}

func (rp *relyingParty) authorize() authorization {
	a := authorization{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
	a.url = rp.oauth.AuthCodeURL(a.state, oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier))
	return a
}

// code signs in at the provider and returns the code from the redirect.
func (rp *relyingParty) code(a authorization, username, password string) (string, error) {
	loc, err := rp.p.Login(rp.t.Context(), nil, a.url, username, password)
	if err != nil {
		return "", err
	}
	q := loc.Query()
	if got := strings.TrimSuffix(loc.String(), "?"+loc.RawQuery); got != callback {
		return "", fmt.Errorf("redirected to %s, want %s", got, callback)
	}
	if q.Get("state") != a.state {
		return "", fmt.Errorf("state %q, want %q", q.Get("state"), a.state)
	}
	return q.Get("code"), nil
}

type signedIn struct {
	token   *oauth2.Token
	idToken string // raw
	nonce   string
}

// signIn runs the whole code flow with PKCE, up to the token response.
func (rp *relyingParty) signIn(username, password string) (*signedIn, error) {
	a := rp.authorize()
	code, err := rp.code(a, username, password)
	if err != nil {
		return nil, err
	}
	tok, err := rp.oauth.Exchange(rp.t.Context(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("token response without id_token")
	}
	return &signedIn{tok, raw, a.nonce}, nil
}

func (rp *relyingParty) mustSignIn(username, password string) *signedIn {
	rp.t.Helper()
	si, err := rp.signIn(username, password)
	if err != nil {
		rp.t.Fatalf("sign in as %s: %v", username, err)
	}
	return si
}

// verify checks the ID token as labspace would: signature, iss, aud, exp, nonce.
func (rp *relyingParty) verify(si *signedIn) (*oidc.IDToken, error) {
	idt, err := rp.verifier.Verify(rp.t.Context(), si.idToken)
	if err != nil {
		return nil, err
	}
	if idt.Nonce != si.nonce {
		return nil, fmt.Errorf("nonce %q, want %q", idt.Nonce, si.nonce)
	}
	return idt, nil
}

func (rp *relyingParty) mustVerify(si *signedIn) *oidc.IDToken {
	rp.t.Helper()
	idt, err := rp.verify(si)
	if err != nil {
		rp.t.Fatalf("verify ID token: %v", err)
	}
	return idt
}

type claims struct {
	Sub               string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email"`
	EmailVerified     *bool    `json:"email_verified"`
	Groups            []string `json:"groups"`
	UID               int      `json:"uid_number"`
	GID               int      `json:"gid_number"`
	ExtraGroups       []int    `json:"supplementary_gids"` // fails to decode unless numbers
	Nonce             string   `json:"nonce"`
	AuthTime          int64    `json:"auth_time"`
}

type claimSource interface{ Claims(any) error }

func decode(t *testing.T, from claimSource) (claims, map[string]any) {
	t.Helper()
	var c claims
	var m map[string]any
	if err := from.Claims(&c); err != nil {
		t.Fatalf("claims: %v", err)
	}
	if err := from.Claims(&m); err != nil {
		t.Fatalf("claims: %v", err)
	}
	return c, m
}

func checkUserClaims(t *testing.T, where string, c claims, u ssotest.User) {
	t.Helper()
	if c.Sub != u.Sub() || c.PreferredUsername != u.Username || c.Email != u.Email ||
		c.EmailVerified == nil || !*c.EmailVerified || !slices.Equal(c.Groups, u.Groups) ||
		c.UID != u.UID || c.GID != u.GID || !slices.Equal(c.ExtraGroups, u.ExtraGroups) {
		t.Errorf("%s claims = %+v, want those of %+v", where, c, u)
	}
}

func TestSignInEndToEnd(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(alice)
	styles := map[string]oauth2.AuthStyle{
		"client_secret_basic": oauth2.AuthStyleInHeader,
		"client_secret_post":  oauth2.AuthStyleInParams,
	}
	for name, style := range styles {
		t.Run(name, func(t *testing.T) {
			rp := newRP(t, p, style)
			si := rp.mustSignIn("alice", "wonderland")
			idt := rp.mustVerify(si)
			if idt.Issuer != p.Issuer || idt.Subject != "sub-alice" || !slices.Equal(idt.Audience, []string{p.ClientID}) {
				t.Errorf("iss, sub, aud = %s, %s, %v", idt.Issuer, idt.Subject, idt.Audience)
			}
			c, _ := decode(t, idt)
			checkUserClaims(t, "ID token", c, alice)
			if c.Nonce != si.nonce || time.Since(time.Unix(c.AuthTime, 0)).Abs() > time.Minute {
				t.Errorf("nonce %q (want %q), auth_time %d", c.Nonce, si.nonce, c.AuthTime)
			}
			if err := idt.VerifyAccessToken(si.token.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			info, err := rp.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(si.token))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			c, _ = decode(t, info)
			checkUserClaims(t, "userinfo", c, alice)
		})
	}
}

func TestDiscovery(t *testing.T) {
	p := ssotest.Start(t, callback)
	rp := newRP(t, p, oauth2.AuthStyleInHeader)
	var d struct {
		Issuer      string   `json:"issuer"`
		EndSession  string   `json:"end_session_endpoint"`
		PKCE        []string `json:"code_challenge_methods_supported"`
		Scopes      []string `json:"scopes_supported"`
		Claims      []string `json:"claims_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := rp.oidc.Claims(&d); err != nil {
		t.Fatal(err)
	}
	if d.Issuer != p.Issuer || strings.HasSuffix(p.Issuer, "/") || !strings.HasPrefix(p.Issuer, "http://127.0.0.1:") {
		t.Errorf("issuer %q, Provider.Issuer %q", d.Issuer, p.Issuer)
	}
	if d.EndSession == "" || d.EndSession != p.EndSessionURL() {
		t.Errorf("end_session_endpoint %q, EndSessionURL() %q", d.EndSession, p.EndSessionURL())
	}
	for _, want := range [][2][]string{
		{d.PKCE, {"S256"}},
		{d.Scopes, {"openid", "profile", "email", "groups"}},
		{d.Claims, {"groups", "uid_number", "gid_number", "supplementary_gids"}},
		{d.AuthMethods, {"client_secret_basic", "client_secret_post"}},
	} {
		for _, w := range want[1] {
			if !slices.Contains(want[0], w) {
				t.Errorf("discovery lacks %q in %v", w, want[0])
			}
		}
	}
}

func TestGroupsChangeBetweenSignIns(t *testing.T) {
	p := ssotest.Start(t, callback)
	rp := newRP(t, p, oauth2.AuthStyleInHeader)
	p.SetUser(alice)
	c, _ := decode(t, rp.mustVerify(rp.mustSignIn("alice", "wonderland")))
	if !slices.Equal(c.Groups, alice.Groups) {
		t.Fatalf("groups %v, want %v", c.Groups, alice.Groups)
	}
	changed := alice
	changed.Groups = []string{"alumni"}
	p.SetUser(changed)
	c, _ = decode(t, rp.mustVerify(rp.mustSignIn("alice", "wonderland")))
	if !slices.Equal(c.Groups, []string{"alumni"}) || c.Sub != alice.Sub() {
		t.Fatalf("after SetUser: groups %v, sub %q; want [alumni], %q", c.Groups, c.Sub, alice.Sub())
	}
	changed.Groups = nil
	p.SetUser(changed)
	_, m := decode(t, rp.mustVerify(rp.mustSignIn("alice", "wonderland")))
	if g, ok := m["groups"].([]any); !ok || len(g) != 0 {
		t.Fatalf("without groups the claim is %#v, want []", m["groups"])
	}
}

func TestOptionalClaimsAndScopes(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(ssotest.User{Username: "bob", Email: "bob@example.org", Password: "pw", EmailUnverified: true})
	// An unknown scope is dropped, not refused.
	rp := newRP(t, p, oauth2.AuthStyleInHeader, "openid", "profile", "email", "groups", "no-such-scope")
	_, m := decode(t, rp.mustVerify(rp.mustSignIn("bob", "pw")))
	for _, absent := range []string{"uid_number", "gid_number", "supplementary_gids"} {
		if v, ok := m[absent]; ok {
			t.Errorf("%s = %v for a user without it", absent, v)
		}
	}
	if m["email_verified"] != false || m["preferred_username"] != "bob" {
		t.Errorf("claims %v, want email_verified false, preferred_username bob", m)
	}
	// Claims follow the scopes: openid alone gives sub only.
	rp = newRP(t, p, oauth2.AuthStyleInHeader, "openid")
	_, m = decode(t, rp.mustVerify(rp.mustSignIn("bob", "pw")))
	for _, absent := range []string{"preferred_username", "email", "groups"} {
		if v, ok := m[absent]; ok {
			t.Errorf("scope openid: %s = %v", absent, v)
		}
	}
}

func TestPromptNone(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(alice)
	rp := newRP(t, p, oauth2.AuthStyleInHeader)
	a := rp.authorize()
	loc, err := p.Login(t.Context(), nil, a.url+"&prompt=none", "alice", "wonderland")
	if err == nil || loc == nil || loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != a.state {
		t.Fatalf("prompt=none: %v, %v; want an error redirect with login_required and the state", loc, err)
	}
}

func TestClockSkew(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(alice)
	rp := newRP(t, p, oauth2.AuthStyleInHeader)
	near := func(what string, got, want time.Time) {
		t.Helper()
		if got.Sub(want).Abs() > 5*time.Second {
			t.Errorf("%s = %s, want about %s", what, got, want)
		}
	}

	// Ahead: go-oidc checks exp (and nbf, which zitadel never sets) but not
	// iat, so a token issued 10 minutes in the future passes.
	p.SetClockSkew(10 * time.Minute)
	si := rp.mustSignIn("alice", "wonderland")
	idt := rp.mustVerify(si)
	now := time.Now()
	near("iat", idt.IssuedAt, now.Add(10*time.Minute))
	near("exp", idt.Expiry, now.Add(70*time.Minute))
	c, _ := decode(t, idt)
	near("auth_time", time.Unix(c.AuthTime, 0), now.Add(10*time.Minute))

	// Behind by 2h: the 1h token expired an hour ago; go-oidc refuses it.
	p.SetClockSkew(-2 * time.Hour)
	si = rp.mustSignIn("alice", "wonderland")
	_, err := rp.verify(si)
	var expired *oidc.TokenExpiredError
	if !errors.As(err, &expired) {
		t.Fatalf("verify with the provider 2h behind: %v, want *oidc.TokenExpiredError", err)
	}
	near("exp", expired.Expiry, time.Now().Add(-time.Hour))
	near("access token expiry", si.token.Expiry, time.Now().Add(time.Hour)) // expires_in is unaffected
	// On the provider's own clock the token is fine, and so is its access token.
	v := rp.oidc.Verifier(&oidc.Config{ClientID: p.ClientID, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})
	if _, err := v.Verify(t.Context(), si.idToken); err != nil {
		t.Errorf("verify on the provider's clock: %v", err)
	}
	if _, err := rp.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(si.token)); err != nil {
		t.Errorf("userinfo: %v", err)
	}

	p.SetClockSkew(0)
	rp.mustVerify(rp.mustSignIn("alice", "wonderland"))
}

func TestWrongPassword(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(alice)
	rp := newRP(t, p, oauth2.AuthStyleInHeader)
	for _, creds := range [][2]string{{"alice", "wrong"}, {"nobody", "wonderland"}, {"alice", ""}} {
		if _, err := rp.code(rp.authorize(), creds[0], creds[1]); err == nil || !strings.Contains(err.Error(), "invalid username or password") {
			t.Errorf("sign in as %q with %q: %v, want invalid username or password", creds[0], creds[1], err)
		}
	}
	rp.mustSignIn("alice", "wonderland")
}

func TestPKCEAndCodeAreChecked(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(alice)
	rp := newRP(t, p, oauth2.AuthStyleInHeader)
	ctx := t.Context()
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"no verifier":    nil,
		"wrong verifier": {oauth2.VerifierOption(oauth2.GenerateVerifier())},
	} {
		a := rp.authorize()
		code, err := rp.code(a, "alice", "wonderland")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rp.oauth.Exchange(ctx, code, opts...); err == nil {
			t.Errorf("%s: the code was exchanged", name)
		}
	}
	a := rp.authorize()
	code, err := rp.code(a, "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); err != nil {
		t.Fatal(err)
	}
	if _, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); err == nil {
		t.Error("a code was exchanged twice")
	}
	bad := rp.oauth
	bad.ClientSecret = "wrong"
	a = rp.authorize()
	if code, err = rp.code(a, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Exchange(ctx, code, oauth2.VerifierOption(a.verifier)); err == nil {
		t.Error("a wrong client secret was accepted")
	}
}

func TestAllowRedirect(t *testing.T) {
	p := ssotest.Start(t) // no redirect URIs yet
	p.SetUser(alice)
	rp := newRP(t, p, oauth2.AuthStyleInHeader)
	if _, err := rp.signIn("alice", "wonderland"); err == nil {
		t.Fatal("signed in through an unregistered redirect URI")
	}
	p.AllowRedirect(callback + "/other")
	if _, err := rp.signIn("alice", "wonderland"); err == nil {
		t.Fatal("redirect URIs match by prefix")
	}
	p.AllowRedirect(callback)
	rp.mustVerify(rp.mustSignIn("alice", "wonderland"))
}

func TestEndSession(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(alice)
	rp := newRP(t, p, oauth2.AuthStyleInHeader)
	si := rp.mustSignIn("alice", "wonderland")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	endSession := func(q url.Values) (int, string) {
		t.Helper()
		resp, err := noFollow.Get(p.EndSessionURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}

	const after = "http://127.0.0.1:1/signed-out"
	q := url.Values{"id_token_hint": {si.idToken}, "post_logout_redirect_uri": {after}, "state": {"s1"}}
	if code, _ := endSession(q); code != http.StatusBadRequest {
		t.Errorf("unregistered post_logout_redirect_uri: HTTP %d, want 400", code)
	}
	p.AllowPostLogoutRedirect(after)
	if code, loc := endSession(q); code != http.StatusFound || loc != after+"?state=s1" {
		t.Errorf("end_session: HTTP %d to %q, want 302 to %s?state=s1", code, loc, after)
	}
	if got := p.EndedSessions(); !slices.Equal(got, []string{alice.Sub()}) {
		t.Errorf("EndedSessions() = %q", got)
	}
	if _, err := rp.oidc.UserInfo(t.Context(), oauth2.StaticTokenSource(si.token)); err == nil {
		t.Error("the access token still works after end_session")
	}
	if code, loc := endSession(url.Values{}); code != http.StatusFound || loc != p.Issuer+"/logged-out" {
		t.Errorf("bare end_session: HTTP %d to %q", code, loc)
	}
}
