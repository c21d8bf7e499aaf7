package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labspace/labspace"
)

// The workspace page: phase and its timeline, Connect per tool, logs
// (followed by app.js through /logs), start / stop / delete, and the
// resolved spec. app.js polls /status to keep it current.

func (h *Handler) detailRoutes() {
	const one = "/projects/{project}/workspaces/{name}"
	h.mux.Handle("GET "+one, h.auth(h.workspacePage))
	h.mux.Handle("GET "+one+"/status", h.auth(h.workspaceStatus))
	h.mux.Handle("GET "+one+"/logs", h.auth(h.workspaceLogs))
	h.mux.Handle("POST "+one+"/start", h.auth(h.desired(labspace.PhaseRunning)))
	h.mux.Handle("POST "+one+"/stop", h.auth(h.desired(labspace.PhaseStopped)))
	h.mux.Handle("GET "+one+"/delete", h.auth(h.confirmDelete))
	h.mux.Handle("POST "+one+"/delete", h.auth(h.desired(labspace.PhaseDeleted)))
	h.mux.Handle("POST "+one+"/sharing", h.auth(h.share))
	h.mux.Handle("POST "+one+"/keep-running", h.auth(h.keepRunning))
}

// detailView is the workspace page.
type detailView struct {
	W      *labspace.Workspace
	Row    row
	Events []labspace.Event
	// CanRun and CanDelete: the caller's role allows start/stop, delete.
	CanRun, CanDelete bool
	// Mine: the caller created it (and so decides who else connects);
	// Shareable: tools have hosts of their own here, so sharing is possible.
	Mine, Shareable bool
}

// SharedUsers is the list of users the workspace is shared with, as typed.
func (d *detailView) SharedUsers() string { return strings.Join(d.W.Sharing.Users, ", ") }

// Running reports whether the user has asked for the workspace to run.
func (d *detailView) Running() bool { return d.W.DesiredPhase == labspace.PhaseRunning }

// Failed reports a workspace that failed while meant to run: it is offered
// a start again, beside the stop that clears it.
func (d *detailView) Failed() bool {
	return d.W.DesiredPhase == labspace.PhaseRunning && d.W.Status.Phase == labspace.PhaseFailed
}

// Deleting reports whether the workspace is on its way out.
func (d *detailView) Deleting() bool { return d.W.DesiredPhase == labspace.PhaseDeleted }

func (h *Handler) detail(r *http.Request) (*detailView, error) {
	ctx, p, n := r.Context(), r.PathValue("project"), r.PathValue("name")
	ws, err := h.svc.GetWorkspace(ctx, p, n)
	if err != nil {
		return nil, err
	}
	events, err := h.svc.WorkspaceEvents(ctx, p, n)
	if err != nil {
		return nil, err
	}
	d := &detailView{W: ws, Row: toRow(ws), Events: events, Shareable: h.svc.SharingAvailable(),
		Mine: sessionOf(r).actor.Subject == labspace.Subject{Type: labspace.SubjectUser, Name: ws.CreatedBy}}
	if d.CanRun, err = h.svc.Allows(ctx, labspace.VerbUpdate, ws); err != nil {
		return nil, err
	}
	d.CanDelete, err = h.svc.Allows(ctx, labspace.VerbDelete, ws)
	return d, err
}

func (h *Handler) workspacePage(w http.ResponseWriter, r *http.Request) error {
	d, err := h.detail(r)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "workspace", d)
	return nil
}

// eventJSON is one timeline entry, as app.js draws it.
type eventJSON struct {
	Time    string `json:"time"`
	Type    string `json:"type"`
	From    string `json:"from"`
	To      string `json:"to"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Actor   string `json:"actor"`
}

func (h *Handler) workspaceStatus(w http.ResponseWriter, r *http.Request) error {
	d, err := h.detail(r)
	if err != nil {
		return err
	}
	events := make([]eventJSON, 0, len(d.Events))
	for _, e := range d.Events {
		events = append(events, eventJSON{Time: whenSec(e.Time), Type: e.Type, From: string(e.FromPhase), To: string(e.ToPhase),
			Reason: e.Reason, Message: e.Message, Actor: e.Actor})
	}
	writeJSON(w, map[string]any{"workspace": phaseOf(d.W), "desiredPhase": d.W.DesiredPhase, "events": events})
	return nil
}

// workspaceLogs streams the workspace's output as it comes.
func (h *Handler) workspaceLogs(w http.ResponseWriter, r *http.Request) error {
	rc, err := h.svc.WorkspaceLogs(r.Context(), r.PathValue("project"), r.PathValue("name"), r.URL.Query().Get("follow") != "")
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc2 := http.NewResponseController(w)
	_ = rc2.SetReadDeadline(time.Time{}) // a followed log outlasts the server's read timeout
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			_ = rc2.Flush()
		}
		if err != nil {
			return nil // the stream has started: it just ends
		}
	}
}

// desired records a start, stop or delete and goes back to the page (to
// the grid after a delete).
func (h *Handler) desired(to labspace.Phase) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, n := r.PathValue("project"), r.PathValue("name")
		if _, err := h.svc.SetDesiredPhase(r.Context(), p, n, to); err != nil {
			return err
		}
		if to == labspace.PhaseDeleted {
			http.Redirect(w, r, "/?deleted="+url.QueryEscape(n), http.StatusSeeOther)
			return nil
		}
		http.Redirect(w, r, workspacePath(p, n), http.StatusSeeOther)
		return nil
	}
}

// keepRunning answers a stop notice: it counts as activity.
func (h *Handler) keepRunning(w http.ResponseWriter, r *http.Request) error {
	p, n := r.PathValue("project"), r.PathValue("name")
	if _, err := h.svc.KeepRunning(r.Context(), p, n); err != nil {
		return err
	}
	http.Redirect(w, r, workspacePath(p, n), http.StatusSeeOther)
	return nil
}

// share sets who besides its creator may connect to the workspace's tools.
func (h *Handler) share(w http.ResponseWriter, r *http.Request) error {
	p, n := r.PathValue("project"), r.PathValue("name")
	sh := labspace.Sharing{Project: r.PostFormValue("project") != "", Users: []string{}}
	for _, u := range strings.FieldsFunc(r.PostFormValue("users"), func(c rune) bool { return c == ',' || c == ' ' || c == '\n' }) {
		sh.Users = append(sh.Users, u)
	}
	if _, err := h.svc.ShareWorkspace(r.Context(), p, n, sh); err != nil {
		return err
	}
	http.Redirect(w, r, workspacePath(p, n), http.StatusSeeOther)
	return nil
}

// confirmDelete asks before deleting: the workspace's home goes with it.
func (h *Handler) confirmDelete(w http.ResponseWriter, r *http.Request) error {
	ws, err := h.svc.GetWorkspace(r.Context(), r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, "confirm", ws)
	return nil
}
