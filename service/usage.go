package service

import (
	"context"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// ProjectUsage is a project's quota beside what its admitted workspaces
// hold now: the picture the new-workspace flow and the administration
// pages draw as bars.
type ProjectUsage struct {
	// The project's name.
	Project string `json:"project"`
	// The project's quota.
	Quota labspace.Quota `json:"quota"`
	// GPUs its admitted workspaces hold.
	GPUs float64 `json:"gpus"`
	// CPU its admitted workspaces hold, in thousandths of a core.
	MilliCPU int64 `json:"milliCpu"`
	// Memory its admitted workspaces hold, in bytes.
	Memory     int64 `json:"memoryBytes"`
	Workspaces int   `json:"workspaces"` // how many hold an admission
	// QuotaMilliCPU and QuotaMemory are the quota in the same units; 0
	// when the quota sets no limit.
	QuotaMilliCPU int64 `json:"quotaMilliCpu"`
	// The memory quota in bytes; 0 when it sets no limit.
	QuotaMemory int64 `json:"quotaMemoryBytes"`
	// History is the project's GPUs allocated and used over the last
	// hours, one point per sample of the controller (utilisation.go).
	History []UsePoint `json:"history,omitempty"`
}

// ProjectUsage returns the quota of project and what its admitted
// workspaces hold. Returns ENOTFOUND when the project does not exist or
// the caller may not see it.
func (s *Service) ProjectUsage(ctx context.Context, project string) (*ProjectUsage, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if !canSee(a, labspace.KindProject, labspace.ProjectScope(project)) {
		return nil, labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", project)
	}
	out := &ProjectUsage{Project: project, History: s.useHistoryOf(project)}
	err = s.store.View(ctx, func(tx store.Tx) error {
		rec, err := find(tx, labspace.KindProject, project)
		if err != nil {
			return err
		}
		var p labspace.Project
		if err := store.Decode(rec, &p); err != nil {
			return err
		}
		out.Quota = p.Spec.Quota
		u, n, err := holding(tx, project)
		out.GPUs, out.MilliCPU, out.Memory, out.Workspaces = u.gpus, u.milliCPU, u.memory, n
		return err
	})
	if err != nil {
		return nil, err
	}
	if c, ok := labspace.MilliCPU(out.Quota.CPU); ok && out.Quota.CPU != "" {
		out.QuotaMilliCPU = c
	}
	if m, ok := labspace.MemoryBytes(out.Quota.Memory); ok && out.Quota.Memory != "" {
		out.QuotaMemory = m
	}
	return out, nil
}

// holding sums the workspaces of project that hold an admission, reading
// only that project's workspaces in the phases that may hold one.
func holding(tx store.Tx, project string) (usage, int, error) {
	u := usage{devices: map[int]bool{}}
	n := 0
	for _, ph := range holdingPhases {
		q := store.ListQuery{Scopes: []labspace.Scope{labspace.ProjectScope(project)}, Phase: string(ph), Limit: 1000}
		for {
			recs, next, err := tx.List(labspace.KindWorkspace, q)
			if err != nil {
				return u, n, err
			}
			for _, r := range recs {
				var w labspace.Workspace
				if err := store.Decode(r, &w); err != nil {
					return u, n, err
				}
				if w.Holds() {
					u.add(&w)
					n++
				}
			}
			if next == "" {
				break
			}
			q.Continue = next
		}
	}
	return u, n, nil
}
