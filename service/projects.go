package service

import (
	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// prepareProject applies the rules that keep projects apart: a namespace
// of its own that only administrators choose, and a quota within its
// department's.
func (s *Service) prepareProject(tx store.Tx, a *labspace.Actor, o *labspace.Project, old *store.Record) error {
	if err := s.checkWebhook(o.Spec.Webhook); err != nil {
		return err
	}
	var v labspace.Invalid
	oldNS := labspace.DefaultNamespace(o.Name)
	if old != nil {
		var prev labspace.Project
		if err := store.Decode(old, &prev); err != nil {
			return err
		}
		oldNS = prev.Spec.Namespace
	}
	if o.Spec.Namespace != oldNS {
		// The project's own scope is not in the actor's map for a new
		// project: its department (or global) decides.
		if err := a.CheckPrivileges([]labspace.PrivilegeUse{{Field: "spec.namespace", Privilege: labspace.PrivNamespace}}, o.Scope); err != nil {
			return err
		}
	}
	for q := (store.ListQuery{Limit: 500}); ; {
		recs, next, err := tx.List(labspace.KindProject, q)
		if err != nil {
			return err
		}
		for _, r := range recs {
			var other labspace.Project
			if err := store.Decode(r, &other); err != nil {
				return err
			}
			if other.Name != o.Name && other.Spec.Namespace == o.Spec.Namespace {
				return labspace.Errorf(labspace.ECONFLICT, "Namespace %q is already project %q's.", o.Spec.Namespace, other.Name)
			}
		}
		if next == "" {
			break
		}
		q.Continue = next
	}
	if o.Scope.Type == labspace.ScopeDepartment {
		rec, err := tx.GetByName(labspace.KindDepartment, labspace.Global, o.Scope.Name)
		if err != nil {
			return unprocessable("meta.scope.name", "no department %q", o.Scope.Name)
		}
		var d labspace.Department
		if err := store.Decode(rec, &d); err != nil {
			return err
		}
		o.Spec.Quota.WithinDepartment("spec.quota", d.Spec.Quota, &v)
	}
	return v.ErrCode(labspace.EUNPROCESSABLE)
}
