package service

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/store"
	"golang.org/x/crypto/bcrypt"
)

func (s *Service) hashPassword(field, password string) ([]byte, error) {
	var v labspace.Invalid
	labspace.ValidatePassword(field, password, &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
}

// CreateUser creates a local user with a password.
func (s *Service) CreateUser(ctx context.Context, u *labspace.User, password string) (*labspace.User, error) {
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword("password", password)
	if err != nil {
		return nil, err
	}
	if _, err := s.create(ctx, u, func(r *store.Record) { r.Secret = hash }); err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateUser updates a user; a non-empty password replaces the old one and
// signs the user out everywhere.
func (s *Service) UpdateUser(ctx context.Context, name string, u *labspace.User, password string) (*labspace.User, error) {
	defer s.accessChanged() // after its tokens are gone, not only after the update
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	var hash []byte
	if password != "" {
		var err error
		if hash, err = s.hashPassword("password", password); err != nil {
			return nil, err
		}
	}
	_, err := s.update(ctx, name, u, func(r *store.Record) {
		if hash != nil {
			r.Secret = hash
		}
	})
	if err != nil {
		return nil, err
	}
	if hash != nil || u.Spec.Disabled {
		err = s.store.Update(ctx, func(tx store.Tx) error {
			return tx.DeleteTokensOf(labspace.Subject{Type: labspace.SubjectUser, Name: u.Name})
		})
	}
	return u, err
}

// CreateApplication creates a service account and returns its client
// secret, which is shown this once.
// The caller confirms with its password, as for personal tokens.
func (s *Service) CreateApplication(ctx context.Context, app *labspace.Application, password string) (*labspace.Application, string, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, "", err
	}
	app.Scope = labspace.Global
	var v labspace.Invalid
	app.Validate(&v)
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	if !a.Can(labspace.VerbCreate, labspace.ResIdentities, labspace.Global) {
		return nil, "", labspace.Errorf(labspace.EFORBIDDEN, "Your role does not allow you to create applications.")
	}
	if err := s.confirm(ctx, a, password); err != nil {
		return nil, "", err
	}
	clientSecret := secret.NewToken(clientPrefix)
	app.Spec.ClientID = "app-" + app.Name
	_, err = s.create(ctx, app, func(r *store.Record) {
		r.Subject, r.Secret = app.Spec.ClientID, []byte(secret.HashToken(clientSecret))
	})
	if err != nil {
		return nil, "", err
	}
	return app, clientSecret, nil
}

// Me describes the caller: who it is and the roles it holds where.
type Me struct {
	// The caller.
	Subject labspace.Subject `json:"subject"`
	// The roles the caller holds, each over a scope.
	Grants []MeGrant `json:"grants"`
	// Passwordless: a user of the identity provider without a labspace
	// password; a sign-in there of the last 10 minutes confirms instead.
	Passwordless bool `json:"passwordless,omitempty"`
}

// MeGrant is one role over one scope.
type MeGrant struct {
	// The role.
	Role labspace.Role `json:"role"`
	// Where the role holds.
	Scope labspace.Scope `json:"scope"`
}

// WhoAmI returns the caller.
func (s *Service) WhoAmI(ctx context.Context) (*Me, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	me := &Me{Subject: a.Subject, Grants: []MeGrant{}}
	for _, g := range a.Grants {
		me.Grants = append(me.Grants, MeGrant{Role: g.Role, Scope: g.Scope})
	}
	me.Passwordless = a.Passwordless // read with the caller's grants, cached with them
	return me, nil
}

// EnsureAdmin creates, on first start, the user admin with password, makes
// it a system administrator, and adds the seed building blocks. It reports
// whether it created the user.
func (s *Service) EnsureAdmin(ctx context.Context, password string) (bool, error) {
	hash, err := s.hashPassword("password", password)
	if err != nil {
		return false, err
	}
	created := false
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetByName(labspace.KindUser, labspace.Global, "admin"); err == nil {
			return nil
		}
		system := &labspace.Actor{Subject: labspace.Subject{Type: labspace.SubjectUser, Name: "system"}}
		u := &labspace.User{Meta: labspace.Meta{Name: "admin", Scope: labspace.Global}, Spec: labspace.UserSpec{DisplayName: "Administrator"}}
		s.stamp(&u.Meta, system)
		rec, err := store.Encode(u)
		if err != nil {
			return err
		}
		rec.Secret = hash
		if err := tx.Insert(rec); err != nil {
			return err
		}
		rule := &labspace.AccessRule{Meta: labspace.Meta{Scope: labspace.Global},
			Spec: labspace.AccessRuleSpec{Subject: labspace.Subject{Type: labspace.SubjectUser, Name: "admin"}, Role: labspace.RoleSystemAdministrator}}
		var v labspace.Invalid
		rule.Validate(&v)
		s.stamp(&rule.Meta, system)
		if rec, err = store.Encode(rule); err != nil {
			return err
		}
		rec.Subject = rule.Spec.Subject.String()
		created = true
		if err := tx.Insert(rec); err != nil {
			return err
		}
		return s.seed(tx, system)
	})
	return created, err
}

// constantEqual compares secrets without leaking where they differ.
func constantEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// ChangePassword sets the caller's own password once the current one is
// confirmed, and ends every other token of the caller: a user who thinks a
// password or session leaked can act alone. keep is the token of this
// request, which stays.
func (s *Service) ChangePassword(ctx context.Context, current, next string, keep *labspace.Token) error {
	defer s.accessChanged()
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	if a.Subject.Type != labspace.SubjectUser {
		return labspace.Errorf(labspace.EFORBIDDEN, "Applications have client secrets, not passwords.")
	}
	if err := s.confirm(ctx, a, current); err != nil {
		return renameConfirm(err)
	}
	hash, err := s.hashPassword("newPassword", next)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		rec, err := tx.GetByName(labspace.KindUser, labspace.Global, a.Subject.Name)
		if err != nil {
			return err
		}
		rec.Secret = hash
		if err := tx.Update(rec); err != nil {
			return err
		}
		tokens, err := tx.ListTokens(a.Subject)
		if err != nil {
			return err
		}
		for _, tk := range tokens {
			if keep == nil || tk.ID != keep.ID {
				if err := tx.DeleteToken(tk.Subject, tk.ID); err != nil {
					return err
				}
			}
		}
		return s.audit(ctx, tx, "change-password", &labspace.Meta{ID: rec.ID, Name: rec.Name, Scope: labspace.Global}, labspace.KindUser)
	})
}

// renameConfirm reports confirm's field as currentPassword.
func renameConfirm(err error) error {
	var e *labspace.Error
	if errors.As(err, &e) {
		for i := range e.Fields {
			if e.Fields[i].Field == "password" {
				e.Fields[i].Field = "currentPassword"
			}
		}
	}
	return err
}

// RotateApplicationSecret gives application name a new client secret,
// returned this once: the old one stops working at once, and the tokens
// signed in with it end. Only the user who created the application or
// one who may change identities rotates it, confirming with its password
// as at creation. Returns ENOTFOUND when the caller may not see the
// application, EFORBIDDEN when it may see but not rotate it, and
// EPRECONDITION when it does not meet the caller's If-Match.
func (s *Service) RotateApplicationSecret(ctx context.Context, name, password string) (*labspace.Application, string, error) {
	defer s.accessChanged()
	a, err := actor(ctx)
	if err != nil {
		return nil, "", err
	}
	allowed := func(tx store.Tx) (*store.Record, error) {
		notFound := labspace.Errorf(labspace.ENOTFOUND, "Application %q not found.", name)
		if !canSee(a, labspace.KindApplication, labspace.Global) {
			return nil, notFound
		}
		rec, err := tx.GetByName(labspace.KindApplication, labspace.Global, name)
		if err != nil {
			return nil, asked(err, labspace.KindApplication, name)
		}
		owner := a.Subject.Type == labspace.SubjectUser && rec.CreatedBy == a.Subject.Name
		if !owner && !a.Can(labspace.VerbUpdate, labspace.ResIdentities, labspace.Global) {
			return nil, labspace.Errorf(labspace.EFORBIDDEN, "Only %s, who created application %q, or an administrator of identities may rotate its secret.", rec.CreatedBy, name)
		}
		return rec, precondition(ctx, labspace.KindApplication, rec.Name, rec.RV)
	}
	// Refusals first, then the password: a wrong password tells nothing
	// of an application the caller may not rotate.
	if err := s.store.View(ctx, func(tx store.Tx) error { _, err := allowed(tx); return err }); err != nil {
		return nil, "", err
	}
	if err := s.confirm(ctx, a, password); err != nil {
		return nil, "", err
	}
	clientSecret := secret.NewToken(clientPrefix)
	var app labspace.Application
	err = s.store.Update(ctx, func(tx store.Tx) error {
		rec, err := allowed(tx)
		if err != nil {
			return err
		}
		rec.Secret = []byte(secret.HashToken(clientSecret))
		rec.UpdatedAt = s.now().UTC()
		if err := tx.Update(rec); err != nil {
			return err
		}
		if err := tx.DeleteTokensOf(labspace.Subject{Type: labspace.SubjectApplication, Name: rec.Name}); err != nil {
			return err
		}
		if err := store.Decode(rec, &app); err != nil {
			return err
		}
		return s.audit(ctx, tx, "rotate-secret", &app.Meta, labspace.KindApplication)
	})
	if err != nil {
		return nil, "", err
	}
	return &app, clientSecret, nil
}
