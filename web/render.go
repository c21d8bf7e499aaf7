package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labspace/labspace"
)

// pageFiles are the templates of pages; each is parsed with layout.html
// and partials.html, and defines "title" and "content".
var pageFiles = []string{"login", "error", "workspaces", "gridconfirm", "newworkspace", "workspace", "confirm", "blocks", "blockform", "blockdelete",
	"projects", "quotaform", "rules", "users", "departments", "applications", "tokens", "audit", "cli"}

// view is what every page template receives: the page's own data in
// .Page, and what the layout needs around it.
type view struct {
	Title string
	User  string
	CSRF  string
	Nav   string // which menu entry is current
	Page  any
}

func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials.html"))
	out := map[string]*template.Template{}
	for _, name := range pageFiles {
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, "templates/"+name+".html"))
	}
	return out
}

// render executes page into a buffer first, so that a template error
// becomes an error page rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	v := view{Page: data, Nav: page}
	if s := sessionOf(r); s != nil {
		v.User, v.CSRF = s.actor.Subject.Name, s.csrf
	}
	if c, ok := data.(interface{ csrfToken() string }); ok && v.CSRF == "" {
		v.CSRF = c.csrfToken()
	}
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.Error("template", "page", page, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

var funcs = template.FuncMap{
	"phaseClass": phaseClass,
	"phaseOf":    phaseOf,
	"when":       when,
	"whenSec":    whenSec,
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ptrTime": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
	"pretty": func(v any) string {
		raw, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err.Error()
		}
		return string(raw)
	},
	"gpus":      gpusOf,
	"join":      strings.Join,
	"hasPrefix": strings.HasPrefix,
	"lower":     strings.ToLower,
	"list":      func(s ...string) []string { return s },
	"adminPage": func(page string) bool {
		return slices.Contains([]string{"projects", "quotaform", "rules", "users", "departments", "applications", "tokens", "audit"}, page)
	},
	"cores": func(milli int64) string { return fmt.Sprintf("%g", float64(milli)/1000) },
	"gib":   memoryFor,
}

// phaseClass names the badge colour of a phase.
func phaseClass(p labspace.Phase) string {
	switch p {
	case labspace.PhaseRunning:
		return "ok"
	case labspace.PhaseFailed:
		return "bad"
	case labspace.PhaseDegraded:
		return "warn"
	case labspace.PhaseStopped:
		return "off"
	case labspace.PhaseStopping, labspace.PhaseDeleting:
		return "busy"
	}
	return "wait" // Creating, Pending, Initializing
}

// when shows a time the way the grid does: UTC, to the minute.
func when(t time.Time) string {
	return format(t, "2006-01-02 15:04")
}

// whenSec is when to the second, for timelines.
func whenSec(t time.Time) string { return format(t, "2006-01-02 15:04:05") }

func format(t time.Time, layout string) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format(layout)
}

func gpusOf(c labspace.ComputeSpec) string {
	g := c.GPUs()
	if g == 0 {
		return "0"
	}
	if c.GPUPortion != nil && c.GPUPortion.Memory != "" {
		return "1 (" + c.GPUPortion.Memory + ")"
	}
	return fmt.Sprintf("%g", g)
}

// memoryFor writes bytes as people read them (labspace.FormatMemory).
func memoryFor(b int64) string { return labspace.FormatMemory(b) }
