package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// kindPath is a kind served by the generic routes, and the path it lives at.
type kindPath struct {
	kind labspace.Kind
	path string // under /api/v1
	key  string // what names one object in the path: "name" or "id"
}

var kinds = []kindPath{
	{labspace.KindDepartment, "departments", "name"},
	{labspace.KindProject, "projects", "name"},
	{labspace.KindGroup, "groups", "name"},
	{labspace.KindAccessRule, "access-rules", "id"},
	{labspace.KindEnvironment, "environments", "id"},
	{labspace.KindComputeResource, "compute-resources", "id"},
	{labspace.KindDataSource, "data-sources", "id"},
	{labspace.KindCredential, "credentials", "id"},
	{labspace.KindTemplate, "templates", "id"},
	{labspace.KindPolicy, "policies", "id"},
}

// List is a page of objects.
type List[T any] struct {
	Items    []T    `json:"items"`
	Continue string `json:"continue,omitempty"`
}

var listQuery = []string{"limit", "continue", "offset", "sortBy", "sortOrder", "search", "scope", "creator", "filterBy"}

// listBufs holds response buffers for lists: a page of 50 workspaces is
// about 100 KiB, which would otherwise be garbage after every request.
var listBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledList bounds the buffers kept: a rare page of 1,000 large
// objects is not kept alive for the small ones after it.
const maxPooledList = 1 << 20

// listJSON serves a page of kind k as List[labspace.Object] would encode:
// each record's stored document is written as it is, with its meta from
// the columns (store.AppendJSON), instead of decoding every object and
// encoding it again; the page goes out in one write with its length.
func (s *Server) listJSON(k labspace.Kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := parseList(r, k)
		if err != nil {
			return err
		}
		recs, next, err := s.svc.ListRecords(r.Context(), k, q)
		if err != nil {
			return err
		}
		bp := listBufs.Get().(*[]byte)
		b := append((*bp)[:0], `{"items":[`...)
		for i, rec := range recs {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = store.AppendJSON(b, rec); err != nil {
				return err
			}
		}
		b = append(b, ']')
		if next != "" {
			tok, _ := json.Marshal(next)
			b = append(append(b, `,"continue":`...), tok...)
		}
		b = append(b, "}\n"...) // json.Encoder ends with a newline
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(200)
		_, _ = w.Write(b)
		if cap(b) <= maxPooledList {
			*bp = b
			listBufs.Put(bp)
		}
		return nil
	}
}

func (s *Server) kindRoutes(k kindPath) []route {
	base := "/api/v1/" + k.path
	one := base + "/{" + k.key + "}"
	sample := labspace.New(k.kind)
	name := string(k.kind)
	return []route{
		{method: "GET", path: base, summary: "List " + k.path, tag: k.path, out: List[labspace.Object]{Items: []labspace.Object{sample}},
			status: 200, query: listQuery, handle: s.listJSON(k.kind)},
		{method: "POST", path: base, summary: "Create a " + name, tag: k.path, in: sample, out: sample, status: 201,
			handle: func(w http.ResponseWriter, r *http.Request) error {
				obj := labspace.New(k.kind).(labspace.Validator)
				if err := decode(r, obj); err != nil {
					return err
				}
				out, err := s.svc.Create(r.Context(), obj)
				return reply(w, 201, out, err)
			}},
		{method: "GET", path: one, summary: "Get a " + name, tag: k.path, out: sample, status: 200, handle: s.get(k.kind, k.key)},
		{method: "PUT", path: one, summary: "Update a " + name + " (send the resourceVersion you read)", tag: k.path,
			in: sample, out: sample, status: 200, conditional: true, handle: func(w http.ResponseWriter, r *http.Request) error {
				obj := labspace.New(k.kind).(labspace.Validator)
				if err := decode(r, obj); err != nil {
					return err
				}
				out, err := s.svc.Update(r.Context(), r.PathValue(k.key), obj)
				return reply(w, 200, out, err)
			}},
		{method: "DELETE", path: one, summary: "Delete a " + name + " (409 while in use)", tag: k.path, status: 204,
			conditional: true, handle: s.del(k.kind, k.key)},
	}
}

// parseList reads the list query parameters of a list of kind k.
func parseList(r *http.Request, k labspace.Kind) (store.ListQuery, error) {
	v := r.URL.Query()
	var bad labspace.Invalid
	q := store.ListQuery{Continue: v.Get("continue"), SortBy: v.Get("sortBy"), Search: v.Get("search"),
		CreatedBy: v.Get("creator"), Phase: v.Get("phase")}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			bad.Add("limit", "must be an integer between 1 and 1000 (got %q)", l)
		}
		q.Limit = n
	}
	switch v.Get("sortOrder") {
	case "", "asc":
	case "desc":
		q.Desc = true
	default:
		bad.Add("sortOrder", "must be asc or desc")
	}
	switch q.SortBy {
	case "", "name", "createdAt", "updatedAt", "phase", "activeAt":
	default:
		bad.Add("sortBy", "must be one of name, createdAt, updatedAt, phase, activeAt")
	}
	if p := v.Get("project"); p != "" {
		labspace.ValidateName("project", p, &bad)
		q.Scopes = []labspace.Scope{labspace.ProjectScope(p)}
	}
	if sc := v.Get("scope"); sc != "" {
		s, ok := parseScope(sc)
		if !ok {
			bad.Add("scope", "must be global, department/<name> or project/<name>")
		}
		q.Scopes = []labspace.Scope{s}
	}
	if q.Phase != "" {
		ok := false
		for _, p := range labspace.Phases {
			ok = ok || string(p) == q.Phase
		}
		if !ok {
			bad.Add("phase", "must be a phase such as Running or Pending")
		}
	}
	if len(q.Search) > 63 {
		bad.Add("search", "must be at most 63 characters")
	}
	if o := v.Get("offset"); o != "" {
		n, err := strconv.Atoi(o)
		switch {
		case err != nil || n < 0 || n > maxOffset:
			bad.Add("offset", "must be an integer between 0 and %d (got %q)", maxOffset, o)
		case q.Continue != "":
			bad.Add("offset", "cannot be given with continue: a continue token already says where the page starts")
		}
		q.Offset = n
	}
	q.Filters = parseFilterBy(v["filterBy"], k, &bad)
	return q, bad.Err()
}

// maxOffset bounds offset: deeper pages are reached with continue, which
// costs the same at any depth.
const maxOffset = 100000

// filterFields are the fields filterBy takes on a list of kind k.
func filterFields(k labspace.Kind) []string {
	if k == labspace.KindWorkspace {
		return store.FilterFields
	}
	return []string{"name", "creator"}
}

// parseFilterBy reads filterBy as Run:ai's API takes it: conditions
// "field operator value" such as name=@bert or phase==Running, several
// in one parameter separated by commas or in several parameters, all of
// which must hold.
func parseFilterBy(params []string, k labspace.Kind, bad *labspace.Invalid) []store.Filter {
	var out []store.Filter
	fields := filterFields(k)
	for _, p := range params {
		for _, cond := range strings.Split(p, ",") {
			if len(out) >= 16 {
				bad.Add("filterBy", "must have at most 16 conditions")
				return nil
			}
			f, ok := parseCondition(cond)
			switch {
			case !ok:
				bad.Add("filterBy", "%q is not a condition: write field, operator and value, such as name=@bert or phase==Running "+
					"(operators == != =@ !@ =^ =$)", clip(cond))
				return nil
			case !slices.Contains(fields, f.Field):
				bad.Add("filterBy", "cannot filter %s on %q: use one of %s", k, clip(f.Field), strings.Join(fields, ", "))
				return nil
			case len(f.Value) > 253:
				bad.Add("filterBy", "the value for %s must be at most 253 characters", f.Field)
				return nil
			case f.Field == "phase" && (f.Op == store.OpEqual || f.Op == store.OpNotEqual) && !slices.Contains(labspace.Phases, labspace.Phase(f.Value)):
				bad.Add("filterBy", "phase must be compared with a phase such as Running or Pending (got %q)", clip(f.Value))
				return nil
			}
			out = append(out, f)
		}
	}
	return out
}

// parseCondition splits "name=@bert" into its field, operator and value.
func parseCondition(s string) (store.Filter, bool) {
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	if i == 0 || i+2 > len(s) {
		return store.Filter{}, false
	}
	op := store.FilterOp(s[i : i+2])
	if !slices.Contains(store.FilterOps, op) || i+2 == len(s) {
		return store.Filter{}, false
	}
	return store.Filter{Field: s[:i], Op: op, Value: s[i+2:]}, true
}

// clip bounds what a caller sent before it is quoted back.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func parseScope(s string) (labspace.Scope, bool) {
	if s == "global" {
		return labspace.Global, true
	}
	for _, t := range []labspace.ScopeType{labspace.ScopeDepartment, labspace.ScopeProject} {
		if name, ok := strings.CutPrefix(s, string(t)+"/"); ok {
			var v labspace.Invalid
			labspace.ValidateName("scope", name, &v)
			return labspace.Scope{Type: t, Name: name}, v.Err() == nil
		}
	}
	return labspace.Scope{}, false
}
