package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/service"
)

// A GPU portion holds a whole device (no runtime shares GPUs yet), and the
// quota charges it so: two "50 %" workspaces do not both start under a
// 1-GPU quota (they held 2 GPUs before).
func TestGPUPortionsAreChargedWhatTheyHold(t *testing.T) {
	s, admin, mustDo := adminOf(t)
	mustDo(s.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: "lab", Scope: labspace.Global},
		Spec: labspace.ProjectSpec{Quota: labspace.Quota{GPUs: 1}}}))
	mustDo(s.Create(admin, &labspace.ComputeResource{Meta: labspace.Meta{Name: "half", Scope: labspace.Global},
		Spec: labspace.ComputeSpec{GPUDevices: 1, GPUPortion: &labspace.GPUPortion{Percent: 50}, CPURequest: "1"}}))
	reasons := admitEach(t, s, admin, [][2]string{{"lab", "a"}, {"lab", "b"}}, "half")
	if reasons[0] == reasons[1] || reasons[1] != "Pending/NonPreemptibleOverQuota" {
		t.Errorf("two half-GPU workspaces under a 1-GPU quota: %v, want the second Pending over quota", reasons)
	}
}

// adminOf is a service with its administrator's context.
func adminOf(t *testing.T) (*service.Service, context.Context, func(any, error)) {
	s := newService(t)
	ctx := context.Background()
	if _, err := s.EnsureAdmin(ctx, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	return s, loggedIn(t, s, "admin", "admin-password-1"), func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// loggedIn is the context of user, signed in with password.
func loggedIn(t *testing.T, s *service.Service, user, password string) context.Context {
	t.Helper()
	raw, _, err := s.Login(context.Background(), user, password)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.Authenticate(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return service.WithActor(context.Background(), a)
}

// admitEach creates each (project, name) workspace from compute and asks
// for its admission on a roomy host; it returns "phase/reason" of each.
func admitEach(t *testing.T, s *service.Service, admin context.Context, which [][2]string, compute string) []string {
	t.Helper()
	host := service.HostCapacity{GPUs: []int{0, 1, 2, 3}, MilliCPU: 64000, MemoryBytes: 64 << 30,
		Nodes: []runtime.Node{{Name: "n", GPUs: 4, MilliCPU: 64000, MemoryBytes: 64 << 30}}}
	var out []string
	for _, pw := range which {
		w, err := s.CreateWorkspace(admin, pw[0], &labspace.WorkspaceCreate{Name: pw[1], Environment: "python-http", Compute: compute})
		if err != nil {
			t.Fatal(err)
		}
		if w, err = s.Admit(service.AsController(context.Background()), w.ID, host); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(w.Status.Phase)+"/"+w.Status.PhaseReason)
	}
	return out
}

// A department's quota holds across its projects (it was stored but not
// enforced: two one-core workspaces ran under a one-core department).
func TestDepartmentQuotaIsEnforced(t *testing.T) {
	s, admin, mustDo := adminOf(t)
	mustDo(s.Create(admin, &labspace.Department{Meta: labspace.Meta{Name: "research"},
		Spec: labspace.DepartmentSpec{Quota: labspace.Quota{CPU: "1"}}}))
	for _, p := range []string{"p1", "p2"} {
		mustDo(s.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: p, Scope: labspace.DepartmentScope("research")},
			Spec: labspace.ProjectSpec{Quota: labspace.Quota{CPU: "1"}}}))
	}
	mustDo(s.Create(admin, &labspace.ComputeResource{Meta: labspace.Meta{Name: "core", Scope: labspace.Global},
		Spec: labspace.ComputeSpec{CPURequest: "1"}}))
	got := admitEach(t, s, admin, [][2]string{{"p1", "a"}, {"p2", "b"}}, "core")
	if got[0] != "Initializing/Admitted" || got[1] != "Pending/DepartmentOverQuota" {
		t.Errorf("two one-core workspaces in a one-core department: %v", got)
	}
}

// A stopped workspace started again, held by its project's quota: the
// timeline records Stopped -> Pending and then what it waits for, in
// plain words with the quota in people's units.
func TestStartHeldByQuotaIsOnTheTimeline(t *testing.T) {
	s, admin, mustDo := adminOf(t)
	mustDo(s.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: "lab", Scope: labspace.Global},
		Spec: labspace.ProjectSpec{Quota: labspace.Quota{GPUs: 8, CPU: "2"}}}))
	mustDo(s.Create(admin, &labspace.ComputeResource{Meta: labspace.Meta{Name: "two-cores", Scope: labspace.Global},
		Spec: labspace.ComputeSpec{CPURequest: "2"}}))
	admitEach(t, s, admin, [][2]string{{"lab", "first"}}, "two-cores")
	mustDo(s.CreateWorkspace(admin, "lab", &labspace.WorkspaceCreate{Name: "second", Environment: "python-http",
		Compute: "two-cores", DesiredPhase: labspace.PhaseStopped}))
	w, err := s.SetDesiredPhase(admin, "lab", "second", labspace.PhaseRunning)
	mustDo(w, err)
	host := service.HostCapacity{MilliCPU: 64000, MemoryBytes: 64 << 30, Nodes: []runtime.Node{{Name: "n", MilliCPU: 64000, MemoryBytes: 64 << 30}}}
	w, err = s.Admit(service.AsController(context.Background()), w.ID, host)
	mustDo(w, err)
	want := "Waiting: project lab's CPU quota (2 cores) is in use: 2 cores held by its other workspaces, and this one needs 2 cores. It starts when some of them stop."
	if w.Status.Phase != labspace.PhasePending || w.Status.PhaseMessage != want {
		t.Fatalf("held by quota: %s %q", w.Status.Phase, w.Status.PhaseMessage)
	}
	events, err := s.WorkspaceEvents(admin, "lab", "second")
	mustDo(events, err)
	var got []string
	for _, e := range events {
		got = append(got, e.Type+" "+string(e.FromPhase)+">"+string(e.ToPhase)+" "+e.Reason)
	}
	if g := strings.Join(got, ", "); g != "Created >Stopped CreatedStopped, StartRequested > , PhaseChanged Stopped>Pending StartRequested, Waiting > NonPreemptibleOverQuota" {
		t.Errorf("timeline: %s", g)
	}
	// Admitted again with nothing changed: no new entry.
	mustDo(s.Admit(service.AsController(context.Background()), w.ID, host))
	if again, _ := s.WorkspaceEvents(admin, "lab", "second"); len(again) != len(events) {
		t.Errorf("a second pass with the same reason added %d entries", len(again)-len(events))
	}
}
