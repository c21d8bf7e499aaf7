// Package web serves labspace's browser UI: server-rendered pages
// (html/template, assets embedded) over the same service the REST API
// uses. Pages never decide what a user may do or what is valid: they call
// the service and show its answers, field errors beside their fields.
//
// A page lives in its own file (workspaces.go, newworkspace.go, ...) with
// its template in templates/<page>.html; routes() lists them. To add a
// page: write its handler as func(w, r) error, its template defining
// "title" and "content", and register both in routes() and pageFiles.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/sso"
)

//go:embed templates static
var assets embed.FS

// SessionCookie holds the session token; the tool proxy accepts it too.
const SessionCookie = "labspace_session"

// loginCSRFCookie carries the login form's token before there is a session.
const loginCSRFCookie = "labspace_login_csrf"

// Options configure the UI.
type Options struct {
	Service *service.Service
	Logger  *slog.Logger
	// PublicURL is how users reach the server; an https one makes cookies Secure.
	PublicURL string
	// Key signs CSRF tokens; empty: a random key (forms open before a
	// restart must then be reloaded).
	Key []byte
	// SSO, when set, offers sign-in through an OpenID provider; with
	// SSOOnly the password form is shown only at /login?local=1 (for the
	// administrator when the provider is down).
	SSO     *sso.RP
	SSOOnly bool
}

// Handler serves the UI.
type Handler struct {
	svc       *service.Service
	log       *slog.Logger
	secure    bool
	key       []byte
	mux       *http.ServeMux
	pages     map[string]*template.Template
	sso       *sso.RP
	ssoOnly   bool
	publicURL string
}

// New returns the UI handler, to be mounted at "/".
func New(o Options) *Handler {
	h := &Handler{svc: o.Service, log: o.Logger, key: o.Key, mux: http.NewServeMux(),
		secure: strings.HasPrefix(o.PublicURL, "https://"), sso: o.SSO, ssoOnly: o.SSOOnly, publicURL: strings.TrimSuffix(o.PublicURL, "/")}
	if h.log == nil {
		h.log = slog.Default()
	}
	if len(h.key) == 0 {
		h.key = make([]byte, 32)
		_, _ = rand.Read(h.key)
	}
	h.pages = parsePages()
	h.routes()
	return h
}

// ServeHTTP serves the UI.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	if r.Method == http.MethodPost {
		if err := readForm(w, r); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// Form bodies: the sign-in form is small, the others hold at most a
// building block's JSON.
const (
	maxLoginForm = 64 << 10
	maxForm      = 1 << 20
)

// readForm parses a POSTed form before any handler reads it: urlencoded
// only (a multipart body was spooled to disk before anything checked it,
// S8), within its size limit.
func readForm(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return labspace.Errorf(labspace.EUNSUPPORTED, "Forms are sent as application/x-www-form-urlencoded.")
	}
	limit := int64(maxForm)
	if r.URL.Path == "/login" {
		limit = maxLoginForm
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return labspace.Errorf(labspace.ETOOLARGE, "The form is larger than %d KiB.", limit>>10)
		}
		return labspace.Errorf(labspace.EINVALID, "The form cannot be read.")
	}
	return nil
}

// handlerFunc is a page: it renders, redirects, or returns an error that
// becomes an error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h *Handler) routes() {
	static, _ := fs.Sub(assets, "static")
	files := http.FileServerFS(static)
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(files)))
	h.mux.Handle("GET /favicon.ico", http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently))
	h.mux.Handle("GET /login", h.public(h.loginPage))
	h.mux.Handle("POST /login", h.public(h.login))
	h.mux.Handle("POST /logout", h.auth(h.logout))
	h.ssoRoutes()
	h.cliRoutes()
	h.workspaceRoutes()
	h.newWorkspaceRoutes()
	h.detailRoutes()
	h.blockRoutes()
	h.adminRoutes()
	h.identityRoutes()
	h.mux.Handle("/", h.auth(func(w http.ResponseWriter, r *http.Request) error {
		return labspace.Errorf(labspace.ENOTFOUND, "There is no page at %s.", r.URL.Path)
	}))
}

func cacheFor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		next.ServeHTTP(w, r)
	})
}

// session is the signed-in caller of a request.
type session struct {
	actor *labspace.Actor
	token *labspace.Token
	csrf  string
}

type sessionKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	return s
}

// public wraps a page anyone may open.
func (h *Handler) public(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(service.WithSource(r.Context(), clientAddr(r)))
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// auth wraps a page for signed-in users: without a valid session cookie,
// a page redirects to /login (a data endpoint answers 401); a POST must
// carry the session's CSRF token.
func (h *Handler) auth(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := service.WithSource(r.Context(), clientAddr(r))
		c, err := r.Cookie(SessionCookie)
		var a *labspace.Actor
		var tk *labspace.Token
		if err == nil && c.Value != "" {
			a, tk, err = h.svc.Authenticate(ctx, c.Value)
		}
		if err != nil || a == nil {
			h.signIn(w, r)
			return
		}
		s := &session{actor: a, token: tk, csrf: h.csrfToken(c.Value)}
		ctx = service.WithToken(service.WithActor(context.WithValue(ctx, sessionKey{}, s), a), tk)
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), s.csrf) {
			h.fail(w, r, labspace.Errorf(labspace.EFORBIDDEN, "This form has expired or did not come from labspace: reload the page and try again."))
			return
		}
		if err := fn(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// signIn sends a caller without a session to the login page.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) || r.Method != http.MethodGet {
		http.Error(w, "Sign in again.", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// wantsJSON reports whether the request is a script's (polling, logs).
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") || r.Header.Get("X-Requested-With") != ""
}

// csrfToken is derived from the session token, so it needs no storage and
// dies with the session.
func (h *Handler) csrfToken(session string) string {
	return base64.RawURLEncoding.EncodeToString(h.sign("csrf", []byte(session)))
}

// sign is the MAC of v under the handler's key, for one purpose (a
// CSRF token, a sealed sign-in attempt), so that one never passes for
// the other.
func (h *Handler) sign(purpose string, v []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(purpose + "\x00"))
	m.Write(v)
	return m.Sum(nil)
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// errorPage is what the error template shows.
type errorPage struct {
	Status  int
	Title   string
	Message string
	Fields  []labspace.FieldError
}

// fail renders err as an error page. Only internal errors are 500s, and
// their details go to the log, never to the user.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := labspace.ErrorCode(err)
	status := labspace.HTTPStatus(code)
	p := errorPage{Status: status, Title: http.StatusText(status)}
	var e *labspace.Error
	if errors.As(err, &e) {
		p.Message, p.Fields = e.Message, e.Fields
	} else {
		h.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		p.Message = "Internal error. It has been logged; try again later."
	}
	if code == labspace.EUNAUTHORIZED {
		h.signIn(w, r)
		return
	}
	if code == labspace.ENOTFOUND {
		p.Title = "Not found"
	}
	if wantsJSON(r) {
		http.Error(w, p.Message, status)
		return
	}
	h.render(w, r, status, "error", p)
}

// fieldErrors lists the fields at fault in err; an error without fields
// becomes one entry with an empty field (shown as a message for the form).
func fieldErrors(err error) []labspace.FieldError {
	var e *labspace.Error
	if !errors.As(err, &e) {
		return []labspace.FieldError{{Detail: "Internal error."}}
	}
	if len(e.Fields) == 0 {
		return []labspace.FieldError{{Detail: e.Message}}
	}
	return e.Fields
}
