package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/labspace/labspace/store/pgtest"
)

const replicaKey = "--secret-key=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// The local runtime's workspaces are processes of one host: a second
// replica on the same database refuses to start, saying why.
func TestLocalRuntimeServesOneReplica(t *testing.T) {
	pg := pgtest.Start(t)
	db := pg.Database(t)
	startServer(t, freeAddr(t), t.TempDir(), "--database", db, replicaKey)
	ctx, cancel := context.WithTimeout(context.Background(), serverStart)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "serve", "--addr", freeAddr(t), "--data-dir", t.TempDir(), "--database", db, replicaKey).CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "another labspace serves this database with the local runtime") {
		t.Errorf("a second replica on the local runtime: %v\n%s", err, out)
	}
}

// leads reads a replica's labspace_leader gauge.
func leads(t *testing.T, s *server) bool {
	return metric(scrape(t, s), "labspace_leader") == 1
}

var lastShown time.Time

// held counts the workspaces of project that hold an admission, and those
// Running, as the API shows them.
func held(s *server, project string) (holding, running int) {
	var list struct {
		Items []struct {
			Status struct {
				Phase, PhaseReason string
				Admission          *struct{}
			}
		}
	}
	s.must(200, "GET", "/api/v1/projects/"+project+"/workspaces?limit=1000", s.admin, nil, &list)
	phases := map[string]int{}
	for _, w := range list.Items {
		if w.Status.Admission != nil {
			holding++
		}
		if w.Status.Phase == "Running" {
			running++
		}
		phases[w.Status.Phase+"/"+w.Status.PhaseReason]++
	}
	if time.Since(lastShown) > 15*time.Second {
		lastShown = time.Now()
		s.t.Logf("project %s: %v", project, phases)
	}
	return holding, running
}

// Two replicas on the test cluster and one PostgreSQL: one leads; 50
// workspaces start through both, within the project's quota; the leader
// is killed and the other takes over within 15 s; stops and starts through
// it converge; PostgreSQL restarts under it and it recovers.
func TestKubeReplicasFailOver(t *testing.T) {
	c := cluster(t)
	cleanPods(t, c, "ha")
	pg := pgtest.Start(t)
	db := pg.Database(t)
	flags := []string{"--kubeconfig", c.Kubeconfig, "--database", db, replicaKey, "--instance", fmt.Sprintf("ha-%d", time.Now().UnixNano()%1e6)}
	reps := []*server{startServer(t, freeAddr(t), t.TempDir(), flags...), startServer(t, freeAddr(t), t.TempDir(), flags...)}
	var leader, other *server
	waitFor(t, "one leader", 15*time.Second, func() bool {
		a, b := leads(t, reps[0]), leads(t, reps[1])
		switch {
		case a && !b:
			leader, other = reps[0], reps[1]
		case b && !a:
			leader, other = reps[1], reps[0]
		}
		return a != b
	})
	t.Cleanup(func() { explainFailure(t, other, "ha") })
	kubeBlocks(leader, freePort(t))
	other.must(201, "POST", "/api/v1/compute-resources", other.admin, map[string]any{
		"meta": map[string]any{"name": "tenth", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"cpuRequest": "100m", "memoryRequest": "64Mi"}}, nil)
	other.project("ha", map[string]any{"gpus": 0, "cpu": "4"}) // 40 of the 50 fit
	for i := range 50 {
		reps[i%2].kubeCreate("ha", fmt.Sprintf("w%02d", i), "tenth", nil)
	}
	waitFor(t, "40 running, 10 waiting for quota", 2*converge, func() bool {
		h, r := held(other, "ha")
		if h > 40 {
			t.Fatalf("%d workspaces hold an admission, over the quota of 40", h)
		}
		return r == 40
	})
	// A change through one replica shows through the other at once: both
	// read the store (the grid and ws wait poll it).
	asked := time.Now()
	leader.must(202, "POST", "/api/v1/projects/ha/workspaces/w49/stop", leader.admin, nil, nil)
	other.waitPhase("ha", "w49", "Stopped", converge)
	t.Logf("a stop through the leader seen Stopped through the other replica %s later", time.Since(asked).Round(time.Millisecond))
	other.must(202, "POST", "/api/v1/projects/ha/workspaces/w49/start", other.admin, nil, nil)
	waitFor(t, "40 running again", 2*converge, func() bool { _, r := held(other, "ha"); return r == 40 })
	leader.kill()
	killed := time.Now()
	waitFor(t, "the other replica to lead", 20*time.Second, func() bool { return leads(t, other) })
	took := time.Since(killed)
	t.Logf("the lead moved %s after the leader was killed", took.Round(100*time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("the lead took %s to move, over 15 s", took.Round(time.Second))
	}
	for i := range 10 { // stopped: the 10 waiting take their places
		other.must(202, "POST", fmt.Sprintf("/api/v1/projects/ha/workspaces/w%02d/stop", i), other.admin, nil, nil)
	}
	waitFor(t, "the waiting ones to run in place of the stopped", 2*converge, func() bool {
		h, r := held(other, "ha")
		if h > 40 {
			t.Fatalf("%d workspaces hold an admission, over the quota of 40", h)
		}
		return r == 40
	})
	pg.Restart(t, 3*time.Second)
	other.kubeCreate("ha", "after-restart", "tenth", nil)
	other.must(202, "POST", "/api/v1/projects/ha/workspaces/w10/stop", other.admin, nil, nil)
	w := other.waitPhase("ha", "after-restart", "Running", 2*converge)
	if w.Status.Phase != "Running" || !leads(t, other) {
		t.Errorf("after PostgreSQL restarted: %s, leading %v", w.Status.Phase, leads(t, other))
	}
	if h, _ := held(other, "ha"); h > 40 {
		t.Errorf("%d hold an admission after it all, over the quota of 40", h)
	}
	// None lost or duplicated: every workspace that runs has one pod.
	var list struct {
		Items []struct {
			Meta   struct{ ID, Name string }
			Status struct{ Phase string }
		}
	}
	other.must(200, "GET", "/api/v1/projects/ha/workspaces?limit=1000", other.admin, nil, &list)
	if len(list.Items) != 51 {
		t.Errorf("%d workspaces, want the 51 created", len(list.Items))
	}
	for _, w := range list.Items {
		if n := len(pods(t, c, "labspace-ha", w.Meta.ID)); w.Status.Phase == "Running" && n != 1 {
			t.Errorf("%s runs with %d pods", w.Meta.Name, n)
		}
	}
}

// explainFailure, for a failed test, shows every workspace of project as
// the replica s sees it, and the goroutines of s (SIGQUIT makes a Go
// program print them and exit), to tell a stuck controller from a stuck
// workspace.
func explainFailure(t *testing.T, s *server, project string) {
	if !t.Failed() || s == nil || s.cmd.ProcessState != nil {
		return
	}
	var lines []string
	for _, w := range s.workspaces(project) {
		lines = append(lines, fmt.Sprintf("%s desired %s: %s/%s %s", w.Meta.Name, w.DesiredPhase, w.Status.Phase, w.Status.PhaseReason, w.Status.PhaseMessage))
	}
	sort.Strings(lines)
	t.Logf("workspaces of %s:\n%s", project, strings.Join(lines, "\n"))
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	_ = s.cmd.Wait()
	t.Logf("the replica's log and goroutines:\n%s", lastLines(s.log.String(), 400))
}
