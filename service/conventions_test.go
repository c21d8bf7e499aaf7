package service_test

import (
	"context"
	"slices"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store"
)

func TestParseIfMatch(t *testing.T) {
	for _, tc := range []struct {
		header   string
		any      bool
		versions []int64
		bad      bool
	}{
		{header: ""},
		{header: "*", any: true},
		{header: `"7"`, versions: []int64{7}},
		{header: ` "7" , "9"`, versions: []int64{7, 9}},
		{header: `W/"7"`, versions: []int64{-1}}, // weak: never matches
		{header: `"abc"`, versions: []int64{-1}},
		{header: `"0"`, versions: []int64{-1}},
		{header: `""`, versions: []int64{-1}},
		{header: `7`, bad: true},
		{header: `"7`, bad: true},
		{header: `"7"x`, bad: true},
		{header: `"7", *`, bad: true},
		{header: `"a"b"`, bad: true},
	} {
		p, err := service.ParseIfMatch(tc.header)
		if tc.bad {
			if labspace.ErrorCode(err) != labspace.EINVALID {
				t.Errorf("%q: %v, want EINVALID", tc.header, err)
			}
			continue
		}
		if err != nil || p.Any != tc.any || !slices.Equal(p.Versions, tc.versions) {
			t.Errorf("%q: %+v %v, want any=%v versions %v", tc.header, p, err, tc.any, tc.versions)
		}
	}
}

// signIn returns the context of a new user holding role at scope.
func signIn(t *testing.T, s *service.Service, admin context.Context, name string, role labspace.Role, scope labspace.Scope) context.Context {
	t.Helper()
	if _, err := s.CreateUser(admin, &labspace.User{Meta: labspace.Meta{Name: name}}, name+"-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(admin, &labspace.AccessRule{Meta: labspace.Meta{Scope: scope},
		Spec: labspace.AccessRuleSpec{Subject: labspace.Subject{Type: labspace.SubjectUser, Name: name}, Role: role}}); err != nil {
		t.Fatal(err)
	}
	return loggedIn(t, s, name, name+"-password")
}

// The precondition is checked in the service, after the caller is found
// allowed: a stale one is EPRECONDITION for who may write, and changes
// nothing of what others are told.
func TestPreconditionAfterAuthorization(t *testing.T) {
	s, admin, mustDo := adminOf(t)
	for _, p := range []string{"pa", "pb"} {
		mustDo(s.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: p, Scope: labspace.Global}}))
	}
	env := &labspace.Environment{Meta: labspace.Meta{Name: "env", Scope: labspace.ProjectScope("pa")}, Spec: labspace.EnvironmentSpec{Image: "python:3.12"}}
	mustDo(s.Create(admin, env))
	outsider := signIn(t, s, admin, "bob", labspace.RoleL1Researcher, labspace.ProjectScope("pb"))
	viewer := signIn(t, s, admin, "vera", labspace.RoleViewer, labspace.ProjectScope("pa"))
	stale := service.Precondition{Versions: []int64{env.ResourceVersion + 1}, Sent: `"x"`}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"outsider", outsider, labspace.ENOTFOUND},
		{"viewer", viewer, labspace.EFORBIDDEN},
		{"admin", admin, labspace.EPRECONDITION},
	} {
		upd := &labspace.Environment{Meta: labspace.Meta{ResourceVersion: env.ResourceVersion}, Spec: env.Spec}
		ctx := service.WithPrecondition(tc.ctx, stale)
		if _, err := s.Update(ctx, env.ID, upd); labspace.ErrorCode(err) != tc.want {
			t.Errorf("%s update: %v, want %s", tc.name, err, tc.want)
		}
		if err := s.Delete(ctx, labspace.KindEnvironment, env.ID); labspace.ErrorCode(err) != tc.want {
			t.Errorf("%s delete: %v, want %s", tc.name, err, tc.want)
		}
	}
	got, err := s.Get(admin, labspace.KindEnvironment, env.ID)
	if err != nil || got.GetMeta().ResourceVersion != env.ResourceVersion {
		t.Fatalf("after refused writes: %v %v", got, err)
	}
	ctx := service.WithPrecondition(admin, service.Precondition{Versions: []int64{env.ResourceVersion}})
	if err := s.Delete(ctx, labspace.KindEnvironment, env.ID); err != nil {
		t.Fatal(err)
	}
}

// Filters narrow what the caller may see, never widen it.
func TestFiltersStayWithinWhatTheCallerSees(t *testing.T) {
	s, admin, mustDo := adminOf(t)
	for _, p := range []string{"pa", "pb"} {
		mustDo(s.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: p, Scope: labspace.Global},
			Spec: labspace.ProjectSpec{Quota: labspace.Quota{CPU: "8"}}}))
	}
	alice := signIn(t, s, admin, "alice", labspace.RoleL1Researcher, labspace.ProjectScope("pa"))
	bob := signIn(t, s, admin, "bob", labspace.RoleL1Researcher, labspace.ProjectScope("pb"))
	for _, c := range []struct {
		ctx           context.Context
		project, name string
	}{{alice, "pa", "alice-1"}, {bob, "pb", "bob-1"}, {bob, "pb", "shared-name"}, {alice, "pa", "shared-name"}} {
		mustDo(s.CreateWorkspace(c.ctx, c.project, &labspace.WorkspaceCreate{Name: c.name, Environment: "python-http",
			Compute: "cpu-small", DesiredPhase: labspace.PhaseStopped}))
	}
	for _, f := range [][]store.Filter{
		{{Field: "creator", Op: store.OpEqual, Value: "bob"}},
		{{Field: "name", Op: store.OpContains, Value: "bob"}},
		{{Field: "name", Op: store.OpNotEqual, Value: "x"}},
	} {
		recs, _, err := s.ListRecords(alice, labspace.KindWorkspace, store.ListQuery{Filters: f,
			Scopes: []labspace.Scope{labspace.ProjectScope("pb")}})
		if err != nil || len(recs) != 0 {
			t.Errorf("alice asks for pb with %v: %d records, %v", f, len(recs), err)
		}
		recs, _, err = s.ListRecords(alice, labspace.KindWorkspace, store.ListQuery{Filters: f})
		for _, r := range recs {
			if r.Scope.Name != "pa" {
				t.Errorf("alice with %v sees %s/%s", f, r.Scope.Name, r.Name)
			}
		}
		if err != nil {
			t.Error(err)
		}
	}
}

// Only who may see applications learns of one; only its creator or an
// administrator of identities rotates its secret.
func TestRotateApplicationSecretRefusals(t *testing.T) {
	s, admin, mustDo := adminOf(t)
	mustDo(s.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: "pa", Scope: labspace.Global}}))
	app, first, err := s.CreateApplication(admin, &labspace.Application{Meta: labspace.Meta{Name: "ci"}}, "admin-password-1")
	if err != nil {
		t.Fatal(err)
	}
	researcher := signIn(t, s, admin, "rita", labspace.RoleL1Researcher, labspace.ProjectScope("pa"))
	editor := signIn(t, s, admin, "ed", labspace.RoleEditor, labspace.Global)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		app  string
		want string
	}{
		{"researcher", researcher, "ci", labspace.ENOTFOUND},
		{"researcher, no such app", researcher, "nope", labspace.ENOTFOUND},
		{"editor", editor, "ci", labspace.EFORBIDDEN},
		{"editor, no such app", editor, "nope", labspace.ENOTFOUND},
		{"stale If-Match", service.WithPrecondition(admin, service.Precondition{Versions: []int64{app.ResourceVersion + 1}}), "ci", labspace.EPRECONDITION},
	} {
		if _, _, err := s.RotateApplicationSecret(tc.ctx, tc.app, "whatever"); labspace.ErrorCode(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if _, _, err := s.LoginApplication(context.Background(), "app-ci", first); err != nil {
		t.Fatalf("a refused rotation changed the secret: %v", err)
	}
	got, next, err := s.RotateApplicationSecret(admin, "ci", "admin-password-1")
	if err != nil || got.ResourceVersion != app.ResourceVersion+1 || next == first {
		t.Fatalf("rotation: %+v %v", got, err)
	}
	if _, _, err := s.LoginApplication(context.Background(), "app-ci", first); labspace.ErrorCode(err) != labspace.EUNAUTHORIZED {
		t.Fatalf("the old secret: %v", err)
	}
}
