package web

import (
	"context"
	"fmt"
	"html/template"
	"time"

	"github.com/labspace/labspace"
)

// What a grid row offers and the times it shows, kept live by app.js
// (which writes relative times the same way: span, ago and until there
// mirror these).

// offer is what a workspace's state allows, before the caller's role is
// asked: Start (a Failed workspace is started again), Stop, Delete.
type offer struct {
	Start  bool `json:"start"`
	Stop   bool `json:"stop"`
	Delete bool `json:"delete"`
	// Again: the start offered is a start again, of a failed workspace.
	Again bool `json:"again"`
}

// offers is what a workspace asked to be desired, now phase, allows.
// A workspace on its way out offers nothing.
func offers(desired, phase labspace.Phase) offer {
	if desired == labspace.PhaseDeleted {
		return offer{}
	}
	return offer{
		Start:  desired != labspace.PhaseRunning || phase == labspace.PhaseFailed,
		Stop:   desired == labspace.PhaseRunning,
		Delete: true,
		Again:  phase == labspace.PhaseFailed,
	}
}

// rowReader builds rows for one request: the caller's role and the
// lifecycle rules are asked once per project, not once per row.
type rowReader struct {
	h     *Handler
	ctx   context.Context
	perms map[string][2]bool
	rules map[string]*labspace.EffectiveLifecycle
	// now and show: the time cells to write, as of now (none when show is nil).
	now  time.Time
	show map[string]bool
}

// cells asks for the time cells of the columns in show, as of now.
func (rr *rowReader) cells(now time.Time, show map[string]bool) { rr.now, rr.show = now, show }

func (h *Handler) rowReader(ctx context.Context) *rowReader {
	return &rowReader{h: h, ctx: ctx, perms: map[string][2]bool{}, rules: map[string]*labspace.EffectiveLifecycle{}}
}

// leaving shows a workspace asked to be deleted as Deleting at once, the
// controller not yet having said so: the grid then shows what was asked
// at the moment it was asked, and the row leaves when the workspace is gone.
func leaving(w *labspace.Workspace) *labspace.Workspace {
	if w.DesiredPhase != labspace.PhaseDeleted || w.Status.Phase == labspace.PhaseDeleting {
		return w
	}
	c := *w
	c.Status.Phase, c.Status.PhaseReason, c.Status.PhaseMessage = labspace.PhaseDeleting, "DeleteRequested",
		"Deleting: the workspace leaves the grid once it is gone."
	return &c
}

func (rr *rowReader) row(w *labspace.Workspace) (row, error) {
	w = leaving(w)
	r := toRow(w)
	p, ok := rr.perms[r.Project]
	if !ok {
		var err error
		if p[0], err = rr.h.svc.Allows(rr.ctx, labspace.VerbUpdate, w); err != nil {
			return r, err
		}
		if p[1], err = rr.h.svc.Allows(rr.ctx, labspace.VerbDelete, w); err != nil {
			return r, err
		}
		rr.perms[r.Project] = p
	}
	r.CanRun, r.CanDelete = p[0], p[1]
	var err error
	if r.StopsAt, err = rr.stopsAt(w); err != nil {
		return r, err
	}
	if rr.show["created"] {
		r.CreatedCell = timeCell(rr.now, r.Created, "ago")
	}
	if rr.show["started"] {
		r.StartedCell = timeCell(rr.now, r.Started, "ago")
	}
	if rr.show["lastUsed"] {
		r.LastUsedCell = timeCell(rr.now, r.ActiveAt, "ago")
	}
	if rr.show["stopsIn"] {
		r.StopsInCell = timeCell(rr.now, r.StopsAt, "until")
	}
	return r, nil
}

// stopsAt is when an idle or maximum-duration rule will stop running w
// (the notice's time once one is given); zero when none applies.
func (rr *rowReader) stopsAt(w *labspace.Workspace) (time.Time, error) {
	if w.Status.Phase != labspace.PhaseRunning || w.DesiredPhase != labspace.PhaseRunning {
		return time.Time{}, nil
	}
	if n := w.Status.StopNotice; n != nil {
		return n.At, nil
	}
	project := w.Project()
	rules, ok := rr.rules[project]
	if !ok {
		e, err := rr.h.svc.EffectivePolicy(rr.ctx, project)
		if err != nil {
			return time.Time{}, err
		}
		rules = &e.Lifecycle
		rr.rules[project] = rules
	}
	at, _, _, ok := rules.Deadline(w, w.ActiveAt())
	if !ok {
		return time.Time{}, nil
	}
	return at, nil
}

// span writes a duration for people, to the minute: "4 min", "1 h 20 min",
// "30 h", "3 days".
func span(d time.Duration) string {
	m := int64(d / time.Minute)
	h := m / 60
	switch {
	case m < 60:
		return fmt.Sprintf("%d min", m)
	case h < 24 && m%60 != 0:
		return fmt.Sprintf("%d h %d min", h, m%60)
	case h < 48:
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d days", h/24)
}

// ago says how long before now t was: "just now", "5 min ago"; "—" for
// no time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return span(d) + " ago"
}

// until says how long after now t is: "in 5 min", "any moment"; "—" for
// no time.
func until(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := t.Sub(now)
	if d < time.Minute {
		return "any moment"
	}
	return "in " + span(d)
}

func isoOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// timeCell is t as the grid shows it: relative to now ("5 min ago" when
// dir is "ago", "in 2 h" when "until"), the exact time on hover, and
// the time itself for app.js to write it again as time passes. Written
// here rather than in the template (a template call per part costs a
// row a dozen reflective calls); every part is a fixed format of digits
// and words, and dir a constant, so there is nothing to escape.
func timeCell(now, t time.Time, dir string) template.HTML {
	if t.IsZero() {
		return template.HTML(`<time data-rel="` + dir + `">—</time>`)
	}
	text := ago(now, t)
	if dir == "until" {
		text = until(now, t)
	}
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `" title="` + when(t) + ` UTC" data-rel="` + dir + `">` +
		text + `</time>`)
}
