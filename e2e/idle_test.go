package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// idlePolicy sets the global policy's lifecycle rules.
func (s *server) idlePolicy(rules map[string]any) {
	s.t.Helper()
	s.must(201, "POST", "/api/v1/policies", s.admin, map[string]any{
		"meta": map[string]any{"name": "workspaces", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"lifecycle": rules}}, nil)
}

type stopped struct {
	DesiredPhase string
	Status       struct {
		Phase, PhaseReason, PhaseMessage string
		StopNotice                       *struct{ At, Message string }
	}
}

func (s *server) get(project, name string) stopped {
	s.t.Helper()
	var w stopped
	s.must(200, "GET", "/api/v1/projects/"+project+"/workspaces/"+name, s.admin, nil, &w)
	return w
}

// Real workloads with short rules: a workspace left alone is told it will
// stop, then stopped with the reason in plain words; one whose tool is
// used through the proxy is not; "keep running" counts as use.
func TestIdleWorkspacesStop(t *testing.T) {
	requireTools(t, "python3")
	s := startServer(t, freeAddr(t), t.TempDir())
	s.project("lab", map[string]any{"gpus": 0})
	s.idlePolicy(map[string]any{"idleStopSeconds": 6, "warnBeforeSeconds": 3})
	// Small enough for three at once on a 2-core machine.
	s.must(201, "POST", "/api/v1/compute-resources", s.admin, map[string]any{
		"meta": map[string]any{"name": "tiny", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"cpuRequest": "100m", "memoryRequest": "64Mi"}}, nil)
	for _, n := range []string{"alone", "used", "kept"} {
		s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
			map[string]any{"name": n, "environment": "python-http", "compute": "tiny"}, nil)
	}
	for _, n := range []string{"alone", "used", "kept"} {
		s.waitPhase("lab", n, "Running", toolStart)
	}
	// Traffic through the proxy keeps "used" alive; keep-running "kept".
	use := func() {
		if code, _ := s.call("GET", "/ws/lab/used/web/", s.admin, nil, nil); code != 200 {
			t.Fatalf("the tool through the proxy: %d", code)
		}
		s.must(200, "POST", "/api/v1/projects/lab/workspaces/kept/keep-running", s.admin, nil, nil)
	}
	// A notice comes before the stop, with the time and why.
	var notice string
	waitFor(t, "a stop notice on the idle workspace", 20*time.Second, func() bool {
		use()
		w := s.get("lab", "alone")
		if w.Status.StopNotice != nil {
			notice = w.Status.StopNotice.Message
		}
		return notice != "" || w.Status.Phase == "Stopped"
	})
	if !strings.Contains(notice, "unless used") || !strings.Contains(notice, "without tool traffic") {
		_, raw := s.call("GET", "/api/v1/projects/lab/workspaces/alone/events", s.admin, nil, nil)
		t.Errorf("stop notice %q; events %s", notice, raw)
	}
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) && s.get("lab", "alone").Status.Phase != "Stopped" {
		use()
		time.Sleep(time.Second)
	}
	w := s.get("lab", "alone")
	if w.Status.Phase != "Stopped" || w.Status.PhaseReason != "IdleTimeout" ||
		!strings.Contains(w.Status.PhaseMessage, "Stopped after 6 s without tool traffic") || !strings.Contains(w.Status.PhaseMessage, "global policy") {
		t.Fatalf("the idle workspace: %+v", w)
	}
	for _, n := range []string{"used", "kept"} {
		if w := s.get("lab", n); w.Status.Phase != "Running" {
			t.Errorf("%s, active all along, is %s (%s)", n, w.Status.Phase, w.Status.PhaseMessage)
		}
	}
	var events struct {
		Items []struct{ Type, Reason, Message string }
	}
	s.must(200, "GET", "/api/v1/projects/lab/workspaces/alone/events", s.admin, nil, &events)
	var types []string
	for _, e := range events.Items {
		types = append(types, e.Type+"/"+e.Reason)
	}
	if got := strings.Join(types, " "); !strings.Contains(got, "Warning/StopComing") || !strings.Contains(got, "AutoStopped/IdleTimeout") {
		t.Errorf("events %s: want a StopComing warning and AutoStopped", got)
	}
	// Started again, it runs without the old reason.
	s.must(202, "POST", "/api/v1/projects/lab/workspaces/alone/start", s.admin, nil, nil)
	if w := s.waitPhase("lab", "alone", "Running", toolStart); w.Status.PhaseReason == "IdleTimeout" {
		t.Errorf("restarted with the old reason: %+v", w)
	}
}

// A maximum running time stops a busy workspace, and a restart of
// labspace does not reset the clock.
func TestMaximumRunningTimeSurvivesARestart(t *testing.T) {
	requireTools(t, "python3")
	addr, dir := freeAddr(t), t.TempDir()
	s := startServer(t, addr, dir)
	s.project("lab", map[string]any{"gpus": 0})
	s.idlePolicy(map[string]any{"maxRunningSeconds": 8})
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
		map[string]any{"name": "busy", "environment": "python-http", "compute": "cpu-small"}, nil)
	s.waitPhase("lab", "busy", "Running", toolStart)
	started := time.Now()
	time.Sleep(3 * time.Second)
	s.kill()
	s = startServer(t, addr, dir)
	for time.Since(started) < 30*time.Second && s.get("lab", "busy").Status.Phase != "Stopped" {
		s.call("GET", "/ws/lab/busy/web/", s.admin, nil, nil) // busy: it does not matter
		time.Sleep(500 * time.Millisecond)
	}
	took := time.Since(started)
	w := s.get("lab", "busy")
	if w.Status.Phase != "Stopped" || w.Status.PhaseReason != "MaxDurationReached" || !strings.Contains(w.Status.PhaseMessage, "running 8 s") {
		t.Fatalf("after %s: %+v", took.Round(time.Second), w)
	}
	if took > 20*time.Second {
		t.Errorf("stopped %s after it started, for a maximum of 8 s: the restart reset the clock", took.Round(time.Second))
	}
}

// In the browser: the workspace page says a stop is coming, and why, and
// "Keep running" puts it off; the grid says it too.
func TestUIStopNoticeAndKeepRunning(t *testing.T) {
	requireTools(t, "python3")
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	team(t, s)
	s.idlePolicy(map[string]any{"idleStopSeconds": 20, "warnBeforeSeconds": 15})
	s.must(201, "POST", "/api/v1/projects/vision/workspaces", s.admin,
		map[string]any{"name": "quiet", "environment": "python-http", "compute": "cpu-small"}, nil)
	s.waitPhase("vision", "quiet", "Running", toolStart)
	b := newBrowser(t, s)
	b.signIn("admin", adminPassword, "/")
	b.open("/projects/vision/workspaces/quiet")
	b.waitFor("the stop notice", `#keep-running-form:not([hidden]) #keep-running`, 20*time.Second)
	if why := b.text("#why"); !strings.Contains(why, "StopComing") || !strings.Contains(why, "unless used") {
		t.Errorf("the page says %q", why)
	}
	b.open("/")
	b.waitFor("the grid's row", `tr[data-id]`, uiStep)
	if row := eval[string](b, "the row's phase details", `document.querySelector("tr[data-id] details.phase").textContent`); !strings.Contains(row, "Will stop at") {
		t.Errorf("the grid's row says %q", row)
	}
	b.open("/projects/vision/workspaces/quiet")
	b.waitFor("the keep-running button", `#keep-running-form:not([hidden]) #keep-running`, uiStep)
	b.click("#keep-running")
	// The page's polling hides the button once the notice is gone.
	run(b, "the notice to go", chromedp.Poll[bool](`document.getElementById("keep-running-form").hidden && !document.getElementById("why").textContent.includes("StopComing")`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if w := s.get("vision", "quiet"); w.Status.Phase != "Running" || w.Status.StopNotice != nil {
		t.Errorf("after keep running: %+v", w)
	}
}

// The new-workspace page shows the project's rules before anything is
// submitted, and a compute resource the policy refuses is disabled with
// the reason.
func TestUINewWorkspaceShowsThePolicy(t *testing.T) {
	requireChromium(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	team(t, s)
	s.must(201, "POST", "/api/v1/policies", s.admin, map[string]any{
		"meta": map[string]any{"name": "workspaces", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"fields": map[string]any{"compute.gpuDevices": map[string]any{"max": "1"},
			"general.preemptible": map[string]any{"default": "false", "canEdit": false}},
			"lifecycle": map[string]any{"idleStopSeconds": 3600}}}, nil)
	s.must(201, "POST", "/api/v1/compute-resources", s.admin, map[string]any{
		"meta": map[string]any{"name": "two-gpus", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"gpuDevices": 2, "cpuRequest": "1", "memoryRequest": "1Gi"}}, nil)
	b := newBrowser(t, s)
	b.signIn("rita", "rita-password", "/workspaces/new?project=vision")
	b.waitFor("the project's rules", "#policy", uiStep)
	rules := b.text("#policy")
	for _, want := range []string{"GPUs: at most 1 (global)", "Preemptible: fixed at false (global)", "Stops after 1 h without activity (global)"} {
		if !strings.Contains(rules, want) {
			t.Errorf("the rules say %q, want %q in them", rules, want)
		}
	}
	if !eval[bool](b, "two-gpus is disabled", `document.getElementById("compute-two-gpus").disabled`) {
		t.Error("a compute resource the policy refuses can be chosen")
	}
	if why := b.text("#compute-two-gpus-no"); !strings.Contains(why, "above the maximum of 1") {
		t.Errorf("the refusal says %q", why)
	}
	if eval[bool](b, "cpu-small is disabled", `document.getElementById("compute-cpu-small").disabled`) {
		t.Error("a compute resource within the rules is disabled")
	}
	b.shot("new-workspace-policy")
}

// A notebook whose kernel keeps computing is not idle, though nothing
// goes through the proxy (no browser is connected); one left alone is
// stopped. Only kernels count
// here, so the traffic that starts them does not.
func TestIdleKernelKeepsANotebook(t *testing.T) {
	requireTools(t, "jupyter-notebook")
	s := startServer(t, freeAddr(t), t.TempDir())
	s.project("lab", map[string]any{"gpus": 0})
	s.idlePolicy(map[string]any{"idleStopSeconds": 10, "warnBeforeSeconds": 4, "idleSignals": []string{"kernel"}})
	for _, n := range []string{"calm", "busy"} {
		s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
			map[string]any{"name": n, "environment": "jupyter", "compute": "cpu-small"}, nil)
	}
	for _, n := range []string{"calm", "busy"} {
		s.waitPhase("lab", n, "Running", toolStart)
	}
	base := "/ws/lab/busy/jupyter"
	var kernel struct{ ID string }
	s.must(201, "POST", base+"/api/kernels", s.admin, map[string]any{"name": "python3"}, &kernel)
	if got := execute(t, s, base, kernel.ID, "import threading, time\nstarted = time.time()\n1"); got != "1" {
		t.Fatalf("the kernel answered %q", got)
	}
	// Busy for 40 s, printing its progress. (A silent computation is seen
	// only through Jupyter's execution_state, which Jupyter at times
	// reports idle while the kernel runs: docs/policies.md says so.)
	send(t, s, base, kernel.ID, "for i in range(40):\n    print(i, flush=True)\n    time.sleep(1)")
	w := s.waitPhase("lab", "calm", "Stopped", 40*time.Second)
	if w.Status.PhaseReason != "IdleTimeout" || !strings.Contains(w.Status.PhaseMessage, "without notebook kernel activity") {
		t.Errorf("the calm notebook: %+v", w.Status)
	}
	time.Sleep(5 * time.Second) // past when busy would have stopped too
	if w := s.get("lab", "busy"); w.Status.Phase != "Running" {
		t.Errorf("the computing notebook is %s: %s", w.Status.Phase, w.Status.PhaseMessage)
	}
}

// send asks a kernel to run code and leaves once the kernel says it is
// busy with it (it goes on computing after its WebSocket closes).
func send(t *testing.T, s *server, base, kernel, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolStart)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+base+"/api/kernels/"+kernel+"/channels",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + s.admin}}})
	if err != nil {
		t.Fatalf("kernel WebSocket through the proxy: %v", err)
	}
	defer conn.Close(websocket.StatusNormalClosure, "")
	conn.SetReadLimit(16 << 20)
	// Jupyter nudges a kernel when a channel connects (kernel_info); the
	// nudge's "idle" arriving after our "busy" would leave the server
	// believing the kernel idle. Let the nudge finish first.
	nudge, cancelNudge := context.WithTimeout(ctx, 3*time.Second)
	for {
		var m struct {
			MsgType string `json:"msg_type"`
			Content struct {
				ExecutionState string `json:"execution_state"`
			} `json:"content"`
		}
		if wsjson.Read(nudge, conn, &m) != nil || m.MsgType == "status" && m.Content.ExecutionState == "idle" {
			break
		}
	}
	cancelNudge()
	if err := wsjson.Write(ctx, conn, executeRequest("e2e-send", code)); err != nil {
		t.Fatal(err)
	}
	for {
		var m struct {
			MsgType      string `json:"msg_type"`
			ParentHeader struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content struct {
				ExecutionState string `json:"execution_state"`
			} `json:"content"`
		}
		if err := wsjson.Read(ctx, conn, &m); err != nil {
			t.Fatalf("waiting for the kernel to be busy: %v", err)
		}
		if m.ParentHeader.MsgID == "e2e-send" && m.MsgType == "status" && m.Content.ExecutionState == "busy" {
			return
		}
	}
}

// fakeNvidiaSMI puts on PATH an nvidia-smi that lists GPUs 0 and 1 and
// reports the utilisation written in the file it returns ("index, percent"
// lines; 0 % at first).
func fakeNvidiaSMI(t *testing.T) string {
	bin := t.TempDir()
	util := filepath.Join(bin, "util.csv")
	if err := os.WriteFile(util, []byte("0, 0\n1, 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\ncase \"$*\" in\n*utilization*) cat " + util + " ;;\n*) printf '0\\n1\\n' ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(bin, "nvidia-smi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	return util
}

// GPU use as activity, from nvidia-smi (a stand-in on PATH that reports
// the utilisation the test writes): the workspace whose GPU goes to 90%
// runs on; the one whose GPU stays at 0% is stopped.
func TestIdleGPUUse(t *testing.T) {
	requireTools(t, "python3")
	util := fakeNvidiaSMI(t)
	s := startServer(t, freeAddr(t), t.TempDir())
	s.project("lab", map[string]any{"gpus": 2})
	s.idlePolicy(map[string]any{"idleStopSeconds": 10, "warnBeforeSeconds": 4, "idleSignals": []string{"gpu"}, "gpuIdleBelowPercent": 20})
	s.must(201, "POST", "/api/v1/compute-resources", s.admin, map[string]any{
		"meta": map[string]any{"name": "one-gpu-small", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"gpuDevices": 1, "cpuRequest": "100m", "memoryRequest": "64Mi"}}, nil)
	device := map[string]int{}
	for _, n := range []string{"training", "parked"} {
		s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
			map[string]any{"name": n, "environment": "python-http", "compute": "one-gpu-small"}, nil)
		s.waitPhase("lab", n, "Running", toolStart)
		var w struct {
			Status struct{ Admission struct{ GPUDevices []int } }
		}
		s.must(200, "GET", "/api/v1/projects/lab/workspaces/"+n, s.admin, nil, &w)
		if len(w.Status.Admission.GPUDevices) != 1 {
			t.Fatalf("%s holds GPUs %v, want one", n, w.Status.Admission.GPUDevices)
		}
		device[n] = w.Status.Admission.GPUDevices[0]
	}
	time.Sleep(2 * time.Second) // both idle for a while, then training starts
	busy := fmt.Sprintf("%d, 90\n%d, 3\n", device["training"], device["parked"])
	if err := os.WriteFile(util, []byte(busy), 0o644); err != nil {
		t.Fatal(err)
	}
	w := s.waitPhase("lab", "parked", "Stopped", 40*time.Second)
	if w.Status.PhaseReason != "IdleTimeout" || !strings.Contains(w.Status.PhaseMessage, "without GPU use") {
		t.Errorf("the parked workspace: %+v", w.Status)
	}
	time.Sleep(5 * time.Second)
	if w := s.get("lab", "training"); w.Status.Phase != "Running" {
		t.Errorf("the training workspace is %s: %s", w.Status.Phase, w.Status.PhaseMessage)
	}
}
