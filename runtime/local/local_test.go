package local_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/runtime/local"
)

// Named timeouts: how long the tests wait for what a user would wait for,
// generous for a busy 2-core machine. None of them is an assertion: every
// wait ends as soon as its condition holds.
const (
	startTimeout = 10 * time.Second // a process starts and its tools answer
	stopTimeout  = 10 * time.Second // a process goes away
	fileTimeout  = 10 * time.Second // a workload writes a file or a log line
	pollInterval = 25 * time.Millisecond
	testGrace    = 300 * time.Millisecond
	longGrace    = time.Minute // no SIGKILL within a test
	// clockSlack allows for file times, which the kernel takes from a
	// coarse clock, being a tick behind time.Now.
	clockSlack = 50 * time.Millisecond
)

// The markers the local runtime puts in every workload's environment.
const (
	markerVar = "LABSPACE_WORKSPACE_ID"
	ownerVar  = "LABSPACE_RUNTIME_DIR"
)

var testGPUs = []int{0, 1, 2, 3}

// fixture is a local runtime on a folder of its own.
type fixture struct {
	t   *testing.T
	dir string
	rt  *local.Runtime
}

// writeHome puts a file in w's home as its workload would: owned by the
// workload's uid, which is not labspace's.
func (f *fixture) writeHome(w *labspace.Workspace, name, content string) {
	f.t.Helper()
	p := filepath.Join(f.home(w), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		f.t.Fatal(err)
	}
	st, err := os.Stat(f.home(w))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chown(p, int(st.Sys().(*syscall.Stat_t).Uid), int(st.Sys().(*syscall.Stat_t).Gid)); err != nil {
		f.t.Fatal(err)
	}
}

func ownerOf(t *testing.T, path string) uint32 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Uid
}

func newFixture(t *testing.T, grace time.Duration) *fixture {
	dir := t.TempDir()
	return &fixture{t: t, dir: dir, rt: newRuntime(t, dir, grace)}
}

func newRuntime(t *testing.T, dir string, grace time.Duration) *local.Runtime {
	t.Helper()
	rt, err := local.New(local.Options{Dir: dir, Grace: grace, GPUs: testGPUs})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// uuid returns a random, uuid-shaped id.
func uuid(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func newWorkspace(t *testing.T, name string, command ...string) *labspace.Workspace {
	w := &labspace.Workspace{
		Meta:         labspace.Meta{ID: uuid(t), Name: name, Scope: labspace.ProjectScope("p")},
		DesiredPhase: labspace.PhaseRunning,
	}
	w.Spec.Environment.From = labspace.AssetRef{Name: "env-" + name}
	w.Spec.Command = command
	return w
}

// shell is a workspace running script with sh.
func shell(t *testing.T, name, script string) *labspace.Workspace {
	return newWorkspace(t, name, "sh", "-c", script)
}

// start applies w and registers its deletion, which must leave no process.
func (f *fixture) start(w *labspace.Workspace) {
	f.t.Helper()
	f.cleanup(w)
	if err := f.rt.Apply(context.Background(), w); err != nil {
		f.t.Fatalf("Apply: %v", err)
	}
}

func (f *fixture) cleanup(w *labspace.Workspace) {
	f.t.Cleanup(func() {
		if err := f.rt.Delete(context.Background(), w); err != nil {
			f.t.Errorf("cleanup: Delete: %v", err)
		}
		if pids := marked(f.t, f.dir, w.ID); len(pids) > 0 {
			f.t.Errorf("cleanup: processes %v of workspace %s survive Delete", pids, w.ID)
		}
	})
}

func (f *fixture) observe(w *labspace.Workspace) runtime.Observation {
	f.t.Helper()
	return observeWith(f.t, f.rt, w)
}

func observeWith(t *testing.T, rt *local.Runtime, w *labspace.Workspace) runtime.Observation {
	t.Helper()
	obs, err := rt.Observe(context.Background(), w)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	return obs
}

// wait polls Observe until w is in state want.
func (f *fixture) wait(w *labspace.Workspace, want runtime.State, timeout time.Duration) runtime.Observation {
	f.t.Helper()
	return waitWith(f.t, f.rt, w, want, timeout)
}

func waitWith(t *testing.T, rt *local.Runtime, w *labspace.Workspace, want runtime.State, timeout time.Duration) runtime.Observation {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		obs := observeWith(t, rt, w)
		if obs.State == want {
			return obs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, workspace is %s (%s: %s), want %s", timeout, obs.State, obs.Reason, obs.Message, want)
		}
		time.Sleep(pollInterval)
	}
}

func (f *fixture) home(w *labspace.Workspace) string { return filepath.Join(f.dir, w.ID, "home") }

// waitLogs reads w's logs, without follow, until ok holds.
func (f *fixture) waitLogs(w *labspace.Workspace, ok func(logs string) bool) string {
	f.t.Helper()
	deadline := time.Now().Add(fileTimeout)
	for {
		rc, err := f.rt.Logs(context.Background(), w, false)
		if err != nil {
			f.t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			f.t.Fatal(err)
		}
		if ok(string(b)) {
			return string(b)
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("after %v the logs are %q", fileTimeout, b)
		}
		time.Sleep(pollInterval)
	}
}

func (f *fixture) workloads() []string {
	f.t.Helper()
	ids, err := f.rt.Workloads(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// waitFile waits until path exists with content that satisfies ok.
func waitFile(t *testing.T, path string, ok func(content string) bool) string {
	t.Helper()
	deadline := time.Now().Add(fileTimeout)
	for {
		raw, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if err == nil && ok(string(raw)) {
			return string(raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %s holds %q", fileTimeout, path, raw)
		}
		time.Sleep(pollInterval)
	}
}

func exists(string) bool { return true }

// marked returns the live processes that carry the runtime's marker for
// workspace id and runtime folder dir, pid to process group: the test's
// own look at /proc, independent of the runtime's.
func marked(t *testing.T, dir, id string) map[int]int {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		vars := strings.Split(string(env), "\x00")
		if !slices.Contains(vars, markerVar+"="+id) || !slices.Contains(vars, ownerVar+"="+abs) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// After the command name, in parentheses: state, ppid, pgrp.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		pgid, _ := strconv.Atoi(f[2])
		out[pid] = pgid
	}
	return out
}

// groups returns the distinct process groups of w's marked processes.
func groups(t *testing.T, dir, id string) []int {
	t.Helper()
	var gs []int
	for _, g := range marked(t, dir, id) {
		if !slices.Contains(gs, g) {
			gs = append(gs, g)
		}
	}
	return gs
}

func requirePython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
}

func webServer(t *testing.T, name string) *labspace.Workspace {
	w := newWorkspace(t, name, "python3", "-m", "http.server", "$(PORT)", "--bind", "127.0.0.1")
	w.Spec.Environment.Spec.Tools = []labspace.Tool{
		{Name: "docs", Type: "external", URL: "https://example.com/"},
		{Name: "files", Type: "custom", Port: 8000, StripPrefix: true},
	}
	return w
}

func TestToolStartsAndAnswersHTTP(t *testing.T) {
	requirePython(t)
	f := newFixture(t, testGrace)
	w := webServer(t, "web")

	if obs := f.observe(w); obs.State != runtime.Absent {
		t.Fatalf("before Apply: %s, want Absent", obs.State)
	}
	before := time.Now()
	f.start(w)
	switch obs := f.observe(w); obs.State {
	case runtime.Starting:
		if obs.Reason != "ToolsStarting" || !strings.Contains(obs.Message, "files") {
			t.Errorf("Starting with %q: %q, want ToolsStarting naming the tool", obs.Reason, obs.Message)
		}
	case runtime.Ready:
	default:
		t.Fatalf("right after Apply: %s (%s: %s), want Starting or Ready", obs.State, obs.Reason, obs.Message)
	}

	obs := f.wait(w, runtime.Ready, startTimeout)
	if len(obs.Tools) != 1 {
		t.Errorf("tools %v: want the listening tool only, not the external one", obs.Tools)
	}
	addr := obs.Tools["files"]
	if !strings.HasPrefix(addr, "http://127.0.0.1:") {
		t.Fatalf("tool address %q, want http://127.0.0.1:<port>", addr)
	}
	if obs.StartedAt.Before(before.Add(-time.Second)) || obs.StartedAt.After(time.Now()) {
		t.Errorf("StartedAt %v, want the time of Apply (%v)", obs.StartedAt, before)
	}

	// The tool answers, and serves from the workspace's home (its working folder).
	f.writeHome(w, "hello.txt", "hi from home")
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(addr + "/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "hi from home" {
		t.Errorf("GET %s/hello.txt: %d %q", addr, resp.StatusCode, body)
	}
	if ids := f.workloads(); !slices.Equal(ids, []string{w.ID}) {
		t.Errorf("Workloads = %v, want [%s]", ids, w.ID)
	}
}

func TestWorkloadEnvironment(t *testing.T) {
	t.Setenv("LABSPACE_TEST_LEAK", "from the server") // must not reach the workload
	tests := []struct {
		name      string
		admission *labspace.Admission
		gpus      string
	}{
		{"two GPUs", &labspace.Admission{Time: time.Now(), GPUDevices: []int{1, 3}}, "1,3"},
		{"admitted without GPUs", &labspace.Admission{Time: time.Now()}, ""},
		{"no admission", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testGrace)
			w := newWorkspace(t, "envws", "sh", "-c",
				`printf '%s\n' "$@" > "$HOME/args.txt"; env > "$HOME/env.tmp" && mv "$HOME/env.tmp" "$HOME/env.txt"; exec sleep 60`,
				"argv0")
			w.Spec.Args = []string{"port=$(PORT)", "greet=$(GREETING)", "literal=$$(PORT)", "missing=$(NOPE)", "tool=$(LABSPACE_PORT_SECOND_TOOL)"}
			w.Spec.Environment.Spec.Tools = []labspace.Tool{
				{Name: "docs", Type: "external", URL: "https://example.com/"},
				{Name: "web", Type: "custom", Port: 8888},
				{Name: "second.tool", Type: "tensorboard", Port: 6006},
			}
			w.Spec.Env = []labspace.EnvVar{
				{Name: "GREETING", Value: "hello"},
				{Name: "URL", Value: "http://localhost:$(PORT)$(BASE_URL)"},
			}
			w.Status.Admission = tt.admission
			f.start(w)

			env := map[string]string{}
			for _, line := range strings.Split(waitFile(t, filepath.Join(f.home(w), "env.txt"), exists), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					env[k] = v
				}
			}
			check := func(name, want string) {
				t.Helper()
				if got, ok := env[name]; !ok || got != want {
					t.Errorf("%s = %q (set: %v), want %q", name, got, ok, want)
				}
			}
			home := f.home(w)
			if iso, _ := f.rt.Isolation(); iso != local.IsolateNone {
				home = "/home/workspace" // the sandbox shows the home there
			}
			check("HOME", home)
			check("CUDA_VISIBLE_DEVICES", tt.gpus)
			check(markerVar, w.ID)
			check("GREETING", "hello")
			port := env["LABSPACE_PORT_WEB"]
			if _, err := strconv.Atoi(port); err != nil {
				t.Fatalf("LABSPACE_PORT_WEB = %q, want a port", port)
			}
			check("PORT", port)
			check("LABSPACE_BASE_URL_WEB", "/ws/p/envws/web/")
			check("BASE_URL", "/ws/p/envws/web/")
			check("LABSPACE_BASE_URL_SECOND_TOOL", "/ws/p/envws/second.tool/")
			check("URL", "http://localhost:"+port+"/ws/p/envws/web/")
			second := env["LABSPACE_PORT_SECOND_TOOL"]
			if second == "" || second == port {
				t.Errorf("LABSPACE_PORT_SECOND_TOOL = %q, want a port of its own (web has %s)", second, port)
			}
			for _, name := range []string{"LABSPACE_PORT_DOCS", "LABSPACE_BASE_URL_DOCS", "LABSPACE_TEST_LEAK"} {
				if v, ok := env[name]; ok {
					t.Errorf("%s = %q, want it unset", name, v)
				}
			}
			if env["PATH"] == "" {
				t.Error("PATH is not set")
			}

			args := strings.Split(strings.TrimSpace(waitFile(t, filepath.Join(f.home(w), "args.txt"), exists)), "\n")
			want := []string{"port=" + port, "greet=hello", "literal=$(PORT)", "missing=$(NOPE)", "tool=" + second}
			if !slices.Equal(args, want) {
				t.Errorf("args = %q, want %q", args, want)
			}

			// The tools never listen: the workspace stays Starting, with
			// the addresses the workload was told.
			obs := f.observe(w)
			if obs.State != runtime.Starting || obs.Reason != "ToolsStarting" {
				t.Errorf("observed %s (%s), want Starting (ToolsStarting)", obs.State, obs.Reason)
			}
			if obs.Tools["web"] != "http://127.0.0.1:"+port || obs.Tools["second.tool"] != "http://127.0.0.1:"+second {
				t.Errorf("tools %v, want web on %s and second.tool on %s", obs.Tools, port, second)
			}
		})
	}
}

func TestHostPathDataSourceIsLinkedIntoHome(t *testing.T) {
	f := newFixture(t, testGrace)
	data := t.TempDir()
	// Readable by all, as a dataset is: the workload runs as a uid of its own.
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "hello.txt"), []byte("shared data"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := shell(t, "data", `cat "$HOME/data/in/hello.txt" > "$HOME/copy.txt"; exec sleep 60`)
	w.Spec.DataSources = []labspace.ResolvedDataSource{{
		From: labspace.AssetRef{Name: "shared"},
		Spec: labspace.DataSourceSpec{Type: labspace.DataHostPath, MountPath: "/data/in", HostPath: &labspace.HostPathSource{Path: data}},
	}}
	f.start(w)
	if got := waitFile(t, filepath.Join(f.home(w), "copy.txt"), func(s string) bool { return s != "" }); got != "shared data" {
		t.Errorf("the workload read %q through the data source, want %q", got, "shared data")
	}
}

func TestHomeSurvivesStopAndStartAndDeleteRemovesIt(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "persist", `echo run >> "$HOME/runs.txt"; exec sleep 60`)
	runs := filepath.Join(f.home(w), "runs.txt")
	ctx := context.Background()

	f.start(w)
	waitFile(t, runs, func(s string) bool { return s == "run\n" })

	if err := f.rt.Stop(ctx, w); err != nil {
		t.Fatal(err)
	}
	f.wait(w, runtime.Absent, stopTimeout)
	if got, err := os.ReadFile(runs); err != nil || string(got) != "run\n" {
		t.Fatalf("after Stop, home holds %q (%v), want the first run's file", got, err)
	}

	if err := f.rt.Apply(ctx, w); err != nil {
		t.Fatal(err)
	}
	waitFile(t, runs, func(s string) bool { return s == "run\nrun\n" })
	f.wait(w, runtime.Ready, startTimeout)

	// Delete ends the running workload at once and removes its folder.
	if err := f.rt.Delete(ctx, w); err != nil {
		t.Fatal(err)
	}
	if pids := marked(t, f.dir, w.ID); len(pids) > 0 {
		t.Errorf("processes %v survive Delete", pids)
	}
	if _, err := os.Stat(filepath.Join(f.dir, w.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("workspace folder after Delete: %v, want it gone", err)
	}
	if obs := f.observe(w); obs.State != runtime.Absent {
		t.Errorf("after Delete: %s, want Absent", obs.State)
	}
}

func TestStopSendsSIGTERMFirst(t *testing.T) {
	f := newFixture(t, longGrace) // no SIGKILL comes within the test
	w := shell(t, "polite", `trap 'echo term > "$HOME/term.txt"; exit 0' TERM; touch "$HOME/trapped"; while :; do sleep 0.05; done`)
	f.start(w)
	waitFile(t, filepath.Join(f.home(w), "trapped"), exists)

	if err := f.rt.Stop(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if obs := f.observe(w); obs.State != runtime.Stopping && obs.State != runtime.Absent {
		t.Errorf("right after Stop: %s, want Stopping (or already Absent)", obs.State)
	}
	f.wait(w, runtime.Absent, stopTimeout)
	if got, err := os.ReadFile(filepath.Join(f.home(w), "term.txt")); err != nil || string(got) != "term\n" {
		t.Errorf("the workload's TERM trap left %q (%v): it was not stopped by SIGTERM", got, err)
	}
	if pids := marked(t, f.dir, w.ID); len(pids) > 0 {
		t.Errorf("processes %v remain after Absent", pids)
	}
}

func TestStopKillsWhatIgnoresSIGTERMAfterGrace(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "stubborn", `trap "" TERM; touch "$HOME/trapped"; sleep 600`)
	ctx := context.Background()
	f.start(w)
	waitFile(t, filepath.Join(f.home(w), "trapped"), exists)

	stopped := time.Now()
	if err := f.rt.Stop(ctx, w); err != nil {
		t.Fatal(err)
	}
	obs := f.observe(w)
	if obs.State != runtime.Stopping || obs.Reason != "Stopping" {
		t.Fatalf("right after Stop: %s (%s), want Stopping", obs.State, obs.Reason)
	}
	if len(marked(t, f.dir, w.ID)) == 0 {
		t.Fatal("the process ignoring SIGTERM is gone right after the first Stop")
	}

	// A start asked for while it stops starts nothing more.
	if err := f.rt.Apply(ctx, w); err != nil {
		t.Fatal(err)
	}
	if gs := groups(t, f.dir, w.ID); len(gs) != 1 {
		t.Errorf("process groups during Stopping after Apply: %v, want the one being stopped", gs)
	}

	// The controller keeps calling Stop; once the grace period is over the
	// runtime escalates to SIGKILL.
	for f.observe(w).State != runtime.Absent {
		if st := f.observe(w).State; st != runtime.Stopping && st != runtime.Absent {
			t.Fatalf("while stopping: %s, want Stopping then Absent", st)
		}
		if time.Since(stopped) > stopTimeout {
			t.Fatalf("after %v of Stop calls the process still runs", stopTimeout)
		}
		if err := f.rt.Stop(ctx, w); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pollInterval)
	}
	if elapsed := time.Since(stopped); elapsed < testGrace-clockSlack {
		t.Errorf("killed %v after the first Stop, before the grace period of %v", elapsed, testGrace)
	}
	if pids := marked(t, f.dir, w.ID); len(pids) > 0 {
		t.Errorf("processes %v with the marker remain after Absent", pids)
	}
	if obs := f.observe(w); obs.State != runtime.Absent {
		t.Errorf("stopped on purpose: %s (%s), want Absent, not Exited", obs.State, obs.Reason)
	}
	if err := f.rt.Stop(ctx, w); err != nil {
		t.Errorf("Stop of a stopped workspace: %v", err)
	}
}

func TestExitOnItsOwn(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "crash", `echo line one; echo line two; echo line three >&2; exit 3`)
	before := time.Now()
	f.start(w)
	obs := f.wait(w, runtime.Exited, stopTimeout)
	if obs.Reason != "ProcessExited" {
		t.Errorf("Reason %q, want ProcessExited", obs.Reason)
	}
	for _, want := range []string{"code 3", "line one", "line two", "line three"} {
		if !strings.Contains(obs.Message, want) {
			t.Errorf("Message %q does not contain %q", obs.Message, want)
		}
	}
	if obs.StartedAt.Before(before.Add(-time.Second)) {
		t.Errorf("StartedAt %v, want the time of Apply", obs.StartedAt)
	}
	if again := f.observe(w); again.State != runtime.Exited || again.Message != obs.Message {
		t.Errorf("observed again: %s %q, want the same Exited", again.State, again.Message)
	}
	if ids := f.workloads(); len(ids) != 0 {
		t.Errorf("Workloads = %v, want none running", ids)
	}

	// Applying again starts a new run.
	if err := f.rt.Apply(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	f.waitLogs(w, func(s string) bool { return strings.Count(s, "\nline two\n") == 2 })
	f.wait(w, runtime.Exited, stopTimeout)
}

func TestKilledFromOutside(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "victim", `touch "$HOME/ready"; exec sleep 600`)
	f.start(w)
	waitFile(t, filepath.Join(f.home(w), "ready"), exists)
	gs := groups(t, f.dir, w.ID)
	if len(gs) != 1 {
		t.Fatalf("process groups %v, want one", gs)
	}
	if gs[0] == syscall.Getpgrp() {
		t.Fatal("the workload runs in the test's own process group")
	}
	if err := syscall.Kill(-gs[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	obs := f.wait(w, runtime.Exited, stopTimeout)
	if obs.Reason != "Killed" || !strings.Contains(obs.Message, "killed") {
		t.Errorf("%s: %q, want Killed", obs.Reason, obs.Message)
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "once", `exec sleep 600`)
	f.cleanup(w)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.rt.Apply(context.Background(), w)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	if err := f.rt.Apply(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if gs := groups(t, f.dir, w.ID); len(gs) != 1 {
		t.Errorf("process groups after five Applies: %v, want one", gs)
	}
	if ids := f.workloads(); !slices.Equal(ids, []string{w.ID}) {
		t.Errorf("Workloads = %v, want [%s]", ids, w.ID)
	}
	f.wait(w, runtime.Ready, startTimeout)
}

func TestRuntimesOnOtherFoldersDoNotSeeEachOther(t *testing.T) {
	a, b := newFixture(t, testGrace), newFixture(t, testGrace)
	wa, wb := shell(t, "in-a", `exec sleep 600`), shell(t, "in-b", `exec sleep 600`)
	a.start(wa)
	b.start(wb)
	a.wait(wa, runtime.Ready, startTimeout)
	b.wait(wb, runtime.Ready, startTimeout)

	if iso, _ := a.rt.Isolation(); iso == local.IsolateUIDs {
		// Two installations on one host: b does not hand out the uid a's
		// workload runs as.
		ua, ub := ownerOf(t, a.home(wa)), ownerOf(t, b.home(wb))
		if ua == ub {
			t.Errorf("both workloads run as uid %d", ua)
		}
	}
	if ids := a.workloads(); !slices.Equal(ids, []string{wa.ID}) {
		t.Errorf("a.Workloads = %v, want [%s]", ids, wa.ID)
	}
	if ids := b.workloads(); !slices.Equal(ids, []string{wb.ID}) {
		t.Errorf("b.Workloads = %v, want [%s]", ids, wb.ID)
	}
	if obs := b.observe(wa); obs.State != runtime.Absent {
		t.Errorf("b observes a's workspace as %s, want Absent", obs.State)
	}
	// b can neither stop nor delete what a runs.
	ctx := context.Background()
	if err := b.rt.Stop(ctx, wa); err != nil {
		t.Fatal(err)
	}
	if err := b.rt.Delete(ctx, wa); err != nil {
		t.Fatal(err)
	}
	if obs := a.observe(wa); obs.State != runtime.Ready {
		t.Errorf("after b's Stop and Delete, a's workspace is %s (%s), want Ready", obs.State, obs.Message)
	}
	if gs := groups(t, a.dir, wa.ID); len(gs) != 1 {
		t.Errorf("a's process groups: %v, want one", gs)
	}
}

func TestNewRuntimeOnSameFolderAdoptsProcesses(t *testing.T) {
	requirePython(t)
	f := newFixture(t, testGrace)
	w := webServer(t, "adopted")
	f.start(w)
	first := f.wait(w, runtime.Ready, startTimeout)

	// A server restart: a new runtime on the same folder, knowing nothing.
	restarted := newRuntime(t, f.dir, testGrace)
	obs := observeWith(t, restarted, w)
	if obs.State != runtime.Ready {
		t.Fatalf("after restart: %s (%s: %s), want Ready", obs.State, obs.Reason, obs.Message)
	}
	if obs.Tools["files"] != first.Tools["files"] || !obs.StartedAt.Equal(first.StartedAt) {
		t.Errorf("after restart: tools %v since %v, want %v since %v", obs.Tools, obs.StartedAt, first.Tools, first.StartedAt)
	}
	ids, err := restarted.Workloads(context.Background())
	if err != nil || !slices.Equal(ids, []string{w.ID}) {
		t.Errorf("restarted Workloads = %v (%v), want [%s]", ids, err, w.ID)
	}
	if err := restarted.Apply(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	if gs := groups(t, f.dir, w.ID); len(gs) != 1 {
		t.Errorf("process groups after Apply by the restarted runtime: %v, want the adopted one only", gs)
	}
	// The restarted runtime can stop what it adopted.
	if err := restarted.Stop(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	waitWith(t, restarted, w, runtime.Absent, stopTimeout)
	if pids := marked(t, f.dir, w.ID); len(pids) > 0 {
		t.Errorf("processes %v remain after the restarted runtime stopped them", pids)
	}
}

func TestApplyRefusesWhatItCannotRun(t *testing.T) {
	withData := func(ds labspace.DataSourceSpec) func(w *labspace.Workspace) {
		return func(w *labspace.Workspace) {
			w.Spec.DataSources = []labspace.ResolvedDataSource{{From: labspace.AssetRef{Name: "ds"}, Spec: ds}}
		}
	}
	tests := []struct {
		name   string
		modify func(w *labspace.Workspace)
	}{
		{"no command", func(w *labspace.Workspace) { w.Spec.Command = nil }},
		{"empty command", func(w *labspace.Workspace) { w.Spec.Command = []string{} }},
		{"nfs data source", withData(labspace.DataSourceSpec{Type: labspace.DataNFS, MountPath: "/data",
			NFS: &labspace.NFSSource{Server: "nfs.example.com", Path: "/export"}})},
		{"pvc data source", withData(labspace.DataSourceSpec{Type: labspace.DataPVC, MountPath: "/data",
			PVC: &labspace.PVCSource{ClaimName: "claim"}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testGrace)
			w := shell(t, "refused", `exec sleep 600`)
			w.Spec.Args = []string{"ignored"}
			tt.modify(w)
			f.cleanup(w)
			err := f.rt.Apply(context.Background(), w)
			if code := labspace.ErrorCode(err); code != labspace.EUNPROCESSABLE {
				t.Fatalf("Apply: %v (code %q), want %q", err, code, labspace.EUNPROCESSABLE)
			}
			if ids := f.workloads(); len(ids) != 0 {
				t.Errorf("Workloads after a refused Apply: %v", ids)
			}
			if pids := marked(t, f.dir, w.ID); len(pids) > 0 {
				t.Errorf("processes %v after a refused Apply", pids)
			}
			if obs := f.observe(w); obs.State != runtime.Absent {
				t.Errorf("after a refused Apply: %s, want Absent", obs.State)
			}
		})
	}
}

func TestLogs(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "logs", `echo first; while [ ! -e "$HOME/go" ]; do sleep 0.05; done; echo second; exec sleep 600`)
	ctx := context.Background()

	// Before anything ran there is nothing to read, and no error.
	rc, err := f.rt.Logs(ctx, w, false)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); len(b) != 0 {
		t.Errorf("logs before Apply: %q", b)
	}
	rc.Close()

	f.start(w)
	// Without follow, the reader ends at the end of what was written.
	if b := f.waitLogs(w, func(s string) bool { return strings.Contains(s, "\nfirst\n") }); !strings.HasPrefix(b, "labspace: starting") {
		t.Errorf("logs %q do not begin with the start line", b)
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	follow, err := f.rt.Logs(fctx, w, true)
	if err != nil {
		t.Fatal(err)
	}
	defer follow.Close()
	lines := make(chan string)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(follow)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- sc.Err()
	}()
	waitLine := func(want string) {
		t.Helper()
		timeout := time.After(fileTimeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the followed logs ended before %q", want)
				}
				if l == want {
					return
				}
			case <-timeout:
				t.Fatalf("after %v, no line %q in the followed logs", fileTimeout, want)
			}
		}
	}
	waitLine("first")
	if err := os.WriteFile(filepath.Join(f.home(w), "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitLine("second") // written after the reader was opened

	cancel()
	select {
	case l, ok := <-lines:
		if ok {
			t.Errorf("unexpected line %q after cancel", l)
		}
	case <-time.After(fileTimeout):
		t.Fatalf("the followed logs did not end within %v of the cancel", fileTimeout)
	}
	if err := <-done; err != nil {
		t.Errorf("followed logs ended with %v, want a clean end", err)
	}
}

func TestCapacity(t *testing.T) {
	f := newFixture(t, testGrace)
	c, err := f.rt.Capacity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.GPUs, testGPUs) {
		t.Errorf("GPUs %v, want the configured %v", c.GPUs, testGPUs)
	}
	if c.MilliCPU != int64(goruntime.NumCPU())*1000 {
		t.Errorf("MilliCPU %d, want %d", c.MilliCPU, goruntime.NumCPU()*1000)
	}
	if c.MemoryBytes <= 0 {
		t.Errorf("MemoryBytes %d, want the host's memory", c.MemoryBytes)
	}
}

func TestCallsOnANeverStartedWorkspace(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "never", `exec sleep 600`)
	ctx := context.Background()
	if obs := f.observe(w); obs.State != runtime.Absent {
		t.Errorf("Observe: %s, want Absent", obs.State)
	}
	if err := f.rt.Stop(ctx, w); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := f.rt.Delete(ctx, w); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if ids := f.workloads(); len(ids) != 0 {
		t.Errorf("Workloads = %v", ids)
	}
	if _, err := os.Stat(filepath.Join(f.dir, w.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a folder was made for a workspace never started: %v", err)
	}
}

// A running workspace whose tool stops answering (the process lives on)
// is Degraded, not back to starting; while starting it is only waited for.
func TestToolThatStopsAnsweringDegrades(t *testing.T) {
	requirePython(t)
	f := newFixture(t, testGrace)
	w := newWorkspace(t, "flaky", "python3", "-c", `import os, socket, time
s = socket.socket(); s.bind(("127.0.0.1", int(os.environ["PORT"]))); s.listen()
time.sleep(1.5); s.close(); time.sleep(60)`)
	w.Spec.Environment.Spec.Tools = []labspace.Tool{{Name: "web", Type: "custom", Port: 8000}}
	f.start(w)
	f.wait(w, runtime.Ready, startTimeout)
	w.Status.Phase = labspace.PhaseRunning
	obs := f.wait(w, runtime.Degraded, startTimeout)
	if obs.Reason != "ToolsNotAnswering" || !strings.Contains(obs.Message, "web") {
		t.Errorf("degraded with %s: %s", obs.Reason, obs.Message)
	}
}

// A command killed by a signal while its shell lives on (the out-of-memory
// killer picks the biggest process) is reported as Killed, naming SIGKILL.
func TestCommandKilledBySignal(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "oom", `kill -9 $$$$`) // $$ is an escaped $, as in Kubernetes
	f.start(w)
	obs := f.wait(w, runtime.Exited, stopTimeout)
	if obs.Reason != "Killed" || !strings.Contains(obs.Message, "SIGKILL") {
		t.Errorf("%s: %q, want Killed naming SIGKILL", obs.Reason, obs.Message)
	}
}
