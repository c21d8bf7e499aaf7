package service_test

import (
	"context"
	"slices"
	"testing"

	"github.com/labspace/labspace"
)

// Each user keeps preferences of their own: saved once, read in any
// session, never another user's; they go with the user.
func TestPreferencesAreTheUsersOwn(t *testing.T) {
	s, admin, must := adminOf(t)
	must(s.CreateUser(admin, &labspace.User{Meta: labspace.Meta{Name: "rita"}}, "rita-password-1"))
	as := func(user, password string) context.Context { return loggedIn(t, s, user, password) }
	rita := as("rita", "rita-password-1")
	if p, err := s.Preferences(rita); err != nil || p.GridColumns != nil {
		t.Fatalf("before any choice: %+v, %v", p, err)
	}
	if err := s.SetPreferences(rita, &labspace.Preferences{GridColumns: []string{"phase", "lastUsed"}}); err != nil {
		t.Fatal(err)
	}
	must(nil, s.SetPreferences(rita, &labspace.Preferences{GridColumns: []string{"phase", "stopsIn"}})) // replaced
	if p, err := s.Preferences(as("rita", "rita-password-1")); err != nil || !slices.Equal(p.GridColumns, []string{"phase", "stopsIn"}) {
		t.Errorf("another session of rita's: %+v, %v", p, err)
	}
	if p, err := s.Preferences(admin); err != nil || p.GridColumns != nil {
		t.Errorf("the administrator reads %+v, %v", p, err)
	}
	must(nil, s.SetPreferences(rita, &labspace.Preferences{GridColumns: []string{}}))
	if p, _ := s.Preferences(rita); p.GridColumns == nil || len(p.GridColumns) != 0 {
		t.Errorf("no column chosen reads back as %#v", p.GridColumns)
	}
	for _, bad := range [][]string{{"Bad-Name"}, {"phase", "phase"}, make([]string, 40)} {
		if err := s.SetPreferences(rita, &labspace.Preferences{GridColumns: bad}); labspace.ErrorCode(err) != labspace.EINVALID {
			t.Errorf("columns %q: %v, want invalid", bad, err)
		}
	}
	must(nil, s.Delete(admin, labspace.KindUser, "rita"))
	must(s.CreateUser(admin, &labspace.User{Meta: labspace.Meta{Name: "rita"}}, "rita-password-1"))
	if p, err := s.Preferences(as("rita", "rita-password-1")); err != nil || p.GridColumns != nil {
		t.Errorf("a new user of a deleted one's name inherits %+v, %v", p, err)
	}
}
