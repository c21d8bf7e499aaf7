package ssotest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	idTokenLifetime     = time.Hour
	accessTokenLifetime = time.Hour
	// groupsScope asks for the "groups" claim.
	groupsScope = "groups"
)

// storage is an in-memory op.Storage for one confidential web client. It
// keeps auth requests, codes and access tokens; it issues no refresh tokens.
type storage struct {
	clientID, clientSecret string
	key                    *rsa.PrivateKey
	keyID                  string

	mu              sync.Mutex
	users           map[string]User // by Username
	redirectURIs    []string
	postLogoutURIs  []string
	skew            time.Duration
	authRequests    map[string]*authRequest // by ID
	codes           map[string]string       // code -> auth request ID
	tokens          map[string]accessToken  // by ID
	endedSessionFor []string                // subjects, in end_session order
}

type accessToken struct {
	subject, clientID string
	scopes            []string
	expires           time.Time // on the provider's (skewed) clock
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

func newStorage(clientID, clientSecret string, redirectURIs []string) (*storage, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &storage{
		clientID:     clientID,
		clientSecret: clientSecret,
		key:          key,
		keyID:        rand.Text()[:16],
		users:        map[string]User{},
		redirectURIs: slices.Clone(redirectURIs),
		authRequests: map[string]*authRequest{},
		codes:        map[string]string{},
		tokens:       map[string]accessToken{},
	}, nil
}

func (s *storage) userBySubject(subject string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Sub() == subject {
			return u, true
		}
	}
	return User{}, false
}

// checkLogin authenticates a user for the auth request id and marks it done.
func (s *storage) checkLogin(id, username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok {
		return errors.New("unknown or expired sign-in request")
	}
	u, ok := s.users[username]
	if !ok || u.Password != password {
		return errors.New("invalid username or password")
	}
	req.subject = u.Sub()
	req.authTime = time.Now() // zitadel shifts it by the client's clock skew
	req.done = true
	return nil
}

// --- op.AuthStorage ---

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired() // there is no provider-side session
	}
	req := &authRequest{
		id:          rand.Text(),
		clientID:    r.ClientID,
		redirectURI: r.RedirectURI,
		state:       r.State,
		nonce:       r.Nonce,
		scopes:      slices.Clone(r.Scopes),
		respType:    r.ResponseType,
		respMode:    r.ResponseMode,
	}
	if r.CodeChallenge != "" {
		req.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authRequests[req.id] = req
	return req.snapshot(), nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok {
		return nil, errors.New("auth request not found")
	}
	return req.snapshot(), nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code invalid or already used")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	for code, reqID := range s.codes {
		if reqID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	var clientID string
	if ar, ok := r.(op.AuthRequest); ok {
		clientID = ar.GetClientID()
	}
	id := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := accessToken{
		subject:  r.GetSubject(),
		clientID: clientID,
		scopes:   slices.Clone(r.GetScopes()),
		expires:  time.Now().Add(s.skew + accessTokenLifetime),
	}
	s.tokens[id] = tok
	return id, tok.expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("refresh tokens are not supported")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errors.New("refresh tokens are not supported")
}

func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endedSessionFor = append(s.endedSessionFor, userID)
	for id, tok := range s.tokens {
		if tok.subject == userID && tok.clientID == clientID {
			delete(s.tokens, id)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrTokenID, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tokenOrTokenID)
	return nil
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.key, s.keyID}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{&s.key.PublicKey, s.keyID}}, nil
}

// --- op.OPStorage ---

func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.clientID {
		return nil, fmt.Errorf("unknown client %q", clientID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &client{
		id:             s.clientID,
		redirectURIs:   slices.Clone(s.redirectURIs),
		postLogoutURIs: slices.Clone(s.postLogoutURIs),
		skew:           s.skew,
	}, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, clientSecret string) error {
	if clientID != s.clientID || clientSecret != s.clientSecret {
		return errors.New("invalid client id or secret")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in zitadel; SetUserinfoFromRequest does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	u, ok := s.userBySubject(r.GetSubject())
	if !ok {
		return fmt.Errorf("user %q no longer exists", r.GetSubject())
	}
	u.fillClaims(info, scopes)
	return nil
}

// SetUserinfoFromToken fills the userinfo endpoint's answer.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	tok, err := s.validToken(tokenID)
	if err != nil {
		return err
	}
	u, ok := s.userBySubject(tok.subject)
	if !ok {
		return fmt.Errorf("user %q no longer exists", tok.subject)
	}
	u.fillClaims(info, tok.scopes)
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	tok, err := s.validToken(tokenID)
	if err != nil {
		return err
	}
	if tok.clientID != clientID {
		return errors.New("token was issued to another client")
	}
	u, ok := s.userBySubject(tok.subject)
	if !ok {
		return fmt.Errorf("user %q no longer exists", tok.subject)
	}
	info := new(oidc.UserInfo)
	u.fillClaims(info, tok.scopes)
	resp.SetUserInfo(info)
	resp.Scope = tok.scopes
	resp.ClientID = tok.clientID
	resp.Expiration = oidc.FromTime(tok.expires)
	return nil
}

func (s *storage) validToken(tokenID string) (accessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.tokens[tokenID]
	if !ok {
		return accessToken{}, errors.New("access token unknown or revoked")
	}
	if !time.Now().Add(s.skew).Before(tok.expires) {
		return accessToken{}, errors.New("access token expired")
	}
	return tok, nil
}

// GetPrivateClaimsFromScopes is only used for JWT access tokens; ours are opaque.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile grants are not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile grants are not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// --- keys ---

type signingKey struct {
	key *rsa.PrivateKey
	id  string
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct {
	key *rsa.PublicKey
	id  string
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }
