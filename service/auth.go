package service

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/store"
	"golang.org/x/crypto/bcrypt"
)

// Token prefixes make leaked tokens easy to recognise and scan for.
const (
	sessionPrefix  = "lss_"
	personalPrefix = "lsp_"
	clientPrefix   = "lsc_"
)

func badLogin() error {
	return labspace.Errorf(labspace.EUNAUTHORIZED, "Wrong user name or password.")
}

// Login checks a user's password and returns a new session token. Sign-ins
// are audited with the caller's address, failures too (the first ones of a
// run, then once when the throttle starts refusing); repeated failures are
// refused for a while (throttle.go).
func (s *Service) Login(ctx context.Context, username, password string) (string, *labspace.Token, error) {
	addr, _ := ctx.Value(sourceKey).(string)
	now := s.now()
	if d := s.throttle.wait(now, username, addr); d > 0 {
		return "", nil, tooMany(d)
	}
	raw, tk, id, err := s.login(ctx, username, password)
	who, m := "user:"+clip(username), &labspace.Meta{ID: id, Name: clip(username), Scope: labspace.Global}
	switch {
	case err == nil:
		s.throttle.succeed(username, addr)
		return raw, tk, nil
	case labspace.ErrorCode(err) != labspace.EUNAUTHORIZED:
		return "", nil, err
	}
	fails, started := s.throttle.fail(now, username, addr)
	if started {
		_ = s.auditAs(ctx, who, "sign-in-throttled", labspace.KindUser, m)
	} else if fails <= perAccountAndAddress.free {
		_ = s.auditAs(ctx, who, "sign-in-failed", labspace.KindUser, m)
	}
	return "", nil, err
}

// clip bounds a name a caller typed before it is written down.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// auditAs records action by who outside any other write.
func (s *Service) auditAs(ctx context.Context, who, action string, kind labspace.Kind, m *labspace.Meta) error {
	return s.store.Update(ctx, func(tx store.Tx) error { return s.auditBy(ctx, tx, who, action, m, kind) })
}

func (s *Service) login(ctx context.Context, username, password string) (string, *labspace.Token, string, error) {
	var rec *store.Record
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		rec, err = tx.GetByName(labspace.KindUser, labspace.Global, username)
		return err
	})
	if labspace.ErrorCode(err) == labspace.ENOTFOUND {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return "", nil, "", badLogin()
	} else if err != nil {
		return "", nil, "", err
	}
	var u labspace.User
	if err := store.Decode(rec, &u); err != nil {
		return "", nil, "", err
	}
	// A disabled user's password is not confirmed either way: the same
	// answer, after the same work.
	if bcrypt.CompareHashAndPassword(rec.Secret, []byte(password)) != nil || u.Spec.Disabled {
		return "", nil, rec.ID, badLogin()
	}
	// The sign-in is audited with its session, in one transaction.
	raw, tk, err := s.issue(ctx, labspace.Subject{Type: labspace.SubjectUser, Name: username}, labspace.TokenSession, "", s.sessionTTL,
		func(tx store.Tx, _ *labspace.Token) error {
			return s.auditBy(ctx, tx, "user:"+username, "sign-in", &labspace.Meta{ID: rec.ID, Name: username, Scope: labspace.Global}, labspace.KindUser)
		})
	return raw, tk, rec.ID, err
}

// LoginApplication checks an application's client secret and returns a session token.
func (s *Service) LoginApplication(ctx context.Context, clientID, clientSecret string) (string, *labspace.Token, error) {
	var app labspace.Application
	err := s.store.View(ctx, func(tx store.Tx) error {
		recs, _, err := tx.List(labspace.KindApplication, store.ListQuery{Subjects: []string{clientID}, Limit: 1})
		if err != nil {
			return err
		}
		if len(recs) == 0 || !constantEqual(string(recs[0].Secret), secret.HashToken(clientSecret)) {
			return labspace.Errorf(labspace.EUNAUTHORIZED, "Wrong client id or secret.")
		}
		return store.Decode(recs[0], &app)
	})
	if err != nil {
		return "", nil, err
	}
	return s.issue(ctx, labspace.Subject{Type: labspace.SubjectApplication, Name: app.Name}, labspace.TokenSession, "", s.sessionTTL, nil)
}

// issue makes a token for sub; record, when set, writes in the same
// transaction what the audit log says of it.
func (s *Service) issue(ctx context.Context, sub labspace.Subject, kind, name string, ttl time.Duration,
	record func(store.Tx, *labspace.Token) error) (string, *labspace.Token, error) {
	prefix := sessionPrefix
	if kind == labspace.TokenPersonal {
		prefix = personalPrefix
	}
	raw := secret.NewToken(prefix)
	now := s.now().UTC()
	tk := &labspace.Token{ID: uuid.NewString(), Hash: secret.HashToken(raw), Subject: sub, Kind: kind, Name: name,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertToken(tk); err != nil || record == nil {
			return err
		}
		return record(tx, tk)
	})
	if err != nil {
		return "", nil, err
	}
	return raw, tk, nil
}

// Authenticate turns a bearer token into the actor it stands for, with the
// grants of its access rules (and its groups'). The answer is kept in an
// AccessCache: revoked tokens, removed rules and disabled users are
// refused at the next request.
func (s *Service) Authenticate(ctx context.Context, raw string) (*labspace.Actor, *labspace.Token, error) {
	a, tk, err := s.authenticateAny(ctx, raw)
	if err == nil && (tk.Kind == TokenTicket || tk.Kind == TokenTool || tk.Kind == TokenCLICode) {
		// Those open one tool, on its own origin (AuthenticateTool), and
		// never labspace's API or pages.
		return nil, nil, labspace.Errorf(labspace.EUNAUTHORIZED, "The token is invalid, expired or revoked; sign in again.")
	}
	return a, tk, err
}

func (s *Service) authenticateAny(ctx context.Context, raw string) (*labspace.Actor, *labspace.Token, error) {
	hash := secret.HashToken(raw)
	e, gen, ok := s.actors.Get(hash)
	if ok {
		return e.actor, e.token, nil
	}
	a, tk, err := s.authenticate(ctx, hash)
	if err != nil {
		return nil, nil, err
	}
	s.actors.Put(hash, cachedActor{actor: a, token: tk}, gen, tk.ExpiresAt)
	return a, tk, nil
}

type cachedActor struct {
	actor *labspace.Actor
	token *labspace.Token
}

func (s *Service) authenticate(ctx context.Context, hash string) (*labspace.Actor, *labspace.Token, error) {
	var a *labspace.Actor
	var tk *labspace.Token
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		tk, err = tx.TokenByHash(hash)
		if labspace.ErrorCode(err) == labspace.ENOTFOUND || (err == nil && !s.now().Before(tk.ExpiresAt)) {
			return labspace.Errorf(labspace.EUNAUTHORIZED, "The token is invalid, expired or revoked; sign in again.")
		} else if err != nil {
			return err
		}
		a, err = s.loadActor(tx, tk.Subject)
		return err
	})
	return a, tk, err
}

// loadActor gathers the grants of a subject and the project/department
// facts needed to evaluate them.
func (s *Service) loadActor(tx store.Tx, sub labspace.Subject) (*labspace.Actor, error) {
	subjects := []string{sub.String()}
	kind := labspace.KindUser
	if sub.Type == labspace.SubjectApplication {
		kind = labspace.KindApplication
	}
	rec, err := tx.GetByName(kind, labspace.Global, sub.Name)
	if err != nil {
		return nil, labspace.Errorf(labspace.EUNAUTHORIZED, "The token's owner no longer exists.")
	}
	if sub.Type == labspace.SubjectUser {
		var u labspace.User
		if err := store.Decode(rec, &u); err != nil {
			return nil, err
		}
		if u.Spec.Disabled {
			return nil, labspace.Errorf(labspace.EUNAUTHORIZED, "This user is disabled.")
		}
		groups, err := s.groupsOf(tx, sub.Name)
		if err != nil {
			return nil, err
		}
		if id := u.Status.Identity; id != nil && s.sso != nil {
			groups = append(groups, id.Groups...) // the provider's, as of the last sign-in
		}
		for _, g := range groups {
			subjects = append(subjects, labspace.Subject{Type: labspace.SubjectGroup, Name: g}.String())
		}
	}
	rules, _, err := tx.List(labspace.KindAccessRule, store.ListQuery{Subjects: subjects, Limit: 1000})
	if err != nil {
		return nil, err
	}
	a := &labspace.Actor{Subject: sub, Departments: map[string]string{}, DepartmentProjects: map[string][]string{},
		Passwordless: sub.Type == labspace.SubjectUser && len(rec.Secret) == 0}
	var projects []string
	for _, r := range rules {
		var rule labspace.AccessRule
		if err := store.Decode(r, &rule); err != nil {
			return nil, err
		}
		a.Grants = append(a.Grants, labspace.Grant{Role: rule.Spec.Role, Scope: rule.Scope})
		switch rule.Scope.Type {
		case labspace.ScopeProject:
			projects = append(projects, rule.Scope.Name)
		case labspace.ScopeDepartment:
			recs, _, err := tx.List(labspace.KindProject, store.ListQuery{
				Scopes: []labspace.Scope{rule.Scope}, Limit: 1000})
			if err != nil {
				return nil, err
			}
			for _, p := range recs {
				a.DepartmentProjects[rule.Scope.Name] = append(a.DepartmentProjects[rule.Scope.Name], p.Name)
				a.Departments[p.Name] = rule.Scope.Name
			}
		}
	}
	if len(projects) > 0 {
		recs, _, err := tx.List(labspace.KindProject, store.ListQuery{Names: projects, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, p := range recs {
			if p.Scope.Type == labspace.ScopeDepartment {
				a.Departments[p.Name] = p.Scope.Name
			}
		}
	}
	return a, nil
}

// groupsOf returns the names of the groups user belongs to.
func (s *Service) groupsOf(tx store.Tx, user string) ([]string, error) {
	var out []string
	q := store.ListQuery{Limit: 1000}
	for {
		recs, next, err := tx.List(labspace.KindGroup, q)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			var g labspace.Group
			if err := store.Decode(r, &g); err != nil {
				return nil, err
			}
			for _, m := range g.Spec.Members {
				if m == user {
					out = append(out, g.Name)
					break
				}
			}
		}
		if next == "" {
			return out, nil
		}
		q.Continue = next
	}
}

// Logout revokes the token the caller used.
func (s *Service) Logout(ctx context.Context, tk *labspace.Token) error {
	defer s.accessChanged()
	if _, err := actor(ctx); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx store.Tx) error { return tx.DeleteToken(tk.Subject, tk.ID) })
}

// CreatePersonalToken makes a named token for the caller, shown once.
// The caller confirms with its password (an application with its client
// secret): a page that borrows a signed-in browser cannot mint one.
func (s *Service) CreatePersonalToken(ctx context.Context, name string, ttl time.Duration, password string) (string, *labspace.Token, error) {
	a, err := actor(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := s.confirm(ctx, a, password); err != nil {
		return "", nil, err
	}
	var v labspace.Invalid
	labspace.ValidateName("name", name, &v)
	if ttl <= 0 || ttl > 2*365*24*time.Hour {
		v.Add("expiresInSeconds", "must be between 1 second and 2 years")
	}
	if err := v.Err(); err != nil {
		return "", nil, err
	}
	return s.issue(ctx, a.Subject, labspace.TokenPersonal, name, ttl, func(tx store.Tx, tk *labspace.Token) error {
		return s.audit(ctx, tx, "create-token", &labspace.Meta{ID: tk.ID, Name: name, Scope: labspace.Global}, "token")
	})
}

// confirm checks the caller's own password, or an application's client
// secret: what a stolen session alone does not give.
func (s *Service) confirm(ctx context.Context, a *labspace.Actor, password string) error {
	kind := labspace.KindUser
	if a.Subject.Type == labspace.SubjectApplication {
		kind = labspace.KindApplication
	}
	var rec *store.Record
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		rec, err = tx.GetByName(kind, labspace.Global, a.Subject.Name)
		return err
	})
	if err != nil {
		return err
	}
	if kind == labspace.KindUser && len(rec.Secret) == 0 {
		// A user of the identity provider has no password: a sign-in
		// there of the last minutes confirms instead.
		if tk := tokenFrom(ctx); tk != nil && tk.Kind == labspace.TokenSession && s.now().Sub(tk.CreatedAt) < freshSignIn {
			return nil
		}
		return &labspace.Error{Code: labspace.EFORBIDDEN, Message: "Sign in again through your identity provider to confirm (a sign-in of the last 10 minutes counts).",
			Fields: []labspace.FieldError{{Field: "password", Detail: "you have none: sign in again instead"}}}
	}
	if password == "" {
		return labspace.FieldErr("password", "confirm with your password (an application: its client secret)")
	}
	ok := false
	if kind == labspace.KindApplication {
		ok = constantEqual(string(rec.Secret), secret.HashToken(password))
	} else {
		ok = bcrypt.CompareHashAndPassword(rec.Secret, []byte(password)) == nil
	}
	if !ok {
		return &labspace.Error{Code: labspace.EFORBIDDEN, Message: "The password does not match.",
			Fields: []labspace.FieldError{{Field: "password", Detail: "is not your password"}}}
	}
	return nil
}

// freshSignIn is how recent a sign-in through the identity provider must
// be to confirm as a password would.
const freshSignIn = 10 * time.Minute

// ListTokens lists the caller's tokens (never their values).
func (s *Service) ListTokens(ctx context.Context) ([]labspace.Token, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out []labspace.Token
	err = s.store.View(ctx, func(tx store.Tx) error {
		out, err = tx.ListTokens(a.Subject)
		return err
	})
	return out, err
}

// RevokeToken deletes one of the caller's tokens; it stops working at once.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	defer s.accessChanged()
	a, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.DeleteToken(a.Subject, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "revoke", &labspace.Meta{ID: id, Name: "token", Scope: labspace.Global}, "token")
	})
}

// Healthy reports whether the store commits a write (a token made and
// removed in one transaction): /healthz. It needs no caller.
func (s *Service) Healthy(ctx context.Context) error {
	tk := &labspace.Token{ID: uuid.NewString(), Hash: "health-" + uuid.NewString(), Subject: ControllerSubject,
		Kind: "health", CreatedAt: s.now().UTC(), ExpiresAt: s.now().UTC()}
	return s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertToken(tk); err != nil {
			return err
		}
		return tx.DeleteToken(tk.Subject, tk.ID)
	})
}
