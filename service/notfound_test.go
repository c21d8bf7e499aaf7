package service_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store"
	"github.com/labspace/labspace/store/sqlstore"
)

// failingStore makes the next GetByName of a workspace fail with err, as
// a transaction that lost a race on PostgreSQL, or a lost connection, does.
type failingStore struct {
	store.Store
	fail atomic.Pointer[error]
}

type failingTx struct {
	store.Tx
	s *failingStore
}

func (s *failingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.View(ctx, func(tx store.Tx) error { return fn(failingTx{tx, s}) })
}

func (s *failingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, func(tx store.Tx) error { return fn(failingTx{tx, s}) })
}

func (t failingTx) GetByName(k labspace.Kind, sc labspace.Scope, name string) (*store.Record, error) {
	if err := t.s.fail.Swap(nil); err != nil && k == labspace.KindWorkspace {
		return nil, *err
	}
	return t.Tx.GetByName(k, sc, name)
}

// An error reading a workspace that is not "there is none" is not a 404:
// a stop that met a serialization failure on PostgreSQL answered "not
// found" for a workspace that exists (the failover test saw it), where
// the store must see the error to run the transaction again.
func TestOnlyAMissingWorkspaceIsNotFound(t *testing.T) {
	db, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fs := &failingStore{Store: db}
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	s := service.New(service.Options{Store: fs, Box: box, BcryptCost: 4})
	ctx := context.Background()
	if _, err := s.EnsureAdmin(ctx, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	admin := loggedIn(t, s, "admin", "admin-password-1")
	if _, err := s.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: "lab", Scope: labspace.Global}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateWorkspace(admin, "lab", &labspace.WorkspaceCreate{Name: "ws", Environment: "python-http", Compute: "cpu-small",
		DesiredPhase: labspace.PhaseStopped}); err != nil {
		t.Fatal(err)
	}
	lost := errors.New("could not serialize access")
	fs.fail.Store(&lost)
	if _, err := s.SetDesiredPhase(admin, "lab", "ws", labspace.PhaseRunning); !errors.Is(err, lost) {
		t.Errorf("a failed read: %v (%s), want the store's error", err, labspace.ErrorCode(err))
	}
	fs.fail.Store(&lost)
	if _, err := s.GetWorkspace(admin, "lab", "ws"); !errors.Is(err, lost) {
		t.Errorf("a failed read: %v (%s), want the store's error", err, labspace.ErrorCode(err))
	}
	if _, err := s.GetWorkspace(admin, "lab", "nope"); labspace.ErrorCode(err) != labspace.ENOTFOUND {
		t.Errorf("a missing workspace: %v, want not found", err)
	}
}
