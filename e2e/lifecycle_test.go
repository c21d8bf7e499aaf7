package e2e

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// tiny is a compute resource small enough to run many workspaces here.
func tiny(s *server) {
	s.must(201, "POST", "/api/v1/compute-resources", s.admin, map[string]any{
		"meta": map[string]any{"name": "tiny", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"cpuRequest": "100m", "memoryRequest": "64Mi"}}, nil)
}

func create(s *server, project, name string) int {
	code, _ := s.call("POST", "/api/v1/projects/"+project+"/workspaces", s.admin,
		map[string]any{"name": name, "environment": "python-http", "compute": "tiny"}, nil)
	return code
}

// The server is killed with SIGKILL in the middle of a batch of starts
// and stops, twice. After each restart every workspace converges to its
// desired phase, and the process table holds exactly one process group
// for each running workspace and none for anything else.
func TestCrashDuringStartsAndStops(t *testing.T) {
	requireTools(t, "python3")
	addr, dir := freeAddr(t), t.TempDir()
	s := startServer(t, addr, dir)
	s.project("crash", map[string]any{"gpus": 0})
	tiny(s)
	const n = 12
	for i := 0; i < n; i++ {
		if code := create(s, "crash", fmt.Sprintf("ws-%d", i)); code != 201 {
			t.Fatalf("create: %d", code)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int, action string) {
				defer wg.Done()
				for k := 0; k < 3; k++ { // some requests land after the kill: that is the point
					s.call("POST", fmt.Sprintf("/api/v1/projects/crash/workspaces/ws-%d/%s", i, action), s.admin, nil, nil)
					action = map[string]string{"start": "stop", "stop": "start"}[action]
				}
			}(i, []string{"start", "stop"}[rng.Intn(2)])
		}
		time.Sleep(time.Duration(50+rng.Intn(250)) * time.Millisecond)
		s.kill()
		wg.Wait()
		s = startServer(t, addr, dir)
		checkConverged(t, s, "crash", n)
	}
}

// checkConverged waits until every workspace of project is in its desired
// phase and the process table agrees.
func checkConverged(t *testing.T, s *server, project string, n int) {
	t.Helper()
	deadline := time.Now().Add(converge)
	for {
		list := s.workspaces(project)
		groups := processGroups(s.dataDir)
		problem := ""
		if len(list) != n {
			problem = fmt.Sprintf("%d workspaces, want %d", len(list), n)
		}
		known := map[string]bool{}
		for _, w := range list {
			known[w.Meta.ID] = true
			want := map[string]string{"Running": "Running", "Stopped": "Stopped"}[w.DesiredPhase]
			wantGroups := map[string]int{"Running": 1, "Stopped": 0}[w.DesiredPhase]
			switch {
			case w.Status.Phase != want:
				problem = fmt.Sprintf("%s is %s (%s), desired %s", w.Meta.Name, w.Status.Phase, w.Status.PhaseMessage, w.DesiredPhase)
			case len(groups[w.Meta.ID]) != wantGroups:
				problem = fmt.Sprintf("%s (%s) has %d process groups", w.Meta.Name, w.Status.Phase, len(groups[w.Meta.ID]))
			}
		}
		for id := range groups {
			if !known[id] {
				problem = "an orphan process runs for unknown workspace " + id
			}
		}
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged: %s", problem)
		}
		time.Sleep(pollInterval)
	}
}

// 20 workspaces started at once in a project whose quota holds 3: exactly
// 3 run and 17 wait with the reason; stopping one admits the next.
func TestQuotaAdmitsExactlyWhatFits(t *testing.T) {
	requireTools(t, "python3")
	s := startServer(t, freeAddr(t), t.TempDir())
	s.project("quota", map[string]any{"gpus": 0, "cpu": "300m"})
	tiny(s)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if code := create(s, "quota", fmt.Sprintf("q-%d", i)); code != 201 {
				t.Errorf("create q-%d: %d", i, code)
			}
		}(i)
	}
	wg.Wait()
	running := waitCounts(t, s, "quota", 3, 17)
	for _, w := range s.workspaces("quota") {
		if w.Status.Phase == "Pending" && w.Status.PhaseReason != "NonPreemptibleOverQuota" {
			t.Errorf("%s pending for %q: %s", w.Meta.Name, w.Status.PhaseReason, w.Status.PhaseMessage)
		}
	}
	s.must(202, "POST", "/api/v1/projects/quota/workspaces/"+running[0]+"/stop", s.admin, nil, nil)
	s.waitPhase("quota", running[0], "Stopped", converge)
	waitCounts(t, s, "quota", 3, 16)
	groups := processGroups(s.dataDir)
	live := 0
	for _, g := range groups {
		live += len(g)
	}
	if live != 3 {
		t.Errorf("%d process groups run, want 3", live)
	}
}

// waitCounts waits until project has exactly running Running and pending
// Pending workspaces, and returns the names of the running ones.
func waitCounts(t *testing.T, s *server, project string, running, pending int) []string {
	t.Helper()
	deadline := time.Now().Add(converge)
	for {
		var names []string
		p := 0
		for _, w := range s.workspaces(project) {
			switch w.Status.Phase {
			case "Running":
				names = append(names, w.Meta.Name)
			case "Pending":
				p++
			}
		}
		if len(names) == running && p == pending {
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Running and %d Pending, want %d and %d", len(names), p, running, pending)
		}
		time.Sleep(pollInterval)
	}
}
