package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Building-block pages: environments, compute resources, data sources,
// credentials and templates. One set of handlers serves the five kinds:
// list, create, edit, copy and delete. The form has the object's name,
// scope and description, and its spec as JSON (the same document as the
// API's and `labspace apply`'s), which the service validates: its field
// errors come back beside the spec.

// blockKind is one kind of building block and where its pages live.
type blockKind struct {
	Kind     labspace.Kind
	Path     string // /<Path>, /<Path>/new, /<Path>/{id}/edit ...
	Title    string // "Environment"
	Plural   string // "Environments"
	Skeleton string // the spec a new one starts from
	Help     string
	Fields   []specField // a friendly form's inputs (see blockfields.go); none: the JSON editor only
}

var blockKinds = []blockKind{
	{Kind: labspace.KindEnvironment, Path: "environments", Title: "Environment", Plural: "Environments",
		Skeleton: `{"image": "python:3-slim", "tools": [{"name": "web", "type": "custom", "port": 8000, "stripPrefix": true}],
 "command": ["python3"], "args": ["-m", "http.server", "$(PORT)", "--bind", "127.0.0.1"],
 "env": [{"name": "TOKEN", "fromUser": true, "description": "your API token"}]}`,
		Help:   "The image, its tools (jupyter-notebook, visual-studio-code, tensorboard, custom…), command, args and variables; a variable with fromUser is filled in by whoever creates a workspace.",
		Fields: environmentFields},
	{Kind: labspace.KindComputeResource, Path: "compute-resources", Title: "Compute resource", Plural: "Compute resources",
		Skeleton: `{"gpuDevices": 0, "cpuRequest": "1", "memoryRequest": "2Gi", "memoryLimit": "2Gi"}`,
		Help:     "GPUs (gpuDevices, or one device with gpuPortion {\"percent\": 50}), CPU and memory requests and limits, largeShm.",
		Fields:   computeFields},
	{Kind: labspace.KindDataSource, Path: "data-sources", Title: "Data source", Plural: "Data sources",
		Skeleton: `{"type": "host-path", "mountPath": "/data", "readOnly": true, "hostPath": {"path": "/srv/datasets"}}`,
		Help:     "One of pvc, nfs, host-path, git, s3, config-map, secret, with its block (pvc, nfs, hostPath, git, s3, configMap, secret) and a mount path."},
	{Kind: labspace.KindCredential, Path: "credentials", Title: "Credential", Plural: "Credentials",
		Skeleton: `{"type": "username-password", "username": "", "password": ""}`,
		Help:     "The secret's values are write-only: stored encrypted, never shown again. When editing, leave a value out to keep the stored one, or give a new one."},
	{Kind: labspace.KindTemplate, Path: "templates", Title: "Template", Plural: "Templates",
		Skeleton: `{"environment": "jupyter", "compute": "cpu-small", "dataSources": [], "general": {}}`,
		Help:     "An environment and a compute resource by name, data sources, and overrides (command, args, env, general settings)."},
}

func (h *Handler) blockRoutes() {
	for i := range blockKinds {
		k := &blockKinds[i]
		h.mux.Handle("GET /"+k.Path, h.auth(h.blockList(k)))
		h.mux.Handle("GET /"+k.Path+"/new", h.auth(h.blockNew(k)))
		h.mux.Handle("POST /"+k.Path+"/new", h.auth(h.blockSave(k, false)))
		h.mux.Handle("GET /"+k.Path+"/{id}/edit", h.auth(h.blockEdit(k)))
		h.mux.Handle("POST /"+k.Path+"/{id}/edit", h.auth(h.blockSave(k, true)))
		h.mux.Handle("GET /"+k.Path+"/{id}/delete", h.auth(h.blockConfirm(k)))
		h.mux.Handle("POST /"+k.Path+"/{id}/delete", h.auth(h.blockDelete(k)))
	}
}

// blockRow is one building block in a list.
type blockRow struct {
	ID, Name, Description, Scope, Summary, CreatedBy string
	CanEdit, CanDelete                               bool // the caller's role allows it
}

// blocksView is a kind's list page.
type blocksView struct {
	K       *blockKind
	Kinds   []blockKind
	Rows    []blockRow
	Search  string
	Message string
	Error   string
}

func (h *Handler) blockList(k *blockKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v := &blocksView{K: k, Kinds: blockKinds, Search: strings.TrimSpace(r.URL.Query().Get("q"))}
		q := store.ListQuery{Limit: 500, Search: v.Search}
		if len(v.Search) > 63 {
			return labspace.FieldErr("q", "must be at most 63 characters")
		}
		list, _, err := h.svc.List(r.Context(), k.Kind, q)
		if err != nil {
			return err
		}
		for _, o := range list {
			m := o.GetMeta()
			row := blockRow{ID: m.ID, Name: m.Name, Description: m.Description, Scope: m.Scope.Words(),
				Summary: summary(o), CreatedBy: m.CreatedBy}
			if row.CanEdit, err = h.svc.Allows(r.Context(), labspace.VerbUpdate, o); err != nil {
				return err
			}
			if row.CanDelete, err = h.svc.Allows(r.Context(), labspace.VerbDelete, o); err != nil {
				return err
			}
			v.Rows = append(v.Rows, row)
		}
		if d := r.URL.Query().Get("deleted"); d != "" {
			v.Message = k.Title + " " + d + " was deleted."
		}
		h.render(w, r, http.StatusOK, "blocks", v)
		return nil
	}
}

// summary is the one line a list shows of a building block's spec.
func summary(o labspace.Object) string {
	switch b := o.(type) {
	case *labspace.Environment:
		var tools []string
		for _, t := range b.Spec.Tools {
			tools = append(tools, t.Name+" ("+string(t.Type)+")")
		}
		return b.Spec.Image + " · tools: " + orDash(strings.Join(tools, ", "))
	case *labspace.ComputeResource:
		return fmt.Sprintf("GPUs %s · CPU %s · memory %s", gpusOf(b.Spec), orDash(b.Spec.CPURequest), orDash(b.Spec.MemoryRequest))
	case *labspace.DataSource:
		return string(b.Spec.Type) + " at " + b.Spec.MountPath
	case *labspace.Credential:
		return string(b.Spec.Type) + " · keys: " + orDash(strings.Join(b.Spec.Keys, ", "))
	case *labspace.Template:
		return "environment " + b.Spec.Environment + " · compute " + b.Spec.Compute
	}
	return ""
}

// blockForm is the create / edit page.
type blockForm struct {
	K           *blockKind
	Kinds       []blockKind
	Edit        bool
	ID          string
	Name        string
	Description string
	Scope       string
	Scopes      []string
	Spec        string
	Fields      []fieldValue // the friendly form's inputs, when it has them
	Kept        []string     // the spec's other settings, kept as they are
	RV          int64
	Errors      map[string][]string
	All         []labspace.FieldError
	Message     string
}

// Err returns the messages for one input.
func (f *blockForm) Err(field string) []string { return f.Errors[field] }

// Action is where the form posts.
func (f *blockForm) Action() string {
	if f.Edit {
		return "/" + f.K.Path + "/" + url.PathEscape(f.ID) + "/edit"
	}
	return "/" + f.K.Path + "/new"
}

// scopes lists where the caller may see building blocks live: global,
// its departments and projects (the service decides where it may create).
func (h *Handler) scopes(ctx context.Context) ([]string, error) {
	out := []string{"global"}
	for _, k := range []labspace.Kind{labspace.KindDepartment, labspace.KindProject} {
		list, _, err := h.svc.List(ctx, k, store.ListQuery{Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			out = append(out, string(k)+"/"+o.GetMeta().Name)
		}
	}
	return out, nil
}

func (h *Handler) blockNew(k *blockKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		f := &blockForm{K: k, Kinds: blockKinds, Spec: k.Skeleton, Errors: map[string][]string{}, Scope: "global"}
		if p := r.URL.Query().Get("project"); p != "" {
			f.Scope = "project/" + p
		}
		if id := r.URL.Query().Get("copy"); id != "" {
			o, err := h.svc.Get(r.Context(), k.Kind, id)
			if err != nil {
				return err
			}
			m := o.GetMeta()
			f.Name, f.Description, f.Scope, f.Spec = copyName(m.Name), m.Description, m.Scope.String(), specJSON(o)
		}
		f.withFields(r)
		return h.showBlockForm(w, r, http.StatusOK, f)
	}
}

// copyName names a copy: the name with "-copy", kept a DNS label.
func copyName(name string) string {
	if len(name) > 58 {
		name = strings.TrimRight(name[:58], "-")
	}
	return name + "-copy"
}

func (h *Handler) blockEdit(k *blockKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		o, err := h.svc.Get(r.Context(), k.Kind, r.PathValue("id"))
		if err != nil {
			return err
		}
		m := o.GetMeta()
		f := &blockForm{K: k, Kinds: blockKinds, Edit: true, ID: m.ID, Name: m.Name, Description: m.Description,
			Scope: m.Scope.String(), Spec: specJSON(o), RV: m.ResourceVersion, Errors: map[string][]string{}}
		f.withFields(r)
		return h.showBlockForm(w, r, http.StatusOK, f)
	}
}

func (h *Handler) showBlockForm(w http.ResponseWriter, r *http.Request, status int, f *blockForm) error {
	scopes, err := h.scopes(r.Context())
	if err != nil {
		return err
	}
	f.Scopes = scopes
	h.render(w, r, status, "blockform", f)
	return nil
}

// specJSON is an object's spec, indented for the form.
func specJSON(o labspace.Object) string {
	raw, err := json.Marshal(o)
	if err != nil {
		return "{}"
	}
	var doc struct {
		Spec json.RawMessage `json:"spec"`
	}
	_ = json.Unmarshal(raw, &doc)
	var out bytes.Buffer
	if json.Indent(&out, doc.Spec, "", "  ") != nil {
		return string(doc.Spec)
	}
	return out.String()
}

// parseScope reads "global", "department/<name>" or "project/<name>".
func parseScope(s string) (labspace.Scope, bool) {
	if s == "global" {
		return labspace.Global, true
	}
	t, name, ok := strings.Cut(s, "/")
	if !ok || (t != string(labspace.ScopeDepartment) && t != string(labspace.ScopeProject)) {
		return labspace.Scope{}, false
	}
	return labspace.Scope{Type: labspace.ScopeType(t), Name: name}, true
}

// decodeBlock builds the object from the form: meta from its fields, the
// spec from the JSON the user wrote, strictly (unknown fields are errors).
func decodeBlock(k *blockKind, f *blockForm) (labspace.Validator, error) {
	obj := labspace.New(k.Kind).(labspace.Validator)
	scope, ok := parseScope(f.Scope)
	if !ok {
		return nil, labspace.FieldErr("meta.scope", "must be global, department/<name> or project/<name>")
	}
	meta, _ := json.Marshal(labspace.Meta{Name: f.Name, Description: f.Description, Scope: scope, ResourceVersion: f.RV})
	var spec json.RawMessage
	dec := json.NewDecoder(strings.NewReader(f.Spec))
	if err := dec.Decode(&spec); err != nil {
		return nil, labspace.FieldErr("spec", "is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, labspace.FieldErr("spec", "must hold one JSON object and nothing after it")
	}
	doc, _ := json.Marshal(map[string]json.RawMessage{"meta": meta, "spec": spec})
	dec = json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, labspace.FieldErr("spec", "does not fit a %s: %s", strings.ToLower(k.Title), strings.TrimPrefix(err.Error(), "json: "))
	}
	return obj, nil
}

func (h *Handler) blockSave(k *blockKind, edit bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		f := &blockForm{K: k, Kinds: blockKinds, Edit: edit, ID: r.PathValue("id"), Name: strings.TrimSpace(r.PostFormValue("name")),
			Description: r.PostFormValue("description"), Scope: r.PostFormValue("scope"), Spec: r.PostFormValue("spec"),
			Errors: map[string][]string{}}
		f.RV, _ = strconv.ParseInt(r.PostFormValue("resourceVersion"), 10, 64)
		err := f.fromFields(r)
		var obj labspace.Validator
		if err == nil {
			obj, err = decodeBlock(k, f)
		}
		if err == nil {
			if edit {
				_, err = h.svc.Update(r.Context(), f.ID, obj)
			} else {
				_, err = h.svc.Create(r.Context(), obj)
			}
		}
		if err == nil {
			http.Redirect(w, r, "/"+k.Path, http.StatusSeeOther)
			return nil
		}
		switch labspace.ErrorCode(err) {
		case labspace.EINVALID, labspace.EUNPROCESSABLE, labspace.ECONFLICT, labspace.EFORBIDDEN:
		default:
			return err
		}
		f.addErrors(err)
		status := http.StatusUnprocessableEntity
		if labspace.ErrorCode(err) == labspace.EFORBIDDEN {
			status = http.StatusForbidden // not allowed in that scope
		}
		return h.showBlockForm(w, r, status, f)
	}
}

// addErrors files field errors under name, scope, description or spec.
func (f *blockForm) addErrors(err error) {
	for _, fe := range fieldErrors(err) {
		key := "spec"
		switch {
		case fe.Field == "":
			f.Message = fe.Detail
			continue
		case strings.HasPrefix(fe.Field, "meta.name"):
			key = "name"
		case strings.HasPrefix(fe.Field, "meta.scope"):
			key = "scope"
		case strings.HasPrefix(fe.Field, "meta.description"):
			key = "description"
		case strings.HasPrefix(fe.Field, "meta."):
			key = ""
		case f.fieldErr(fe):
			f.All = append(f.All, fe)
			continue
		}
		f.All = append(f.All, fe)
		if key == "" {
			f.Message = fe.Detail
			continue
		}
		f.Errors[key] = append(f.Errors[key], strings.TrimPrefix(fe.Field+": ", "spec: ")+fe.Detail)
	}
	switch labspace.ErrorCode(err) {
	case labspace.ECONFLICT:
		if len(f.Errors) == 0 {
			f.Errors["name"] = append(f.Errors["name"], f.Message)
		}
	case labspace.EFORBIDDEN:
		f.Errors["scope"] = append(f.Errors["scope"], f.Message)
	}
}

// blockConfirmView asks before a delete.
type blockConfirmView struct {
	K     *blockKind
	ID    string
	Name  string
	Error string // why the delete was refused
}

func (h *Handler) blockConfirm(k *blockKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		o, err := h.svc.Get(r.Context(), k.Kind, r.PathValue("id"))
		if err != nil {
			return err
		}
		h.render(w, r, http.StatusOK, "blockdelete", &blockConfirmView{K: k, ID: o.GetMeta().ID, Name: o.GetMeta().Name})
		return nil
	}
}

// blockDelete deletes, or says why not (in use by a workspace or template).
func (h *Handler) blockDelete(k *blockKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		o, err := h.svc.Get(r.Context(), k.Kind, r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := h.svc.Delete(r.Context(), k.Kind, key(o)); err != nil {
			if labspace.ErrorCode(err) != labspace.ECONFLICT {
				return err
			}
			v := &blockConfirmView{K: k, ID: o.GetMeta().ID, Name: o.GetMeta().Name, Error: fieldErrors(err)[0].Detail}
			h.render(w, r, http.StatusConflict, "blockdelete", v)
			return nil
		}
		http.Redirect(w, r, "/"+k.Path+"?deleted="+url.QueryEscape(o.GetMeta().Name), http.StatusSeeOther)
		return nil
	}
}

// key is what names an object to the service: the name for kinds named
// globally (projects, users...), the id for the rest.
func key(o labspace.Object) string {
	switch o.Kind() {
	case labspace.KindProject, labspace.KindDepartment, labspace.KindUser, labspace.KindGroup, labspace.KindApplication:
		return o.GetMeta().Name
	}
	return o.GetMeta().ID
}
