package service

import (
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Single sign-on: a person the OpenID provider vouches for signs in as the
// labspace user linked to their identity (issuer and subject), made at the
// first sign-in. The provider's groups are kept on the user at each
// sign-in and count as labspace groups for access rules. Disabling the
// user in labspace still wins.

// SSO configures single sign-on in the service.
type SSO struct {
	// AdminEmails: users signing in with one of these (verified) e-mail
	// addresses become system administrators.
	AdminEmails []string
	// AdminGroups: members of these provider groups are system
	// administrators (an access rule for each group, made at start).
	AdminGroups []string
}

// SignIn is what the provider said of a person, as the web flow read it
// from a verified ID token.
type SignIn struct {
	labspace.ExternalIdentity
	// Username is the configured claim's value (preferred_username, else
	// email); labspace turns it into a user name.
	Username, Email, DisplayName string
	EmailVerified                bool
}

// SignInExternal signs in the person id describes and returns a session
// token. The first sign-in makes the user; a name already taken by a user
// not linked to this identity is refused, so that no one becomes another
// user (an administrator, say) by choosing a name at the provider.
func (s *Service) SignInExternal(ctx context.Context, id SignIn) (string, *labspace.Token, error) {
	if s.sso == nil {
		return "", nil, labspace.Errorf(labspace.EUNAUTHORIZED, "Single sign-on is not configured.")
	}
	name := UserNameFrom(id.Username)
	if name == "" {
		return "", nil, labspace.Errorf(labspace.EUNAUTHORIZED, "The identity provider gave no user name labspace can use (claim value %q).", clip(id.Username))
	}
	id.LastSignIn = s.now().UTC()
	var u labspace.User
	err := s.store.Update(ctx, func(tx store.Tx) error {
		rec, err := linkedUser(tx, &id.ExternalIdentity)
		if err != nil {
			return err
		}
		if rec == nil {
			rec, err = s.firstSignIn(ctx, tx, name, &id)
		} else {
			err = s.nextSignIn(tx, rec, &id)
		}
		if err != nil {
			return err
		}
		if err := store.Decode(rec, &u); err != nil {
			return err
		}
		if u.Spec.Disabled {
			return labspace.Errorf(labspace.EUNAUTHORIZED, "This user is disabled in labspace.")
		}
		if id.EmailVerified && slices.Contains(s.sso.AdminEmails, strings.ToLower(id.Email)) {
			return s.ensureRule(ctx, tx, labspace.Subject{Type: labspace.SubjectUser, Name: u.Name}, labspace.RoleSystemAdministrator)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	s.accessChanged() // its groups may have changed
	sub := labspace.Subject{Type: labspace.SubjectUser, Name: u.Name}
	return s.issue(ctx, sub, labspace.TokenSession, "", s.sessionTTL, func(tx store.Tx, _ *labspace.Token) error {
		return s.auditBy(ctx, tx, sub.String(), "sign-in-sso", &u.Meta, labspace.KindUser)
	})
}

// linkedUser finds the user linked to identity e (nil when none is).
func linkedUser(tx store.Tx, e *labspace.ExternalIdentity) (*store.Record, error) {
	recs, _, err := tx.List(labspace.KindUser, store.ListQuery{Subjects: []string{e.SubjectKey()}, Limit: 1})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return recs[0], nil
}

// firstSignIn makes the user for identity id, named name.
func (s *Service) firstSignIn(ctx context.Context, tx store.Tx, name string, id *SignIn) (*store.Record, error) {
	if _, err := tx.GetByName(labspace.KindUser, labspace.Global, name); err == nil {
		return nil, labspace.Errorf(labspace.EUNAUTHORIZED, "A labspace user named %q exists already and is not linked to "+
			"this identity: ask an administrator to rename or remove it, or sign in with its password.", name)
	} else if labspace.ErrorCode(err) != labspace.ENOTFOUND {
		return nil, err
	}
	now := s.now().UTC()
	u := &labspace.User{Meta: labspace.Meta{ID: uuid.NewString(), Name: name, Scope: labspace.Global, CreatedAt: now, UpdatedAt: now,
		CreatedBy: "sso"}, Spec: labspace.UserSpec{DisplayName: clip(id.DisplayName)}}
	if id.EmailVerified {
		u.Spec.Email = id.Email
	}
	var v labspace.Invalid
	if u.Validate(&v); v.Err() != nil {
		u.Spec.Email = "" // a provider's address labspace cannot use is left out
	}
	u.Status.Identity = &id.ExternalIdentity
	rec, err := store.Encode(u)
	if err != nil {
		return nil, err
	}
	rec.Subject = id.SubjectKey() // no password: rec.Secret stays empty
	if err := tx.Insert(rec); err != nil {
		return nil, err
	}
	return rec, s.auditBy(ctx, tx, "sso", "create", &u.Meta, labspace.KindUser)
}

// nextSignIn brings the linked user's identity up to date: its groups
// and POSIX identity are the provider's of today.
func (s *Service) nextSignIn(tx store.Tx, rec *store.Record, id *SignIn) error {
	var u labspace.User
	if err := store.Decode(rec, &u); err != nil {
		return err
	}
	u.Status.Identity = &id.ExternalIdentity
	u.UpdatedAt = s.now().UTC()
	next, err := store.Encode(&u)
	if err != nil {
		return err
	}
	next.RV, next.Secret, next.Subject = rec.RV, rec.Secret, rec.Subject
	if err := tx.Update(next); err != nil {
		return err
	}
	*rec = *next
	return nil
}

// ensureRule gives sub role at the global scope unless a rule does.
func (s *Service) ensureRule(ctx context.Context, tx store.Tx, sub labspace.Subject, role labspace.Role) error {
	recs, _, err := tx.List(labspace.KindAccessRule, store.ListQuery{Subjects: []string{sub.String()}, Limit: 1000})
	if err != nil {
		return err
	}
	for _, r := range recs {
		var rule labspace.AccessRule
		if err := store.Decode(r, &rule); err != nil {
			return err
		}
		if rule.Scope == labspace.Global && rule.Spec.Role == role {
			return nil
		}
	}
	now := s.now().UTC()
	rule := &labspace.AccessRule{Meta: labspace.Meta{ID: uuid.NewString(), Name: "sso-" + strings.ReplaceAll(uuid.NewString()[:8], "-", ""),
		Scope: labspace.Global, CreatedAt: now, UpdatedAt: now, CreatedBy: "sso"},
		Spec: labspace.AccessRuleSpec{Subject: sub, Role: role}}
	rec, err := store.Encode(rule)
	if err != nil {
		return err
	}
	rec.Subject = sub.String()
	if err := tx.Insert(rec); err != nil {
		return err
	}
	s.accessChanged()
	return s.auditBy(ctx, tx, "sso", "create", &rule.Meta, labspace.KindAccessRule)
}

// EnsureSSOAdminGroups gives the configured provider groups the system
// administrator's role (at start).
func (s *Service) EnsureSSOAdminGroups(ctx context.Context) error {
	if s.sso == nil {
		return nil
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		for _, g := range s.sso.AdminGroups {
			if err := s.ensureRule(ctx, tx, labspace.Subject{Type: labspace.SubjectGroup, Name: g}, labspace.RoleSystemAdministrator); err != nil {
				return err
			}
		}
		return nil
	})
}

// UserNameFrom turns a provider's user name or e-mail address into a
// labspace name: lower case, the part before '@', runs of other
// characters as one '-'; "" when nothing usable is left.
func UserNameFrom(claim string) string {
	claim = strings.ToLower(strings.TrimSpace(claim))
	if at := strings.IndexByte(claim, '@'); at > 0 {
		claim = claim[:at]
	}
	var b strings.Builder
	dash := false
	for _, r := range claim {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.TrimRight(b.String(), "-")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	var v labspace.Invalid
	if labspace.ValidateName("name", name, &v); v.Err() != nil {
		return ""
	}
	return name
}
