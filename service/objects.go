package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// This file holds the create/read/update/delete rules shared by every kind
// but workspaces; kind-specific rules are in prepare (rules.go).

// authScope is the scope a permission check on an existing object uses: a
// project and a department are checked at themselves, the rest where they live.
func authScope(k labspace.Kind, m *labspace.Meta) labspace.Scope {
	switch k {
	case labspace.KindProject:
		return labspace.ProjectScope(m.Name)
	case labspace.KindDepartment:
		return labspace.DepartmentScope(m.Name)
	}
	return m.Scope
}

// canSee reports whether the actor may read an object of kind k at scope s.
// Users, groups and applications are readable by anyone who may read
// identities anywhere: administrators need them to write access rules.
func canSee(a *labspace.Actor, k labspace.Kind, s labspace.Scope) bool {
	res := labspace.ResourceOf(k)
	if res == labspace.ResIdentities {
		for _, g := range a.Grants {
			if g.Role.Allows(res, labspace.VerbRead) {
				return true
			}
		}
		return false
	}
	if k == labspace.KindPolicy && a.CanSee(res, s) {
		return true
	}
	if k == labspace.KindPolicy && s.Type != labspace.ScopeProject {
		// Whoever works in a project reads the policies above it: they
		// are the rules its workspaces live by.
		for p, d := range a.Departments {
			if (s.Type == labspace.ScopeGlobal || d == s.Name) && a.CanSee(labspace.ResProjects, labspace.ProjectScope(p)) {
				return true
			}
		}
	}
	if k == labspace.KindDepartment && s.Type == labspace.ScopeDepartment {
		// A project's members see the department it belongs to.
		for p, d := range a.Departments {
			if d == s.Name && a.CanSee(labspace.ResProjects, labspace.ProjectScope(p)) {
				return true
			}
		}
	}
	return a.CanSee(res, s)
}

// check returns nil when the actor may apply verb; ENOTFOUND when it may not
// even see the object, EFORBIDDEN when it may see it but not do this.
func check(a *labspace.Actor, verb labspace.Verb, k labspace.Kind, m *labspace.Meta, s labspace.Scope) error {
	if !canSee(a, k, authScope(k, m)) && verb != labspace.VerbCreate {
		return labspace.Errorf(labspace.ENOTFOUND, "%s %q not found.", title(k), m.Name)
	}
	if verb == labspace.VerbRead || a.Can(verb, labspace.ResourceOf(k), s) {
		return nil
	}
	if verb == labspace.VerbCreate && s.Type == labspace.ScopeProject && !canSee(a, k, s) && !a.CanSee(labspace.ResProjects, s) {
		// Not found only when the project itself is out of sight: one the
		// caller sees but may not write in is a 403 (docs/api.md).
		return labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", s.Name)
	}
	return labspace.Errorf(labspace.EFORBIDDEN, "Your role does not allow you to %s %ss in %s.", verb, title(k), s.Words())
}

// asked words a not-found answer with the key the caller gave (an id, or a
// name), never the stored name of an object it may not see (S14).
func asked(err error, k labspace.Kind, key string) error {
	if labspace.ErrorCode(err) == labspace.ENOTFOUND {
		return labspace.Errorf(labspace.ENOTFOUND, "%s %q not found.", title(k), key)
	}
	return err
}

func title(k labspace.Kind) string {
	s := strings.ReplaceAll(string(k), "-", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// find locates an object by its key: the name for kinds with global names
// (projects, departments, users, groups, applications), the id otherwise.
func find(tx store.Tx, k labspace.Kind, key string) (*store.Record, error) {
	switch k {
	case labspace.KindProject:
		// Most projects are global: the unique name index finds those at
		// once, where a list by name walks every project (every workspace
		// create looks its project up).
		if rec, err := tx.GetByName(k, labspace.Global, key); labspace.ErrorCode(err) != labspace.ENOTFOUND {
			return rec, err
		}
		recs, _, err := tx.List(k, store.ListQuery{Names: []string{key}, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, labspace.Errorf(labspace.ENOTFOUND, "Project %q not found.", key)
		}
		return recs[0], nil
	case labspace.KindDepartment, labspace.KindUser, labspace.KindGroup, labspace.KindApplication:
		return tx.GetByName(k, labspace.Global, key)
	}
	return tx.Get(k, key)
}

func decode(r *store.Record) (labspace.Object, error) {
	obj := labspace.New(r.Kind)
	if obj == nil {
		return nil, fmt.Errorf("unknown kind %q", r.Kind)
	}
	return obj, store.Decode(r, obj)
}

// Create validates obj, checks the caller may create it, and stores it.
func (s *Service) Create(ctx context.Context, obj labspace.Validator) (labspace.Object, error) {
	return s.create(ctx, obj, nil)
}

// create is Create with a hook that sets the record's private parts (a
// password hash, a client secret) before it is stored.
func (s *Service) create(ctx context.Context, obj labspace.Validator, private func(*store.Record)) (labspace.Object, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	defer s.changed(obj.Kind())
	k, m := obj.Kind(), obj.GetMeta()
	if k == labspace.KindWorkspace {
		return nil, labspace.Errorf(labspace.EINVALID, "Create workspaces in their project.")
	}
	if k == labspace.KindDepartment || labspace.ResourceOf(k) == labspace.ResIdentities {
		m.Scope = labspace.Global
	}
	if k == labspace.KindProject && m.Scope == (labspace.Scope{}) {
		m.Scope = labspace.Global // docs/access.md: a project without a department is global
	}
	var v labspace.Invalid
	obj.Validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := check(a, labspace.VerbCreate, k, m, m.Scope); err != nil {
		return nil, err
	}
	s.stamp(m, a)
	err = s.store.Update(ctx, func(tx store.Tx) error {
		p, err := s.prepare(tx, a, obj, nil)
		if err != nil {
			return err
		}
		rec, err := store.Encode(obj)
		if err != nil {
			return err
		}
		rec.Secret, rec.Subject = p.secret, p.subject
		if private != nil {
			private(rec)
		}
		if err := tx.Insert(rec); err != nil {
			return err
		}
		if err := tx.SetRefs(m.ID, p.refs); err != nil {
			return err
		}
		return s.audit(ctx, tx, "create", m, k)
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// Get returns the object of kind k with key (see find).
func (s *Service) Get(ctx context.Context, k labspace.Kind, key string) (labspace.Object, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var obj labspace.Object
	err = s.store.View(ctx, func(tx store.Tx) error {
		rec, err := find(tx, k, key)
		if err != nil {
			return err
		}
		if err := check(a, labspace.VerbRead, k, &labspace.Meta{Name: rec.Name, Scope: rec.Scope}, rec.Scope); err != nil {
			return asked(err, k, key)
		}
		obj, err = decode(rec)
		return err
	})
	return obj, err
}

// List returns the objects of kind k the caller may see, filtered in SQL.
func (s *Service) List(ctx context.Context, k labspace.Kind, q store.ListQuery) ([]labspace.Object, string, error) {
	recs, next, err := s.ListRecords(ctx, k, q)
	if err != nil {
		return nil, "", err
	}
	out := make([]labspace.Object, 0, len(recs))
	for _, r := range recs {
		obj, err := decode(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, obj)
	}
	return out, next, nil
}

// ListRecords is List without decoding: the stored records of the page,
// for a caller that writes them out as they are (store.AppendJSON). The
// same rules apply: only what the caller may see.
func (s *Service) ListRecords(ctx context.Context, k labspace.Kind, q store.ListQuery) ([]*store.Record, string, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, "", err
	}
	q.Search = strings.ToLower(q.Search)
	if err := restrict(a, k, &q); err != nil {
		return nil, "", err
	}
	var recs []*store.Record
	var next string
	err = s.store.View(ctx, func(tx store.Tx) error {
		recs, next, err = tx.List(k, q)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return recs, next, nil
}

// restrict narrows q to what the actor may see.
func restrict(a *labspace.Actor, k labspace.Kind, q *store.ListQuery) error {
	res := labspace.ResourceOf(k)
	if res == labspace.ResIdentities {
		if !canSee(a, k, labspace.Global) {
			q.Scopes = []labspace.Scope{}
		}
		return nil
	}
	scopes, all := a.Visible(res)
	if all {
		return nil
	}
	switch k {
	case labspace.KindProject, labspace.KindDepartment:
		// Projects and departments are keyed by name, not by where they live.
		want := labspace.ScopeProject
		if k == labspace.KindDepartment {
			want = labspace.ScopeDepartment
			for p, d := range a.Departments {
				if d != "" && a.CanSee(labspace.ResProjects, labspace.ProjectScope(p)) {
					scopes = append(scopes, labspace.DepartmentScope(d))
				}
			}
		}
		names := []string{}
		for _, sc := range scopes {
			if sc.Type == want {
				names = append(names, sc.Name)
			}
		}
		q.Names = intersect(q.Names, names)
	case labspace.KindWorkspace:
		var projects []labspace.Scope
		for _, sc := range scopes {
			if sc.Type == labspace.ScopeProject {
				projects = append(projects, sc)
			}
		}
		q.Scopes = intersectScopes(q.Scopes, projects)
	default:
		q.Scopes = intersectScopes(q.Scopes, scopes)
	}
	return nil
}

// intersect narrows a requested name filter to the allowed names. The
// result is never nil, so an empty result matches nothing.
func intersect(asked, allowed []string) []string {
	if len(allowed) == 0 {
		return []string{"\x00none"}
	}
	if asked == nil {
		return allowed
	}
	ok := map[string]bool{}
	for _, n := range allowed {
		ok[n] = true
	}
	out := []string{"\x00none"}
	for _, n := range asked {
		if ok[n] {
			out = append(out, n)
		}
	}
	return out
}

func intersectScopes(asked, allowed []labspace.Scope) []labspace.Scope {
	if allowed == nil {
		allowed = []labspace.Scope{}
	}
	if asked == nil {
		return allowed
	}
	ok := map[labspace.Scope]bool{}
	for _, s := range allowed {
		ok[s] = true
	}
	out := []labspace.Scope{}
	for _, s := range asked {
		if ok[s] {
			out = append(out, s)
		}
	}
	return out
}

// Update replaces the spec and description of the object with key. The
// caller sends the resourceVersion it read; a stale one gets ECONFLICT.
// An If-Match (WithPrecondition) is checked too, EPRECONDITION when
// stale, and stands for the body's resourceVersion when that is left out.
// Names and scopes do not change: they identify the object.
func (s *Service) Update(ctx context.Context, key string, obj labspace.Validator) (labspace.Object, error) {
	return s.update(ctx, key, obj, nil)
}

func (s *Service) update(ctx context.Context, key string, obj labspace.Validator, private func(*store.Record)) (labspace.Object, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	defer s.changed(obj.Kind())
	k, m := obj.Kind(), obj.GetMeta()
	err = s.store.Update(ctx, func(tx store.Tx) error {
		old, err := find(tx, k, key)
		if err != nil {
			return err
		}
		if err := check(a, labspace.VerbUpdate, k, &labspace.Meta{Name: old.Name, Scope: old.Scope}, authScope(k, &labspace.Meta{Name: old.Name, Scope: old.Scope})); err != nil {
			return asked(err, k, key)
		}
		if err := precondition(ctx, k, old.Name, old.RV); err != nil {
			return err
		}
		m.ResourceVersion = expectedVersion(ctx, m.ResourceVersion, old.RV)
		var v labspace.Invalid
		if m.Name != "" && m.Name != old.Name {
			v.Add("meta.name", "cannot be changed (it is %q)", old.Name)
		}
		if m.Scope.Type != "" && m.Scope != old.Scope {
			v.Add("meta.scope", "cannot be changed (it is %s)", old.Scope)
		}
		if m.ResourceVersion == 0 {
			v.Add("meta.resourceVersion", "is required: send the resourceVersion you read (or its ETag in If-Match)")
		}
		rv := m.ResourceVersion
		m.ID, m.Name, m.Scope, m.CreatedAt, m.CreatedBy = old.ID, old.Name, old.Scope, old.CreatedAt, old.CreatedBy
		m.UpdatedAt = s.now().UTC()
		if err := s.complete(obj, old); err != nil {
			return err
		}
		obj.Validate(&v)
		if err := v.Err(); err != nil {
			return err
		}
		p, err := s.prepare(tx, a, obj, old)
		if err != nil {
			return err
		}
		rec, err := store.Encode(obj)
		if err != nil {
			return err
		}
		rec.RV, rec.Secret, rec.Subject = rv, p.secret, p.subject
		if private != nil {
			private(rec)
		}
		if err := tx.Update(rec); err != nil {
			return err
		}
		m.ResourceVersion = rec.RV
		if err := tx.SetRefs(m.ID, p.refs); err != nil {
			return err
		}
		return s.audit(ctx, tx, "update", m, k)
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// Delete removes the object of kind k with key, unless something uses it
// (ECONFLICT) or it does not meet the caller's If-Match (EPRECONDITION).
func (s *Service) Delete(ctx context.Context, k labspace.Kind, key string) error {
	defer s.changed(k)
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		rec, err := find(tx, k, key)
		if err != nil {
			return err
		}
		m := &labspace.Meta{ID: rec.ID, Name: rec.Name, Scope: rec.Scope}
		if k == labspace.KindUser && a.Subject == (labspace.Subject{Type: labspace.SubjectUser, Name: rec.Name}) {
			return labspace.Errorf(labspace.ECONFLICT, "You cannot delete yourself.")
		}
		if err := check(a, labspace.VerbDelete, k, m, authScope(k, m)); err != nil {
			return asked(err, k, key)
		}
		if err := precondition(ctx, k, rec.Name, rec.RV); err != nil {
			return err
		}
		if err := s.beforeDelete(tx, rec); err != nil {
			return err
		}
		if err := tx.Delete(k, rec.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "delete", m, k)
	})
}

// Allows reports whether the caller may apply verb to obj, by the rule
// Update and Delete apply, so that pages offer only what the caller can do
// (the service still decides when asked).
func (s *Service) Allows(ctx context.Context, verb labspace.Verb, obj labspace.Object) (bool, error) {
	a, err := actor(ctx)
	if err != nil {
		return false, err
	}
	k, m := obj.Kind(), obj.GetMeta()
	return check(a, verb, k, m, authScope(k, m)) == nil, nil
}
