package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
)

// loginView is the sign-in form.
type loginView struct {
	Next     string
	Username string
	Error    string
	Token    string // the form's CSRF token (double-submitted with a cookie)
	// Provider names the single sign-on provider ("" without one); Local
	// shows the password form beside it (always, unless SSO only).
	Provider string
	Local    bool
	// SignedOut offers to sign out at the provider too (its URL).
	SignedOut string
}

// SSOStart is the link that starts a single sign-on.
func (l loginView) SSOStart() string { return "/auth/sso/start?next=" + url.QueryEscape(l.Next) }

func (l loginView) csrfToken() string { return l.Token }

// safeNext keeps a post-login redirect on this site: a local path, never
// "//host" or "/\host" which browsers read as another site.
func safeNext(next string) string {
	// Browsers drop tabs and newlines from URLs and read '\\' as '/':
	// "/\t/evil.example" would leave the site. Only a plain path of this
	// site, re-serialised, goes through.
	if strings.IndexFunc(next, func(r rune) bool { return r < 0x21 || r == 0x7f || r == '\\' }) >= 0 {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return u.RequestURI()
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if _, _, err := h.svc.Authenticate(r.Context(), c.Value); err == nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return nil
		}
	}
	v := loginView{Next: safeNext(r.URL.Query().Get("next"))}
	if r.URL.Query().Has("signed-out") && h.sso != nil {
		v.SignedOut = h.sso.EndSessionURL(h.publicURL + "/login")
	}
	h.showLogin(w, r, http.StatusOK, v)
	return nil
}

// showLogin renders the form with a fresh CSRF token in a cookie and in
// the form: a login request must carry both, equal.
func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	// Keep the token of a form already open (in another tab, or set by a
	// request of the same page) so that submitting it still works.
	if c, err := r.Cookie(loginCSRFCookie); err == nil && len(c.Value) == 32 {
		v.Token = c.Value
	} else {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		v.Token = base64.RawURLEncoding.EncodeToString(b)
	}
	if h.sso != nil {
		v.Provider = h.sso.Name()
	}
	v.Local = h.sso == nil || !h.ssoOnly || r.URL.Query().Get("local") == "1" || r.Method == http.MethodPost
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: v.Token, Path: "/login", HttpOnly: true,
		Secure: h.isSecure(r), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	h.render(w, r, status, "login", v)
}

func (h *Handler) isSecure(r *http.Request) bool { return h.secure || r.TLS != nil }

func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	user := r.PostFormValue("username")
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
		h.showLogin(w, r, http.StatusForbidden, loginView{Next: next, Username: user,
			Error: "The sign-in form expired or did not come from labspace. Try again."})
		return nil
	}
	raw, tk, err := h.svc.Login(r.Context(), user, r.PostFormValue("password"))
	if err != nil {
		code := labspace.ErrorCode(err)
		if code != labspace.EUNAUTHORIZED && code != labspace.ETOOMANY {
			return err
		}
		var e *labspace.Error
		msg := "Wrong user name or password."
		if errors.As(err, &e) {
			msg = e.Message
			if e.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
			}
		}
		h.showLogin(w, r, labspace.HTTPStatus(code), loginView{Next: next, Username: user, Error: msg})
		return nil
	}
	h.setSession(w, r, raw, tk)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// setSession gives the browser its session cookie after a sign-in.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, raw string, tk *labspace.Token) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: raw, Path: "/", HttpOnly: true, Secure: h.isSecure(r),
		SameSite: http.SameSiteStrictMode, Expires: tk.ExpiresAt, MaxAge: int(time.Until(tk.ExpiresAt).Seconds())})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Path: "/login", MaxAge: -1})
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	s := sessionOf(r)
	if err := h.svc.Logout(service.WithActor(r.Context(), s.actor), s.token); err != nil && labspace.ErrorCode(err) != labspace.ENOTFOUND {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: h.isSecure(r),
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	to := "/login"
	if h.sso != nil && h.sso.EndSession != "" {
		to += "?signed-out" // the page offers to sign out at the provider too
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
