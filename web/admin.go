package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store"
)

// Administration: projects with their quotas drawn as usage bars, access
// rules and users. Every page shows what the service lets the caller see;
// a researcher sees its own projects, read-only. Deletes reuse the
// building blocks' confirm-and-delete handlers.

var (
	projectsKind = blockKind{Kind: labspace.KindProject, Path: "admin/projects", Title: "Project", Plural: "Projects"}
	rulesKind    = blockKind{Kind: labspace.KindAccessRule, Path: "admin/access-rules", Title: "Access rule", Plural: "Access rules"}
	usersKind    = blockKind{Kind: labspace.KindUser, Path: "admin/users", Title: "User", Plural: "Users"}
	adminKinds   = []blockKind{projectsKind, rulesKind, usersKind}
)

func (h *Handler) adminRoutes() {
	h.mux.Handle("GET /admin", http.RedirectHandler("/admin/projects", http.StatusSeeOther))
	h.mux.Handle("GET /admin/projects", h.auth(h.projectList))
	h.mux.Handle("GET /admin/projects/new", h.auth(h.projectForm))
	h.mux.Handle("POST /admin/projects/new", h.auth(h.projectSave))
	h.mux.Handle("GET /admin/projects/{id}/edit", h.auth(h.projectForm))
	h.mux.Handle("POST /admin/projects/{id}/edit", h.auth(h.projectSave))
	h.mux.Handle("GET /admin/access-rules", h.auth(h.ruleList))
	h.mux.Handle("POST /admin/access-rules", h.auth(h.ruleSave))
	h.mux.Handle("GET /admin/users", h.auth(h.userList))
	h.mux.Handle("POST /admin/users", h.auth(h.userSave))
	for _, k := range adminKinds {
		h.mux.Handle("GET /"+k.Path+"/{id}/delete", h.auth(h.blockConfirm(&k)))
		h.mux.Handle("POST /"+k.Path+"/{id}/delete", h.auth(h.blockDelete(&k)))
	}
}

// adminForm is what the admin pages share: the tabs, the form's values,
// its errors and a message.
type adminForm struct {
	K       *blockKind
	Kinds   []blockKind
	Values  map[string]string
	Errors  map[string][]string
	All     []labspace.FieldError
	Message string // why the form was refused, when no field is at fault
	Notice  string // what just happened ("... was deleted.")
}

func newAdminForm(k blockKind) adminForm {
	return adminForm{K: &k, Kinds: adminKinds, Values: map[string]string{}, Errors: map[string][]string{}}
}

// Err returns the messages for one input.
func (f *adminForm) Err(field string) []string { return f.Errors[field] }

// addErrors files field errors under inputs: the last part of the path
// ("spec.quota.gpus" under gpus, "meta.name" under name), the scope's
// under scope.
func (f *adminForm) addErrors(err error) {
	for _, fe := range fieldErrors(err) {
		if fe.Field == "" {
			f.Message = fe.Detail
			continue
		}
		f.All = append(f.All, fe)
		key := fe.Field[strings.LastIndex(fe.Field, ".")+1:]
		if strings.HasPrefix(fe.Field, "meta.scope") {
			key = "scope"
		}
		f.Errors[key] = append(f.Errors[key], fe.Detail)
	}
}

// listAll lists the objects of kind k the caller may see (the first 1,000).
func listAll[T labspace.Object](ctx context.Context, h *Handler, k labspace.Kind) ([]T, error) {
	list, _, err := h.svc.List(ctx, k, store.ListQuery{Limit: 1000})
	out := make([]T, 0, len(list))
	for _, o := range list {
		out = append(out, o.(T))
	}
	return out, err
}

// formPage renders a page with its form: as it is when err is nil, else
// with err's field errors (see formFailed).
func (h *Handler) formPage(w http.ResponseWriter, r *http.Request, page string, f *adminForm, data any, err error) error {
	if err != nil {
		return h.formFailed(w, r, page, f, data, err)
	}
	h.render(w, r, http.StatusOK, page, data)
	return nil
}

// formFailed renders a refused form with its errors, or returns err when
// it is not the user's doing.
func (h *Handler) formFailed(w http.ResponseWriter, r *http.Request, page string, f *adminForm, data any, err error) error {
	status := http.StatusUnprocessableEntity
	switch labspace.ErrorCode(err) {
	case labspace.EINVALID, labspace.EUNPROCESSABLE, labspace.ECONFLICT:
	case labspace.EFORBIDDEN:
		status = http.StatusForbidden
	default:
		return err
	}
	f.addErrors(err)
	h.render(w, r, status, page, data)
	return nil
}

// projectRow is a project with its usage.
type projectRow struct {
	P *labspace.Project
	U *service.ProjectUsage
}

// projectsView is the projects page.
type projectsView struct {
	adminForm
	Rows []projectRow
}

func (h *Handler) projectList(w http.ResponseWriter, r *http.Request) error {
	v := &projectsView{adminForm: newAdminForm(projectsKind)}
	if d := r.URL.Query().Get("deleted"); d != "" {
		v.Notice = "Project " + d + " was deleted."
	}
	projects, err := listAll[*labspace.Project](r.Context(), h, labspace.KindProject)
	if err != nil {
		return err
	}
	for _, p := range projects {
		u, err := h.svc.ProjectUsage(r.Context(), p.Name)
		if err != nil {
			return err
		}
		v.Rows = append(v.Rows, projectRow{P: p, U: u})
	}
	h.render(w, r, http.StatusOK, "projects", v)
	return nil
}

// projectFormView is the create / edit form of a project.
type projectFormView struct {
	adminForm
	Edit   bool
	Name   string
	RV     int64
	Scopes []string // global and the departments
}

func (h *Handler) projectFormData(ctx context.Context, v *projectFormView) error {
	v.Scopes = []string{"global"}
	list, _, err := h.svc.List(ctx, labspace.KindDepartment, store.ListQuery{Limit: 1000})
	for _, o := range list {
		v.Scopes = append(v.Scopes, "department/"+o.GetMeta().Name)
	}
	return err
}

func (h *Handler) projectForm(w http.ResponseWriter, r *http.Request) error {
	v := &projectFormView{adminForm: newAdminForm(projectsKind)}
	v.Values["scope"], v.Values["gpus"] = "global", "0"
	if name := r.PathValue("id"); name != "" {
		o, err := h.svc.Get(r.Context(), labspace.KindProject, name)
		if err != nil {
			return err
		}
		p := o.(*labspace.Project)
		q := p.Spec.Quota
		v.Edit, v.Name, v.RV = true, p.Name, p.ResourceVersion
		v.Values = map[string]string{"name": p.Name, "scope": p.Scope.String(), "description": p.Description,
			"gpus": strconv.FormatFloat(q.GPUs, 'g', -1, 64), "cpu": q.CPU, "memory": q.Memory, "overQuota": checked(q.OverQuota)}
	}
	if err := h.projectFormData(r.Context(), v); err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "projectform", v)
	return nil
}

func checked(b bool) string {
	if b {
		return "on"
	}
	return ""
}

func (h *Handler) projectSave(w http.ResponseWriter, r *http.Request) error {
	v := &projectFormView{adminForm: newAdminForm(projectsKind), Name: r.PathValue("id")}
	v.Edit = v.Name != ""
	for _, k := range []string{"name", "scope", "description", "gpus", "cpu", "memory", "overQuota"} {
		v.Values[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	v.RV, _ = strconv.ParseInt(r.PostFormValue("resourceVersion"), 10, 64)
	p, err := v.project()
	if err == nil && v.Edit {
		_, err = h.svc.Update(r.Context(), v.Name, p)
	} else if err == nil {
		_, err = h.svc.Create(r.Context(), p)
	}
	if err == nil {
		http.Redirect(w, r, "/admin/projects", http.StatusSeeOther)
		return nil
	}
	if ferr := h.projectFormData(r.Context(), v); ferr != nil {
		return ferr
	}
	return h.formFailed(w, r, "projectform", &v.adminForm, v, err)
}

// project builds the project from the form; what is not even a number
// or a scope is a field error here, the rest is the service's to judge.
func (v *projectFormView) project() (*labspace.Project, error) {
	p := &labspace.Project{Meta: labspace.Meta{Name: v.Values["name"], Description: v.Values["description"], ResourceVersion: v.RV},
		Spec: labspace.ProjectSpec{Quota: labspace.Quota{CPU: v.Values["cpu"], Memory: v.Values["memory"], OverQuota: v.Values["overQuota"] != ""}}}
	if v.Edit {
		p.Name = v.Name
	}
	var err error
	if p.Spec.Quota.GPUs, err = strconv.ParseFloat(v.Values["gpus"], 64); err != nil {
		return nil, labspace.FieldErr("spec.quota.gpus", "must be a number of GPUs, such as 4 or 0.5")
	}
	sc, ok := parseScope(v.Values["scope"])
	if !ok || sc.Type == labspace.ScopeProject {
		return nil, labspace.FieldErr("meta.scope", "must be global or department/<name>")
	}
	p.Scope = sc
	return p, nil
}

// rulesView is the access rules page, with the form that adds one.
type rulesView struct {
	adminForm
	Rules  []*labspace.AccessRule
	Roles  []labspace.Role
	Scopes []string
}

func (h *Handler) rulesPage(w http.ResponseWriter, r *http.Request, v *rulesView, err error) error {
	v.Roles = labspace.Roles
	var lerr error
	if v.Rules, lerr = listAll[*labspace.AccessRule](r.Context(), h, labspace.KindAccessRule); lerr != nil {
		return lerr
	}
	if v.Scopes, lerr = h.scopes(r.Context()); lerr != nil {
		return lerr
	}
	return h.formPage(w, r, "rules", &v.adminForm, v, err)
}

func (h *Handler) ruleList(w http.ResponseWriter, r *http.Request) error {
	v := &rulesView{adminForm: newAdminForm(rulesKind)}
	v.Values["type"], v.Values["role"], v.Values["scope"] = "user", string(labspace.RoleL1Researcher), r.URL.Query().Get("scope")
	if d := r.URL.Query().Get("deleted"); d != "" {
		v.Notice = "Access rule " + d + " was deleted."
	}
	return h.rulesPage(w, r, v, nil)
}

func (h *Handler) ruleSave(w http.ResponseWriter, r *http.Request) error {
	v := &rulesView{adminForm: newAdminForm(rulesKind)}
	for _, k := range []string{"type", "subject", "role", "scope"} {
		v.Values[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	rule := &labspace.AccessRule{Spec: labspace.AccessRuleSpec{Role: labspace.Role(v.Values["role"]),
		Subject: labspace.Subject{Type: labspace.SubjectType(v.Values["type"]), Name: v.Values["subject"]}}}
	sc, ok := parseScope(v.Values["scope"])
	err := labspace.FieldErr("meta.scope", "must be global, department/<name> or project/<name>")
	if ok {
		rule.Scope = sc
		_, err = h.svc.Create(r.Context(), rule)
	}
	if err == nil {
		http.Redirect(w, r, "/admin/access-rules?scope="+url.QueryEscape(v.Values["scope"]), http.StatusSeeOther)
		return nil
	}
	return h.rulesPage(w, r, v, err)
}

// usersView is the users page, with the form that adds one.
type usersView struct {
	adminForm
	Users []*labspace.User
}

func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request, v *usersView, err error) error {
	var lerr error
	if v.Users, lerr = listAll[*labspace.User](r.Context(), h, labspace.KindUser); lerr != nil {
		return lerr
	}
	return h.formPage(w, r, "users", &v.adminForm, v, err)
}

func (h *Handler) userList(w http.ResponseWriter, r *http.Request) error {
	v := &usersView{adminForm: newAdminForm(usersKind)}
	if d := r.URL.Query().Get("deleted"); d != "" {
		v.Notice = "User " + d + " was deleted."
	}
	return h.usersPage(w, r, v, nil)
}

func (h *Handler) userSave(w http.ResponseWriter, r *http.Request) error {
	v := &usersView{adminForm: newAdminForm(usersKind)}
	for _, k := range []string{"name", "email", "displayName"} {
		v.Values[k] = strings.TrimSpace(r.PostFormValue(k))
	}
	u := &labspace.User{Meta: labspace.Meta{Name: v.Values["name"]},
		Spec: labspace.UserSpec{Email: v.Values["email"], DisplayName: v.Values["displayName"]}}
	if _, err := h.svc.CreateUser(r.Context(), u, r.PostFormValue("password")); err != nil {
		return h.usersPage(w, r, v, err)
	}
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
	return nil
}
