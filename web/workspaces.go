package web

import (
	"context"
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// The workspaces grid: every workspace the caller may see, filtered,
// sorted and paged on the server (keyset pages from the store). It is
// live: app.js polls /workspaces/phases with the same query, updates
// phases, actions and relative times in place, drops rows that left and
// fetches the page again when rows arrive. Row and bulk actions post to
// /workspaces/actions (gridactions.go); the columns shown are the user's
// own (preferences kept by the service, gridcolumns.go).

func (h *Handler) workspaceRoutes() {
	h.mux.Handle("GET /{$}", h.auth(h.gridPage))
	h.mux.Handle("GET /workspaces", h.auth(func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, "/?"+r.URL.RawQuery, http.StatusSeeOther)
		return nil
	}))
	h.mux.Handle("GET /workspaces/phases", h.auth(h.gridPhases))
	h.mux.Handle("GET /workspaces.csv", h.auth(h.gridCSV))
	h.mux.Handle("POST /workspaces/actions", h.auth(h.gridActions))
	h.mux.Handle("POST /workspaces/columns", h.auth(h.gridColumnsSave))
}

// pageSizes are the page sizes offered; the first is the default.
var pageSizes = []int{50, 25, 100, 200}

// gridQuery is the grid's state, all of it in the URL.
type gridQuery struct {
	Project, Phase, Search string
	SortBy                 string // name, createdAt, phase, idle
	Desc                   bool
	Limit                  int
	Continue               string
	Back                   []string // the continue tokens of the pages before this one
}

// parseGrid reads the grid's query parameters; bad values are field
// errors, shown above the grid.
func parseGrid(v url.Values) (gridQuery, error) {
	q := gridQuery{Project: v.Get("project"), Phase: v.Get("phase"), Search: strings.TrimSpace(v.Get("q")),
		SortBy: v.Get("sort"), Desc: v.Get("order") == "desc", Limit: pageSizes[0], Continue: v.Get("continue"),
		Back: v["back"]}
	var bad labspace.Invalid
	if q.Project != "" {
		labspace.ValidateName("project", q.Project, &bad)
	}
	if q.Phase != "" && !knownPhase(q.Phase) {
		bad.Add("phase", "must be a phase such as Running or Pending")
	}
	if len(q.Search) > 63 {
		bad.Add("q", "must be at most 63 characters")
	}
	switch q.SortBy {
	case "", "name", "createdAt", "phase", "idle":
	default:
		bad.Add("sort", "must be name, createdAt, phase or idle")
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			bad.Add("limit", "must be a number between 1 and 200")
		} else {
			q.Limit = n
		}
	}
	if len(q.Back) > 50 {
		q.Back = q.Back[len(q.Back)-50:]
	}
	return q, bad.Err()
}

func knownPhase(p string) bool {
	for _, ph := range labspace.Phases {
		if string(ph) == p {
			return true
		}
	}
	return false
}

// store turns the grid's query into the service's list query.
func (q gridQuery) store() store.ListQuery {
	lq := store.ListQuery{Phase: q.Phase, Search: q.Search, SortBy: q.SortBy, Desc: q.Desc, Limit: q.Limit, Continue: q.Continue}
	if q.SortBy == "idle" {
		lq.SortBy = "activeAt" // idle the longest first: active the longest ago
	}
	if q.Project != "" {
		lq.Scopes = []labspace.Scope{labspace.ProjectScope(q.Project)}
	}
	return lq
}

// values encodes the query; page-state parameters only when asked.
func (q gridQuery) values(paging bool) url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("project", q.Project)
	set("phase", q.Phase)
	set("q", q.Search)
	set("sort", q.SortBy)
	if q.Desc {
		v.Set("order", "desc")
	}
	if q.Limit != pageSizes[0] {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if paging {
		set("continue", q.Continue)
		for _, b := range q.Back {
			v.Add("back", b)
		}
	}
	return v
}

// row is one workspace as the grid shows it.
type row struct {
	ID, Name, Project, Environment, CreatedBy string
	Phase, Desired                            labspace.Phase
	Reason, Message                           string
	Tools                                     []toolLink
	GPUs, CPU, Memory                         string
	Created, Started                          time.Time
	// ActiveAt is when it was last used (running only), StopsAt when an
	// idle or maximum-duration rule will stop it (zero: no rule applies).
	ActiveAt, StopsAt time.Time
	// CanRun and CanDelete: the caller's role allows start and stop, delete.
	CanRun, CanDelete bool
	// Offer is what the row's state allows (the role aside).
	Offer offer
	// Key names the workspace in the action forms (project/name); Link
	// is its page (URL, as a field for the grid's template).
	Key, Link string
	// The time cells of the columns shown, written by rowReader.
	CreatedCell, StartedCell, LastUsedCell, StopsInCell template.HTML
}

// toolLink is a tool and, when it can be reached now, its proxied URL.
type toolLink struct {
	Name  string `json:"name"`
	URL   string `json:"url,omitempty"`
	Ready bool   `json:"ready"`
}

// URL is the workspace's page.
func (r row) URL() string { return workspacePath(r.Project, r.Name) }

func workspacePath(project, name string) string {
	return "/projects/" + url.PathEscape(project) + "/workspaces/" + url.PathEscape(name)
}

func toRow(w *labspace.Workspace) row {
	c := w.Spec.Compute.Spec
	p := phaseOf(w) // a stop to come shows in place of the phase's reason
	r := row{ID: w.ID, Name: w.Name, Project: w.Project(), Environment: w.Spec.Environment.From.Name, CreatedBy: w.CreatedBy,
		Phase: w.Status.Phase, Desired: w.DesiredPhase, Reason: p.Reason, Message: p.Message, Tools: p.Tools,
		GPUs: gpusOf(c), CPU: orDash(c.CPURequest), Memory: orDash(c.MemoryRequest), Created: w.CreatedAt, Started: startedAt(w),
		ActiveAt: w.ActiveAt(), Offer: offers(w.DesiredPhase, w.Status.Phase)}
	r.Key, r.Link = r.Project+"/"+r.Name, workspacePath(r.Project, r.Name)
	return r
}

// tools lists the environment's tools; a tool has a URL only while the
// workspace runs and the tool answers.
func tools(w *labspace.Workspace) []toolLink {
	out := []toolLink{}
	for _, t := range w.Spec.Environment.Spec.Tools {
		l := toolLink{Name: t.Name}
		for _, st := range w.Status.Tools {
			if st.Name == t.Name && st.URL != "" && w.Status.Phase == labspace.PhaseRunning {
				l.URL, l.Ready = st.URL, st.Ready
			}
		}
		out = append(out, l)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// gridView is the grid page.
type gridView struct {
	Query    gridQuery
	Rows     []row
	Projects []string
	Phases   []labspace.Phase
	Sizes    []int
	Next     string // the next page's URL, "" on the last page
	Prev     string // the previous page's URL, "" on the first
	Errors   []labspace.FieldError
	Message  string
	// Show holds the optional columns shown (see gridColumns); Columns
	// lists them all, for the chooser.
	Show    map[string]bool
	Columns []column
}

// Span is the number of columns a row has, for the empty grid's cell.
func (g *gridView) Span() int {
	n := 3 // selection, name, actions
	for _, c := range g.Columns {
		if g.Show[c.Key] {
			n++
		}
	}
	return n
}

// SortURL is the grid sorted by col: ascending first, reversed when it
// already sorts by col.
func (g *gridView) SortURL(col string) string {
	q := g.Query
	q.Desc = (q.SortBy == col || q.SortBy == "" && col == "name") && !q.Desc
	q.SortBy, q.Continue, q.Back = col, "", nil
	return "/?" + q.values(false).Encode()
}

// SortMark is the arrow beside the sorted column's header.
func (g *gridView) SortMark(col string) string {
	if g.Query.SortBy != col && !(col == "name" && g.Query.SortBy == "") {
		return ""
	}
	if g.Query.Desc {
		return "descending"
	}
	return "ascending"
}

// Paging is the query string of this page, for polling and downloads.
func (g *gridView) Paging() string { return g.Query.values(true).Encode() }

// Filters is the query string without paging, for the CSV download.
func (g *gridView) Filters() string { return g.Query.values(false).Encode() }

// grid reads the page of q, with the columns in show.
func (h *Handler) grid(ctx context.Context, q gridQuery, show map[string]bool) (*gridView, error) {
	g := &gridView{Query: q, Phases: labspace.Phases, Sizes: pageSizes, Columns: gridColumns, Show: show}
	list, next, err := h.svc.List(ctx, labspace.KindWorkspace, q.store())
	if err != nil {
		return g, err
	}
	g.Rows = make([]row, 0, len(list))
	rr := h.rowReader(ctx)
	rr.cells(time.Now(), show)
	for _, o := range list {
		r, err := rr.row(o.(*labspace.Workspace))
		if err != nil {
			return g, err
		}
		g.Rows = append(g.Rows, r)
	}
	if next != "" {
		n := q
		n.Continue, n.Back = next, append(append([]string{}, q.Back...), q.Continue)
		g.Next = "/?" + n.values(true).Encode()
	}
	if len(q.Back) > 0 {
		p := q
		p.Continue, p.Back = q.Back[len(q.Back)-1], q.Back[:len(q.Back)-1]
		g.Prev = "/?" + p.values(true).Encode()
	}
	projects, _, err := h.svc.List(ctx, labspace.KindProject, store.ListQuery{Limit: 1000})
	if err != nil {
		return g, err
	}
	for _, p := range projects {
		g.Projects = append(g.Projects, p.GetMeta().Name)
	}
	return g, nil
}

func (h *Handler) gridPage(w http.ResponseWriter, r *http.Request) error {
	prefs, err := h.svc.Preferences(r.Context())
	if err != nil {
		return err
	}
	show := shownColumns(prefs.GridColumns)
	q, err := parseGrid(r.URL.Query())
	status := http.StatusOK
	var g *gridView
	if err == nil {
		g, err = h.grid(r.Context(), q, show)
	}
	if err != nil {
		// Bad filters or a stale page token: say so above an empty grid.
		if c := labspace.ErrorCode(err); c != labspace.EINVALID && c != labspace.EUNPROCESSABLE {
			return err
		}
		g = &gridView{Query: q, Phases: labspace.Phases, Sizes: pageSizes, Columns: gridColumns, Show: show}
		g.Errors, g.Message, status = fieldErrors(err), "These filters cannot be used:", http.StatusBadRequest
	}
	if d := r.URL.Query().Get("deleted"); d != "" {
		g.Message = "Workspace " + d + " is being deleted."
	}
	if m := h.takeFlash(w, r); m != "" {
		g.Message = m
	}
	h.render(w, r, status, "workspaces", g)
	return nil
}

// phaseJSON is one workspace's live state for the grid's polling.
type phaseJSON struct {
	ID      string         `json:"id"`
	Phase   labspace.Phase `json:"phase"`
	Class   string         `json:"class"`
	Reason  string         `json:"reason"`
	Message string         `json:"message"`
	Tools   []toolLink     `json:"tools"`
	Started string         `json:"started"` // as the grid shows it, "—" before the first start
	// IdleFor is how long a running workspace has gone unused, as the
	// grid shows it ("—" when it is not running).
	IdleFor string `json:"idleFor"`
	// Idle is true while a policy's idle rule is about to stop it: the
	// reason and message then say when, and "keep running" is offered.
	Idle bool `json:"idle,omitempty"`
	// Desired is the phase asked for; Offer the actions its state allows.
	Desired labspace.Phase `json:"desired"`
	Offer   offer          `json:"offer"`
	// StartedAt, ActiveAt and StopsAt are RFC 3339 times ("" for none),
	// from which the grid writes "5 min ago" and "in 2 h" as time passes.
	StartedAt string `json:"startedAt"`
	ActiveAt  string `json:"activeAt"`
	StopsAt   string `json:"stopsAt"`
}

func phaseOf(w *labspace.Workspace) phaseJSON {
	p := phaseJSON{ID: w.ID, Phase: w.Status.Phase, Class: phaseClass(w.Status.Phase), Reason: w.Status.PhaseReason,
		Message: w.Status.PhaseMessage, Tools: tools(w), Started: when(startedAt(w)), IdleFor: idleFor(w, time.Now()),
		Desired: w.DesiredPhase, Offer: offers(w.DesiredPhase, w.Status.Phase), StartedAt: isoOrEmpty(startedAt(w)),
		ActiveAt: isoOrEmpty(w.ActiveAt())}
	if n := w.Status.StopNotice; n != nil && w.Status.Phase == labspace.PhaseRunning {
		// What the user must know now: the stop to come, in the grid and on the page.
		p.Reason, p.Message, p.Idle = "StopComing", n.Message, n.Reason == "IdleTimeout"
	}
	return p
}

// idleFor says how long running w has gone without activity, to the
// minute (its recorded activity is at most a minute behind).
func idleFor(w *labspace.Workspace, now time.Time) string {
	at := w.ActiveAt()
	if at.IsZero() {
		return "—"
	}
	if d := now.Sub(at); d >= time.Minute {
		return labspace.Span(int64(d / time.Minute * 60))
	}
	return "under 1 min"
}

func startedAt(w *labspace.Workspace) time.Time {
	if w.Status.StartedAt == nil {
		return time.Time{}
	}
	return *w.Status.StartedAt
}

// gridPhases answers the grid's polling: the phases of the page's rows.
func (h *Handler) gridPhases(w http.ResponseWriter, r *http.Request) error {
	q, err := parseGrid(r.URL.Query())
	if err != nil {
		return err
	}
	list, _, err := h.svc.List(r.Context(), labspace.KindWorkspace, q.store())
	if err != nil {
		return err
	}
	items := make([]phaseJSON, 0, len(list))
	rr := h.rowReader(r.Context())
	for _, o := range list {
		ws := leaving(o.(*labspace.Workspace))
		p := phaseOf(ws)
		at, err := rr.stopsAt(ws)
		if err != nil {
			return err
		}
		p.StopsAt = isoOrEmpty(at)
		items = append(items, p)
	}
	writeJSON(w, map[string]any{"items": items, "now": time.Now().UTC().Format(time.RFC3339)})
	return nil
}

// gridCSV downloads every workspace that matches the filters, page by page.
func (h *Handler) gridCSV(w http.ResponseWriter, r *http.Request) error {
	q, err := parseGrid(r.URL.Query())
	if err != nil {
		return err
	}
	q.Continue, q.Limit = "", 1000
	lq := q.store()
	// Read the first page before answering, so that an error is a page.
	list, next, err := h.svc.List(r.Context(), labspace.KindWorkspace, lq)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="workspaces.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"name", "project", "phase", "reason", "message", "environment", "tools", "gpus", "cpu", "memory",
		"createdBy", "createdAt", "startedAt"})
	for {
		for _, o := range list {
			rw := toRow(o.(*labspace.Workspace))
			names := make([]string, len(rw.Tools))
			for i, t := range rw.Tools {
				names[i] = t.Name
			}
			_ = cw.Write(cells(rw.Name, rw.Project, string(rw.Phase), rw.Reason, rw.Message, rw.Environment,
				strings.Join(names, " "), rw.GPUs, rw.CPU, rw.Memory, rw.CreatedBy, stamp(rw.Created), stamp(rw.Started)))
		}
		if next == "" {
			break
		}
		lq.Continue = next
		if list, next, err = h.svc.List(r.Context(), labspace.KindWorkspace, lq); err != nil {
			h.log.Error("csv download", "err", err)
			break // the download has started: it ends short
		}
	}
	cw.Flush()
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// cells guards against formula injection: a spreadsheet runs a cell that
// starts with = + - @ as a formula, so such cells get a leading quote.
func cells(vals ...string) []string {
	for i, v := range vals {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			vals[i] = "'" + v
		}
	}
	return vals
}
