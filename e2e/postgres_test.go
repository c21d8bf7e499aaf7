package e2e

import (
	"testing"

	"github.com/labspace/labspace/store/pgtest"
)

// labspace on PostgreSQL (--database): a workspace runs, stops, and is
// still there, with its history, after the server is killed and started
// again on the same database from another data folder (the key given).
func TestServerOnPostgres(t *testing.T) {
	requireTools(t, "python3")
	c := pgtest.Start(t)
	db := c.Database(t)
	key := "--secret-key=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	addr := freeAddr(t)
	s := startServer(t, addr, t.TempDir(), "--database", db, key)
	s.project("lab", map[string]any{"gpus": 0})
	tiny(s)
	if code := create(s, "lab", "web"); code != 201 {
		t.Fatalf("create: %d", code)
	}
	s.waitPhase("lab", "web", "Running", toolStart)
	s.must(202, "POST", "/api/v1/projects/lab/workspaces/web/stop", s.admin, nil, nil)
	s.waitPhase("lab", "web", "Stopped", converge)
	s.kill()
	s = startServer(t, addr, t.TempDir(), "--database", db, key)
	w := s.get("lab", "web")
	if w.Status.Phase != "Stopped" || w.DesiredPhase != "Stopped" {
		t.Errorf("after a restart on PostgreSQL: %+v", w)
	}
	var events struct{ Items []struct{ Type string } }
	s.must(200, "GET", "/api/v1/projects/lab/workspaces/web/events", s.admin, nil, &events)
	if len(events.Items) < 3 {
		t.Errorf("the history has %d events", len(events.Items))
	}
}
