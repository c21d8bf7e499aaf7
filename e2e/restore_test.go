package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A store restored from an older backup can say that a workspace waits
// for quota while its processes run (it was admitted after the backup).
// Those processes hold no admission: labspace asks for one, and stops them
// when the quota refuses it, so a restore never lets a project run over
// its quota unseen (they used to be marked Running, beside the workspace
// the restored store says holds the quota).
func TestRestoredStoreKeepsTheQuota(t *testing.T) {
	requireTools(t, "python3")
	addr, dir := freeAddr(t), t.TempDir()
	s := startServer(t, addr, dir)
	s.project("restore", map[string]any{"gpus": 0, "cpu": "100m"}) // one tiny workspace at a time
	tiny(s)
	create(s, "restore", "first")
	s.waitPhase("restore", "first", "Running", converge)
	create(s, "restore", "second")
	s.waitPhase("restore", "second", "Pending", converge)

	// The backup: first runs, second waits.
	s.kill()
	files := []string{"labspace.db", "labspace.db-wal", "labspace.db-shm"}
	backup := t.TempDir()
	copyFiles(t, dir, backup, files)

	s = startServer(t, addr, dir)
	s.must(202, "POST", "/api/v1/projects/restore/workspaces/first/stop", s.admin, nil, nil)
	s.waitPhase("restore", "second", "Running", converge)
	s.kill() // second's processes run on

	copyFiles(t, backup, dir, files)
	s = startServer(t, addr, dir)
	deadline := time.Now().Add(converge)
	for {
		byName := map[string]workspace{}
		for _, w := range s.workspaces("restore") {
			byName[w.Meta.Name] = w
		}
		first, second := byName["first"], byName["second"]
		groups := processGroups(dir)
		state := fmt.Sprintf("first %s (%d process groups), second %s/%s (%d)", first.Status.Phase, len(groups[first.Meta.ID]),
			second.Status.Phase, second.Status.PhaseReason, len(groups[second.Meta.ID]))
		if first.Status.Phase == "Running" && len(groups[first.Meta.ID]) == 1 &&
			second.Status.Phase == "Pending" && second.Status.PhaseReason == "NonPreemptibleOverQuota" && len(groups[second.Meta.ID]) == 0 {
			t.Logf("after the restore: %s", state)
			return
		}
		if second.Status.Phase == "Running" && first.Status.Phase == "Running" {
			t.Fatalf("both run in a project whose quota holds one: %s", state)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restore: %s; want first running and second waiting with no process", state)
		}
		time.Sleep(pollInterval)
	}
}

// copyFiles copies the named files of from into to (those missing in from
// are removed from to: a WAL checkpointed away).
func copyFiles(t *testing.T, from, to string, names []string) {
	t.Helper()
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(from, n))
		if os.IsNotExist(err) {
			_ = os.Remove(filepath.Join(to, n))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, n), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
