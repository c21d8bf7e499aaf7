// Package ssotest runs a real OpenID Connect provider inside Go tests.
//
// The protocol side (discovery, JWKS, authorize, token, userinfo,
// end_session, introspection, revocation) is zitadel's op package, the
// provider implementation behind github.com/zitadel/oidc/v3's example
// server; this package adds an in-memory storage for one confidential web
// client, a user list the test controls, a plain HTML login form, a
// browserless Login driver and an adjustable provider clock.
//
// Start(t) listens on 127.0.0.1 over plain http. Tokens are signed RS256
// with an RSA key made at Start. There is no provider-side session: every
// authorization request shows the login form (prompt=none fails with
// login_required).
package ssotest

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is a person at the provider.
//
// Claims, in the ID token and at userinfo, by requested scope:
//
//	openid   sub
//	profile  preferred_username (Username); uid_number, gid_number when
//	         non-zero; supplementary_gids (array of numbers) when non-empty
//	email    email, email_verified (when Email is set)
//	groups   groups (array of strings, [] when none)
type User struct {
	Username, Email, Password string // Username goes in preferred_username
	Groups                    []string
	UID, GID                  int
	ExtraGroups               []int

	// Subject is the sub claim; empty means "sub-" + Username. It is kept
	// as given, so a test can rename a user behind a stable sub.
	Subject string
	// EmailUnverified makes email_verified false (it is true by default).
	EmailUnverified bool
}

// Sub is the user's sub claim.
func (u User) Sub() string {
	if u.Subject != "" {
		return u.Subject
	}
	return "sub-" + u.Username
}

func (u User) fillClaims(info *oidc.UserInfo, scopes []string) {
	info.Subject = u.Sub()
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.PreferredUsername = u.Username
		if u.UID != 0 {
			info.AppendClaims("uid_number", u.UID)
		}
		if u.GID != 0 {
			info.AppendClaims("gid_number", u.GID)
		}
		if len(u.ExtraGroups) > 0 {
			info.AppendClaims("supplementary_gids", slices.Clone(u.ExtraGroups))
		}
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(!u.EmailUnverified)
		if u.EmailUnverified {
			// zitadel omits a false email_verified; say it explicitly.
			info.AppendClaims("email_verified", false)
		}
	}
	if slices.Contains(scopes, groupsScope) {
		info.AppendClaims("groups", append([]string{}, u.Groups...))
	}
}

// Provider is a running OpenID provider.
type Provider struct {
	Issuer                 string // http://127.0.0.1:PORT, no trailing slash
	ClientID, ClientSecret string // the one confidential web client

	store *storage
	op    *op.Provider
}

// Start runs the provider on 127.0.0.1 on a free port until the test ends.
// redirectURIs are the client's allowed redirect URIs (exact match); more
// can be added with AllowRedirect.
func Start(t testing.TB, redirectURIs ...string) *Provider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	p := &Provider{
		Issuer:       "http://" + srv.Listener.Addr().String(),
		ClientID:     "ssotest-client",
		ClientSecret: rand.Text(),
	}
	var err error
	p.store, err = newStorage(p.ClientID, p.ClientSecret, redirectURIs)
	if err != nil {
		t.Fatalf("ssotest: %v", err)
	}
	p.op, err = op.NewProvider(p.config(), p.store, op.StaticIssuer(p.Issuer),
		op.WithAllowInsecure()) // plain http issuer
	if err != nil {
		t.Fatalf("ssotest: %v", err)
	}
	srv.Config.Handler = p.handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

func (p *Provider) config() *op.Config {
	cfg := &op.Config{
		CodeMethodS256:           true, // PKCE S256
		AuthMethodPost:           true, // client_secret_post besides _basic
		DefaultLogoutRedirectURI: p.Issuer + loggedOutPath,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes: []string{oidc.ScopeOpenID, oidc.ScopeProfile,
			oidc.ScopeEmail, groupsScope},
		SupportedClaims: append(slices.Clone(op.DefaultSupportedClaims),
			"groups", "uid_number", "gid_number", "supplementary_gids"),
	}
	// Key for zitadel's encrypted opaque access tokens.
	if _, err := rand.Read(cfg.CryptoKey[:]); err != nil {
		panic(err) // crypto/rand never fails
	}
	cfg.CryptoKeyId = "ssotest"
	return cfg
}

const loggedOutPath = "/logged-out"

func (p *Provider) handler() http.Handler {
	mux := http.NewServeMux()
	// The login page needs the issuer in its context to build zitadel's
	// callback URL, as the example's login does.
	issuer := op.NewIssuerInterceptor(p.op.IssuerFromRequest)
	mux.Handle(loginPath, issuer.HandlerFunc(p.serveLogin))
	mux.HandleFunc(loggedOutPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><title>Signed out</title><p id=\"signed-out\">Signed out.</p>\n"))
	})
	mux.Handle("/", p.op)
	return mux
}

// AllowRedirect adds an allowed redirect URI (exact match).
func (p *Provider) AllowRedirect(uri string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	if !slices.Contains(p.store.redirectURIs, uri) {
		p.store.redirectURIs = append(p.store.redirectURIs, uri)
	}
}

// AllowPostLogoutRedirect adds an allowed post_logout_redirect_uri for
// end_session (exact match). Without one, end_session redirects to the
// provider's own "signed out" page.
func (p *Provider) AllowPostLogoutRedirect(uri string) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	if !slices.Contains(p.store.postLogoutURIs, uri) {
		p.store.postLogoutURIs = append(p.store.postLogoutURIs, uri)
	}
}

// SetUser adds a user or replaces the one with the same Username. Tokens
// issued afterwards, and userinfo answers, carry the new claims.
func (p *Provider) SetUser(u User) {
	u.Groups = slices.Clone(u.Groups)
	u.ExtraGroups = slices.Clone(u.ExtraGroups)
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.users[u.Username] = u
}

// SetClockSkew sets the provider's clock to run d ahead of the real clock
// (behind when d is negative). ID tokens issued from now on carry iat,
// auth_time and exp shifted by d; access token lifetimes are counted on
// the provider's clock too.
func (p *Provider) SetClockSkew(d time.Duration) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.skew = d
}

// EndSessionURL is the end_session_endpoint the provider advertises.
func (p *Provider) EndSessionURL() string {
	return p.op.EndSessionEndpoint().Absolute(p.Issuer)
}

// EndedSessions lists the sub of every accepted end_session request, in
// order ("" when the request carried no id_token_hint).
func (p *Provider) EndedSessions() []string {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	return slices.Clone(p.store.endedSessionFor)
}
