package api

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store"
)

// TokenRequest signs in a user (username, password) or an application
// (clientId, clientSecret).
type TokenRequest struct {
	// A user's name, with password.
	Username string `json:"username,omitempty" example:"ada"`
	// The user's password.
	Password string `json:"password,omitempty" openapi:"writeOnly"`
	// An application's client id, with clientSecret.
	ClientID string `json:"clientId,omitempty"`
	// The application's client secret.
	ClientSecret string `json:"clientSecret,omitempty" openapi:"writeOnly"`
	// Code, CodeVerifier and RedirectURI: the command line's sign-in
	// through the browser (a code from /auth/cli and its PKCE verifier).
	Code string `json:"code,omitempty" openapi:"writeOnly"`
	// The PKCE verifier of the code.
	CodeVerifier string `json:"codeVerifier,omitempty" openapi:"writeOnly"`
	// The redirect URI the code was issued for.
	RedirectURI string `json:"redirectUri,omitempty"`
}

// TokenResponse carries a new token; it is shown only this once.
type TokenResponse struct {
	// The token: send it as Authorization: Bearer <token>.
	AccessToken string `json:"accessToken"`
	// When the token stops working.
	ExpiresAt time.Time `json:"expiresAt"`
	// The token's id, to revoke it.
	ID string `json:"id"`
}

// PersonalTokenRequest asks for a named personal access token.
// Password confirms the caller: its own password, or an application's
// client secret.
type PersonalTokenRequest struct {
	// The token's name.
	Name string `json:"name" example:"ci"`
	// How long the token lasts.
	ExpiresInSeconds int64 `json:"expiresInSeconds" example:"2592000"`
	// Your password, or an application's client secret.
	Password string `json:"password" openapi:"writeOnly"`
}

// PasswordChange is a user's own new password, confirmed with the current one.
type PasswordChange struct {
	// Your password now.
	CurrentPassword string `json:"currentPassword" openapi:"writeOnly"`
	// The new password, 8 to 72 bytes.
	NewPassword string `json:"newPassword" openapi:"writeOnly"`
}

// ApplicationBody is a new application, confirmed with the caller's password.
type ApplicationBody struct {
	labspace.Application
	// Your password, confirming the request.
	Password string `json:"password" openapi:"writeOnly"`
}

// UserBody is a user with its (write-only) password.
type UserBody struct {
	labspace.User
	// A new password for the user, 8 to 72 bytes; never returned.
	Password string `json:"password,omitempty" openapi:"writeOnly"`
}

// SecretRotation asks for an application's new client secret, confirmed
// with the caller's password (an application: its client secret).
type SecretRotation struct {
	// Password is the caller's own password (an application's: its client
	// secret), asked again because a new secret grants what the old did.
	Password string `json:"password" openapi:"writeOnly"`
}

// ApplicationCreated is a new application with its client secret, shown once.
type ApplicationCreated struct {
	labspace.Application
	// The client secret, shown this once.
	ClientSecret string `json:"clientSecret"`
}

func (s *Server) identityRoutes() []route {
	return []route{
		{method: "POST", path: "/api/v1/token", summary: "Sign in: exchange a password or client secret for a token",
			tag: "identity", public: true, in: TokenRequest{Username: "ada", Password: "correct-horse-battery"},
			out: TokenResponse{}, status: 200, handle: s.token},
		{method: "POST", path: "/api/v1/logout", summary: "Revoke the token used for this request", tag: "identity",
			status: 204, handle: func(w http.ResponseWriter, r *http.Request) error {
				if err := s.svc.Logout(r.Context(), r.Context().Value(tokenKey{}).(*labspace.Token)); err != nil {
					return err
				}
				w.WriteHeader(204)
				return nil
			}},
		{method: "GET", path: "/api/v1/me", summary: "Who the caller is and its roles", tag: "identity",
			out: service.Me{}, status: 200, handle: func(w http.ResponseWriter, r *http.Request) error {
				me, err := s.svc.WhoAmI(r.Context())
				return reply(w, 200, me, err)
			}},
		{method: "PUT", path: "/api/v1/me/password", summary: "Change your own password; your other tokens and sessions end",
			tag: "identity", in: PasswordChange{}, status: 204, handle: func(w http.ResponseWriter, r *http.Request) error {
				var b PasswordChange
				if err := decode(r, &b); err != nil {
					return err
				}
				tk, _ := r.Context().Value(tokenKey{}).(*labspace.Token)
				return reply(w, 204, nil, s.svc.ChangePassword(r.Context(), b.CurrentPassword, b.NewPassword, tk))
			}},
		{method: "GET", path: "/api/v1/tokens", summary: "The caller's tokens (never their values)", tag: "identity",
			out: List[labspace.Token]{}, status: 200, handle: func(w http.ResponseWriter, r *http.Request) error {
				items, err := s.svc.ListTokens(r.Context())
				return reply(w, 200, List[labspace.Token]{Items: items}, err)
			}},
		{method: "POST", path: "/api/v1/tokens", summary: "Create a personal access token", tag: "identity",
			in:  PersonalTokenRequest{Name: "ci", ExpiresInSeconds: 30 * 24 * 3600, Password: "correct-horse-battery"},
			out: TokenResponse{}, status: 201, handle: func(w http.ResponseWriter, r *http.Request) error {
				var req PersonalTokenRequest
				if err := decode(r, &req); err != nil {
					return err
				}
				// Saturate rather than overflow: a huge expiresInSeconds must not
				// wrap around into a short, accepted lifetime.
				secs := max(min(req.ExpiresInSeconds, int64(math.MaxInt64/time.Second)), -1)
				raw, tk, err := s.svc.CreatePersonalToken(r.Context(), req.Name, time.Duration(secs)*time.Second, req.Password)
				if err != nil {
					return err
				}
				return reply(w, 201, TokenResponse{AccessToken: raw, ExpiresAt: tk.ExpiresAt, ID: tk.ID}, nil)
			}},
		{method: "DELETE", path: "/api/v1/tokens/{id}", summary: "Revoke one of the caller's tokens", tag: "identity",
			status: 204, handle: func(w http.ResponseWriter, r *http.Request) error {
				return reply(w, 204, nil, s.svc.RevokeToken(r.Context(), r.PathValue("id")))
			}},
		{method: "GET", path: "/api/v1/users", summary: "List users", tag: "users", out: List[labspace.Object]{Items: []labspace.Object{&labspace.User{}}},
			status: 200, query: listQuery, handle: s.list(labspace.KindUser)},
		{method: "POST", path: "/api/v1/users", summary: "Create a local user", tag: "users", in: UserBody{}, out: labspace.User{},
			status: 201, handle: func(w http.ResponseWriter, r *http.Request) error {
				var b UserBody
				if err := decode(r, &b); err != nil {
					return err
				}
				u, err := s.svc.CreateUser(r.Context(), &b.User, b.Password)
				return reply(w, 201, u, err)
			}},
		{method: "GET", path: "/api/v1/users/{name}", summary: "Get a user", tag: "users", out: labspace.User{},
			status: 200, handle: s.get(labspace.KindUser, "name")},
		{method: "PUT", path: "/api/v1/users/{name}", summary: "Update a user; a new password signs it out everywhere", tag: "users",
			in: UserBody{}, out: labspace.User{}, status: 200, conditional: true, handle: func(w http.ResponseWriter, r *http.Request) error {
				var b UserBody
				if err := decode(r, &b); err != nil {
					return err
				}
				u, err := s.svc.UpdateUser(r.Context(), r.PathValue("name"), &b.User, b.Password)
				return reply(w, 200, u, err)
			}},
		{method: "DELETE", path: "/api/v1/users/{name}", summary: "Delete a user, its tokens and access rules", tag: "users",
			status: 204, conditional: true, handle: s.del(labspace.KindUser, "name")},
		{method: "GET", path: "/api/v1/applications", summary: "List applications (service accounts)", tag: "applications",
			out: List[labspace.Object]{Items: []labspace.Object{&labspace.Application{}}}, status: 200, query: listQuery, handle: s.list(labspace.KindApplication)},
		{method: "POST", path: "/api/v1/applications", summary: "Create an application; its client secret is shown once", tag: "applications",
			in: ApplicationBody{}, out: ApplicationCreated{}, status: 201, handle: func(w http.ResponseWriter, r *http.Request) error {
				var b ApplicationBody
				if err := decode(r, &b); err != nil {
					return err
				}
				out, sec, err := s.svc.CreateApplication(r.Context(), &b.Application, b.Password)
				if err != nil {
					return err
				}
				return reply(w, 201, ApplicationCreated{Application: *out, ClientSecret: sec}, nil)
			}},
		{method: "GET", path: "/api/v1/applications/{name}", summary: "Get an application", tag: "applications",
			out: labspace.Application{}, status: 200, handle: s.get(labspace.KindApplication, "name")},
		{method: "POST", path: "/api/v1/applications/{name}/secret", summary: "Rotate an application's client secret: the new one " +
			"is shown once, the old one and the tokens signed in with it stop working at once (its creator or an administrator)",
			tag: "applications", in: SecretRotation{}, out: ApplicationCreated{}, status: 200, conditional: true,
			handle: func(w http.ResponseWriter, r *http.Request) error {
				var b SecretRotation
				if err := decode(r, &b); err != nil {
					return err
				}
				app, sec, err := s.svc.RotateApplicationSecret(r.Context(), r.PathValue("name"), b.Password)
				if err != nil {
					return err
				}
				w.Header().Set("ETag", service.ETag(app.ResourceVersion))
				w.Header().Set("Cache-Control", "no-store")
				return reply(w, 200, ApplicationCreated{Application: *app, ClientSecret: sec}, nil)
			}},
		{method: "DELETE", path: "/api/v1/applications/{name}", summary: "Revoke an application: delete it, its tokens and rules", tag: "applications",
			status: 204, conditional: true, handle: s.del(labspace.KindApplication, "name")},
		{method: "GET", path: "/api/v1/audit", summary: "The audit log, newest first (system administrators)", tag: "audit",
			out: List[labspace.AuditEntry]{}, status: 200, query: []string{"limit", "continue", "actor", "objectId"},
			handle: func(w http.ResponseWriter, r *http.Request) error {
				v := r.URL.Query()
				q := store.AuditQuery{Actor: v.Get("actor"), ObjectID: v.Get("objectId"), Continue: v.Get("continue")}
				if l := v.Get("limit"); l != "" {
					n, err := strconv.Atoi(l)
					if err != nil || n < 1 || n > 1000 {
						return labspace.FieldErr("limit", "must be an integer between 1 and 1000 (got %q)", l)
					}
					q.Limit = n
				}
				items, next, err := s.svc.Audit(r.Context(), q)
				return reply(w, 200, List[labspace.AuditEntry]{Items: items, Continue: next}, err)
			}},
	}
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) error {
	var req TokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var raw string
	var tk *labspace.Token
	var err error
	switch {
	case req.Code != "" && req.Username == "" && req.ClientID == "":
		raw, tk, err = s.svc.RedeemCLICode(r.Context(), req.Code, req.CodeVerifier, req.RedirectURI)
	case req.Username != "" && req.ClientID == "":
		raw, tk, err = s.svc.Login(r.Context(), req.Username, req.Password)
	case req.ClientID != "" && req.Username == "":
		raw, tk, err = s.svc.LoginApplication(r.Context(), req.ClientID, req.ClientSecret)
	default:
		return labspace.FieldErr("username", "send username and password, clientId and clientSecret, or code, codeVerifier and redirectUri")
	}
	if err != nil {
		return err
	}
	return reply(w, 200, TokenResponse{AccessToken: raw, ExpiresAt: tk.ExpiresAt, ID: tk.ID}, nil)
}

// reply writes v with status, or returns err.
func reply(w http.ResponseWriter, status int, v any, err error) error {
	if err != nil {
		return err
	}
	if v == nil {
		w.WriteHeader(status)
		return nil
	}
	if o, ok := v.(labspace.Object); ok && o.GetMeta().ResourceVersion > 0 {
		// The version the body shows, for If-Match on the next write.
		w.Header().Set("ETag", service.ETag(o.GetMeta().ResourceVersion))
	}
	writeJSON(w, status, v)
	return nil
}

func (s *Server) list(k labspace.Kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := parseList(r, k)
		if err != nil {
			return err
		}
		items, next, err := s.svc.List(r.Context(), k, q)
		return reply(w, 200, List[labspace.Object]{Items: items, Continue: next}, err)
	}
}

func (s *Server) get(k labspace.Kind, key string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		out, err := s.svc.Get(r.Context(), k, r.PathValue(key))
		return reply(w, 200, out, err)
	}
}

func (s *Server) del(k labspace.Kind, key string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		return reply(w, 204, nil, s.svc.Delete(r.Context(), k, r.PathValue(key)))
	}
}
