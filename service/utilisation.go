package service

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/store"
)

// What running workspaces use, sampled by the controller (SampleUse): the
// last sample of each workspace for /metrics, and each project's GPUs
// allocated and used over the last hours for the administration pages'
// charts. Both live in memory: a restart starts the charts afresh, and
// Prometheus, scraping /metrics, keeps the long history.

// useHistory is how far back a project's chart goes.
const useHistory = 6 * time.Hour

// WorkspaceUse is a running workspace's allocation and use at a sample.
type WorkspaceUse struct {
	ID, Name, Project, Department string
	// Allocated: GPUs held, CPU and memory requested.
	GPUs             float64
	MilliCPU, Memory int64
	// Used, each -1 when the runtime cannot tell (runtime.Use).
	GPUPercent  int
	CPUCores    float64
	MemoryBytes int64
	// IdleSeconds is the time since any signal last saw activity.
	IdleSeconds float64
}

// UsePoint is a project's GPUs at one sample: held by its workspaces, and
// used (each workspace's GPUs times their utilisation); UsedKnown is
// false when no reading of its GPUs' utilisation was to be had.
type UsePoint struct {
	// When the sample was taken.
	At time.Time `json:"at"`
	// GPUs allocated to the project's workspaces.
	Allocated float64 `json:"allocated"`
	// GPUs in use, by their utilisation.
	Used float64 `json:"used"`
	// Whether utilisation was measured (false: no GPU metrics).
	UsedKnown bool `json:"usedKnown"`
}

// useLog holds the samples.
type useLog struct {
	mu         sync.RWMutex
	workspaces []WorkspaceUse
	projects   map[string][]UsePoint // oldest first, useHistory long
}

// SampleUse records what every running workspace uses, as meter reads it
// (nil: the runtime cannot tell), and a point on each project's chart.
func (s *Service) SampleUse(ctx context.Context, meter func(*labspace.Workspace) runtime.Use) error {
	if err := controllerOnly(ctx); err != nil {
		return err
	}
	allocs, err := s.ProjectAllocations(ctx)
	if err != nil {
		return err
	}
	var running []*labspace.Workspace
	err = s.store.View(ctx, func(tx store.Tx) error {
		return eachWorkspace(tx, labspace.PhaseRunning, func(w *labspace.Workspace) { running = append(running, w) })
	})
	if err != nil {
		return err
	}
	now := s.now()
	points := map[string]*UsePoint{}
	dept := map[string]string{}
	for _, a := range allocs {
		points[a.Project], dept[a.Project] = &UsePoint{At: now.UTC(), Allocated: a.GPUs}, a.Department
	}
	all := &labspace.EffectiveLifecycle{} // every signal counts for "idle for"
	var sample []WorkspaceUse
	for _, w := range running {
		u := runtime.Unknown
		if meter != nil {
			u = meter(w)
		}
		s.touchFromUse(ctx, w, u)
		c := &w.Spec.Compute.Spec
		cpu, _ := labspace.MilliCPU(c.CPURequest)
		mem, _ := labspace.MemoryBytes(c.MemoryRequest)
		wu := WorkspaceUse{ID: w.ID, Name: w.Name, Project: w.Project(), Department: dept[w.Project()], GPUs: c.HeldGPUs(),
			MilliCPU: cpu, Memory: mem, GPUPercent: u.GPUPercent, CPUCores: u.CPUCores, MemoryBytes: u.MemoryBytes,
			IdleSeconds: s.idleFor(w, all, now).Seconds()}
		sample = append(sample, wu)
		if p := points[wu.Project]; p != nil && wu.GPUs > 0 && u.GPUPercent >= 0 {
			p.Used += wu.GPUs * float64(u.GPUPercent) / 100
			p.UsedKnown = true
		}
	}
	s.uses.mu.Lock()
	defer s.uses.mu.Unlock()
	s.uses.workspaces = sample
	if s.uses.projects == nil {
		s.uses.projects = map[string][]UsePoint{}
	}
	for name, p := range points {
		h := append(s.uses.projects[name], *p)
		i := sort.Search(len(h), func(i int) bool { return now.Sub(h[i].At) <= useHistory })
		s.uses.projects[name] = append([]UsePoint(nil), h[i:]...)
	}
	for name := range s.uses.projects {
		if points[name] == nil {
			delete(s.uses.projects, name) // the project is gone
		}
	}
	return nil
}

// touchFromUse notes GPU and CPU use as activity, at the thresholds of
// w's project's rules, so that "idle for" means the same with or without
// an idle rule (which reads them more often, idle.go).
func (s *Service) touchFromUse(ctx context.Context, w *labspace.Workspace, u runtime.Use) {
	e, err := s.policyOf(ctx, w.Project())
	if err != nil {
		return
	}
	if u.GPUPercent >= 0 && u.GPUPercent >= e.Lifecycle.GPUThreshold() {
		s.Touch(w.ID, labspace.SignalGPU)
	}
	if u.CPUCores >= 0 && u.CPUCores*1000 >= float64(e.Lifecycle.CPUThreshold()) {
		s.Touch(w.ID, labspace.SignalCPU)
	}
}

// idleFor is how long w has gone without activity its rules count.
func (s *Service) idleFor(w *labspace.Workspace, rules *labspace.EffectiveLifecycle, now time.Time) time.Duration {
	since := s.lastActivity(w, rules).Last
	if w.Status.StartedAt != nil && since.Before(*w.Status.StartedAt) {
		since = *w.Status.StartedAt
	}
	if since.IsZero() {
		return 0
	}
	return max(now.Sub(since), 0)
}

// WorkspaceUses returns the last sample, for /metrics.
func (s *Service) WorkspaceUses(ctx context.Context) ([]WorkspaceUse, error) {
	if err := controllerOnly(ctx); err != nil {
		return nil, err
	}
	s.uses.mu.RLock()
	defer s.uses.mu.RUnlock()
	return s.uses.workspaces, nil
}

// useHistoryOf returns project's chart points (a copy).
func (s *Service) useHistoryOf(project string) []UsePoint {
	s.uses.mu.RLock()
	defer s.uses.mu.RUnlock()
	return append([]UsePoint(nil), s.uses.projects[project]...)
}

// eachWorkspace calls fn with every workspace in phase, a page at a time.
func eachWorkspace(tx store.Tx, phase labspace.Phase, fn func(*labspace.Workspace)) error {
	q := store.ListQuery{Phase: string(phase), SortBy: "createdAt", Limit: 1000}
	for {
		recs, next, err := tx.List(labspace.KindWorkspace, q)
		if err != nil {
			return err
		}
		for _, r := range recs {
			w := new(labspace.Workspace)
			if err := store.Decode(r, w); err != nil {
				return err
			}
			fn(w)
		}
		if next == "" {
			return nil
		}
		q.Continue = next
	}
}
