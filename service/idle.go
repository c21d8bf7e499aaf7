package service

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Idle stop and maximum running time (labspace.LifecycleRules). Activity
// is noted in memory, where the tool proxy's every request and WebSocket
// frame can afford it; the controller writes it to the workspace's status
// at most once a minute, so a restart loses at most a minute of it (and a
// workspace then stops early, never late).

// activitySaveEvery is how far the stored activity may lag behind.
const activitySaveEvery = time.Minute

// activity holds each workspace's last activity by signal, in Unix seconds.
type activity struct {
	m sync.Map // workspace id -> *slots
}

type slots [len(labspace.Signals)]atomic.Int64

func (a *activity) of(id string) *slots {
	if v, ok := a.m.Load(id); ok {
		return v.(*slots)
	}
	v, _ := a.m.LoadOrStore(id, new(slots))
	return v.(*slots)
}

func signalIndex(s labspace.Signal) int {
	for i, t := range labspace.Signals {
		if t == s {
			return i
		}
	}
	return -1
}

// Touch notes activity of workspace id now. It is cheap: one atomic store
// a second at most per workspace and signal.
func (s *Service) Touch(id string, sig labspace.Signal) {
	i := signalIndex(sig)
	if i < 0 {
		return
	}
	now := s.now().Unix()
	if slot := &s.activity.of(id)[i]; slot.Load() != now {
		slot.Store(now)
	}
}

// TouchAt notes activity of workspace id at t, when it is newer than what
// is noted (a kernel's last activity, read from Jupyter).
func (s *Service) TouchAt(id string, sig labspace.Signal, t time.Time) {
	i := signalIndex(sig)
	if i < 0 {
		return
	}
	slot := &s.activity.of(id)[i]
	for {
		old := slot.Load()
		if t.Unix() <= old || slot.CompareAndSwap(old, t.Unix()) {
			return
		}
	}
}

// lastActivity is w's last activity that its rules count: the newest of
// memory and its status.
func (s *Service) lastActivity(w *labspace.Workspace, rules *labspace.EffectiveLifecycle) labspace.Activity {
	var last labspace.Activity
	if w.Status.Activity != nil && rules.Counts(w.Status.Activity.Signal) {
		last = *w.Status.Activity
	}
	if v, ok := s.activity.m.Load(w.ID); ok {
		for i := range v.(*slots) {
			slot := &v.(*slots)[i]
			if t := time.Unix(slot.Load(), 0); slot.Load() > 0 && rules.Counts(labspace.Signals[i]) && t.After(last.Last) {
				last = labspace.Activity{Last: t.UTC(), Signal: labspace.Signals[i]}
			}
		}
	}
	return last
}

// cachedPolicy is a project's effective policy, valid while the access
// generation holds (policy and project changes move it).
type cachedPolicy struct {
	gen uint64
	eff *labspace.EffectivePolicy
}

// policyOf returns the effective policy of project, cached.
func (s *Service) policyOf(ctx context.Context, project string) (*labspace.EffectivePolicy, error) {
	gen := s.accessGen.Load()
	if v, ok := s.policies.Load(project); ok && v.(cachedPolicy).gen == gen {
		return v.(cachedPolicy).eff, nil
	}
	var e *labspace.EffectivePolicy
	err := s.store.View(ctx, func(tx store.Tx) error {
		chain, err := scopeChain(tx, labspace.ProjectScope(project))
		if err != nil {
			return err
		}
		e, err = effectivePolicy(tx, chain)
		return err
	})
	if err == nil {
		s.policies.Store(project, cachedPolicy{gen: gen, eff: e})
	}
	return e, err
}

// IdlePlan is what the rules have in store for a running workspace.
type IdlePlan struct {
	// Kernels: an idle rule counts Jupyter kernels, so the controller
	// should read them (then plan again).
	Kernels bool
	// GPUAt: an idle rule counts GPU use at or above this percent (0: no);
	// CPUAt: CPU use at or above this many millicores (0: no).
	GPUAt, CPUAt int
	Due          bool // stop it now, for Cause
	Cause        labspace.StopCause
	Notice       *labspace.StopNotice // what status.stopNotice should say (nil: nothing)
	Activity     *labspace.Activity   // to store, when the stored one lags
	Next         time.Duration        // when to look again (0: no rule)
}

// PlanIdle applies the rules of w's project to running workspace w.
func (s *Service) PlanIdle(ctx context.Context, w *labspace.Workspace) (IdlePlan, error) {
	var p IdlePlan
	if err := controllerOnly(ctx); err != nil {
		return p, err
	}
	e, err := s.policyOf(ctx, w.Project())
	if err != nil {
		return p, err
	}
	rules := &e.Lifecycle
	p.Kernels = rules.IdleStopSeconds > 0 && rules.Counts(labspace.SignalKernel)
	if rules.IdleStopSeconds > 0 && rules.Counts(labspace.SignalGPU) {
		p.GPUAt = rules.GPUThreshold()
	}
	if rules.IdleStopSeconds > 0 && rules.Counts(labspace.SignalCPU) {
		p.CPUAt = rules.CPUThreshold()
	}
	last := s.lastActivity(w, rules)
	if stored := w.Status.Activity; last.Last.After(time.Time{}) && (stored == nil || last.Last.Sub(stored.Last) >= activitySaveEvery) {
		p.Activity = &last
	}
	at, warnAt, cause, ok := rules.Deadline(w, last.Last)
	if !ok {
		return p, nil
	}
	now := s.now()
	switch {
	case !now.Before(at):
		p.Due, p.Cause = true, cause
	case !now.Before(warnAt):
		p.Notice = &labspace.StopNotice{At: at.UTC(), Reason: cause.Reason, Message: "Will stop at " + at.UTC().Format("15:04") +
			" UTC unless used: " + cause.Message}
		if cause.Reason == "MaxDurationReached" {
			p.Notice.Message = "Will stop at " + at.UTC().Format("15:04") + " UTC: " + cause.Message
		}
		p.Next = at.Sub(now)
	default:
		p.Next = warnAt.Sub(now)
	}
	return p, nil
}

// SetIdle records a running workspace's activity and stop notice (a new
// notice also as a Warning event), writing nothing when nothing changed.
func (s *Service) SetIdle(ctx context.Context, id string, act *labspace.Activity, notice *labspace.StopNotice) error {
	if err := controllerOnly(ctx); err != nil {
		return err
	}
	warned := false
	defer func() {
		if warned {
			s.notify(ctx, id, "StopComing", notice.Reason, notice.Message)
		}
	}()
	return s.store.Update(ctx, func(tx store.Tx) error {
		warned = false
		w, rv, err := workspaceByID(tx, id)
		if err != nil {
			return err
		}
		old := w.Status.StopNotice
		changed := act != nil && (w.Status.Activity == nil || act.Last.After(w.Status.Activity.Last))
		if changed {
			w.Status.Activity = act
		}
		if (old == nil) != (notice == nil) || old != nil && (old.At != notice.At || old.Message != notice.Message) {
			w.Status.StopNotice, changed = notice, true
		}
		if !changed {
			return nil
		}
		if err := s.saveWorkspace(tx, w, rv); err != nil {
			return err
		}
		if notice == nil || old != nil && old.At == notice.At {
			return nil
		}
		warned = true
		return tx.AddEvent(&labspace.Event{WorkspaceID: id, Time: s.now().UTC(), Type: "Warning", Reason: "StopComing",
			Message: notice.Message, Actor: ControllerSubject.Name})
	})
}

// workspaceByID reads a workspace and the version it was read at.
func workspaceByID(tx store.Tx, id string) (*labspace.Workspace, int64, error) {
	rec, err := tx.Get(labspace.KindWorkspace, id)
	if err != nil {
		return nil, 0, err
	}
	var w labspace.Workspace
	return &w, rec.RV, store.Decode(rec, &w)
}

// AutoStop asks a running workspace to stop for cause (a policy's rule):
// its desired phase becomes Stopped, and the phase says why once stopped.
func (s *Service) AutoStop(ctx context.Context, id string, cause labspace.StopCause) error {
	defer s.workspacesChanged()
	if err := controllerOnly(ctx); err != nil {
		return err
	}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		w, rv, err := workspaceByID(tx, id)
		if err != nil {
			return err
		}
		if w.DesiredPhase != labspace.PhaseRunning {
			return nil
		}
		now := s.now().UTC()
		w.DesiredPhase, w.StopCause, w.UpdatedAt = labspace.PhaseStopped, &cause, now
		w.Status.StopNotice = nil
		if err := s.saveWorkspace(tx, w, rv); err != nil {
			return err
		}
		if err := tx.AddEvent(&labspace.Event{WorkspaceID: id, Time: now, Type: "AutoStopped", Reason: cause.Reason,
			Message: cause.Message, Actor: ControllerSubject.Name}); err != nil {
			return err
		}
		return s.audit(ctx, tx, "stop", &w.Meta, labspace.KindWorkspace)
	})
	if err == nil {
		s.lifecycle.Notify(id)
		s.notify(ctx, id, "AutoStopped", cause.Reason, cause.Message)
	}
	return err
}

// KeepRunning counts as activity on workspace name of project: a user
// answering a stop notice. The rules' maximum running time still holds.
func (s *Service) KeepRunning(ctx context.Context, project, name string) (*labspace.Workspace, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var w *labspace.Workspace
	err = s.store.View(ctx, func(tx store.Tx) error {
		var err error
		w, _, err = findWorkspace(tx, a, project, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !a.Can(labspace.VerbUpdate, labspace.ResWorkspaces, w.Scope) && !(w.CreatedBy == a.Subject.Name && a.Can(labspace.VerbConnect, labspace.ResWorkspaces, w.Scope)) {
		return nil, labspace.Errorf(labspace.EFORBIDDEN, "Your role does not allow you to keep workspaces of project %q running.", project)
	}
	s.Touch(w.ID, labspace.SignalKeepRunning)
	s.lifecycle.Notify(w.ID)
	return w, nil
}
