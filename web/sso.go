package web

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/sso"
)

// Single sign-on pages: /auth/sso/start sends the browser to the provider
// with a fresh state, nonce and PKCE verifier, kept in a cookie sealed with
// labspace's key; /auth/sso/callback checks the answer against it, signs
// the person in and goes on to where they were going.

const ssoCookie = "labspace_sso"

func (h *Handler) ssoRoutes() {
	if h.sso == nil {
		return
	}
	h.mux.Handle("GET /auth/sso/start", h.public(h.ssoStart))
	h.mux.Handle("GET "+sso.CallbackPath, h.public(h.ssoCallback))
}

func (h *Handler) ssoStart(w http.ResponseWriter, r *http.Request) error {
	a, to := h.sso.Start(safeNext(r.URL.Query().Get("next")), time.Now())
	raw, _ := json.Marshal(a)
	// Lax: the cookie must come back with the provider's redirect, a
	// top-level navigation from another site.
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: h.seal(raw), Path: "/auth/sso/", HttpOnly: true, Secure: h.isSecure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: int((10 * time.Minute).Seconds())})
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

func (h *Handler) ssoCallback(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Path: "/auth/sso/", MaxAge: -1}) // one answer per attempt
	q := r.URL.Query()
	var a sso.Attempt
	c, err := r.Cookie(ssoCookie)
	if err == nil {
		raw, ok := h.unseal(c.Value)
		if !ok || json.Unmarshal(raw, &a) != nil {
			a = sso.Attempt{}
		}
	}
	refuse := func(msg string) error {
		h.showLogin(w, r, http.StatusUnauthorized, loginView{Next: cmpNext(a.Next), Error: msg})
		return nil
	}
	if e := q.Get("error"); e != "" {
		return refuse("The identity provider did not sign you in (" + clipText(e+": "+q.Get("error_description"), 200) + ").")
	}
	in, err := h.sso.Finish(r.Context(), a, q.Get("state"), q.Get("code"), time.Now())
	if errors.Is(err, sso.ErrRefused) {
		h.log.Warn("single sign-on refused", "err", err, "source", clientAddr(r))
		return refuse("Signing in through " + h.sso.Name() + " failed: " + strings.TrimPrefix(err.Error(), sso.ErrRefused.Error()+": ") + ".")
	} else if err != nil {
		return err
	}
	raw, tk, err := h.svc.SignInExternal(r.Context(), in)
	if code := labspace.ErrorCode(err); code == labspace.EUNAUTHORIZED {
		var e *labspace.Error
		errors.As(err, &e)
		return refuse(e.Message)
	} else if err != nil {
		return err
	}
	h.setSession(w, r, raw, tk)
	http.Redirect(w, r, cmpNext(a.Next), http.StatusSeeOther)
	return nil
}

func cmpNext(next string) string {
	if next == "" {
		return "/"
	}
	return safeNext(next)
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// seal signs v with the handler's key: "<base64 v>.<base64 mac>".
func (h *Handler) seal(v []byte) string {
	return base64.RawURLEncoding.EncodeToString(v) + "." + base64.RawURLEncoding.EncodeToString(h.sign("sso", v))
}

func (h *Handler) unseal(s string) ([]byte, bool) {
	b64, mac, ok := strings.Cut(s, ".")
	v, err1 := base64.RawURLEncoding.DecodeString(b64)
	sum, err2 := base64.RawURLEncoding.DecodeString(mac)
	if !ok || err1 != nil || err2 != nil {
		return nil, false
	}
	return v, hmac.Equal(sum, h.sign("sso", v))
}

// The command line signs in through the browser (service/cli_login.go):
// GET /auth/cli asks the signed-in user to confirm, POST sends a one-use
// code to the command line's loopback address.

// cliView is the confirmation page.
type cliView struct {
	RedirectURI, Challenge, State string
}

func (h *Handler) cliRoutes() {
	h.mux.Handle("GET /auth/cli", h.auth(h.cliConfirm))
	h.mux.Handle("POST /auth/cli", h.auth(h.cliGrant))
}

func cliRequest(v url.Values) (cliView, error) {
	c := cliView{RedirectURI: v.Get("redirect_uri"), Challenge: v.Get("code_challenge"), State: v.Get("state")}
	if v.Get("code_challenge_method") != "" && v.Get("code_challenge_method") != "S256" {
		return c, labspace.FieldErr("code_challenge_method", "must be S256")
	}
	if !loopback(c.RedirectURI) {
		return c, labspace.FieldErr("redirect_uri", "must be http://127.0.0.1:PORT/... or http://[::1]:PORT/...: the command line on this computer")
	}
	if len(c.State) == 0 || len(c.State) > 128 {
		return c, labspace.FieldErr("state", "is required (at most 128 characters)")
	}
	return c, nil
}

// loopback accepts only the loopback addresses RFC 8252 names, with a port,
// so that a code never leaves the computer the browser runs on.
func loopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Port() == "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

func (h *Handler) cliConfirm(w http.ResponseWriter, r *http.Request) error {
	c, err := cliRequest(r.URL.Query())
	if err != nil {
		return err
	}
	// The form's answer redirects to the command line's address: the
	// page's policy, which limits where its forms lead, lets it go there.
	u, _ := url.Parse(c.RedirectURI)
	w.Header().Set("Content-Security-Policy", strings.Replace(w.Header().Get("Content-Security-Policy"),
		"form-action 'self'", "form-action 'self' http://"+u.Host, 1))
	h.render(w, r, http.StatusOK, "cli", c)
	return nil
}

func (h *Handler) cliGrant(w http.ResponseWriter, r *http.Request) error {
	c, err := cliRequest(r.PostForm)
	if err != nil {
		return err
	}
	code, err := h.svc.MintCLICode(r.Context(), c.Challenge, c.RedirectURI)
	if err != nil {
		return err
	}
	u, _ := url.Parse(c.RedirectURI)
	u.RawQuery = url.Values{"code": {code}, "state": {c.State}}.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
	return nil
}
