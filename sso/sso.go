// Package sso signs people in through an OpenID Connect provider: the
// authorization code flow with PKCE, state and nonce, the ID token checked
// by go-oidc (issuer, audience, signature, expiry) and by labspace (nonce,
// issue time within the clock skew allowed), and the claims read into a
// service.SignIn. The web package runs the flow's pages.
package sso

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"golang.org/x/oauth2"
)

// Config names the provider, labspace's client there, and the claims.
type Config struct {
	Issuer, ClientID, ClientSecret string
	// RedirectURL is labspace's callback, PublicURL + CallbackPath.
	RedirectURL string
	// Name is the provider's name on the sign-in page ("Sign in with Name").
	Name string
	// Scopes default to openid, profile, email and groups.
	Scopes []string
	// UsernameClaim names the user (default preferred_username, then email).
	UsernameClaim string
	// GroupsClaim lists the user's groups (default "groups").
	GroupsClaim string
	// UIDClaim, GIDClaim and GroupIDsClaim give the POSIX identity of
	// environments whose runAs source is identity-provider ("": not read).
	UIDClaim, GIDClaim, GroupIDsClaim string
	// ClockSkew is how far the provider's clock may be ahead (default 2 min).
	ClockSkew time.Duration
}

// CallbackPath is where the provider sends the browser back.
const CallbackPath = "/auth/sso/callback"

// RP is labspace as a relying party of one provider.
type RP struct {
	cfg        Config
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	provider   *oidc.Provider
	EndSession string // the provider's end_session_endpoint, "" when it has none
}

// New reads the provider's discovery document.
func New(ctx context.Context, cfg Config) (*RP, error) {
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OpenID provider %s: %w", cfg.Issuer, err)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "profile", "email", "groups"}
	}
	cfg.GroupsClaim = cmp.Or(cfg.GroupsClaim, "groups")
	cfg.Name = cmp.Or(cfg.Name, "single sign-on")
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 2 * time.Minute
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&meta)
	rp := &RP{cfg: cfg, provider: p, EndSession: meta.EndSession,
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
		oauth: oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: cfg.RedirectURL, Scopes: cfg.Scopes}}
	return rp, nil
}

// Name is the provider's name for the sign-in page.
func (rp *RP) Name() string { return rp.cfg.Name }

// ClientID is labspace's client id at the provider.
func (rp *RP) ClientID() string { return rp.cfg.ClientID }

// Attempt is one sign-in under way: what the browser keeps (in a sealed
// cookie) between the start and the callback.
type Attempt struct {
	State, Nonce, Verifier, Next string
	Expires                      time.Time
}

// Start begins a sign-in: the attempt to keep, and the provider's URL.
func (rp *RP) Start(next string, now time.Time) (Attempt, string) {
	a := Attempt{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier(),
		Next: next, Expires: now.Add(10 * time.Minute)}
	return a, rp.oauth.AuthCodeURL(a.State, oidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier))
}

// ErrRefused is a sign-in the provider or the checks refused.
var ErrRefused = errors.New("sign-in refused")

// Finish checks the provider's answer against the attempt, exchanges the
// code and reads the verified ID token's claims.
func (rp *RP) Finish(ctx context.Context, a Attempt, state, code string, now time.Time) (service.SignIn, error) {
	var in service.SignIn
	if a.State == "" || subtle.ConstantTimeCompare([]byte(state), []byte(a.State)) != 1 {
		return in, fmt.Errorf("%w: the answer does not belong to this browser's sign-in (state)", ErrRefused)
	}
	if now.After(a.Expires) {
		return in, fmt.Errorf("%w: the sign-in took too long; start again", ErrRefused)
	}
	tok, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		return in, fmt.Errorf("%w: the provider refused the code: %v", ErrRefused, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return in, fmt.Errorf("%w: the provider sent no ID token", ErrRefused)
	}
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return in, fmt.Errorf("%w: the ID token is not valid: %v", ErrRefused, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(a.Nonce)) != 1 {
		return in, fmt.Errorf("%w: the ID token was not made for this sign-in (nonce)", ErrRefused)
	}
	if idt.IssuedAt.After(now.Add(rp.cfg.ClockSkew)) {
		return in, fmt.Errorf("%w: the ID token was issued %s in the future; the provider's clock is off by more than %s",
			ErrRefused, idt.IssuedAt.Sub(now).Round(time.Second), rp.cfg.ClockSkew)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return in, err
	}
	return rp.signIn(idt, claims)
}

// signIn reads the claims the configuration names.
func (rp *RP) signIn(idt *oidc.IDToken, claims map[string]any) (service.SignIn, error) {
	in := service.SignIn{ExternalIdentity: labspace.ExternalIdentity{Issuer: idt.Issuer, Subject: idt.Subject}}
	in.Email, _ = claims["email"].(string)
	in.EmailVerified, _ = claims["email_verified"].(bool)
	in.DisplayName, _ = claims["name"].(string)
	if rp.cfg.UsernameClaim != "" {
		in.Username, _ = claims[rp.cfg.UsernameClaim].(string)
	} else {
		in.Username, _ = claims["preferred_username"].(string)
		in.Username = cmp.Or(in.Username, in.Email)
	}
	if gs, ok := claims[rp.cfg.GroupsClaim].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok && s != "" {
				in.Groups = append(in.Groups, s)
			}
		}
	}
	var err error
	if in.UID, err = number(claims, rp.cfg.UIDClaim); err != nil {
		return in, err
	}
	if in.GID, err = number(claims, rp.cfg.GIDClaim); err != nil {
		return in, err
	}
	if ids, ok := claims[rp.cfg.GroupIDsClaim].([]any); ok && rp.cfg.GroupIDsClaim != "" {
		for i := range ids {
			n, err := number(map[string]any{"id": ids[i]}, "id")
			if err != nil || n == nil {
				return in, fmt.Errorf("%w: claim %s holds %v, not group ids", ErrRefused, rp.cfg.GroupIDsClaim, ids[i])
			}
			in.SupplementaryGIDs = append(in.SupplementaryGIDs, *n)
		}
	}
	return in, nil
}

// number reads a POSIX id claim: a whole number from 0 to 2^32-2, given as a
// JSON number or a string; nil when the claim is absent or not configured.
func number(claims map[string]any, name string) (*int64, error) {
	v, ok := claims[name]
	if name == "" || !ok {
		return nil, nil
	}
	var n int64
	switch t := v.(type) {
	case float64:
		n = int64(t)
		if float64(n) != t {
			n = -1
		}
	case string:
		var err error
		if n, err = strconv.ParseInt(t, 10, 64); err != nil {
			n = -1
		}
	default:
		n = -1
	}
	if n < 0 || n > 1<<32-2 {
		return nil, fmt.Errorf("%w: claim %s holds %v, not a POSIX id", ErrRefused, name, v)
	}
	return &n, nil
}

// EndSessionURL is where to send the browser to sign out at the provider
// too, coming back to back ("" when the provider offers none).
func (rp *RP) EndSessionURL(back string) string {
	if rp.EndSession == "" {
		return ""
	}
	u := rp.EndSession + "?client_id=" + url.QueryEscape(rp.cfg.ClientID)
	if back != "" {
		u += "&post_logout_redirect_uri=" + url.QueryEscape(back)
	}
	return u
}
