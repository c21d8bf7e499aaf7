package service

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// prepared is what a kind's rules add to its record before it is stored.
type prepared struct {
	secret  []byte
	subject string
	refs    []string // ids of the building blocks the object uses
}

// prepare applies the rules of obj's kind inside the write transaction: its
// scope must exist, its references resolve, its secrets are sealed. old is
// the stored record on update, nil on create.
func (s *Service) prepare(tx store.Tx, a *labspace.Actor, obj labspace.Object, old *store.Record) (prepared, error) {
	var p prepared
	if old != nil {
		p.secret, p.subject = old.Secret, old.Subject
	}
	m := obj.GetMeta()
	chain, err := scopeChain(tx, m.Scope)
	if err != nil {
		return p, err
	}
	switch o := obj.(type) {
	case *labspace.Project:
		if old == nil {
			recs, _, err := tx.List(labspace.KindProject, store.ListQuery{Names: []string{o.Name}, Limit: 1})
			if err != nil {
				return p, err
			}
			if len(recs) > 0 {
				return p, labspace.Errorf(labspace.ECONFLICT, "Project %q already exists.", o.Name)
			}
		}
		return p, s.prepareProject(tx, a, o, old)
	case *labspace.AccessRule:
		return p, s.prepareRule(tx, a, o, &p)
	case *labspace.User:
		// Status is labspace's: what the provider said stays as it was.
		o.Status = labspace.UserStatus{}
		if old != nil {
			var was labspace.User
			if err := store.Decode(old, &was); err != nil {
				return p, err
			}
			o.Status = was.Status
		}
		return p, nil
	case *labspace.Group:
		var v labspace.Invalid
		for i, u := range o.Spec.Members {
			if _, err := tx.GetByName(labspace.KindUser, labspace.Global, u); err != nil {
				v.Add("spec.members["+itoa(i)+"]", "no user %q", u)
			}
		}
		return p, v.ErrCode(labspace.EUNPROCESSABLE)
	case *labspace.Environment:
		if err := checkPrivileges(tx, a, o.Spec.PrivilegeUses("spec"), chain); err != nil {
			return p, err
		}
		var v labspace.Invalid
		p.refs = resolveEnvCredentials(tx, a, "spec.env", o.Spec.Env, chain, &v)
		return p, v.ErrCode(labspace.EUNPROCESSABLE)
	case *labspace.DataSource:
		if err := checkPrivileges(tx, a, o.Spec.PrivilegeUses("spec"), chain); err != nil {
			return p, err
		}
		var v labspace.Invalid
		for _, name := range o.Spec.CredentialRefs() {
			if r := resolveAsset(tx, a, labspace.KindCredential, name, chain, "spec."+string(o.Spec.Type)+".credential", &v); r != nil {
				p.refs = append(p.refs, r.ID)
			}
		}
		return p, v.ErrCode(labspace.EUNPROCESSABLE)
	case *labspace.Credential:
		plain, err := json.Marshal(o.Spec.Secret())
		if err != nil {
			return p, err
		}
		p.secret = s.box.Seal(plain, []byte(o.ID))
		o.Spec.Redact()
	case *labspace.Policy:
		p.refs, err = preparePolicy(tx, a, o, chain)
		return p, err
	case *labspace.Template:
		var v labspace.Invalid
		r := s.resolveBlocks(tx, a, blocks{environment: o.Spec.Environment, compute: o.Spec.Compute,
			dataSources: o.Spec.DataSources, env: o.Spec.Env}, chain, "spec.", &v)
		p.refs = r.refs
		return p, v.ErrCode(labspace.EUNPROCESSABLE)
	}
	return p, nil
}

// complete fills what an update may leave out with what is stored, before
// the update is validated: a credential's secret values, which are never
// read back, are kept when not sent again (each value left out keeps the
// stored one, while the type stays the same).
func (s *Service) complete(obj labspace.Object, old *store.Record) error {
	c, ok := obj.(*labspace.Credential)
	if !ok {
		return nil
	}
	var was labspace.Credential
	if err := store.Decode(old, &was); err != nil {
		return err
	}
	if c.Spec.Type != was.Spec.Type {
		return nil // a new type needs its own values, which validation asks for
	}
	stored, err := s.openCredential(old)
	if err != nil {
		return err
	}
	v, sp := stored.Values, &c.Spec
	switch sp.Type {
	case labspace.CredGenericSecret:
		if len(sp.Data) == 0 {
			sp.Data = v
		}
	case labspace.CredAccessKey:
		sp.AccessKeyID = cmp.Or(sp.AccessKeyID, v["accessKeyId"])
		sp.SecretAccessKey = cmp.Or(sp.SecretAccessKey, v["secretAccessKey"])
	default:
		sp.Username = cmp.Or(sp.Username, v["username"])
		sp.Password = cmp.Or(sp.Password, v["password"])
	}
	return nil
}

// scopeChain returns scope and those above it, checking that it exists.
func scopeChain(tx store.Tx, s labspace.Scope) ([]labspace.Scope, error) {
	switch s.Type {
	case labspace.ScopeProject:
		rec, err := find(tx, labspace.KindProject, s.Name)
		if labspace.ErrorCode(err) == labspace.ENOTFOUND {
			return nil, unprocessable("meta.scope.name", "no project %q", s.Name)
		} else if err != nil {
			return nil, err // a race lost, a connection gone: the store's to handle
		}
		if rec.Scope.Type == labspace.ScopeDepartment {
			return []labspace.Scope{s, rec.Scope, labspace.Global}, nil
		}
		return []labspace.Scope{s, labspace.Global}, nil
	case labspace.ScopeDepartment:
		if _, err := tx.GetByName(labspace.KindDepartment, labspace.Global, s.Name); labspace.ErrorCode(err) == labspace.ENOTFOUND {
			return nil, unprocessable("meta.scope.name", "no department %q", s.Name)
		} else if err != nil {
			return nil, err
		}
		return []labspace.Scope{s, labspace.Global}, nil
	}
	return []labspace.Scope{labspace.Global}, nil
}

func unprocessable(field, format string, args ...any) error {
	var v labspace.Invalid
	v.Add(field, format, args...)
	return v.ErrCode(labspace.EUNPROCESSABLE)
}

// resolveAsset finds a building block by id or name, in chain (a scope and
// those above it) and visible to the actor; the nearest scope wins. On
// failure it records a field error and returns nil.
func resolveAsset(tx store.Tx, a *labspace.Actor, k labspace.Kind, ref string, chain []labspace.Scope, field string, v *labspace.Invalid) *store.Record {
	if _, err := uuid.Parse(ref); err == nil {
		if r, err := tx.Get(k, ref); err == nil && inChain(r.Scope, chain) && canSee(a, k, r.Scope) {
			return r
		}
	} else {
		for _, sc := range chain {
			if r, err := tx.GetByName(k, sc, ref); err == nil && canSee(a, k, sc) {
				return r
			}
		}
	}
	v.Add(field, "no %s %q usable in %s", strings.ReplaceAll(string(k), "-", " "), ref, chain[0].Words())
	return nil
}

func inChain(s labspace.Scope, chain []labspace.Scope) bool {
	for _, c := range chain {
		if c == s {
			return true
		}
	}
	return false
}

// resolveEnvCredentials checks that each credential-backed variable names a
// usable credential with that key, fills in its id, and returns the ids.
func resolveEnvCredentials(tx store.Tx, a *labspace.Actor, field string, env []labspace.EnvVar, chain []labspace.Scope, v *labspace.Invalid) []string {
	var ids []string
	for i := range env {
		ref := env[i].Credential
		if ref == nil {
			continue
		}
		f := field + "[" + itoa(i) + "].credential"
		r := resolveAsset(tx, a, labspace.KindCredential, ref.Name, chain, f+".name", v)
		if r == nil {
			continue
		}
		var c labspace.Credential
		if err := store.Decode(r, &c); err != nil {
			v.Add(f, "cannot be read")
			continue
		}
		found := false
		for _, k := range c.Spec.Keys {
			found = found || k == ref.Key
		}
		if !found {
			v.Add(f+".key", "credential %q has no key %q (it has %s)", ref.Name, ref.Key, strings.Join(c.Spec.Keys, ", "))
			continue
		}
		ref.ID = r.ID
		ids = append(ids, r.ID)
	}
	return ids
}

// prepareRule checks an access rule: its subject exists, and the caller may
// only hand out permissions it holds itself at that scope.
func (s *Service) prepareRule(tx store.Tx, a *labspace.Actor, r *labspace.AccessRule, p *prepared) error {
	kind := map[labspace.SubjectType]labspace.Kind{labspace.SubjectUser: labspace.KindUser,
		labspace.SubjectGroup: labspace.KindGroup, labspace.SubjectApplication: labspace.KindApplication}[r.Spec.Subject.Type]
	// With single sign-on, a group may be the provider's alone: its
	// members are known at their sign-in.
	providerGroup := s.sso != nil && r.Spec.Subject.Type == labspace.SubjectGroup
	if _, err := tx.GetByName(kind, labspace.Global, r.Spec.Subject.Name); err != nil && !providerGroup {
		return unprocessable("spec.subject.name", "no %s %q", r.Spec.Subject.Type, r.Spec.Subject.Name)
	}
	for _, res := range labspace.Resources {
		for _, verb := range labspace.Verbs {
			if r.Spec.Role.Allows(res, verb) && !a.Can(verb, res, r.Scope) {
				return labspace.Errorf(labspace.EFORBIDDEN,
					"You cannot give the role %s in %s: it allows %s on %s, which your own roles there do not.", r.Spec.Role, r.Scope, verb, res)
			}
		}
	}
	p.subject = r.Spec.Subject.String()
	return nil
}

// beforeDelete refuses to delete what is in use, and removes what belongs
// only to the object (its access rules and tokens).
func (s *Service) beforeDelete(tx store.Tx, rec *store.Record) error {
	users, err := tx.Referrers(rec.ID)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = string(u.Kind) + " " + u.Scope.String() + "/" + u.Name
		}
		return labspace.Errorf(labspace.ECONFLICT, "%s %q is in use by %s.", title(rec.Kind), rec.Name, strings.Join(names, ", "))
	}
	switch rec.Kind {
	case labspace.KindProject, labspace.KindDepartment:
		scope := labspace.Scope{Type: labspace.ScopeType(rec.Kind), Name: rec.Name}
		for _, k := range append([]labspace.Kind{labspace.KindWorkspace, labspace.KindProject}, labspace.AssetKinds...) {
			recs, _, err := tx.List(k, store.ListQuery{Scopes: []labspace.Scope{scope}, Limit: 1})
			if err != nil {
				return err
			}
			if len(recs) > 0 {
				return labspace.Errorf(labspace.ECONFLICT, "%s %q still holds %s %q; delete it first.",
					title(rec.Kind), rec.Name, strings.ReplaceAll(string(k), "-", " "), recs[0].Name)
			}
		}
		return deleteRules(tx, store.ListQuery{Scopes: []labspace.Scope{scope}})
	case labspace.KindUser, labspace.KindGroup, labspace.KindApplication:
		sub := labspace.Subject{Type: labspace.SubjectType(rec.Kind), Name: rec.Name}
		if err := tx.DeleteTokensOf(sub); err != nil {
			return err
		}
		if err := deletePreferences(tx, sub); err != nil {
			return err
		}
		return deleteRules(tx, store.ListQuery{Subjects: []string{sub.String()}})
	}
	return nil
}

func deleteRules(tx store.Tx, q store.ListQuery) error {
	q.Limit = 1000
	for {
		recs, _, err := tx.List(labspace.KindAccessRule, q)
		if err != nil || len(recs) == 0 {
			return err
		}
		for _, r := range recs {
			if err := tx.Delete(labspace.KindAccessRule, r.ID); err != nil {
				return err
			}
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
