package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store"
)

// The new-workspace flow: a project (with its quota and usage), a
// template or building blocks from galleries, values left open, a name.
// The form builds a labspace.WorkspaceCreate and the service decides:
// its field errors come back beside the fields at fault.

func (h *Handler) newWorkspaceRoutes() {
	h.mux.Handle("GET /workspaces/new", h.auth(h.newWorkspacePage))
	h.mux.Handle("POST /workspaces/new", h.auth(h.createWorkspace))
}

// newForm is what the user entered.
type newForm struct {
	Project, Name, Description, Template, Environment, Compute string
	Args, Env, GPUDevices                                      string
	DataSources                                                []string
	Vars                                                       map[string]string // values of variables left open
	Start                                                      bool
}

// openVars are the variables an environment or template leaves for the
// user to fill in.
type openVars struct {
	Kind, Name string // environment or template, and its name
	Vars       []labspace.EnvVar
}

// newView is the new-workspace page.
type newView struct {
	Form         newForm
	Projects     []string
	Usage        *service.ProjectUsage
	Templates    []*labspace.Template
	Environments []*labspace.Environment
	Computes     []*labspace.ComputeResource
	DataSources  []*labspace.DataSource
	Open         []openVars
	// Errors holds the messages per input (see bucket); All lists every one.
	Errors  map[string][]string
	All     []shownError
	Message string
	// Restriction says why the caller may not run workspaces here.
	Restriction string
	// CanOverride: the caller may replace the arguments (override-command).
	CanOverride bool
	// Policy is what the project's policies allow (policy.go).
	Policy *labspace.EffectivePolicy
	// Limits says which compute resources and GPU counts creation would
	// refuse, or leave waiting for quota, before the user submits.
	Limits *service.NewWorkspaceLimits
	// CanCreateProject: the caller may create a project (an administrator
	// with none yet is shown the way instead of "ask an administrator").
	CanCreateProject bool
}

// Fit is how compute resource c would fare (Limits).
func (v *newView) Fit(c *labspace.ComputeResource) service.ComputeFit {
	if v.Limits == nil {
		return service.ComputeFit{}
	}
	return v.Limits.Computes[c.Name]
}

// MaxGPUs is the bound of the GPU count input: the policy's and the
// project's and nodes' (Limits), whichever is lower ("" for none).
func (v *newView) MaxGPUs() string {
	max := -1
	if r := v.Rule("compute.gpuDevices"); r.Max != "" {
		max, _ = strconv.Atoi(r.Max)
	}
	if v.Limits != nil && v.Limits.MaxGPUs >= 0 && (max < 0 || v.Limits.MaxGPUs < max) {
		max = v.Limits.MaxGPUs
	}
	if max < 0 {
		return ""
	}
	return strconv.Itoa(max)
}

// PolicyLines are the project's rules in words.
func (v *newView) PolicyLines() []string { return policyLines(v.Policy) }

// Refused says why the policy refuses compute resource c ("" if it does not).
func (v *newView) Refused(c *labspace.ComputeResource) string { return computeRefused(v.Policy, c) }

// EnvRefused says why the policy refuses environment e ("" if it does not).
func (v *newView) EnvRefused(e *labspace.Environment) string { return environmentRefused(v.Policy, e) }

// Rule is the policy's rule on a field, for its input.
func (v *newView) Rule(field string) fieldRule { return ruleOf(v.Policy, field) }

// Imposed names the scope whose policy mounts data source name in every
// workspace ("" if none does).
func (v *newView) Imposed(name string) string {
	if v.Policy == nil {
		return ""
	}
	for _, im := range v.Policy.ImposedDataSources {
		if im.Name == name {
			return im.From.Words()
		}
	}
	return ""
}

// fillFromPolicy chooses the blocks the policy locks, and its defaults
// for those left unchosen when there is no template: with templates,
// “The template's” stays chosen, since a block chosen here would replace
// the template's (and the service fills the default only without one).
func (v *newView) fillFromPolicy() {
	if v.Policy == nil {
		return
	}
	noTemplate := v.Form.Template == "" && len(v.Templates) == 0
	choose := func(field string, chosen *string, refused func(name string) bool) {
		r := v.Policy.Fields[field]
		switch {
		case r.Locked():
			*chosen = r.Default
		case r.Default != "" && *chosen == "" && noTemplate && !refused(r.Default):
			*chosen = r.Default
		}
	}
	choose("environment", &v.Form.Environment, func(name string) bool {
		for _, e := range v.Environments {
			if e.Name == name {
				return v.EnvRefused(e) != ""
			}
		}
		return true // not in the gallery: nothing to choose
	})
	choose("compute", &v.Form.Compute, func(name string) bool {
		for _, c := range v.Computes {
			if c.Name == name {
				return v.Refused(c) != ""
			}
		}
		return true
	})
}

// shownError is a field error in the summary above the form, with the id
// of the place beside its input where it also shows.
type shownError struct {
	labspace.FieldError
	Anchor string
}

// Err returns the messages for one input.
func (v *newView) Err(field string) []string { return v.Errors[field] }

// Checked reports whether data source name is ticked.
func (v *newView) Checked(name string) bool { return slices.Contains(v.Form.DataSources, name) }

// Var is the value entered for an open variable.
func (v *newView) Var(name string) string { return v.Form.Vars[name] }

func (h *Handler) newWorkspacePage(w http.ResponseWriter, r *http.Request) error {
	f := newForm{Project: r.URL.Query().Get("project"), Template: r.URL.Query().Get("template"), Start: true}
	v, err := h.newView(r.Context(), f)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "newworkspace", v)
	return nil
}

// newView gathers the galleries of the chosen project. A project the
// caller cannot see is a field error, not an error page.
func (h *Handler) newView(ctx context.Context, f newForm) (*newView, error) {
	v := &newView{Form: f, Errors: map[string][]string{}}
	restriction, err := h.svc.RunRestriction(ctx)
	if err != nil {
		return nil, err
	}
	v.Restriction = restriction
	projects, _, err := h.svc.List(ctx, labspace.KindProject, store.ListQuery{Limit: 1000})
	if err != nil {
		return nil, err
	}
	if a := service.ActorFrom(ctx); a != nil {
		v.CanCreateProject = a.Can(labspace.VerbCreate, labspace.ResProjects, labspace.Global)
	}
	for _, p := range projects {
		v.Projects = append(v.Projects, p.GetMeta().Name)
	}
	if v.Form.Project == "" && len(v.Projects) == 1 {
		v.Form.Project = v.Projects[0]
	}
	if v.Form.Project == "" {
		return v, nil
	}
	if v.CanOverride, err = h.svc.HoldsPrivilege(ctx, labspace.PrivCommand, v.Form.Project); err != nil {
		return nil, err
	}
	if v.Usage, err = h.svc.ProjectUsage(ctx, v.Form.Project); err != nil {
		if labspace.ErrorCode(err) != labspace.ENOTFOUND {
			return nil, err
		}
		v.addErrors(err)
		return v, nil
	}
	if v.Policy, err = h.svc.EffectivePolicy(ctx, v.Form.Project); err != nil {
		return nil, err
	}
	if err := h.galleries(ctx, v); err != nil {
		return nil, err
	}
	if v.Limits, err = h.svc.CreateLimits(ctx, v.Form.Project, v.Computes); err != nil {
		return nil, err
	}
	v.fillFromPolicy()
	return v, nil
}

// galleries lists the building blocks the project may use: its own, its
// department's and the global ones (the service narrows to what the
// caller may see).
func (h *Handler) galleries(ctx context.Context, v *newView) error {
	p, err := h.svc.Get(ctx, labspace.KindProject, v.Form.Project)
	if err != nil {
		return err
	}
	chain := []labspace.Scope{labspace.ProjectScope(v.Form.Project), labspace.Global}
	if sc := p.GetMeta().Scope; sc.Type == labspace.ScopeDepartment {
		chain = append(chain, sc)
	}
	list := func(k labspace.Kind) ([]labspace.Object, error) {
		out, _, err := h.svc.List(ctx, k, store.ListQuery{Scopes: chain, Limit: 200})
		return out, err
	}
	objs := map[labspace.Kind][]labspace.Object{}
	for _, k := range []labspace.Kind{labspace.KindTemplate, labspace.KindEnvironment, labspace.KindComputeResource, labspace.KindDataSource} {
		if objs[k], err = list(k); err != nil {
			return err
		}
	}
	for _, o := range objs[labspace.KindTemplate] {
		t := o.(*labspace.Template)
		v.Templates = append(v.Templates, t)
		v.addOpen("template", t.Name, t.Spec.Env)
	}
	for _, o := range objs[labspace.KindEnvironment] {
		e := o.(*labspace.Environment)
		v.Environments = append(v.Environments, e)
		v.addOpen("environment", e.Name, e.Spec.Env)
	}
	for _, o := range objs[labspace.KindComputeResource] {
		v.Computes = append(v.Computes, o.(*labspace.ComputeResource))
	}
	for _, o := range objs[labspace.KindDataSource] {
		v.DataSources = append(v.DataSources, o.(*labspace.DataSource))
	}
	return nil
}

func (v *newView) addOpen(kind, name string, env []labspace.EnvVar) {
	var open []labspace.EnvVar
	for _, e := range env {
		if e.FromUser && e.Value == "" {
			open = append(open, e)
		}
	}
	if len(open) > 0 {
		v.Open = append(v.Open, openVars{Kind: kind, Name: name, Vars: open})
	}
}

// addErrors files err's field errors under the inputs they belong to:
// "dataSources[1].name" under dataSources, "env.TOKEN" under the open
// variable's own input when there is one, else under env.
func (v *newView) addErrors(err error) {
	fields := fieldErrors(err)
	if labspace.ErrorCode(err) == labspace.ENOTFOUND {
		fields = []labspace.FieldError{{Field: "project", Detail: fields[0].Detail}}
	}
	if labspace.ErrorCode(err) == labspace.ECONFLICT {
		fields = []labspace.FieldError{{Field: "name", Detail: fields[0].Detail}}
	}
	for _, f := range fields {
		key := f.Field
		if i := strings.IndexAny(key, ".["); i >= 0 {
			key = key[:i]
		}
		if name, ok := strings.CutPrefix(f.Field, "env."); ok && v.isOpen(name) {
			key = "var." + name
		}
		if key == "" {
			v.Message = f.Detail
			continue
		}
		if slices.Contains(v.Errors[key], f.Detail) {
			continue
		}
		anchor := key + "-err"
		if strings.HasPrefix(key, "var.") {
			anchor = "values"
		}
		v.All = append(v.All, shownError{FieldError: f, Anchor: anchor})
		v.Errors[key] = append(v.Errors[key], f.Detail)
	}
}

func (v *newView) isOpen(name string) bool {
	for _, o := range v.Open {
		for _, e := range o.Vars {
			if e.Name == name {
				return true
			}
		}
	}
	return false
}

// parseNewForm reads the form; what cannot even be put into a request
// (a GPU count that is not a number, an env line without '=') is a
// field error here, everything else is the service's to judge.
func parseNewForm(r *http.Request) (newForm, *labspace.WorkspaceCreate, error) {
	_ = r.ParseForm()
	pf := r.PostForm
	f := newForm{Project: pf.Get("project"), Name: strings.TrimSpace(pf.Get("name")), Description: pf.Get("description"),
		Template: pf.Get("template"), Environment: pf.Get("environment"), Compute: pf.Get("compute"), Args: pf.Get("args"),
		Env: pf.Get("env"), GPUDevices: strings.TrimSpace(pf.Get("gpuDevices")), DataSources: pf["dataSources"],
		Vars: map[string]string{}, Start: pf.Get("start") != ""}
	req := &labspace.WorkspaceCreate{Name: f.Name, Description: f.Description, Template: f.Template,
		Environment: f.Environment, Compute: f.Compute, Args: argLines(f.Args)}
	var bad labspace.Invalid
	if f.Project == "" {
		bad.Add("project", "choose a project")
	}
	for _, ds := range f.DataSources {
		req.DataSources = append(req.DataSources, labspace.DataSourceUse{Name: ds})
	}
	for k, vals := range pf {
		if name, ok := strings.CutPrefix(k, "var."); ok {
			for _, val := range vals {
				if val != "" && f.Vars[name] == "" {
					f.Vars[name] = val
				}
			}
		}
	}
	req.Env = map[string]string{}
	for name, val := range f.Vars {
		req.Env[name] = val
	}
	for i, line := range strings.Split(f.Env, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			bad.Add("env", "line %d must read NAME=value", i+1)
			continue
		}
		req.Env[strings.TrimSpace(name)] = val
	}
	if f.GPUDevices != "" {
		n, err := strconv.Atoi(f.GPUDevices)
		if err != nil {
			bad.Add("gpuDevices", "must be a whole number of GPUs")
		}
		req.GPUDevices = &n
	}
	if !f.Start {
		req.DesiredPhase = labspace.PhaseStopped
	}
	return f, req, bad.Err()
}

func (h *Handler) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	f, req, err := parseNewForm(r)
	if err == nil {
		var ws *labspace.Workspace
		if ws, err = h.svc.CreateWorkspace(r.Context(), f.Project, req); err == nil {
			http.Redirect(w, r, workspacePath(ws.Project(), ws.Name), http.StatusSeeOther)
			return nil
		}
	}
	switch labspace.ErrorCode(err) {
	case labspace.EINVALID, labspace.EUNPROCESSABLE, labspace.ECONFLICT, labspace.EFORBIDDEN, labspace.ENOTFOUND:
	default:
		return err
	}
	v, verr := h.newView(r.Context(), f)
	if verr != nil {
		return verr
	}
	v.addErrors(err)
	status := http.StatusUnprocessableEntity
	if labspace.ErrorCode(err) == labspace.EFORBIDDEN {
		status = http.StatusForbidden
	}
	h.render(w, r, status, "newworkspace", v)
	return nil
}

// argLines reads arguments one per line, so that one may hold spaces
// ("-c" then "import sys; print(sys.argv)"); blank lines are skipped, and
// none at all keeps the environment's or template's arguments (nil).
func argLines(text string) []string {
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) != "" {
			out = append(out, line)
		}
	}
	return out
}
