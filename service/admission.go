package service

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/store"
)

// HostCapacity is what the runtime can hold in all.
type HostCapacity = runtime.Capacity

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

func (u *usage) add(w *labspace.Workspace) { u.addSigned(w, 1) }

// remove takes w's share out again.
func (u *usage) remove(w *labspace.Workspace) { u.addSigned(w, -1) }

func (u *usage) addSigned(w *labspace.Workspace, sign int64) {
	c := &w.Spec.Compute.Spec
	u.gpus += float64(sign) * c.HeldGPUs()
	cpu, _ := labspace.MilliCPU(c.CPURequest)
	mem, _ := labspace.MemoryBytes(c.MemoryRequest)
	u.milliCPU += sign * cpu
	u.memory += sign * mem
	if w.Status.Admission != nil && u.devices != nil {
		for _, d := range w.Status.Admission.GPUDevices {
			u.devices[d] = sign > 0
		}
	}
}

// Admit decides, in one transaction, whether workspace id may start: its
// project's quota, and the host's capacity unless the runtime schedules
// itself, must hold it beside every workspace already admitted. Admitted,
// it moves to Initializing holding its GPUs; refused, it stays Pending
// with the reason. A workspace within its project's deserved quota that
// does not fit takes capacity back from preemptible workspaces of projects
// over their quota: they are told to stop, with an event. Because SQLite
// has one writer (and PostgreSQL runs this serializable), concurrent
// admissions cannot overshoot.
func (s *Service) Admit(ctx context.Context, id string, host HostCapacity) (*labspace.Workspace, error) {
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	var w labspace.Workspace
	var preempted []string
	err := s.store.Update(ctx, func(tx store.Tx) error {
		// A transaction may run again (it lost a race): nothing of the
		// try before may stay, not even fields the document leaves out.
		w, preempted = labspace.Workspace{}, nil
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
		quotas := map[string]*labspace.Quota{}
		quota, err := projectQuota(tx, quotas, w.Project())
		if err != nil {
			return err
		}
		inProject, onHost, err := s.ledgerUsage(tx, w.Project())
		if err != nil {
			return err
		}
		st := w.Status
		reason, msg, devices := fits(&w, quota, inProject, onHost, host)
		if reason == "" {
			if reason, msg, err = s.departmentFits(tx, &w); err != nil {
				return err
			}
		}
		if reason == "InsufficientCapacity" && inQuota(&w, quota, inProject) {
			holders, err := admitted(tx) // rare: read every holder to pick victims
			if err != nil {
				return err
			}
			victims, err := s.victims(tx, quotas, holders, &w, onHost, host)
			if err != nil {
				return err
			}
			for _, v := range victims {
				if err := s.preempt(tx, v, &w); err != nil {
					return err
				}
				preempted = append(preempted, v.ID)
			}
			if len(victims) > 0 {
				reason, msg = "Preempting", fmt.Sprintf("Stopping %d preemptible workspaces of projects over their quota to make room.", len(victims))
			}
		}
		if host.Scheduled && (reason == "InsufficientCapacity" || reason == "Preempting") {
			// The cluster's scheduler has the last word: the pod waits,
			// Pending with its message, until room is made or found.
			reason = ""
		}
		if reason != "" {
			st.Phase, st.PhaseReason, st.PhaseMessage = labspace.PhasePending, reason, msg
			return s.setStatus(tx, &w, rec.RV, st)
		}
		st.Admission = &labspace.Admission{Time: s.now().UTC(), GPUDevices: devices}
		st.Phase, st.PhaseReason, st.PhaseMessage = labspace.PhaseInitializing, "Admitted", "Starting."
		return s.setStatus(tx, &w, rec.RV, st)
	})
	if len(preempted) > 0 && err == nil {
		s.workspacesChanged()
		for _, v := range preempted {
			s.lifecycle.Notify(v)
			s.notify(ctx, v, "Preempted", "Preempted", "Stopped to give project "+w.Project()+" its deserved share back.")
		}
	}
	return &w, err
}

func projectQuota(tx store.Tx, cache map[string]*labspace.Quota, name string) (*labspace.Quota, error) {
	if q, ok := cache[name]; ok {
		return q, nil
	}
	var p labspace.Project
	rec, err := find(tx, labspace.KindProject, name)
	if err != nil {
		return nil, err
	}
	if err := store.Decode(rec, &p); err != nil {
		return nil, err
	}
	cache[name] = &p.Spec.Quota
	return cache[name], nil
}

// admitted lists the workspaces that hold an admission, with only what
// admission reads (decodeHolding). Only rebuilding the ledger and picking
// preemption victims need them all.
func admitted(tx store.Tx) ([]labspace.Workspace, error) {
	var out []labspace.Workspace
	for _, ph := range holdingPhases {
		q := store.ListQuery{Phase: string(ph), Limit: 1000}
		for {
			recs, next, err := tx.List(labspace.KindWorkspace, q)
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				o, err := decodeHolding(r)
				if err != nil {
					return nil, err
				}
				if o.Holds() {
					out = append(out, o)
				}
			}
			if next == "" {
				break
			}
			q.Continue = next
		}
	}
	return out, nil
}

// admissionView is the part of a workspace admission reads. Decoding only it
// keeps each admission cheap when thousands of workspaces hold quota.
type admissionView struct {
	Spec struct {
		Compute labspace.ResolvedCompute `json:"compute"`
		General labspace.GeneralSettings `json:"general"`
	} `json:"spec"`
	DesiredPhase labspace.Phase `json:"desiredPhase"`
	Status       struct {
		Admission *labspace.Admission `json:"admission"`
	} `json:"status"`
}

// decodeHolding returns a workspace with only what admission reads set.
func decodeHolding(r *store.Record) (labspace.Workspace, error) {
	var h admissionView
	if err := json.Unmarshal(r.Data, &h); err != nil {
		return labspace.Workspace{}, err
	}
	w := labspace.Workspace{Meta: labspace.Meta{ID: r.ID, Name: r.Name, Scope: r.Scope}, DesiredPhase: h.DesiredPhase}
	w.Spec.Compute, w.Spec.General, w.Status.Admission = h.Spec.Compute, h.Spec.General, h.Status.Admission
	return w, nil
}

// overQuota names the resource ("gpus", "cpu", "memory") of which a
// project using u has more than quota q gives it; "" when none.
func overQuota(q *labspace.Quota, u usage) string {
	if u.gpus > q.GPUs {
		return "gpus"
	}
	if quota, ok := labspace.MilliCPU(q.CPU); ok && q.CPU != "" && u.milliCPU > quota {
		return "cpu"
	}
	if quota, ok := labspace.MemoryBytes(q.Memory); ok && q.Memory != "" && u.memory > quota {
		return "memory"
	}
	return ""
}

// inQuota reports whether w fits its project's deserved quota.
func inQuota(w *labspace.Workspace, q *labspace.Quota, inProject usage) bool {
	return overQuota(q, addTo(inProject, w)) == ""
}

// addTo is u with w's share added.
func addTo(u usage, w *labspace.Workspace) usage {
	u.add(w)
	return u
}

// fits returns "" and the GPU devices to give when w fits, else the
// reason and message for staying Pending.
func fits(w *labspace.Workspace, q *labspace.Quota, inProject, onHost usage, host HostCapacity) (string, string, []int) {
	need := asks(w)
	if !w.Spec.General.Preemptible || !q.OverQuota {
		if over := overQuota(q, addTo(inProject, w)); over != "" {
			return "NonPreemptibleOverQuota", quotaWait("project "+w.Project(), over, q, inProject, need), nil
		}
	}
	if host.Scheduled {
		// The cluster's scheduler places the pod; only the totals matter,
		// to decide whether preemptible workspaces must give way.
		if len(host.Nodes) > 0 && (onHost.gpus+need.gpus > totalGPUs(host) || onHost.milliCPU+need.milliCPU > host.MilliCPU ||
			onHost.memory+need.memory > host.MemoryBytes) {
			return "InsufficientCapacity", "The cluster is full" + unavailableNodes(host) + ".", nil
		}
		return "", "", nil
	}
	return fitsHost(w, need, onHost, host)
}

// fitsHost checks the local host's free GPUs, CPU and memory.
func fitsHost(w *labspace.Workspace, need, onHost usage, host HostCapacity) (string, string, []int) {
	var devices []int
	free := 0
	for _, d := range host.GPUs {
		if !onHost.devices[d] {
			free++
			if len(devices) < w.Spec.Compute.Spec.GPUDevices {
				devices = append(devices, d)
			}
		}
	}
	const wait = "Waiting for room on this host: this workspace needs %s; free now: %s of %s."
	switch {
	case len(devices) < w.Spec.Compute.Spec.GPUDevices:
		return "InsufficientCapacity", fmt.Sprintf(wait, labspace.Count(float64(w.Spec.Compute.Spec.GPUDevices), "GPU", "GPUs"),
			strconv.Itoa(free), labspace.Count(float64(len(host.GPUs)), "GPU", "GPUs")), nil
	case onHost.milliCPU+need.milliCPU > host.MilliCPU:
		return "InsufficientCapacity", fmt.Sprintf(wait, labspace.FormatCores(need.milliCPU),
			cores(host.MilliCPU-onHost.milliCPU), labspace.FormatCores(host.MilliCPU)), nil
	case onHost.memory+need.memory > host.MemoryBytes:
		return "InsufficientCapacity", fmt.Sprintf(wait, labspace.FormatMemory(need.memory)+" of memory",
			labspace.FormatMemory(host.MemoryBytes-onHost.memory), labspace.FormatMemory(host.MemoryBytes)), nil
	}
	return "", "", devices
}

// unavailableNodes names the nodes that take no work for now, for the
// reason a workspace waits.
func unavailableNodes(host HostCapacity) string {
	var out []string
	for _, n := range host.Nodes {
		if n.Unavailable != "" {
			out = append(out, n.Name+" is "+n.Unavailable)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " for now (" + strings.Join(out, ", ") + ")"
}

func totalGPUs(host HostCapacity) float64 {
	if !host.Scheduled {
		return float64(len(host.GPUs))
	}
	n := 0
	for _, nd := range host.Nodes {
		if nd.Unavailable == "" {
			n += nd.GPUs
		}
	}
	return float64(n)
}

// victims picks preemptible workspaces of projects over their deserved
// quota, newest first, until w would fit; none when that cannot be done.
func (s *Service) victims(tx store.Tx, quotas map[string]*labspace.Quota, holders []labspace.Workspace, w *labspace.Workspace,
	onHost usage, host HostCapacity) ([]*labspace.Workspace, error) {
	byProject := map[string]usage{}
	var order []*labspace.Workspace
	for i := range holders {
		h := &holders[i]
		u := byProject[h.Project()]
		u.add(h)
		byProject[h.Project()] = u
		if h.Spec.General.Preemptible && h.Project() != w.Project() && h.DesiredPhase == labspace.PhaseRunning {
			order = append(order, h)
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i].Status.Admission.Time.After(order[j].Status.Admission.Time) })
	free := onHost
	free.devices = map[int]bool{}
	for d, held := range onHost.devices {
		free.devices[d] = held
	}
	var picked []*labspace.Workspace
	for _, h := range order {
		q, err := projectQuota(tx, quotas, h.Project())
		if err != nil {
			return nil, err
		}
		if overQuota(q, byProject[h.Project()]) == "" {
			continue // within its deserved share: not preemptible now
		}
		picked = append(picked, h)
		u := byProject[h.Project()]
		u.remove(h)
		byProject[h.Project()] = u
		free.remove(h)
		if r, _, _ := fits(w, &labspace.Quota{GPUs: 1e9, OverQuota: true}, usage{}, free, host); r == "" {
			return picked, nil
		}
	}
	return nil, nil
}

// preempt tells victim v to stop so that w can have its deserved share.
func (s *Service) preempt(tx store.Tx, v, w *labspace.Workspace) error {
	rec, err := tx.Get(labspace.KindWorkspace, v.ID)
	if err != nil {
		return err
	}
	var full labspace.Workspace
	if err := store.Decode(rec, &full); err != nil {
		return err
	}
	now := s.now().UTC()
	full.DesiredPhase, full.UpdatedAt = labspace.PhaseStopped, now
	if err := s.saveWorkspace(tx, &full, rec.RV); err != nil {
		return err
	}
	return tx.AddEvent(&labspace.Event{WorkspaceID: v.ID, Time: now, Type: "Preempted", Actor: ControllerSubject.Name,
		Reason: "Preempted", Message: fmt.Sprintf("Stopped to give project %s its deserved share back (workspace %s).", w.Project(), w.Name)})
}

// asks is what w asks for.
func asks(w *labspace.Workspace) usage {
	var u usage
	u.add(w)
	return u
}

func cores(milli int64) string { return fmt.Sprintf("%g", float64(milli)/1000) }

// quotaWait says, in plain words, why a workspace waits for a quota: what
// (gpus, cpu or memory) of whose quota (a project or a department) is in
// use by the others, or smaller than this workspace alone.
func quotaWait(whose, what string, q *labspace.Quota, held, need usage) string {
	var name, quota, inUse, needs string
	var none bool
	switch what {
	case "gpus":
		gpus := func(n float64) string { return labspace.Count(n, "GPU", "GPUs") }
		name, quota, inUse, needs, none = "GPU", gpus(q.GPUs), gpus(held.gpus), gpus(need.gpus), held.gpus == 0
	case "cpu":
		milli, _ := labspace.MilliCPU(q.CPU)
		name, quota, inUse, needs, none = "CPU", labspace.FormatCores(milli), labspace.FormatCores(held.milliCPU),
			labspace.FormatCores(need.milliCPU), held.milliCPU == 0
	default:
		b, _ := labspace.MemoryBytes(q.Memory)
		name, quota, inUse, needs, none = "memory", labspace.FormatMemory(b), labspace.FormatMemory(held.memory),
			labspace.FormatMemory(need.memory), held.memory == 0
	}
	if none {
		return fmt.Sprintf("Waiting: this workspace needs %s, more than %s's whole %s quota (%s). An administrator can raise the quota.",
			needs, whose, name, quota)
	}
	return fmt.Sprintf("Waiting: %s's %s quota (%s) is in use: %s held by its other workspaces, and this one needs %s. It starts when some of them stop.",
		whose, name, quota, inUse, needs)
}

// departmentFits returns "" when w fits its department's quota beside the
// workspaces its department's projects hold, else the reason to wait.
// A department's unset part (GPUs 0, CPU or memory empty) sets no bound;
// a preemptible workspace may go over when the department allows it.
// Admission is one write transaction, so departments are never overshot.
func (s *Service) departmentFits(tx store.Tx, w *labspace.Workspace) (string, string, error) {
	rec, err := find(tx, labspace.KindProject, w.Project())
	if err != nil || rec.Scope.Type != labspace.ScopeDepartment {
		return "", "", err
	}
	dep, err := tx.GetByName(labspace.KindDepartment, labspace.Global, rec.Scope.Name)
	if err != nil {
		return "", "", err
	}
	var d labspace.Department
	if err := store.Decode(dep, &d); err != nil {
		return "", "", err
	}
	q := d.Spec.Quota
	if (q.GPUs == 0 && q.CPU == "" && q.Memory == "") || (w.Spec.General.Preemptible && q.OverQuota) {
		return "", "", nil
	}
	var used usage
	for lq := (store.ListQuery{Scopes: []labspace.Scope{rec.Scope}, Limit: 500}); ; {
		projects, next, err := tx.List(labspace.KindProject, lq)
		if err != nil {
			return "", "", err
		}
		for _, p := range projects {
			u, _, _, err := readLedger(tx, projectLedger(p.Name))
			if err != nil {
				return "", "", err
			}
			used.gpus, used.milliCPU, used.memory = used.gpus+u.gpus, used.milliCPU+u.milliCPU, used.memory+u.memory
		}
		if next == "" {
			break
		}
		lq.Continue = next
	}
	with := used
	with.add(w)
	if q.GPUs == 0 {
		with.gpus, q.GPUs = 0, 0 // no bound on GPUs
	}
	if over := overQuota(&q, with); over != "" {
		return "DepartmentOverQuota", quotaWait("department "+d.Name, over, &q, used, asks(w)), nil
	}
	return "", "", nil
}
