package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store"
)

// Administration: projects and departments with their quotas drawn as
// bars, access rules and users (applications, tokens and the audit log are
// in identities.go). Every page shows what the service lets the caller see;
// a researcher sees its own projects, read-only. Deletes reuse the
// building blocks' confirm-and-delete handlers.

var (
	projectsKind    = blockKind{Kind: labspace.KindProject, Path: "admin/projects", Title: "Project", Plural: "Projects"}
	rulesKind       = blockKind{Kind: labspace.KindAccessRule, Path: "admin/access-rules", Title: "Access rule", Plural: "Access rules"}
	usersKind       = blockKind{Kind: labspace.KindUser, Path: "admin/users", Title: "User", Plural: "Users"}
	departmentsKind = blockKind{Kind: labspace.KindDepartment, Path: "admin/departments", Title: "Department", Plural: "Departments"}
	// adminKinds are the administration tabs; those with a Kind also get
	// the confirm-and-delete pages.
	adminKinds = []blockKind{projectsKind, departmentsKind, rulesKind, usersKind, appsKind, tokensKind, auditKind}
)

func (h *Handler) adminRoutes() {
	h.mux.Handle("GET /admin", http.RedirectHandler("/admin/projects", http.StatusSeeOther))
	h.mux.Handle("GET /admin/projects", h.auth(h.projectList))
	h.mux.Handle("GET /admin/departments", h.auth(h.departmentList))
	for _, k := range []blockKind{projectsKind, departmentsKind} {
		h.mux.Handle("GET /"+k.Path+"/new", h.auth(h.quotaForm(k)))
		h.mux.Handle("POST /"+k.Path+"/new", h.auth(h.quotaSave(k)))
		h.mux.Handle("GET /"+k.Path+"/{id}/edit", h.auth(h.quotaForm(k)))
		h.mux.Handle("POST /"+k.Path+"/{id}/edit", h.auth(h.quotaSave(k)))
	}
	h.mux.Handle("GET /admin/access-rules", h.auth(h.ruleList))
	h.mux.Handle("POST /admin/access-rules", h.auth(h.ruleSave))
	h.mux.Handle("GET /admin/users", h.auth(h.userList))
	h.mux.Handle("POST /admin/users", h.auth(h.userSave))
	for _, k := range adminKinds {
		if k.Kind == "" {
			continue
		}
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

// newAdminForm starts a page of kind k; after a delete (?deleted=name) it
// says so.
func newAdminForm(k blockKind, r *http.Request) adminForm {
	f := adminForm{K: &k, Kinds: adminKinds, Values: map[string]string{}, Errors: map[string][]string{}}
	if d := r.URL.Query().Get("deleted"); d != "" {
		f.Notice = k.Title + " " + d + " was deleted."
	}
	return f
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

// listed fills *into with the objects of kind k and renders page (with
// err's field errors when err is set).
func listed[T labspace.Object](h *Handler, w http.ResponseWriter, r *http.Request, k labspace.Kind, into *[]T,
	page string, f *adminForm, data any, err error) error {
	var lerr error
	if *into, lerr = listAll[T](r.Context(), h, k); lerr != nil {
		return lerr
	}
	return h.formPage(w, r, page, f, data, err)
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
	P                  *labspace.Project
	U                  *service.ProjectUsage
	CanEdit, CanDelete bool // the caller's role allows it
	Chart              template.HTML
}

// projectsView is the projects page.
type projectsView struct {
	adminForm
	Rows []projectRow
}

func (h *Handler) projectList(w http.ResponseWriter, r *http.Request) error {
	v := &projectsView{adminForm: newAdminForm(projectsKind, r)}
	projects, err := listAll[*labspace.Project](r.Context(), h, labspace.KindProject)
	if err != nil {
		return err
	}
	for _, p := range projects {
		u, err := h.svc.ProjectUsage(r.Context(), p.Name)
		if err != nil {
			return err
		}
		row := projectRow{P: p, U: u, Chart: gpuChart(u.History, p.Spec.Quota.GPUs, time.Now())}
		if row.CanEdit, err = h.svc.Allows(r.Context(), labspace.VerbUpdate, p); err != nil {
			return err
		}
		if row.CanDelete, err = h.svc.Allows(r.Context(), labspace.VerbDelete, p); err != nil {
			return err
		}
		v.Rows = append(v.Rows, row)
	}
	h.render(w, r, http.StatusOK, "projects", v)
	return nil
}

// quotaFormView is the create / edit form of a project or a department:
// its name, where a project belongs, and the quota.
type quotaFormView struct {
	adminForm
	Edit   bool
	Name   string
	RV     int64
	Scopes []string // for a project: global and the departments
}

func (h *Handler) quotaFormData(ctx context.Context, v *quotaFormView) error {
	if v.K.Kind != labspace.KindProject {
		return nil
	}
	v.Scopes = []string{"global"}
	list, _, err := h.svc.List(ctx, labspace.KindDepartment, store.ListQuery{Limit: 1000})
	for _, o := range list {
		v.Scopes = append(v.Scopes, "department/"+o.GetMeta().Name)
	}
	return err
}

func quotaOf(o labspace.Object) labspace.Quota {
	switch o := o.(type) {
	case *labspace.Project:
		return o.Spec.Quota
	case *labspace.Department:
		return o.Spec.Quota
	}
	return labspace.Quota{}
}

func (h *Handler) quotaForm(k blockKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v := &quotaFormView{adminForm: newAdminForm(k, r)}
		v.Values["scope"], v.Values["gpus"] = "global", "0"
		if name := r.PathValue("id"); name != "" {
			o, err := h.svc.Get(r.Context(), k.Kind, name)
			if err != nil {
				return err
			}
			m, q := o.GetMeta(), quotaOf(o)
			v.Edit, v.Name, v.RV = true, m.Name, m.ResourceVersion
			v.Values = map[string]string{"name": m.Name, "scope": m.Scope.String(), "description": m.Description,
				"gpus": strconv.FormatFloat(q.GPUs, 'g', -1, 64), "cpu": q.CPU, "memory": q.Memory, "overQuota": checked(q.OverQuota)}
		}
		if err := h.quotaFormData(r.Context(), v); err != nil {
			return err
		}
		h.render(w, r, http.StatusOK, "quotaform", v)
		return nil
	}
}

func checked(b bool) string {
	if b {
		return "on"
	}
	return ""
}

func (h *Handler) quotaSave(k blockKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v := &quotaFormView{adminForm: newAdminForm(k, r), Name: r.PathValue("id")}
		v.Edit = v.Name != ""
		for _, k := range []string{"name", "scope", "description", "gpus", "cpu", "memory", "overQuota"} {
			v.Values[k] = strings.TrimSpace(r.PostFormValue(k))
		}
		v.RV, _ = strconv.ParseInt(r.PostFormValue("resourceVersion"), 10, 64)
		obj, err := v.object()
		if err == nil && v.Edit {
			_, err = h.svc.Update(r.Context(), v.Name, obj)
		} else if err == nil {
			_, err = h.svc.Create(r.Context(), obj)
		}
		if err == nil {
			http.Redirect(w, r, "/"+k.Path, http.StatusSeeOther)
			return nil
		}
		if ferr := h.quotaFormData(r.Context(), v); ferr != nil {
			return ferr
		}
		return h.formFailed(w, r, "quotaform", &v.adminForm, v, err)
	}
}

// object builds the project or department from the form; what is not
// even a number or a scope is a field error here, the rest is the
// service's to judge.
func (v *quotaFormView) object() (labspace.Validator, error) {
	m := labspace.Meta{Name: v.Values["name"], Description: v.Values["description"], ResourceVersion: v.RV}
	if v.Edit {
		m.Name = v.Name
	}
	q := labspace.Quota{CPU: v.Values["cpu"], Memory: v.Values["memory"], OverQuota: v.Values["overQuota"] != ""}
	var err error
	if q.GPUs, err = strconv.ParseFloat(v.Values["gpus"], 64); err != nil {
		return nil, labspace.FieldErr("spec.quota.gpus", "must be a number of GPUs, such as 4 or 0.5")
	}
	if v.K.Kind == labspace.KindDepartment {
		return &labspace.Department{Meta: m, Spec: labspace.DepartmentSpec{Quota: q}}, nil
	}
	sc, ok := parseScope(v.Values["scope"])
	if !ok || sc.Type == labspace.ScopeProject {
		return nil, labspace.FieldErr("meta.scope", "must be global or department/<name>")
	}
	m.Scope = sc
	return &labspace.Project{Meta: m, Spec: labspace.ProjectSpec{Quota: q}}, nil
}

// departmentRow is a department, its projects and what they deserve.
type departmentRow struct {
	D        *labspace.Department
	Projects []string
	GPUs     float64 // the sum of its projects' GPU quotas
}

// departmentsView is the departments page.
type departmentsView struct {
	adminForm
	Rows []departmentRow
}

func (h *Handler) departmentList(w http.ResponseWriter, r *http.Request) error {
	v := &departmentsView{adminForm: newAdminForm(departmentsKind, r)}
	depts, err := listAll[*labspace.Department](r.Context(), h, labspace.KindDepartment)
	if err != nil {
		return err
	}
	projects, err := listAll[*labspace.Project](r.Context(), h, labspace.KindProject)
	if err != nil {
		return err
	}
	for _, d := range depts {
		row := departmentRow{D: d}
		for _, p := range projects {
			if p.Scope == labspace.DepartmentScope(d.Name) {
				row.Projects, row.GPUs = append(row.Projects, p.Name), row.GPUs+p.Spec.Quota.GPUs
			}
		}
		v.Rows = append(v.Rows, row)
	}
	h.render(w, r, http.StatusOK, "departments", v)
	return nil
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
	v := &rulesView{adminForm: newAdminForm(rulesKind, r)}
	v.Values["type"], v.Values["role"], v.Values["scope"] = "user", string(labspace.RoleL1Researcher), r.URL.Query().Get("scope")
	return h.rulesPage(w, r, v, nil)
}

func (h *Handler) ruleSave(w http.ResponseWriter, r *http.Request) error {
	v := &rulesView{adminForm: newAdminForm(rulesKind, r)}
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
	return listed(h, w, r, labspace.KindUser, &v.Users, "users", &v.adminForm, v, err)
}

func (h *Handler) userList(w http.ResponseWriter, r *http.Request) error {
	v := &usersView{adminForm: newAdminForm(usersKind, r)}
	return h.usersPage(w, r, v, nil)
}

func (h *Handler) userSave(w http.ResponseWriter, r *http.Request) error {
	v := &usersView{adminForm: newAdminForm(usersKind, r)}
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
