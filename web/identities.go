package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Applications (service accounts, their client secret shown once), the
// caller's own tokens, and the audit log.

var (
	appsKind   = blockKind{Kind: labspace.KindApplication, Path: "admin/applications", Title: "Application", Plural: "Applications"}
	tokensKind = blockKind{Path: "admin/tokens", Title: "Token", Plural: "Your tokens"}
	auditKind  = blockKind{Path: "admin/audit", Title: "Audit entry", Plural: "Audit log"}
)

func (h *Handler) identityRoutes() {
	h.mux.Handle("GET /admin/applications", h.auth(h.appList))
	h.mux.Handle("POST /admin/applications", h.auth(h.appSave))
	h.mux.Handle("GET /admin/tokens", h.auth(h.tokenList))
	h.mux.Handle("POST /admin/tokens", h.auth(h.tokenSave))
	h.mux.Handle("POST /admin/tokens/{id}/revoke", h.auth(h.tokenRevoke))
	h.mux.Handle("GET /admin/audit", h.auth(h.auditPage))
}

// secretView is a page with a form that may show a secret once.
type secretView struct {
	adminForm
	Apps   []*labspace.Application
	Tokens []labspace.Token
	Secret string // shown once, just after creation
	For    string // what the secret belongs to
	// Passwordless: the caller signs in through the identity provider
	// only; a recent sign-in confirms instead of a password.
	Passwordless bool
}

// passwordless fills v.Passwordless for the caller.
func (h *Handler) passwordless(r *http.Request, v *secretView) error {
	me, err := h.svc.WhoAmI(r.Context())
	if err == nil {
		v.Passwordless = me.Passwordless
	}
	return err
}

func (h *Handler) appsPage(w http.ResponseWriter, r *http.Request, v *secretView, err error) error {
	if perr := h.passwordless(r, v); perr != nil {
		return perr
	}
	return listed(h, w, r, labspace.KindApplication, &v.Apps, "applications", &v.adminForm, v, err)
}

func (h *Handler) appList(w http.ResponseWriter, r *http.Request) error {
	v := &secretView{adminForm: newAdminForm(appsKind, r)}
	return h.appsPage(w, r, v, nil)
}

func (h *Handler) appSave(w http.ResponseWriter, r *http.Request) error {
	v := &secretView{adminForm: newAdminForm(appsKind, r)}
	v.Values["name"] = strings.TrimSpace(r.PostFormValue("name"))
	app, secret, err := h.svc.CreateApplication(r.Context(), &labspace.Application{Meta: labspace.Meta{Name: v.Values["name"]}},
		r.PostFormValue("password"))
	if err == nil {
		// Shown in this answer only: it is stored hashed.
		v.Secret, v.For, v.Values["name"] = secret, app.Spec.ClientID, ""
	}
	return h.appsPage(w, r, v, err)
}

func (h *Handler) tokensPage(w http.ResponseWriter, r *http.Request, v *secretView, err error) error {
	var lerr error
	if v.Tokens, lerr = h.svc.ListTokens(r.Context()); lerr != nil {
		return lerr
	}
	if lerr = h.passwordless(r, v); lerr != nil {
		return lerr
	}
	return h.formPage(w, r, "tokens", &v.adminForm, v, err)
}

func (h *Handler) tokenList(w http.ResponseWriter, r *http.Request) error {
	v := &secretView{adminForm: newAdminForm(tokensKind, r)}
	v.Values["days"] = "30"
	if r.URL.Query().Get("revoked") != "" {
		v.Notice = "The token was revoked."
	}
	return h.tokensPage(w, r, v, nil)
}

func (h *Handler) tokenSave(w http.ResponseWriter, r *http.Request) error {
	v := &secretView{adminForm: newAdminForm(tokensKind, r)}
	v.Values["name"], v.Values["days"] = strings.TrimSpace(r.PostFormValue("name")), strings.TrimSpace(r.PostFormValue("days"))
	days, err := strconv.Atoi(v.Values["days"])
	if err != nil {
		err = labspace.FieldErr("days", "must be a whole number of days")
	} else {
		var raw string
		raw, _, err = h.svc.CreatePersonalToken(r.Context(), v.Values["name"], time.Duration(days)*24*time.Hour, r.PostFormValue("password"))
		v.Secret, v.For = raw, v.Values["name"]
	}
	if labspace.ErrorCode(err) == labspace.EINVALID {
		// The service speaks of the lifetime in seconds; the form in days.
		err = renameField(err, "expiresInSeconds", "days", "must be between 1 and 730 days")
	}
	return h.tokensPage(w, r, v, err)
}

// renameField moves a field error to the form's own input.
func renameField(err error, from, to, detail string) error {
	fields := fieldErrors(err)
	var v labspace.Invalid
	for _, f := range fields {
		if f.Field == from {
			f.Field, f.Detail = to, detail
		}
		v.Add(f.Field, "%s", f.Detail)
	}
	return v.Err()
}

func (h *Handler) tokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/tokens?revoked=1", http.StatusSeeOther)
	return nil
}

// auditView is a page of the audit log.
type auditView struct {
	adminForm
	Entries []labspace.AuditEntry
	Actor   string
	Next    string
}

func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := &auditView{adminForm: newAdminForm(auditKind, r), Actor: strings.TrimSpace(q.Get("actor"))}
	entries, next, err := h.svc.Audit(r.Context(), store.AuditQuery{Actor: v.Actor, Limit: 100, Continue: q.Get("continue")})
	if err != nil {
		return err
	}
	v.Entries = entries
	if next != "" {
		v.Next = "/admin/audit?" + url.Values{"actor": {v.Actor}, "continue": {next}}.Encode()
	}
	h.render(w, r, http.StatusOK, "audit", v)
	return nil
}
