package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	// Kubernetes' probes: not ready while PostgreSQL is down, still live.
	probe := func(path string) int {
		res, err := http.Get("http://" + s.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if r, l := probe("/readyz"), probe("/livez"); r != 200 || l != 200 {
		t.Errorf("up: readyz %d, livez %d", r, l)
	}
	c.Stop(t)
	if r, l := probe("/readyz"), probe("/livez"); r != 503 || l != 200 {
		t.Errorf("PostgreSQL down: readyz %d (want 503), livez %d (want 200)", r, l)
	}
	c.Resume(t)
	waitFor(t, "ready again", 20*time.Second, func() bool { return probe("/readyz") == 200 })
}

// labspace migrate copies an installation from SQLite into PostgreSQL:
// the same workspaces with the same documents, and a credential sealed
// on SQLite still opens on PostgreSQL with the same key (the workload
// prints it). A second copy into the now non-empty database is refused.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	requireTools(t, "python3")
	key := "--secret-key=" + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	addr, dir := freeAddr(t), t.TempDir()
	s := startServer(t, addr, dir, key)
	s.project("lab", map[string]any{"gpus": 0})
	tiny(s)
	s.must(201, "POST", "/api/v1/credentials", s.admin, map[string]any{"meta": map[string]any{"name": "api", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"type": "generic-secret", "data": map[string]string{"TOKEN": "tok-migrated-42"}}}, nil)
	s.must(201, "POST", "/api/v1/environments", s.admin, map[string]any{
		"meta": map[string]any{"name": "shows-token", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"image": "python:3-slim",
			"env":     []map[string]any{{"name": "TOKEN", "credential": map[string]any{"name": "api", "key": "TOKEN"}}},
			"tools":   []map[string]any{{"name": "web", "type": "custom", "port": 8000, "connection": "external-url", "stripPrefix": true}},
			"command": []string{"/bin/sh", "-c", `echo "token=$TOKEN"; exec python3 -m http.server $PORT --bind 127.0.0.1`}}}, nil)
	for _, n := range []string{"one", "two"} {
		s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin, map[string]any{"name": n, "environment": "shows-token",
			"compute": "tiny", "desiredPhase": "Stopped"}, nil)
	}
	var before map[string]any
	s.must(200, "GET", "/api/v1/projects/lab/workspaces/one", s.admin, nil, &before)
	s.kill()

	c := pgtest.Start(t)
	db := c.Database(t)
	out, err := exec.Command(binary, "migrate", "--from", filepath.Join(dir, "labspace.db"), "--to", db).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Copied ") {
		t.Fatalf("labspace migrate: %v: %s", err, out)
	}
	s = startServer(t, freeAddr(t), t.TempDir(), "--database", db, key)
	var after map[string]any
	s.must(200, "GET", "/api/v1/projects/lab/workspaces/one", s.admin, nil, &after)
	// The new server's controller has looked at it since (its status and
	// version move); what it is stays.
	for _, part := range []string{"spec", "sharing", "desiredPhase"} {
		if b, a := mustJSON(before[part]), mustJSON(after[part]); b != a {
			t.Errorf("the workspace's %s changed in the copy:\nbefore %s\nafter  %s", part, b, a)
		}
	}
	bm, am := before["meta"].(map[string]any), after["meta"].(map[string]any)
	for _, k := range []string{"id", "name", "createdAt", "createdBy"} {
		if bm[k] != am[k] {
			t.Errorf("meta.%s: %v before, %v after", k, bm[k], am[k])
		}
	}
	var list struct {
		Items []struct{ Meta struct{ Name string } }
	}
	s.must(200, "GET", "/api/v1/projects/lab/workspaces", s.admin, nil, &list)
	if len(list.Items) != 2 {
		t.Errorf("%d workspaces after the copy, want 2", len(list.Items))
	}
	s.must(202, "POST", "/api/v1/projects/lab/workspaces/one/start", s.admin, nil, nil)
	s.waitPhase("lab", "one", "Running", toolStart)
	if _, logs := s.call("GET", "/api/v1/projects/lab/workspaces/one/logs", s.admin, nil, nil); !strings.Contains(string(logs), "token=tok-migrated-42") {
		t.Errorf("the credential did not open after the copy:\n%s", logs)
	}
	out, err = exec.Command(binary, "migrate", "--from", filepath.Join(dir, "labspace.db"), "--to", db).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "holds") {
		t.Errorf("a second copy into a non-empty database: %v: %s", err, out)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
