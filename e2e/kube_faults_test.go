package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// converged waits until every workspace of project is in the phase its
// desired phase leads to, and the cluster has exactly one pod for each
// running workspace and none for any other.
func converged(t *testing.T, s *server, project string, within time.Duration) {
	t.Helper()
	c := cluster(t)
	var why string
	deadline, logged := time.Now().Add(within), time.Now()
	for time.Now().Before(deadline) {
		if why != "" && time.Since(logged) > 5*time.Second {
			t.Logf("converging: %s", why)
			logged = time.Now()
		}
		why = ""
		running := map[string]bool{}
		for _, w := range s.workspaces(project) {
			want := map[string]string{"Running": "Running", "Stopped": "Stopped"}[w.DesiredPhase]
			if w.Status.Phase != want {
				why = fmt.Sprintf("%s is %s (%s), want %s", w.Meta.Name, w.Status.Phase, w.Status.PhaseReason, want)
				break
			}
			running[w.Meta.ID] = want == "Running"
		}
		if why == "" {
			perWorkspace := map[string]int{}
			for _, p := range pods(t, c, "labspace-"+project, "") {
				perWorkspace[p.Labels["labspace.dev/workspace-id"]]++
			}
			for id, run := range running {
				if n := perWorkspace[id]; run && n != 1 || !run && n != 0 {
					why = fmt.Sprintf("workspace %s has %d pods", id, n)
				}
				delete(perWorkspace, id)
			}
			for id, n := range perWorkspace {
				why = fmt.Sprintf("%d pods of no workspace (%s)", n, id)
			}
		}
		if why == "" {
			return
		}
		time.Sleep(pollInterval)
	}
	t.Fatalf("not converged: %s", why)
}

// The API server is stopped for 20 s while workspaces are being created,
// stopped and started. labspace keeps taking requests; once the API server
// is back every workspace converges, with no pod lost or duplicated.
func TestKubeAPIServerOutage(t *testing.T) {
	s, c := kubeServer(t, "outage")
	kubeBlocks(s, freePort(t))
	s.project("outage", map[string]any{"gpus": 0})
	for i := 0; i < 6; i++ {
		s.kubeCreate("outage", fmt.Sprintf("w%d", i), "one-cpu", nil)
	}
	converged(t, s, "outage", converge)

	s.kubeCreate("outage", "during-0", "one-cpu", nil) // in flight as the API server goes
	c.StopAPIServer()
	s.must(202, "POST", "/api/v1/projects/outage/workspaces/w0/stop", s.admin, nil, nil)
	s.must(202, "POST", "/api/v1/projects/outage/workspaces/w1/stop", s.admin, nil, nil)
	s.kubeCreate("outage", "during-1", "one-cpu", nil)
	s.kubeCreate("outage", "during-2", "one-cpu", nil)
	time.Sleep(20 * time.Second)
	if err := c.StartAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	s.must(202, "POST", "/api/v1/projects/outage/workspaces/w0/start", s.admin, nil, nil)
	converged(t, s, "outage", 2*converge)
	t.Logf("converged %s after the API server came back", time.Since(back).Round(time.Second))
	if n := len(s.workspaces("outage")); n != 9 {
		t.Errorf("%d workspaces, want 9", n)
	}
}

// labspace is killed (SIGKILL) in the middle of a burst of starts and
// stops, twice; after each restart everything converges with exactly one
// pod per running workspace.
func TestKubeLabspaceKilledMidStart(t *testing.T) {
	c := cluster(t)
	addr, dir := freeAddr(t), t.TempDir()
	flags := []string{"--kubeconfig", c.Kubeconfig}
	cleanPods(t, c, "crashy")
	s := startServer(t, addr, dir, flags...)
	kubeBlocks(s, freePort(t))
	s.project("crashy", map[string]any{"gpus": 0})
	for round := 0; round < 2; round++ {
		for i := 0; i < 5; i++ {
			s.kubeCreate("crashy", fmt.Sprintf("r%d-%d", round, i), "one-cpu", nil)
		}
		if round > 0 {
			s.must(202, "POST", "/api/v1/projects/crashy/workspaces/r0-0/stop", s.admin, nil, nil)
			s.must(202, "DELETE", "/api/v1/projects/crashy/workspaces/r0-1", s.admin, nil, nil)
		}
		time.Sleep(time.Duration(50+100*round) * time.Millisecond)
		s.kill()
		s = startServer(t, addr, dir, flags...)
		converged(t, s, "crashy", converge)
	}
	if n := len(s.workspaces("crashy")); n != 9 {
		t.Errorf("%d workspaces, want 9 (10 created, 1 deleted)", n)
	}
}

// Two installations share a cluster: each labels its objects with its
// instance name, so one never collects the other's pods as orphans.
func TestKubeTwoInstallationsShareACluster(t *testing.T) {
	a, c := kubeServer(t, "twin")
	kubeBlocks(a, freePort(t))
	a.project("twin", map[string]any{"gpus": 0})
	w := a.kubeCreate("twin", "mine", "one-cpu", nil)
	a.waitPhase("twin", "mine", "Running", converge)
	b := startServer(t, freeAddr(t), t.TempDir(), "--kubeconfig", c.Kubeconfig)
	kubeBlocks(b, freePort(t))
	b.project("twin", map[string]any{"gpus": 0}) // the same project name, so the same namespace
	b.kubeCreate("twin", "theirs", "one-cpu", nil)
	b.waitPhase("twin", "theirs", "Running", converge)
	time.Sleep(2 * time.Second) // b's controller has collected what it thinks orphaned
	if n := len(pods(t, c, "labspace-twin", w.Meta.ID)); n != 1 {
		t.Errorf("the first installation's workspace has %d pods after the second started", n)
	}
	a.waitPhase("twin", "mine", "Running", converge)
}

// What is left in the cluster of a workspace the store no longer knows (a
// store restored from a backup older than the workspace) is removed when
// labspace starts, even when that is only a stopped workspace's Secret:
// no owner object holds a workspace's objects, the informers find them.
func TestKubeOrphansFoundByLabel(t *testing.T) {
	c := cluster(t)
	cleanPods(t, c, "strays")
	addr, dir := freeAddr(t), t.TempDir()
	s := startServer(t, addr, dir, "--kubeconfig", c.Kubeconfig)
	kubeBlocks(s, freePort(t))
	s.project("strays", map[string]any{"gpus": 0})
	kept := s.kubeCreate("strays", "kept", "one-cpu", nil)
	s.waitPhase("strays", "kept", "Running", converge)
	s.kill()
	files := []string{"labspace.db", "labspace.db-wal", "labspace.db-shm"}
	backup := t.TempDir()
	copyFiles(t, dir, backup, files)

	s = startServer(t, addr, dir, "--kubeconfig", c.Kubeconfig)
	running := s.kubeCreate("strays", "running", "one-cpu", nil)
	stopped := s.kubeCreate("strays", "stopped", "one-cpu", nil)
	s.waitPhase("strays", "running", "Running", converge)
	s.waitPhase("strays", "stopped", "Running", converge)
	s.must(202, "POST", "/api/v1/projects/strays/workspaces/stopped/stop", s.admin, nil, nil)
	s.waitPhase("strays", "stopped", "Stopped", converge)
	ns := "labspace-strays"
	if left := labelled(t, c, ns, stopped.Meta.ID); len(left) != 1 || !strings.HasPrefix(left[0], "secret/") {
		t.Fatalf("a stopped workspace leaves %v in the cluster, want its Secret alone", left)
	}
	s.kill()

	copyFiles(t, backup, dir, files)
	s = startServer(t, addr, dir, "--kubeconfig", c.Kubeconfig)
	waitFor(t, "the unknown workspaces' objects to go", converge, func() bool {
		return len(labelled(t, c, ns, running.Meta.ID)) == 0 && len(labelled(t, c, ns, stopped.Meta.ID)) == 0
	})
	s.waitPhase("strays", "kept", "Running", converge)
	if left := labelled(t, c, ns, kept.Meta.ID); len(left) != 2 {
		t.Errorf("the known workspace has %v, want its pod and Secret", left)
	}
}
