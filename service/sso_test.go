package service_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store/sqlstore"
)

// ssoService is a service with single sign-on and a clock the test moves.
func ssoService(t *testing.T, clock *time.Time) (*service.Service, context.Context) {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	svc := service.New(service.Options{Store: db, Box: box, BcryptCost: 4, Now: func() time.Time { return *clock },
		SSO: &service.SSO{AdminEmails: []string{"boss@example.org"}, AdminGroups: []string{"platform"}}})
	if _, err := svc.EnsureAdmin(t.Context(), "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.EnsureSSOAdminGroups(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, _, err := svc.Login(t.Context(), "admin", "admin-password-1")
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := svc.Authenticate(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return svc, service.WithActor(t.Context(), a)
}

// visionForGroup makes project vision, whose researchers are the
// provider's group vision-team (no such group exists in labspace).
func visionForGroup(t *testing.T, svc *service.Service, admin context.Context) {
	t.Helper()
	if _, err := svc.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: "vision", Scope: labspace.Global}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(admin, &labspace.AccessRule{Meta: labspace.Meta{Scope: labspace.ProjectScope("vision")},
		Spec: labspace.AccessRuleSpec{Subject: labspace.Subject{Type: labspace.SubjectGroup, Name: "vision-team"}, Role: labspace.RoleL1Researcher}}); err != nil {
		t.Fatalf("a rule for a provider's group: %v", err)
	}
}

func person(sub, name string, groups ...string) service.SignIn {
	return service.SignIn{ExternalIdentity: labspace.ExternalIdentity{Issuer: "https://id.example.org", Subject: sub, Groups: groups},
		Username: name, Email: name + "@example.org", EmailVerified: true}
}

// signedIn signs p in and returns the actor its session stands for.
func signedIn(t *testing.T, svc *service.Service, p service.SignIn) (*labspace.Actor, *labspace.Token) {
	t.Helper()
	raw, _, err := svc.SignInExternal(t.Context(), p)
	if err != nil {
		t.Fatalf("sign-in of %s: %v", p.Username, err)
	}
	a, tk, err := svc.Authenticate(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return a, tk
}

func can(a *labspace.Actor, project string) bool {
	return a.Can(labspace.VerbCreate, labspace.ResWorkspaces, labspace.ProjectScope(project))
}

// The provider's groups give access through access rules naming them
// (made without the group existing in labspace); a group dropped at the
// provider is access gone at the next sign-in; the provider cannot name
// someone into an existing user; disabling in labspace wins; verified
// e-mails and groups configured make administrators.
func TestSignInExternal(t *testing.T) {
	now := time.Now()
	svc, admin := ssoService(t, &now)
	visionForGroup(t, svc, admin)
	rita, _ := signedIn(t, svc, person("s-1", "Rita.Levi", "vision-team"))
	if rita.Subject.Name != "rita-levi" || !can(rita, "vision") {
		t.Fatalf("rita signed in as %q with grants %+v", rita.Subject.Name, rita.Grants)
	}
	// The same identity under a new user name stays the same user.
	again, _ := signedIn(t, svc, person("s-1", "rita.new"))
	if again.Subject.Name != "rita-levi" || can(again, "vision") {
		t.Errorf("rita after leaving the group: %q, may create in vision: %v", again.Subject.Name, can(again, "vision"))
	}
	// Someone else calling themselves admin at the provider.
	if _, _, err := svc.SignInExternal(t.Context(), person("s-2", "admin")); labspace.ErrorCode(err) != labspace.EUNAUTHORIZED ||
		!strings.Contains(err.Error(), "exists already") {
		t.Errorf("a provider user named admin: %v", err)
	}
	if _, _, err := svc.SignInExternal(t.Context(), person("s-3", "@@@")); labspace.ErrorCode(err) != labspace.EUNAUTHORIZED {
		t.Errorf("an unusable user name: %v", err)
	}
	u, err := svc.Get(admin, labspace.KindUser, "rita-levi")
	if err != nil {
		t.Fatal(err)
	}
	user := u.(*labspace.User)
	user.Spec.Disabled = true
	if _, err := svc.UpdateUser(admin, "rita-levi", user, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SignInExternal(t.Context(), person("s-1", "rita-levi", "vision-team")); labspace.ErrorCode(err) != labspace.EUNAUTHORIZED ||
		!strings.Contains(err.Error(), "disabled") {
		t.Errorf("a disabled user signing in: %v", err)
	}
	boss, _ := signedIn(t, svc, person("s-4", "boss"))
	ops, _ := signedIn(t, svc, person("s-5", "ops", "platform"))
	unverified := person("s-6", "boss2")
	unverified.Email, unverified.EmailVerified = "boss@example.org", false
	sneaky, _ := signedIn(t, svc, unverified)
	isAdmin := func(a *labspace.Actor) bool { return a.Can(labspace.VerbDelete, labspace.ResProjects, labspace.Global) }
	if !isAdmin(boss) || !isAdmin(ops) || isAdmin(sneaky) {
		t.Errorf("administrators: by e-mail %v, by group %v, by an unverified e-mail %v", isAdmin(boss), isAdmin(ops), isAdmin(sneaky))
	}
}

// A user of the provider has no password: a sign-in of the last ten
// minutes confirms a personal token instead, an older one does not.
func TestFreshSignInConfirms(t *testing.T) {
	now := time.Now()
	svc, _ := ssoService(t, &now)
	a, tk := signedIn(t, svc, person("s-1", "rita"))
	ctx := service.WithToken(service.WithActor(t.Context(), a), tk)
	if _, _, err := svc.CreatePersonalToken(ctx, "ci", time.Hour, ""); err != nil {
		t.Errorf("a personal token right after signing in: %v", err)
	}
	now = now.Add(11 * time.Minute)
	if _, _, err := svc.CreatePersonalToken(ctx, "ci-2", time.Hour, ""); labspace.ErrorCode(err) != labspace.EFORBIDDEN ||
		!strings.Contains(err.Error(), "Sign in again") {
		t.Errorf("11 minutes later: %v", err)
	}
	if _, _, err := svc.CreatePersonalToken(ctx, "ci-3", time.Hour, "guess"); labspace.ErrorCode(err) != labspace.EFORBIDDEN {
		t.Errorf("a guessed password for a user without one: %v", err)
	}
}

// The command line's code: only with the verifier of its challenge, to
// the redirect it was made for, once, within two minutes.
func TestCLICode(t *testing.T) {
	now := time.Now()
	svc, _ := ssoService(t, &now)
	a, _ := signedIn(t, svc, person("s-1", "rita"))
	ctx := service.WithActor(t.Context(), a)
	verifier := "a-verifier-of-the-command-line-that-is-long-enough"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	const back = "http://127.0.0.1:4711/callback"
	mint := func() string {
		code, err := svc.MintCLICode(ctx, challenge, back)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	code := mint()
	if _, _, err := svc.RedeemCLICode(t.Context(), code, "wrong-verifier", back); labspace.ErrorCode(err) != labspace.EUNAUTHORIZED {
		t.Errorf("a wrong verifier: %v", err)
	}
	if _, _, err := svc.RedeemCLICode(t.Context(), code, verifier, back); err == nil {
		t.Error("a code refused once was accepted on a second try")
	}
	code = mint()
	if _, _, err := svc.RedeemCLICode(t.Context(), code, verifier, "http://127.0.0.1:9999/callback"); err == nil {
		t.Error("a code accepted for another redirect")
	}
	code = mint()
	if _, _, err := svc.Authenticate(t.Context(), code); err == nil {
		t.Error("a code works as a token")
	}
	raw, _, err := svc.RedeemCLICode(t.Context(), code, verifier, back)
	if err != nil {
		t.Fatal(err)
	}
	if who, _, err := svc.Authenticate(t.Context(), raw); err != nil || who.Subject.Name != "rita" {
		t.Errorf("the command line's token: %v, %v", who, err)
	}
	if _, _, err := svc.RedeemCLICode(t.Context(), code, verifier, back); err == nil {
		t.Error("a code used twice")
	}
	code = mint()
	now = now.Add(3 * time.Minute)
	if _, _, err := svc.RedeemCLICode(t.Context(), code, verifier, back); err == nil {
		t.Error("a code used after 3 minutes")
	}
	if _, err := svc.MintCLICode(ctx, "not-a-challenge", back); labspace.ErrorCode(err) != labspace.EINVALID {
		t.Errorf("a bad challenge: %v", err)
	}
}

// An environment that runs as the identity provider's user takes its
// creator's uid, gid and groups from their last sign-in, again at each
// start; without one, or with root's, the workspace is refused.
func TestIdentityRunAs(t *testing.T) {
	now := time.Now()
	svc, admin := ssoService(t, &now)
	visionForGroup(t, svc, admin)
	env := &labspace.Environment{Meta: labspace.Meta{Name: "mine", Scope: labspace.Global},
		Spec: labspace.EnvironmentSpec{Image: "python:3-slim", Command: []string{"sleep", "600"}, RunAs: labspace.RunAs{Source: labspace.UIDFromIdP}}}
	if _, err := svc.Create(admin, env); err != nil {
		t.Fatal(err)
	}
	id := func(n int64) *int64 { return &n }
	who := person("s-1", "rita", "vision-team")
	who.UID, who.GID, who.SupplementaryGIDs = id(20001), id(20000), []int64{30001, 0}
	rita, _ := signedIn(t, svc, who)
	ctx := service.WithActor(t.Context(), rita)
	w, err := svc.CreateWorkspace(ctx, "vision", &labspace.WorkspaceCreate{Name: "nb", Environment: "mine", Compute: "cpu-small",
		DesiredPhase: labspace.PhaseStopped})
	if err != nil {
		t.Fatal(err)
	}
	if ra := w.Spec.Environment.Spec.RunAs; *ra.UID != 20001 || *ra.GID != 20000 || len(ra.SupplementalGroups) != 1 || ra.SupplementalGroups[0] != 30001 {
		t.Errorf("runAs %+v", ra)
	}
	who.UID = id(20002) // the provider's uid changed: the next start takes it
	rita, _ = signedIn(t, svc, who)
	ctx = service.WithActor(t.Context(), rita)
	if w, err = svc.SetDesiredPhase(ctx, "vision", "nb", labspace.PhaseRunning); err != nil || *w.Spec.Environment.Spec.RunAs.UID != 20002 {
		t.Errorf("started: %v, runAs %+v", err, w.Spec.Environment.Spec.RunAs)
	}
	who.UID = id(0)
	rita, _ = signedIn(t, svc, who)
	ctx = service.WithActor(t.Context(), rita)
	if _, err := svc.CreateWorkspace(ctx, "vision", &labspace.WorkspaceCreate{Name: "root", Environment: "mine", Compute: "cpu-small"}); labspace.ErrorCode(err) != labspace.EUNPROCESSABLE ||
		!strings.Contains(err.Error(), "root") {
		t.Errorf("a provider's uid 0: %v", err)
	}
	oscar, _ := signedIn(t, svc, person("s-2", "oscar", "vision-team"))
	if _, err := svc.CreateWorkspace(service.WithActor(t.Context(), oscar), "vision", &labspace.WorkspaceCreate{Name: "no-uid", Environment: "mine", Compute: "cpu-small"}); labspace.ErrorCode(err) != labspace.EUNPROCESSABLE ||
		!strings.Contains(err.Error(), "has none") {
		t.Errorf("a user without a uid from the provider: %v", err)
	}
}
