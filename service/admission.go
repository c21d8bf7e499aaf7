package service

import (
	"context"
	"fmt"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// HostCapacity is what the runtime can hold in all (see runtime.Capacity).
type HostCapacity struct {
	GPUs        []int
	MilliCPU    int64
	MemoryBytes int64
}

// holdingPhases are the phases in which an admitted workspace may still
// hold quota; the admission itself (status.admission) is what counts.
var holdingPhases = []labspace.Phase{labspace.PhaseInitializing, labspace.PhaseRunning, labspace.PhaseDegraded,
	labspace.PhaseStopping, labspace.PhaseDeleting, labspace.PhasePending}

// usage is what a set of workspaces asks for.
type usage struct {
	gpus     float64
	milliCPU int64
	memory   int64
	devices  map[int]bool
}

func (u *usage) add(w *labspace.Workspace) {
	c := &w.Spec.Compute.Spec
	u.gpus += c.GPUs()
	cpu, _ := labspace.MilliCPU(c.CPURequest)
	mem, _ := labspace.MemoryBytes(c.MemoryRequest)
	u.milliCPU += cpu
	u.memory += mem
	if w.Status.Admission != nil {
		for _, d := range w.Status.Admission.GPUDevices {
			u.devices[d] = true
		}
	}
}

// Admit decides, in one transaction, whether workspace id may start: its
// project's quota and the host's capacity must hold it beside every
// workspace already admitted. Admitted, it moves to Initializing holding
// its GPUs; refused, it stays Pending with the reason. Because SQLite has
// one writer (and PostgreSQL runs this serializable), concurrent
// admissions cannot overshoot.
func (s *Service) Admit(ctx context.Context, id string, host HostCapacity) (*labspace.Workspace, error) {
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
		if w.Holds() || w.DesiredPhase != labspace.PhaseRunning {
			return nil
		}
		var project labspace.Project
		prec, err := find(tx, labspace.KindProject, w.Project())
		if err != nil {
			return err
		}
		if err := store.Decode(prec, &project); err != nil {
			return err
		}
		inProject, onHost, err := s.admitted(tx, w.Project())
		if err != nil {
			return err
		}
		st := w.Status
		reason, msg, devices := fits(&w, &project.Spec.Quota, inProject, onHost, host)
		if reason != "" {
			st.Phase, st.PhaseReason, st.PhaseMessage = labspace.PhasePending, reason, msg
			return s.setStatus(tx, &w, rec.RV, st)
		}
		st.Admission = &labspace.Admission{Time: s.now().UTC(), GPUDevices: devices}
		st.Phase, st.PhaseReason, st.PhaseMessage = labspace.PhaseInitializing, "Admitted", "Starting."
		return s.setStatus(tx, &w, rec.RV, st)
	})
	return &w, err
}

// admitted sums the workspaces that hold an admission, in project and on the host.
func (s *Service) admitted(tx store.Tx, project string) (inProject, onHost usage, err error) {
	inProject.devices, onHost.devices = map[int]bool{}, map[int]bool{}
	for _, ph := range holdingPhases {
		q := store.ListQuery{Phase: string(ph), Limit: 1000}
		for {
			recs, next, err := tx.List(labspace.KindWorkspace, q)
			if err != nil {
				return inProject, onHost, err
			}
			for _, r := range recs {
				var o labspace.Workspace
				if err := store.Decode(r, &o); err != nil {
					return inProject, onHost, err
				}
				if !o.Holds() {
					continue
				}
				onHost.add(&o)
				if o.Project() == project {
					inProject.add(&o)
				}
			}
			if next == "" {
				break
			}
			q.Continue = next
		}
	}
	return inProject, onHost, nil
}

// fits returns "" and the GPU devices to give when w fits, else the
// reason and message for staying Pending.
func fits(w *labspace.Workspace, q *labspace.Quota, inProject, onHost usage, host HostCapacity) (string, string, []int) {
	need := usage{devices: map[int]bool{}}
	need.add(w)
	enforce := !w.Spec.General.Preemptible || !q.OverQuota
	if enforce {
		if inProject.gpus+need.gpus > q.GPUs {
			return "NonPreemptibleOverQuota", fmt.Sprintf("Project %s deserves %g GPUs; %g are in use and this workspace needs %g.",
				w.Project(), q.GPUs, inProject.gpus, need.gpus), nil
		}
		if quota, ok := labspace.MilliCPU(q.CPU); ok && q.CPU != "" && inProject.milliCPU+need.milliCPU > quota {
			return "NonPreemptibleOverQuota", fmt.Sprintf("Project %s deserves %s CPU cores; %s are in use and this workspace needs %s.",
				w.Project(), q.CPU, cores(inProject.milliCPU), cores(need.milliCPU)), nil
		}
		if quota, ok := labspace.MemoryBytes(q.Memory); ok && q.Memory != "" && inProject.memory+need.memory > quota {
			return "NonPreemptibleOverQuota", fmt.Sprintf("Project %s deserves %s of memory; %s is in use and this workspace needs %s.",
				w.Project(), q.Memory, bytesOf(inProject.memory), bytesOf(need.memory)), nil
		}
	}
	var devices []int
	for _, d := range host.GPUs {
		if len(devices) < w.Spec.Compute.Spec.GPUDevices && !onHost.devices[d] {
			devices = append(devices, d)
		}
	}
	switch {
	case len(devices) < w.Spec.Compute.Spec.GPUDevices:
		return "InsufficientCapacity", fmt.Sprintf("Needs %d GPUs; %d of the host's %d are free.",
			w.Spec.Compute.Spec.GPUDevices, len(host.GPUs)-len(onHost.devices), len(host.GPUs)), nil
	case onHost.milliCPU+need.milliCPU > host.MilliCPU:
		return "InsufficientCapacity", fmt.Sprintf("Needs %s CPU cores; %s of the host's %s are free.",
			cores(need.milliCPU), cores(host.MilliCPU-onHost.milliCPU), cores(host.MilliCPU)), nil
	case onHost.memory+need.memory > host.MemoryBytes:
		return "InsufficientCapacity", fmt.Sprintf("Needs %s of memory; %s of the host's %s is free.",
			bytesOf(need.memory), bytesOf(host.MemoryBytes-onHost.memory), bytesOf(host.MemoryBytes)), nil
	}
	return "", "", devices
}

func cores(milli int64) string { return fmt.Sprintf("%g", float64(milli)/1000) }

func bytesOf(b int64) string { return fmt.Sprintf("%.1fGi", float64(b)/(1<<30)) }
