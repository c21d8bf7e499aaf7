package web

import (
	"net/http"
	"net/url"
)

// The grid's optional columns: each user chooses which to show, and the
// choice is kept by the service with the user (labspace.Preferences), so
// it follows the user to another browser. Name, the selection and the
// actions are always shown.

// column is an optional column of the grid.
type column struct {
	Key, Title string
	Default    bool   // shown until the user chooses
	Sort       string // the sort its header links to; "" when it does not sort
}

// gridColumns are the optional columns, in the order they are shown.
var gridColumns = []column{
	{Key: "project", Title: "Project", Default: true},
	{Key: "phase", Title: "Phase", Default: true, Sort: "phase"},
	{Key: "environment", Title: "Environment", Default: true},
	{Key: "tools", Title: "Tools"},
	{Key: "gpus", Title: "GPUs", Default: true},
	{Key: "resources", Title: "CPU / memory", Default: true},
	{Key: "createdBy", Title: "Created by", Default: true},
	{Key: "created", Title: "Created", Sort: "createdAt"},
	{Key: "started", Title: "Started", Default: true},
	{Key: "lastUsed", Title: "Last used", Default: true, Sort: "idle"},
	{Key: "stopsIn", Title: "Stops in", Default: true},
}

func defaultColumns() map[string]bool {
	show := map[string]bool{}
	for _, c := range gridColumns {
		show[c.Key] = c.Default
	}
	return show
}

// shownColumns is the set a user's saved choice shows: the defaults when
// the user never chose (nil), only known columns otherwise.
func shownColumns(saved []string) map[string]bool {
	if saved == nil {
		return defaultColumns()
	}
	show := map[string]bool{}
	for _, c := range saved {
		if knownColumn(c) {
			show[c] = true
		}
	}
	return show
}

func knownColumn(key string) bool {
	for _, c := range gridColumns {
		if c.Key == key {
			return true
		}
	}
	return false
}

// chosenColumns reads the chooser's form: the known columns ticked, in
// the grid's order (never nil: none ticked is a choice too).
func chosenColumns(ticked []string) []string {
	set := map[string]bool{}
	for _, t := range ticked {
		set[t] = true
	}
	out := []string{}
	for _, c := range gridColumns {
		if set[c.Key] {
			out = append(out, c.Key)
		}
	}
	return out
}

// gridColumnsSave keeps the chooser's columns (or, with reset, goes back
// to the defaults) and returns to the grid as it was.
func (h *Handler) gridColumnsSave(w http.ResponseWriter, r *http.Request) error {
	p, err := h.svc.Preferences(r.Context())
	if err != nil {
		return err
	}
	if r.PostFormValue("reset") != "" {
		p.GridColumns = nil
	} else {
		p.GridColumns = chosenColumns(r.PostForm["col"])
	}
	if err := h.svc.SetPreferences(r.Context(), p); err != nil {
		return err
	}
	http.Redirect(w, r, gridBack(r.PostFormValue("back")), http.StatusSeeOther)
	return nil
}

// gridBack is the grid at the query a form came from; only the grid's own
// parameters are kept, so it never leads elsewhere.
func gridBack(raw string) string {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return "/"
	}
	q, err := parseGrid(v)
	if err != nil {
		return "/"
	}
	if e := q.values(true).Encode(); e != "" {
		return "/?" + e
	}
	return "/"
}
