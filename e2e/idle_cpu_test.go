package e2e

import (
	"strings"
	"testing"
	"time"
)

// CPU use as activity, read from the process table: a workspace whose
// command computes (printing nothing, with no tool traffic) runs on past
// the idle time; one that sleeps is stopped, saying it saw no CPU use.
func TestIdleCPUUse(t *testing.T) {
	requireTools(t, "python3")
	s := startServer(t, freeAddr(t), t.TempDir())
	s.project("lab", map[string]any{"gpus": 0})
	s.idlePolicy(map[string]any{"idleStopSeconds": 8, "warnBeforeSeconds": 3, "idleSignals": []string{"cpu"},
		"cpuIdleBelowMillicores": 50})
	s.must(201, "POST", "/api/v1/compute-resources", s.admin, map[string]any{
		"meta": map[string]any{"name": "third", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"cpuRequest": "100m", "cpuLimit": "300m", "memoryRequest": "64Mi"}}, nil)
	commands := map[string]string{
		// Both serve their tool; one also computes in silence, the kind of
		// work a kernel check may miss.
		"computing": "python3 -m http.server $PORT --bind 127.0.0.1 & while :; do :; done",
		"sleeping":  "exec python3 -m http.server $PORT --bind 127.0.0.1",
	}
	for name, script := range commands {
		s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin, map[string]any{"name": name, "environment": "python-http",
			"compute": "third", "command": []string{"/bin/sh", "-c", script}}, nil)
	}
	for name := range commands {
		s.waitPhase("lab", name, "Running", toolStart)
	}
	w := s.waitPhase("lab", "sleeping", "Stopped", 40*time.Second)
	if w.Status.PhaseReason != "IdleTimeout" || !strings.Contains(w.Status.PhaseMessage, "without CPU use") {
		t.Errorf("the sleeping workspace: %+v", w.Status)
	}
	time.Sleep(5 * time.Second)
	if w := s.get("lab", "computing"); w.Status.Phase != "Running" || w.Status.StopNotice != nil {
		t.Errorf("the computing workspace: %+v", w.Status)
	}
	s.must(202, "POST", "/api/v1/projects/lab/workspaces/computing/stop", s.admin, nil, nil)
}

// An idle timer outlives a restart of labspace: the workspace stops about
// when it would have, not a whole idle time after the restart.
func TestIdleTimerSurvivesARestart(t *testing.T) {
	requireTools(t, "python3")
	addr, dir := freeAddr(t), t.TempDir()
	s := startServer(t, addr, dir)
	s.project("lab", map[string]any{"gpus": 0})
	s.idlePolicy(map[string]any{"idleStopSeconds": 10, "warnBeforeSeconds": 3, "idleSignals": []string{"tool-traffic"}})
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
		map[string]any{"name": "alone", "environment": "python-http", "compute": "cpu-small"}, nil)
	s.waitPhase("lab", "alone", "Running", toolStart)
	started := time.Now()
	time.Sleep(5 * time.Second)
	s.kill()
	s = startServer(t, addr, dir)
	w := s.waitPhase("lab", "alone", "Stopped", 30*time.Second)
	took := time.Since(started)
	if w.Status.PhaseReason != "IdleTimeout" {
		t.Fatalf("after %s: %+v", took.Round(time.Second), w.Status)
	}
	// 10 s idle; a timer reset by the restart would stop it 15 s after the start at the earliest.
	if took > 14*time.Second {
		t.Errorf("stopped %s after it started, idle for 10 s: the restart reset the timer", took.Round(time.Second))
	}
}
