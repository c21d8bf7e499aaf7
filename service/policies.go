package service

import (
	"context"
	"strconv"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Policies (labspace.Policy) are stored like building blocks, one per
// scope; what applies to a workspace is the merge of its chain's.

// effectivePolicy merges the policies of chain (a scope, then those above it).
func effectivePolicy(tx store.Tx, chain []labspace.Scope) (*labspace.EffectivePolicy, error) {
	var outerFirst []*labspace.Policy
	for i := len(chain) - 1; i >= 0; i-- {
		rec, err := tx.GetByName(labspace.KindPolicy, chain[i], labspace.PolicyName)
		if labspace.ErrorCode(err) == labspace.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		var p labspace.Policy
		if err := store.Decode(rec, &p); err != nil {
			return nil, err
		}
		outerFirst = append(outerFirst, &p)
	}
	return labspace.Merge(chain[0], outerFirst), nil
}

// EffectivePolicy returns what applies to the workspaces of project: the
// new-workspace page shows it before anything is submitted.
func (s *Service) EffectivePolicy(ctx context.Context, project string) (*labspace.EffectivePolicy, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	scope := labspace.ProjectScope(project)
	if !a.CanSee(labspace.ResProjects, scope) && !canSee(a, labspace.KindWorkspace, scope) {
		return nil, labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", project)
	}
	e, err := s.policyOf(ctx, project)
	if labspace.ErrorCode(err) == labspace.EUNPROCESSABLE { // no such project
		return nil, labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", project)
	}
	return e, err
}

// preparePolicy checks what a policy names: the privileges it grants are
// the author's to give, and its imposed data sources exist in its scope.
func preparePolicy(tx store.Tx, a *labspace.Actor, p *labspace.Policy, chain []labspace.Scope) ([]string, error) {
	uses := make([]labspace.PrivilegeUse, len(p.Spec.Allow))
	for i, pr := range p.Spec.Allow {
		uses[i] = labspace.PrivilegeUse{Field: "spec.allow[" + strconv.Itoa(i) + "]", Privilege: pr}
	}
	if err := a.CheckPrivileges(uses, p.Scope); err != nil {
		return nil, err
	}
	var v labspace.Invalid
	var refs []string
	for i, name := range p.Spec.ImposedDataSources {
		if r := resolveAsset(tx, a, labspace.KindDataSource, name, chain, "spec.imposedDataSources["+strconv.Itoa(i)+"]", &v); r != nil {
			refs = append(refs, r.ID)
		}
	}
	return refs, v.ErrCode(labspace.EUNPROCESSABLE)
}

// checkPrivileges checks the privileges a building block in chain[0]
// uses: held by the actor there, or granted by the scope's policy.
func checkPrivileges(tx store.Tx, a *labspace.Actor, uses []labspace.PrivilegeUse, chain []labspace.Scope) error {
	if len(uses) == 0 {
		return nil
	}
	e, err := effectivePolicy(tx, chain)
	if err != nil {
		return err
	}
	return a.CheckPrivileges(granted(uses, e), chain[0])
}

// granted drops the uses of privileges that the policy grants.
func granted(uses []labspace.PrivilegeUse, e *labspace.EffectivePolicy) []labspace.PrivilegeUse {
	var out []labspace.PrivilegeUse
	for _, u := range uses {
		if !e.Has(u.Privilege) {
			out = append(out, u)
		}
	}
	return out
}

// checkStart applies the policy in force now to a workspace about to
// start: one tightened since its creation stops it here, with the reason.
func (s *Service) checkStart(ctx context.Context, w *labspace.Workspace) error {
	e, err := s.policyOf(ctx, w.Project())
	if err != nil {
		return err
	}
	probe := *w // Apply fills defaults into what it checks: a copy, not w
	return e.Apply(&probe)
}
