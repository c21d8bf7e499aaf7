package controller

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/runtime/local"
)

var actionNames = map[action]string{actNone: "none", actAdmit: "admit", actApply: "apply", actStop: "stop", actDelete: "delete"}

func actName(a action) string { return actionNames[a] }

// want is the expected plan: the action, the status written ("" phase:
// none), whether it releases the admission, and whether to look again soon.
type want struct {
	act     action
	phase   labspace.Phase
	reason  string
	message string
	release bool
	poll    bool
}

// The plan's lifecycle rules, from reconcile.go:
//   - Deleted: once nothing runs, remove everything (no status: the record
//     goes); until then stop, showing Deleting.
//   - Stopped: once nothing runs, Stopped and the admission released;
//     until then stop, showing Stopping with the runtime's message.
//   - Running: a previous run still stopping is waited for (and kept
//     being stopped, so that the runtime can escalate to SIGKILL);
//     Starting is Initializing, Ready is Running; a run that exits while
//     it was starting or running fails the workspace and releases its
//     admission. Otherwise nothing runs: a Failed workspace waits for the
//     user, one without admission asks for it, one holding it is started.
func TestPlan(t *testing.T) {
	admitted := &labspace.Admission{Time: time.Now(), GPUDevices: []int{1, 3}}
	starting := runtime.Observation{State: runtime.Starting, Reason: "ToolsStarting", Message: "Waiting for web to answer."}
	ready := runtime.Observation{State: runtime.Ready, Tools: map[string]string{"web": "http://127.0.0.1:1"}}
	exited := runtime.Observation{State: runtime.Exited, Reason: "ProcessExited", Message: "The process exited with code 3."}
	killed := runtime.Observation{State: runtime.Exited, Reason: "Killed", Message: "The process was killed."}
	stopping := runtime.Observation{State: runtime.Stopping, Reason: "Stopping", Message: "Waiting for the processes to exit."}
	absent := runtime.Observation{State: runtime.Absent}
	unschedulable := runtime.Observation{State: runtime.Waiting, Reason: "Unschedulable", Message: "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}
	degraded := runtime.Observation{State: runtime.Degraded, Reason: "ServiceMissing", Message: "The service of the tools is gone."}

	deleting := want{act: actStop, phase: labspace.PhaseDeleting, reason: "Deleting", message: "Stopping the processes.", poll: true}
	stopped := want{phase: labspace.PhaseStopped, reason: "Stopped", release: true}
	stopMsg := want{act: actStop, phase: labspace.PhaseStopping, reason: "Stopping", message: stopping.Message, poll: true}
	restarting := want{act: actStop, phase: labspace.PhaseStopping, reason: "Restarting", message: "Waiting for the previous run to stop.", poll: true}
	initializing := want{phase: labspace.PhaseInitializing, reason: starting.Reason, message: starting.Message, poll: true}
	running := want{phase: labspace.PhaseRunning, reason: "Ready"}
	failed := want{act: actStop, phase: labspace.PhaseFailed, reason: exited.Reason, message: exited.Message, release: true}
	apply := want{act: actApply, phase: labspace.PhaseInitializing, reason: "Starting", message: "Starting the processes.", poll: true}
	admit := want{act: actAdmit}
	wait := want{}

	tests := []struct {
		desired labspace.Phase
		phase   labspace.Phase
		held    bool
		obs     runtime.Observation
		want    want
	}{
		// Deleted: stop what runs, then delete.
		{labspace.PhaseDeleted, labspace.PhaseRunning, true, absent, want{act: actDelete}},
		{labspace.PhaseDeleted, labspace.PhaseFailed, false, exited, want{act: actDelete}},
		{labspace.PhaseDeleted, labspace.PhasePending, false, absent, want{act: actDelete}},
		{labspace.PhaseDeleted, labspace.PhaseStopped, false, absent, want{act: actDelete}},
		{labspace.PhaseDeleted, labspace.PhaseDeleting, true, absent, want{act: actDelete}},
		{labspace.PhaseDeleted, labspace.PhaseInitializing, true, starting, deleting},
		{labspace.PhaseDeleted, labspace.PhaseRunning, true, ready, deleting},
		{labspace.PhaseDeleted, labspace.PhaseDeleting, true, stopping, deleting},
		{labspace.PhaseDeleted, labspace.PhaseStopping, true, stopping, deleting},

		// Stopped: stop what runs, then Stopped, releasing the admission.
		{labspace.PhaseStopped, labspace.PhaseStopping, true, absent, stopped},
		{labspace.PhaseStopped, labspace.PhaseRunning, true, absent, stopped},
		{labspace.PhaseStopped, labspace.PhaseRunning, true, exited, stopped},
		{labspace.PhaseStopped, labspace.PhaseFailed, false, exited, stopped},
		{labspace.PhaseStopped, labspace.PhasePending, false, absent, stopped},
		{labspace.PhaseStopped, labspace.PhaseStopped, false, absent, stopped},
		{labspace.PhaseStopped, labspace.PhaseInitializing, true, starting,
			want{act: actStop, phase: labspace.PhaseStopping, reason: "Stopping", message: starting.Message, poll: true}},
		{labspace.PhaseStopped, labspace.PhaseRunning, true, ready,
			want{act: actStop, phase: labspace.PhaseStopping, reason: "Stopping", poll: true}},
		{labspace.PhaseStopped, labspace.PhaseStopping, true, stopping, stopMsg},

		// Running, while a previous run stops: wait, and keep stopping it
		// so that a process ignoring SIGTERM is killed after the grace period.
		{labspace.PhaseRunning, labspace.PhaseStopping, true, stopping, restarting},
		{labspace.PhaseRunning, labspace.PhasePending, false, stopping, restarting},
		// A failed run's remains (a pod being deleted) are waited for: still Failed.
		{labspace.PhaseRunning, labspace.PhaseFailed, false, stopping, want{act: actStop, poll: true}},

		// Running, starting and ready: whatever the phase was.
		{labspace.PhaseRunning, labspace.PhaseInitializing, true, starting, initializing},
		{labspace.PhaseRunning, labspace.PhaseRunning, true, starting, initializing},
		{labspace.PhaseRunning, labspace.PhaseInitializing, true, ready, running},
		{labspace.PhaseRunning, labspace.PhaseRunning, true, ready, running},
		{labspace.PhaseRunning, labspace.PhaseStopping, true, ready, running},

		// Running, exited while it was starting or running: Failed, released.
		{labspace.PhaseRunning, labspace.PhaseCreating, true, exited, failed},
		{labspace.PhaseRunning, labspace.PhaseInitializing, true, exited, failed},
		{labspace.PhaseRunning, labspace.PhaseRunning, true, exited, failed},
		{labspace.PhaseRunning, labspace.PhaseDegraded, true, exited, failed},
		{labspace.PhaseRunning, labspace.PhaseRunning, true, killed,
			want{act: actStop, phase: labspace.PhaseFailed, reason: "Killed", message: killed.Message, release: true}},

		// Admitted but not placed by the cluster's scheduler: Pending, with its words.
		{labspace.PhaseRunning, labspace.PhaseInitializing, true, unschedulable,
			want{phase: labspace.PhasePending, reason: "Unschedulable", message: unschedulable.Message, poll: true}},
		// Running without its service: Degraded, and apply puts it back.
		{labspace.PhaseRunning, labspace.PhaseRunning, true, degraded,
			want{act: actApply, phase: labspace.PhaseDegraded, reason: "ServiceMissing", message: degraded.Message, poll: true}},
		{labspace.PhaseStopped, labspace.PhaseDegraded, true, degraded, want{act: actStop, phase: labspace.PhaseStopping, reason: "Stopping", message: degraded.Message, poll: true}},
		// An exit seen while the workspace is not (or no longer) starting or
		// running is an old run's: what a start would do applies.
		{labspace.PhaseRunning, labspace.PhaseFailed, false, exited, wait},
		{labspace.PhaseRunning, labspace.PhasePending, false, exited, admit},
		{labspace.PhaseRunning, labspace.PhaseStopped, false, exited, admit},
		{labspace.PhaseRunning, labspace.PhasePending, true, exited, apply},
		{labspace.PhaseRunning, labspace.PhaseStopping, true, exited, apply},

		// Something runs that holds no admission (a store restored from
		// an older backup): it asks for one (and is stopped if refused).
		{labspace.PhaseRunning, labspace.PhasePending, false, ready, admit},
		{labspace.PhaseRunning, labspace.PhaseRunning, false, ready, admit},
		{labspace.PhaseRunning, labspace.PhasePending, false, starting, admit},
		{labspace.PhaseRunning, labspace.PhaseFailed, false, ready, admit},
		{labspace.PhaseRunning, labspace.PhasePending, false, unschedulable, admit},

		// Running, nothing runs.
		{labspace.PhaseRunning, labspace.PhaseFailed, false, absent, wait},
		{labspace.PhaseRunning, labspace.PhaseFailed, true, absent, wait},
		{labspace.PhaseRunning, labspace.PhaseCreating, false, absent, admit},
		{labspace.PhaseRunning, labspace.PhasePending, false, absent, admit},
		{labspace.PhaseRunning, labspace.PhaseStopped, false, absent, admit},
		{labspace.PhaseRunning, labspace.PhaseInitializing, true, absent, apply},
		{labspace.PhaseRunning, labspace.PhaseRunning, true, absent, apply},
		{labspace.PhaseRunning, labspace.PhasePending, true, absent, apply},
		{labspace.PhaseRunning, labspace.PhaseStopping, true, absent, apply}, // stopped, then started again before Stopped
	}
	for _, tt := range tests {
		name := fmt.Sprintf("want %s/is %s/held %v/%s", tt.desired, tt.phase, tt.held, tt.obs.State)
		if tt.obs.Reason != "" {
			name += "/" + tt.obs.Reason
		}
		t.Run(name, func(t *testing.T) {
			w := &labspace.Workspace{Meta: labspace.Meta{ID: "w1", Name: "ws", Scope: labspace.ProjectScope("p")}, DesiredPhase: tt.desired}
			w.Status.Phase = tt.phase
			if tt.held {
				w.Status.Admission = admitted
			}
			s := plan(w, tt.obs)
			if s.act != tt.want.act {
				t.Errorf("action %s, want %s", actName(s.act), actName(tt.want.act))
			}
			if s.poll != tt.want.poll {
				t.Errorf("poll %v, want %v", s.poll, tt.want.poll)
			}
			if tt.want.phase == "" {
				if s.observed != nil {
					t.Errorf("writes %+v, want no status", *s.observed)
				}
				return
			}
			o := s.observed
			if o == nil {
				t.Fatalf("writes no status, want %s (%s)", tt.want.phase, tt.want.reason)
			}
			if o.Phase != tt.want.phase || o.Reason != tt.want.reason || o.Message != tt.want.message {
				t.Errorf("writes %s (%s: %q), want %s (%s: %q)", o.Phase, o.Reason, o.Message, tt.want.phase, tt.want.reason, tt.want.message)
			}
			if o.Release != tt.want.release {
				t.Errorf("release %v, want %v", o.Release, tt.want.release)
			}
			if len(o.Tools) != 0 {
				t.Errorf("plan sets tools %v; the controller fills them in", o.Tools)
			}
		})
	}
}

// Every pair of desired phase and observed state has a plan, and the plan
// keeps the invariants the controller relies on, whatever the current phase.
func TestPlanInvariants(t *testing.T) {
	states := []runtime.State{runtime.Absent, runtime.Starting, runtime.Ready, runtime.Exited, runtime.Stopping,
		runtime.Waiting, runtime.Degraded}
	for _, desired := range []labspace.Phase{labspace.PhaseRunning, labspace.PhaseStopped, labspace.PhaseDeleted} {
		for _, phase := range labspace.Phases {
			for _, held := range []bool{false, true} {
				for _, st := range states {
					w := &labspace.Workspace{Meta: labspace.Meta{ID: "w1", Name: "ws", Scope: labspace.ProjectScope("p")}, DesiredPhase: desired}
					w.Status.Phase = phase
					if held {
						w.Status.Admission = &labspace.Admission{Time: time.Now()}
					}
					s := plan(w, runtime.Observation{State: st, Reason: "R", Message: "M"})
					where := fmt.Sprintf("want %s, is %s, held %v, %s", desired, phase, held, st)
					gone := st == runtime.Absent || st == runtime.Exited
					// Only a workspace wanted Running is started or admitted.
					if (s.act == actApply || s.act == actAdmit) && desired != labspace.PhaseRunning {
						t.Errorf("%s: %s", where, actName(s.act))
					}
					// A start needs an admission; an admission is asked for once.
					if s.act == actApply && !held || s.act == actAdmit && held {
						t.Errorf("%s: %s", where, actName(s.act))
					}
					// Nothing is started over processes that still run (a
					// degraded one is repaired: Apply puts back what is missing);
					// processes that run without an admission ask for one (the
					// controller stops them if it is refused), unless they stop.
					if (s.act == actApply && st != runtime.Degraded || s.act == actAdmit && st == runtime.Stopping) && !gone {
						t.Errorf("%s: %s while processes run", where, actName(s.act))
					}
					if !gone && st != runtime.Stopping && desired == labspace.PhaseRunning && !held && s.act != actAdmit {
						t.Errorf("%s: %s; processes run without an admission, want admit", where, actName(s.act))
					}
					// The record is only removed once nothing runs.
					if s.act == actDelete && (!gone || desired != labspace.PhaseDeleted) {
						t.Errorf("%s: delete", where)
					}
					// The admission is only released once nothing runs.
					if s.observed != nil && s.observed.Release && !gone {
						t.Errorf("%s: releases while processes run", where)
					}
					// While processes stop for a stop or a delete, they are kept being
					// stopped (the runtime escalates to SIGKILL on a later call), and
					// the controller comes back.
					if !gone && desired != labspace.PhaseRunning && (s.act != actStop || !s.poll) {
						t.Errorf("%s: %s, poll %v; want stop and poll", where, actName(s.act), s.poll)
					}
					if st == runtime.Stopping && (s.act != actStop || !s.poll) {
						t.Errorf("%s: %s, poll %v; want stop and poll", where, actName(s.act), s.poll)
					}
					// A transition in progress is looked at again soon.
					if s.observed != nil && (s.observed.Phase == labspace.PhaseInitializing || s.observed.Phase == labspace.PhaseStopping ||
						s.observed.Phase == labspace.PhaseDeleting) && !s.poll {
						t.Errorf("%s: %s without poll", where, s.observed.Phase)
					}
				}
			}
		}
	}
}

// A start asked for while a process that ignores SIGTERM is being stopped
// gets through: following the plan, the controller keeps calling Stop, the
// runtime kills the process after its grace period, and the new run starts.
func TestPlanRestartsPastAProcessIgnoringSIGTERM(t *testing.T) {
	const (
		grace    = 300 * time.Millisecond
		converge = 10 * time.Second
		interval = 25 * time.Millisecond
	)
	ctx := context.Background()
	dir := t.TempDir()
	rt, err := local.New(local.Options{Dir: dir, Grace: grace, GPUs: []int{}})
	if err != nil {
		t.Fatal(err)
	}
	w := &labspace.Workspace{Meta: labspace.Meta{ID: fmt.Sprintf("restart-%d", time.Now().UnixNano()), Name: "ws", Scope: labspace.ProjectScope("p")}}
	w.Spec.Command = []string{"sh", "-c", `trap "" TERM; echo trapped; sleep 600`}
	w.Status.Admission = &labspace.Admission{Time: time.Now()}
	t.Cleanup(func() {
		if err := rt.Delete(ctx, w); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := rt.Apply(ctx, w); err != nil {
		t.Fatal(err)
	}
	// runs counts the runs that ignore SIGTERM, from the workspace's log.
	runs := func() int {
		rc, err := rt.Logs(ctx, w, false)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\ntrapped\n")
	}
	for deadline := time.Now().Add(converge); runs() < 1; time.Sleep(interval) {
		if time.Now().After(deadline) {
			t.Fatal("the workload did not start")
		}
	}
	// The user stopped it (one SIGTERM, ignored), then started it again.
	if err := rt.Stop(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.DesiredPhase, w.Status.Phase = labspace.PhaseRunning, labspace.PhaseStopping

	for deadline := time.Now().Add(converge); ; time.Sleep(interval) {
		obs, err := rt.Observe(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if obs.State == runtime.Ready && w.Status.Phase == labspace.PhaseInitializing {
			break // the new run
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the workspace is %s and the runtime shows %s: the restart is stuck", converge, w.Status.Phase, obs.State)
		}
		s := plan(w, obs)
		switch s.act {
		case actStop:
			err = rt.Stop(ctx, w)
		case actApply:
			err = rt.Apply(ctx, w)
		case actNone:
		default:
			t.Fatalf("unexpected action %s on %s", actName(s.act), obs.State)
		}
		if err != nil {
			t.Fatal(err)
		}
		if s.observed != nil {
			w.Status.Phase = s.observed.Phase
		}
	}
	if got := runs(); got > 2 {
		t.Errorf("%d runs, want the stopped one and the new one", got)
	}
	if gs, err := rt.Workloads(ctx); err != nil || len(gs) != 1 {
		t.Errorf("Workloads = %v (%v), want the new run only", gs, err)
	}
}
