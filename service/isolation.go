package service

import (
	"context"

	"github.com/labspace/labspace"
)

// RestrictWorkloads tells the service that workloads on this host run as
// labspace itself (the local runtime could not isolate them, and labspace
// was not started for a single user): from then on only system
// administrators may create or start running workspaces, and the others
// are told why. An empty reason lifts the restriction.
func (s *Service) RestrictWorkloads(reason string) { s.unisolated.Store(&reason) }

// WorkloadRestriction returns the reason set by RestrictWorkloads, or "".
func (s *Service) WorkloadRestriction() string {
	if r := s.unisolated.Load(); r != nil {
		return *r
	}
	return ""
}

// mayRun refuses a start by anyone but a system administrator while
// workloads cannot be isolated.
func (s *Service) mayRun(ctx context.Context, a *labspace.Actor) error {
	r := s.WorkloadRestriction()
	if r == "" || a.IsSystemAdministrator() {
		return nil
	}
	return labspace.Errorf(labspace.EFORBIDDEN, "Only administrators may run workspaces on this server: %s. An administrator can start labspace as root, on a kernel that allows user namespaces, or with --single-user when one person uses it.", r)
}

// RunRestriction is why the caller may not run workspaces on this server,
// or "" when it may (for pages that say so before the form is sent).
func (s *Service) RunRestriction(ctx context.Context) (string, error) {
	a, err := actor(ctx)
	if err != nil {
		return "", err
	}
	if err := s.mayRun(ctx, a); err != nil {
		return err.Error(), nil
	}
	return "", nil
}

// HoldsPrivilege reports whether the caller holds p in project.
func (s *Service) HoldsPrivilege(ctx context.Context, p labspace.Privilege, project string) (bool, error) {
	a, err := actor(ctx)
	if err != nil {
		return false, err
	}
	return a.MayUse(p, labspace.ProjectScope(project)), nil
}

// SharingAvailable reports whether workspaces can be shared here (tools
// are served on origins of their own).
func (s *Service) SharingAvailable() bool { return s.ownOrigins.Load() }
