package ssotest

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// loginPath is the provider's login page; zitadel sends the browser there
// with the auth request ID in the authRequestID query parameter.
const loginPath = "/login"

// client is the single confidential web client, as seen by zitadel for one
// request (zitadel never caches it, so it is a snapshot of the storage).
type client struct {
	id             string
	redirectURIs   []string
	postLogoutURIs []string
	skew           time.Duration
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.id }
func (c *client) RedirectURIs() []string           { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.postLogoutURIs }
func (c *client) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}

// AuthMethod is client_secret_basic; zitadel also accepts client_secret_post
// for it because Config.AuthMethodPost is set.
func (c *client) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string            { return loginPath + "?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(scope string) bool     { return scope == groupsScope }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

// Clock skew. zitadel's per-client ClockSkew k widens a token's window: it
// writes iat = now-k, auth_time = login-k and exp = now+k+IDTokenLifetime.
// A provider whose clock runs d ahead writes iat = now+d, auth_time = login+d
// and exp = now+d+lifetime, which is k = -d with a lifetime of lifetime+2d.

func (c *client) ClockSkew() time.Duration { return -c.skew }
func (c *client) IDTokenLifetime() time.Duration {
	return idTokenLifetime + 2*c.skew
}

// authRequest is one authorization request, from /authorize to the code
// exchange. zitadel gets copies (snapshot), so only the storage mutates it.
type authRequest struct {
	id, clientID, redirectURI string
	state, nonce              string
	scopes                    []string
	respType                  oidc.ResponseType
	respMode                  oidc.ResponseMode
	challenge                 *oidc.CodeChallenge

	// set by a successful login
	subject  string
	authTime time.Time
	done     bool
}

var _ op.AuthRequest = (*authRequest)(nil)

func (r *authRequest) snapshot() *authRequest {
	c := *r
	return &c
}

func (r *authRequest) GetID() string                         { return r.id }
func (r *authRequest) GetACR() string                        { return "" }
func (r *authRequest) GetAudience() []string                 { return []string{r.clientID} }
func (r *authRequest) GetAuthTime() time.Time                { return r.authTime }
func (r *authRequest) GetClientID() string                   { return r.clientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return r.challenge }
func (r *authRequest) GetNonce() string                      { return r.nonce }
func (r *authRequest) GetRedirectURI() string                { return r.redirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType    { return r.respType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode    { return r.respMode }
func (r *authRequest) GetScopes() []string                   { return r.scopes }
func (r *authRequest) GetState() string                      { return r.state }
func (r *authRequest) GetSubject() string                    { return r.subject }
func (r *authRequest) Done() bool                            { return r.done }
func (r *authRequest) GetAMR() []string {
	if r.done {
		return []string{"pwd"}
	}
	return nil
}
