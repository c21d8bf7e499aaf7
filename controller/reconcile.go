package controller

import (
	"context"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/service"
)

// action is what a pass does to the runtime.
type action int

const (
	actNone   action = iota
	actAdmit         // ask for admission; start once admitted
	actApply         // start (it holds its admission already)
	actStop          // stop the processes, keep storage
	actDelete        // remove everything, then the record
)

// step is the plan of one pass: an action, the status to write, and
// whether to look again soon.
type step struct {
	act      action
	observed *service.Observed
	poll     bool
}

func observed(p labspace.Phase, reason, msg string) *service.Observed {
	return &service.Observed{Phase: p, Reason: reason, Message: msg}
}

// plan decides a pass from the workspace and what the runtime shows. It is
// pure, so every case is table-tested.
func plan(w *labspace.Workspace, obs runtime.Observation) step {
	gone := obs.State == runtime.Absent || obs.State == runtime.Exited
	switch w.DesiredPhase {
	case labspace.PhaseDeleted:
		if gone {
			return step{act: actDelete}
		}
		return step{act: actStop, observed: observed(labspace.PhaseDeleting, "Deleting", "Stopping the processes."), poll: true}
	case labspace.PhaseStopped:
		reason, msg := "Stopped", ""
		if c := w.StopCause; c != nil {
			reason, msg = c.Reason, c.Message // said in plain words, where the user looks
		}
		if gone {
			o := observed(labspace.PhaseStopped, reason, msg)
			o.Release = true
			return step{observed: o}
		}
		if msg == "" {
			msg = obs.Message
		}
		return step{act: actStop, observed: observed(labspace.PhaseStopping, "Stopping", msg), poll: true}
	}
	if runs := obs.State == runtime.Starting || obs.State == runtime.Waiting || obs.State == runtime.Degraded ||
		obs.State == runtime.Ready; runs && !w.Holds() {
		// Something runs that holds no admission (the store was restored
		// from an older backup, say): it must earn one, or stop, or the
		// project's quota would be overshot unseen.
		return step{act: actAdmit}
	}
	switch obs.State {
	case runtime.Stopping:
		if w.Status.Phase == labspace.PhaseFailed {
			// What is left of the failed run is going; Failed stays until
			// the user starts it again (which makes it Pending).
			return step{act: actStop, poll: true}
		}
		// Keep stopping it: a runtime escalates to SIGKILL only on a later
		// Stop, so a process that ignores SIGTERM would never go.
		return step{act: actStop, observed: observed(labspace.PhaseStopping, "Restarting", "Waiting for the previous run to stop."), poll: true}
	case runtime.Starting:
		return step{observed: observed(labspace.PhaseInitializing, obs.Reason, obs.Message), poll: true}
	case runtime.Waiting:
		return step{observed: observed(labspace.PhasePending, obs.Reason, obs.Message), poll: true}
	case runtime.Degraded:
		// Apply puts back what went missing; the phase says so meanwhile.
		s := step{observed: observed(labspace.PhaseDegraded, obs.Reason, obs.Message), poll: true}
		if w.Holds() {
			s.act = actApply
		}
		return s
	case runtime.Ready:
		o := observed(labspace.PhaseRunning, "Ready", "")
		o.Warnings = obs.Warnings
		return step{observed: o}
	case runtime.Exited:
		switch w.Status.Phase {
		case labspace.PhaseCreating, labspace.PhaseInitializing, labspace.PhaseRunning, labspace.PhaseDegraded:
			// Stop clears what is left of the failed run (a Kubernetes pod
			// in back-off still holds its node's GPUs).
			o := observed(labspace.PhaseFailed, obs.Reason, obs.Message)
			o.Release = true
			return step{act: actStop, observed: o}
		}
	}
	// Nothing runs (or an old run ended and a start was asked for again).
	switch {
	case w.Status.Phase == labspace.PhaseFailed:
		return step{} // waits for the user to start it again
	case !w.Holds():
		return step{act: actAdmit}
	}
	return step{act: actApply, observed: observed(labspace.PhaseInitializing, "Starting", "Starting the processes."), poll: true}
}

// autoDeleteDue is how long until stopped workspace w is to be deleted
// (its autoDeleteSeconds after it stopped); ok is false when it is not.
func autoDeleteDue(w *labspace.Workspace, now time.Time) (time.Duration, bool) {
	secs := w.Spec.General.AutoDeleteSeconds
	if secs <= 0 || w.DesiredPhase != labspace.PhaseStopped || w.Status.Phase != labspace.PhaseStopped {
		return 0, false
	}
	return w.UpdatedAt.Add(time.Duration(secs) * time.Second).Sub(now), true
}

// reconcile runs one pass for workspace id and says when to look again.
func (c *Controller) reconcile(ctx context.Context, id string) (time.Duration, error) {
	w, err := c.svc.WorkspaceByID(ctx, id)
	if labspace.ErrorCode(err) == labspace.ENOTFOUND {
		c.setTargets(id, nil)
		return 0, c.rt.Delete(ctx, &labspace.Workspace{Meta: labspace.Meta{ID: id}})
	} else if err != nil {
		return 0, err
	}
	if due, ok := autoDeleteDue(w, time.Now()); ok && due <= 0 {
		if w, err = c.svc.AutoDelete(ctx, id); err != nil {
			return 0, err
		}
	}
	obs, err := c.rt.Observe(ctx, w)
	if err != nil {
		return 0, err
	}
	c.setTargets(id, obs.Tools)
	s := plan(w, obs)
	switch s.act {
	case actAdmit:
		return c.admitAndStart(ctx, w, obs)
	case actApply:
		if err := c.apply(ctx, w); err != nil || w.Status.Phase == labspace.PhaseFailed {
			return 0, err
		}
	case actStop:
		if err := c.rt.Stop(ctx, w); err != nil {
			return 0, err
		}
	case actDelete:
		if err := c.rt.Delete(ctx, w); err != nil {
			return 0, err
		}
		c.setTargets(id, nil)
		if err := c.svc.RemoveWorkspace(ctx, id); err != nil {
			return 0, err
		}
		c.queueAll(ctx, labspace.PhasePending)
		return 0, nil
	}
	if s.observed != nil {
		held, from := w.Holds(), w.Status.Phase
		s.observed.Tools = c.toolStatus(w, s.observed.Phase == labspace.PhaseRunning)
		if w, err = c.svc.SetObserved(ctx, w, *s.observed); err != nil {
			return 0, err
		}
		c.counted(from, w.Status.Phase)
		if held && !w.Holds() {
			c.queueAll(ctx, labspace.PhasePending) // what it held may admit others
		}
	}
	after := time.Duration(0)
	if s.poll {
		after = c.pollAfter(obs.StartedAt)
	}
	if w.Status.Phase == labspace.PhaseRunning && w.DesiredPhase == labspace.PhaseRunning {
		next, err := c.idle(ctx, w)
		if err != nil {
			return 0, err
		}
		if next > 0 && (after == 0 || next < after) {
			after = next
		}
	}
	// A stopped workspace with autoDeleteSeconds comes back when it is due.
	if due, ok := autoDeleteDue(w, time.Now()); ok && (after == 0 || due < after) {
		after = max(due, time.Millisecond)
	}
	return after, nil
}

// counted records a phase change in the metrics.
func (c *Controller) counted(from, to labspace.Phase) {
	if c.opts.Metrics != nil && from != to {
		c.opts.Metrics.Transitions.WithLabelValues(string(to)).Inc()
	}
}

// pollAfter is how soon to look again at a workspace in transition: soon
// after its processes started (most tools answer within milliseconds),
// then less often, up to Options.Poll. A runtime that reports changes
// itself is polled every Poll only, as a safety net: during a start of
// 500 workspaces the early polls were most of the controller's passes.
func (c *Controller) pollAfter(started time.Time) time.Duration {
	if started.IsZero() || c.watched {
		return c.opts.Poll
	}
	return min(max(time.Since(started)/2, 5*time.Millisecond), c.opts.Poll)
}

// admitAndStart asks for admission and starts w when it is admitted; what
// runs of w without one (obs) is stopped when it is refused.
func (c *Controller) admitAndStart(ctx context.Context, w *labspace.Workspace, obs runtime.Observation) (time.Duration, error) {
	capacity, err := c.rt.Capacity(ctx)
	if err != nil {
		return 0, err
	}
	from := w.Status.Phase
	w, err = c.svc.Admit(ctx, w.ID, service.HostCapacity(capacity))
	if err == nil {
		c.counted(from, w.Status.Phase)
	}
	if err == nil && !w.Holds() && obs.State != runtime.Absent && obs.State != runtime.Exited {
		return c.opts.Poll, c.rt.Stop(ctx, w) // Pending with its reason, once this run is gone
	}
	if err != nil || !w.Holds() {
		return 0, err // Pending with its reason; a release queues it again
	}
	if err := c.apply(ctx, w); err != nil {
		return 0, err
	}
	return c.pollAfter(time.Now()), nil // just started: look again soon
}

// apply starts w; a start that cannot work (no command, a data source the
// runtime cannot mount) fails the workspace instead of retrying forever.
func (c *Controller) apply(ctx context.Context, w *labspace.Workspace) error {
	err := c.rt.Apply(ctx, w)
	if code := labspace.ErrorCode(err); code == labspace.EUNPROCESSABLE {
		o := observed(labspace.PhaseFailed, "StartFailed", err.Error())
		o.Release = true
		o.Tools = c.toolStatus(w, false)
		w2, serr := c.svc.SetObserved(ctx, w, *o)
		if serr == nil {
			*w = *w2
			c.queueAll(ctx, labspace.PhasePending)
		}
		return serr
	}
	if err != nil && ctx.Err() == nil {
		// Anything else may heal (a service account not made yet, a
		// throttled or restarting API server): tried again with backoff,
		// and said on the workspace meanwhile.
		o := observed(w.Status.Phase, "StartRetrying", "The runtime did not take the workspace yet; labspace tries again: "+err.Error())
		o.Retrying, o.Tools = true, c.toolStatus(w, false)
		if w2, serr := c.svc.SetObserved(ctx, w, *o); serr == nil {
			*w = *w2
		}
	}
	return err
}

// idle applies the project's idle and running-time rules to running w:
// stops it when due, warns before, and keeps its stored activity recent.
// It returns when to look again for the rules' sake (0: no need).
func (c *Controller) idle(ctx context.Context, w *labspace.Workspace) (time.Duration, error) {
	p, err := c.svc.PlanIdle(ctx, w)
	if err != nil {
		return 0, err
	}
	// Signals the controller reads itself; what they note calls for a new plan.
	noted := false
	if m, ok := c.rt.(runtime.Meter); ok && (p.GPUAt > 0 || p.CPUAt > 0) {
		u := m.Use(ctx, w)
		if p.GPUAt > 0 && u.GPUPercent >= p.GPUAt {
			c.svc.Touch(w.ID, labspace.SignalGPU)
			noted = true
		}
		if p.CPUAt > 0 && u.CPUCores >= float64(p.CPUAt)/1000 {
			c.svc.Touch(w.ID, labspace.SignalCPU)
			noted = true
		}
	}
	if now := time.Now(); p.Kernels && c.kernels.due(w.ID, now) {
		target := func(tool string) (string, bool) { return c.Target(w.ID, tool) }
		if at := c.kernels.activity(ctx, w, target, now); !at.IsZero() {
			c.svc.TouchAt(w.ID, labspace.SignalKernel, at)
			noted = true
		}
	}
	if noted {
		if p, err = c.svc.PlanIdle(ctx, w); err != nil {
			return 0, err
		}
	}
	if p.Due {
		return 0, c.svc.AutoStop(ctx, w.ID, p.Cause)
	}
	if p.Activity != nil || (p.Notice == nil) != (w.Status.StopNotice == nil) || p.Notice != nil && *p.Notice != *w.Status.StopNotice {
		if err := c.svc.SetIdle(ctx, w.ID, p.Activity, p.Notice); err != nil {
			return 0, err
		}
	}
	if p.Next == 0 {
		return 0, nil
	}
	if p.Kernels || p.GPUAt > 0 || p.CPUAt > 0 {
		p.Next = min(p.Next, kernelPoll) // a kernel, a GPU or a CPU may go quiet at any time
	}
	return p.Next + 10*time.Millisecond, nil
}
