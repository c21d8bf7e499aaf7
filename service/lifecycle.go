package service

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// The lifecycle controller acts as its own identity: it may read any
// workspace and write what it observes, and nothing else. These methods
// refuse every other caller.

// ControllerSubject is the identity of the lifecycle controller.
var ControllerSubject = labspace.Subject{Type: "system", Name: "controller"}

// AsController returns a context in which the controller acts.
func AsController(ctx context.Context) context.Context {
	return WithActor(ctx, &labspace.Actor{Subject: ControllerSubject})
}

func controllerOnly(ctx context.Context) error {
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if a.Subject != ControllerSubject {
		return labspace.Errorf(labspace.EFORBIDDEN, "Only the lifecycle controller may do this.")
	}
	return nil
}

// WorkspaceByID returns a workspace for the controller.
func (s *Service) WorkspaceByID(ctx context.Context, id string) (*labspace.Workspace, error) {
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	var w labspace.Workspace
	err := s.store.View(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(labspace.KindWorkspace, id)
		if err != nil {
			return err
		}
		return store.Decode(rec, &w)
	})
	return &w, err
}

// WorkspaceIDs lists workspaces for the controller, oldest first: all of
// them when no phase is given, else those in the given phases.
func (s *Service) WorkspaceIDs(ctx context.Context, phases ...labspace.Phase) ([]string, error) {
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	if len(phases) == 0 {
		phases = []labspace.Phase{""}
	}
	var ids []string
	err := s.store.View(ctx, func(tx store.Tx) error {
		for _, ph := range phases {
			if err := listIDs(tx, ph, &ids); err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}

func listIDs(tx store.Tx, phase labspace.Phase, ids *[]string) error {
	q := store.ListQuery{Phase: string(phase), SortBy: "createdAt", Limit: 1000}
	for {
		recs, next, err := tx.List(labspace.KindWorkspace, q)
		if err != nil {
			return err
		}
		for _, r := range recs {
			*ids = append(*ids, r.ID)
		}
		if next == "" {
			return nil
		}
		q.Continue = next
	}
}

// Observed is what the controller reports of a workspace.
type Observed struct {
	Phase   labspace.Phase
	Reason  string
	Message string
	Tools   []labspace.ToolStatus
	// Release gives back the workspace's quota and capacity.
	Release bool
	// Warnings name what the runtime does not enforce: each becomes a
	// Warning event when the workspace starts running.
	Warnings []string
	// Retrying: a start failed for now and is tried again; a Warning event
	// records the reason when it is new.
	Retrying bool
}

// SetObserved writes what the controller observed of seen (the workspace
// as its pass read it), with an event when the phase changes. When o
// changes nothing of seen's status it reads and writes nothing: most
// passes observe nothing new, and any write since seen was read brings the
// workspace another pass.
func (s *Service) SetObserved(ctx context.Context, seen *labspace.Workspace, o Observed) (*labspace.Workspace, error) {
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	apply := func(w *labspace.Workspace) labspace.WorkspaceStatus {
		st := w.Status
		st.Phase, st.PhaseReason, st.PhaseMessage, st.Tools = o.Phase, o.Reason, o.Message, o.Tools
		if o.Release {
			st.Admission = nil
		}
		st.Conditions = w.Status.Conditions
		return st
	}
	if same(apply(seen), seen.Status) {
		return seen, nil
	}
	id := seen.ID
	var w labspace.Workspace
	var err error
	failed := false
	err = s.store.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(labspace.KindWorkspace, id)
		if err != nil {
			return err
		}
		if err := store.Decode(rec, &w); err != nil {
			return err
		}
		from, fromReason := w.Status.Phase, w.Status.PhaseReason
		failed = from != labspace.PhaseFailed && o.Phase == labspace.PhaseFailed
		if err := s.setStatus(tx, &w, rec.RV, apply(&w)); err != nil {
			return err
		}
		if o.Retrying && fromReason != o.Reason {
			return tx.AddEvent(&labspace.Event{WorkspaceID: w.ID, Time: w.UpdatedAt, Type: "Warning", Reason: o.Reason,
				Message: o.Message, Actor: ControllerSubject.Name})
		}
		if w.Status.Phase != labspace.PhaseRunning || from == labspace.PhaseRunning || from == labspace.PhaseDegraded {
			return nil
		}
		for _, msg := range o.Warnings {
			if err := tx.AddEvent(&labspace.Event{WorkspaceID: w.ID, Time: w.UpdatedAt, Type: "Warning", Reason: "NotEnforced",
				Message: msg, Actor: ControllerSubject.Name}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && failed {
		s.notify(ctx, id, "Failed", w.Status.PhaseReason, w.Status.PhaseMessage)
	}
	return &w, err
}

// setStatus writes st as w's status when it differs, deriving conditions,
// with a PhaseChanged event when the phase moves.
func (s *Service) setStatus(tx store.Tx, w *labspace.Workspace, rv int64, st labspace.WorkspaceStatus) error {
	st.Conditions = w.Status.Conditions
	if same(st, w.Status) {
		return nil
	}
	now := s.now().UTC()
	from, fromReason := w.Status.Phase, w.Status.PhaseReason
	if st.Phase == labspace.PhaseRunning && from != labspace.PhaseRunning {
		st.StartedAt = &now
	}
	st.Conditions = conditions(st, w.Status.Conditions, now)
	admitted, released := w.Status.Admission == nil && st.Admission != nil, w.Status.Admission != nil && st.Admission == nil
	held := *w
	w.Status, w.UpdatedAt = st, now
	if err := s.saveWorkspace(tx, w, rv); err != nil {
		return err
	}
	switch {
	case admitted:
		if err := s.ledgerAdd(tx, w, 1); err != nil {
			return err
		}
	case released:
		if err := s.ledgerAdd(tx, &held, -1); err != nil {
			return err
		}
	}
	if from == st.Phase {
		if st.Phase != labspace.PhasePending || st.PhaseReason == fromReason {
			return nil
		}
		// Still Pending, for a new reason (held by quota after its start
		// was asked): the timeline says what it waits for now.
		return tx.AddEvent(&labspace.Event{WorkspaceID: w.ID, Time: now, Type: "Waiting",
			Reason: st.PhaseReason, Message: st.PhaseMessage, Actor: ControllerSubject.Name})
	}
	return tx.AddEvent(&labspace.Event{WorkspaceID: w.ID, Time: now, Type: "PhaseChanged", FromPhase: from,
		ToPhase: st.Phase, Reason: st.PhaseReason, Message: st.PhaseMessage, Actor: ControllerSubject.Name})
}

func (s *Service) saveWorkspace(tx store.Tx, w *labspace.Workspace, rv int64) error {
	rec, err := store.Encode(w)
	if err != nil {
		return err
	}
	rec.RV, rec.Phase, rec.ActiveAt = rv, string(w.Status.Phase), w.ActiveAt()
	if err := tx.Update(rec); err != nil {
		return err
	}
	w.ResourceVersion = rec.RV
	return nil
}

func same(a, b labspace.WorkspaceStatus) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// conditions derives the Admitted and Ready conditions from the status,
// keeping each one's transition time while its value holds.
func conditions(st labspace.WorkspaceStatus, old []labspace.Condition, now time.Time) []labspace.Condition {
	cond := func(typ string, ok bool, reason, msg string) labspace.Condition {
		c := labspace.Condition{Type: typ, Status: "False", Reason: reason, Message: msg, LastTransitionTime: now}
		if ok {
			c.Status = "True"
		}
		for _, o := range old {
			if o.Type == typ && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	admitted := cond("Admitted", st.Admission != nil, "", "")
	if st.Admission == nil && st.Phase == labspace.PhasePending {
		admitted.Reason, admitted.Message = st.PhaseReason, st.PhaseMessage
	}
	ready := cond("Ready", st.Phase == labspace.PhaseRunning, st.PhaseReason, st.PhaseMessage)
	return []labspace.Condition{admitted, ready}
}

// RemoveWorkspace deletes the record of a workspace whose runtime objects
// are gone; its events go with it and the audit log keeps the deletion.
func (s *Service) RemoveWorkspace(ctx context.Context, id string) error {
	defer s.workspacesChanged()
	if err := controllerOnly(ctx); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(labspace.KindWorkspace, id)
		if err != nil {
			return err
		}
		if err := tx.Delete(labspace.KindWorkspace, id); err != nil {
			return err
		}
		if w, err := decodeHolding(rec); err != nil || w.Holds() {
			if err != nil {
				return err
			}
			if err := s.ledgerAdd(tx, &w, -1); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, "deleted", &labspace.Meta{ID: id, Name: rec.Name, Scope: rec.Scope}, labspace.KindWorkspace)
	})
}

// CredentialValue opens one key of a credential, for a runtime that puts it
// in a workload's environment.
func (s *Service) CredentialValue(ctx context.Context, id, key string) (string, error) {
	if err := controllerOnly(ctx); err != nil {
		return "", err
	}
	var out string
	err := s.store.View(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(labspace.KindCredential, id)
		if err != nil {
			return err
		}
		plain, err := s.box.Open(rec.Secret, []byte(id))
		if err != nil {
			return err
		}
		var kv map[string]string
		if err := json.Unmarshal(plain, &kv); err != nil {
			return err
		}
		v, ok := kv[key]
		if !ok {
			return labspace.Errorf(labspace.ENOTFOUND, "Credential %q has no key %q.", rec.Name, key)
		}
		out = v
		return nil
	})
	return out, err
}

// WorkspacePhases counts the workspaces in each phase, for the controller
// (and the metrics it serves).
func (s *Service) WorkspacePhases(ctx context.Context) (map[string]int, error) {
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	var out map[string]int
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		out, err = tx.CountByPhase(labspace.KindWorkspace)
		return err
	})
	return out, err
}

// AutoDelete asks for the deletion of a workspace stopped for its
// autoDeleteSeconds, with an event saying why. The controller calls it
// when that time has come; a workspace started meanwhile is left alone.
func (s *Service) AutoDelete(ctx context.Context, id string) (*labspace.Workspace, error) {
	defer s.workspacesChanged()
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	var w labspace.Workspace
	err := s.store.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.Get(labspace.KindWorkspace, id)
		if err != nil {
			return err
		}
		if err := store.Decode(rec, &w); err != nil {
			return err
		}
		secs := w.Spec.General.AutoDeleteSeconds
		now := s.now().UTC()
		if secs <= 0 || w.DesiredPhase != labspace.PhaseStopped || w.Status.Phase != labspace.PhaseStopped ||
			now.Before(w.UpdatedAt.Add(time.Duration(secs)*time.Second)) {
			return nil
		}
		w.DesiredPhase, w.UpdatedAt = labspace.PhaseDeleted, now
		if err := s.saveWorkspace(tx, &w, rec.RV); err != nil {
			return err
		}
		if err := tx.AddEvent(&labspace.Event{WorkspaceID: w.ID, Time: now, Type: "AutoDelete", Actor: ControllerSubject.Name,
			Message: fmt.Sprintf("Deleted %d s after it stopped (autoDeleteSeconds).", secs)}); err != nil {
			return err
		}
		return s.audit(ctx, tx, "delete", &w.Meta, labspace.KindWorkspace)
	})
	return &w, err
}
