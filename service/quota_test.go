package service_test

import (
	"context"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/service"
)

// A GPU portion holds a whole device (no runtime shares GPUs yet), and the
// quota charges it so: two "50 %" workspaces do not both start under a
// 1-GPU quota (they held 2 GPUs before).
func TestGPUPortionsAreChargedWhatTheyHold(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	if _, err := s.EnsureAdmin(ctx, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	raw, _, err := s.Login(ctx, "admin", "admin-password-1")
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.Authenticate(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	admin := service.WithActor(ctx, a)
	mustDo := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustDo(s.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: "lab", Scope: labspace.Global},
		Spec: labspace.ProjectSpec{Quota: labspace.Quota{GPUs: 1}}}))
	mustDo(s.Create(admin, &labspace.ComputeResource{Meta: labspace.Meta{Name: "half", Scope: labspace.Global},
		Spec: labspace.ComputeSpec{GPUDevices: 1, GPUPortion: &labspace.GPUPortion{Percent: 50}, CPURequest: "1"}}))
	host := service.HostCapacity{GPUs: []int{0, 1, 2, 3}, MilliCPU: 64000, MemoryBytes: 64 << 30,
		Nodes: []runtime.Node{{Name: "n", GPUs: 4, MilliCPU: 64000, MemoryBytes: 64 << 30}}}
	var reasons []string
	for _, name := range []string{"a", "b"} {
		w, err := s.CreateWorkspace(admin, "lab", &labspace.WorkspaceCreate{Name: name, Environment: "python-http", Compute: "half"})
		if err != nil {
			t.Fatal(err)
		}
		w, err = s.Admit(service.AsController(ctx), w.ID, host)
		if err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, string(w.Status.Phase)+"/"+w.Status.PhaseReason)
	}
	if reasons[0] == reasons[1] || reasons[1] != "Pending/NonPreemptibleOverQuota" {
		t.Errorf("two half-GPU workspaces under a 1-GPU quota: %v, want the second Pending over quota", reasons)
	}
}
