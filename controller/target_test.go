package controller_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/controller"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store/sqlstore"
)

// observed is a runtime that shows every workspace running with its tool
// at one address, and counts how often it was asked.
type observed struct{ asked int }

func (o *observed) Apply(context.Context, *labspace.Workspace) error  { return nil }
func (o *observed) Stop(context.Context, *labspace.Workspace) error   { return nil }
func (o *observed) Delete(context.Context, *labspace.Workspace) error { return nil }
func (o *observed) Observe(context.Context, *labspace.Workspace) (runtime.Observation, error) {
	o.asked++
	return runtime.Observation{State: runtime.Ready, Tools: map[string]string{"web": "10.0.0.7:8000"}}, nil
}
func (o *observed) Capacity(context.Context) (runtime.Capacity, error) {
	return runtime.Capacity{}, nil
}
func (o *observed) Workloads(context.Context) ([]string, error) { return nil, nil }
func (o *observed) Logs(context.Context, *labspace.Workspace, bool) (io.ReadCloser, error) {
	return nil, nil
}

// A replica that does not lead (its controller not running) still finds a
// tool's address for its proxy: from the runtime, asked once for a while.
func TestTargetWithoutTheLead(t *testing.T) {
	svc, w := oneWorkspace(t)
	rt := &observed{}
	c := controller.New(controller.Options{Service: svc, Runtime: rt})
	for range 3 {
		if to, ok := c.Target(w.ID, "web"); !ok || to != "10.0.0.7:8000" {
			t.Fatalf("target %q %v", to, ok)
		}
	}
	if rt.asked != 1 {
		t.Errorf("the runtime was asked %d times for 3 requests within a second", rt.asked)
	}
	if _, ok := c.Target("no-such-workspace", "web"); ok {
		t.Error("a target for a workspace that does not exist")
	}
}

// oneWorkspace is a service on a new SQLite store with one workspace,
// lab/nb, asked to run.
func oneWorkspace(t *testing.T) (*service.Service, *labspace.Workspace) {
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	svc := service.New(service.Options{Store: db, Box: box, BcryptCost: 4})
	if _, err := svc.EnsureAdmin(t.Context(), "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	raw, _, err := svc.Login(t.Context(), "admin", "admin-password-1")
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := svc.Authenticate(t.Context(), raw)
	admin := service.WithActor(t.Context(), a)
	if _, err := svc.Create(admin, &labspace.Project{Meta: labspace.Meta{Name: "lab", Scope: labspace.Global}}); err != nil {
		t.Fatal(err)
	}
	w, err := svc.CreateWorkspace(admin, "lab", &labspace.WorkspaceCreate{Name: "nb", Environment: "python-http", Compute: "cpu-small"})
	if err != nil {
		t.Fatal(err)
	}
	return svc, w
}
