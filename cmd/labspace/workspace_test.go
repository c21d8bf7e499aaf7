package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace"
)

// promptly is how soon after a workspace reaches a phase `ws wait`
// reports it (it polls every 200ms).
const promptly = 5 * time.Second

// labBlocks signs in and creates project lab and compute resource tiny
// with the CLI.
func (e *env) labBlocks() {
	e.t.Helper()
	e.login()
	if r := e.ok("project", "create", "-f", "testdata/project.yaml"); r.stdout != "Project lab created.\n" {
		e.t.Errorf("project create:\n%s", r)
	}
	if r := e.ok("compute", "create", "-f", "testdata/compute-tiny.yaml"); r.stdout != "Compute tiny created.\n" {
		e.t.Errorf("compute create:\n%s", r)
	}
}

// sharedData creates a host-path data source "shared" over a folder
// holding hello.txt.
func (e *env) sharedData() {
	e.t.Helper()
	dir := e.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from the data source\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
	f := writeFile(e.t, "shared.yaml", `meta:
  name: shared
  scope: {type: global}
spec:
  type: host-path
  mountPath: /mnt/shared
  hostPath: {path: `+dir+`}
`)
	e.ok("datasource", "create", "-f", f)
}

// workspace returns `ws describe -o json` decoded.
func (e *env) workspace(project, name string) labspace.Workspace {
	e.t.Helper()
	var w labspace.Workspace
	decodeJSON(e.t, e.ok("ws", "describe", name, "-p", project, "-o", "json"), &w)
	return w
}

// waitGone waits until the workspace is no longer listed.
func (e *env) waitGone(project, name string) {
	e.t.Helper()
	deadline := time.Now().Add(phaseWait)
	for contains(e.names("ws", "list", "-p", project), name) {
		if time.Now().After(deadline) {
			e.t.Fatalf("workspace %s/%s is still listed", project, name)
		}
		time.Sleep(pollInterval)
	}
}

// condition returns when the workspace's condition of type typ last changed.
func condition(w labspace.Workspace, typ string) time.Time {
	for _, c := range w.Status.Conditions {
		if c.Type == typ && c.Status == "True" {
			return c.LastTransitionTime
		}
	}
	return time.Time{}
}

func TestWorkspaceLifecycle(t *testing.T) {
	pythonOrSkip(t)
	e := newEnv(t)
	e.labBlocks()
	e.sharedData()
	e.ok("environment", "create", "-f", "testdata/environment-greeter.yaml")

	r := e.ok("ws", "create", "demo", "-p", "lab", "--environment", "greeter", "--compute", "tiny",
		"--env", "GREETING=hi", "--env", "EMPTY=", "--arg", "one", "--arg", "two", "--data-source", "shared:/data")
	if !strings.HasPrefix(r.stdout, "Workspace lab/demo created (") {
		t.Errorf("ws create:\n%s", r)
	}
	r = e.ok("ws", "wait", "demo", "-p", "lab", "--for=phase=Running", "--timeout", phaseWait.String())
	if r.stdout != "Workspace lab/demo is Running.\n" {
		t.Errorf("ws wait:\n%s", r)
	}
	w := e.workspace("lab", "demo")
	if ready := condition(w, "Ready"); w.Status.Phase != labspace.PhaseRunning || time.Since(ready) > promptly {
		t.Errorf("ws wait returned %v after the workspace became ready (%s, now %s)", time.Since(ready), ready, w.Status.Phase)
	}

	// The request's flags reached the workload.
	var env []string
	for _, v := range w.Spec.Env {
		env = append(env, v.Name+"="+v.Value)
	}
	if strings.Join(env, " ") != "GREETING=hi EMPTY=" && strings.Join(env, " ") != "EMPTY= GREETING=hi" {
		t.Errorf("spec.env = %v", env)
	}
	if strings.Join(w.Spec.Args, " ") != "one two" {
		t.Errorf("spec.args = %q", w.Spec.Args)
	}
	if len(w.Spec.DataSources) != 1 || w.Spec.DataSources[0].From.Name != "shared" || w.Spec.DataSources[0].Spec.MountPath != "/data" {
		t.Errorf("spec.dataSources = %+v", w.Spec.DataSources)
	}
	logs := e.ok("ws", "logs", "demo", "-p", "lab")
	for _, want := range []string{"greeting=hi args=one two\n", "hello from the data source\n"} {
		if !strings.Contains(logs.stdout, want) {
			t.Errorf("ws logs lacks %q:\n%s", want, logs)
		}
	}

	// describe: a page for people, and the object for scripts.
	d := e.ok("ws", "describe", "demo", "-p", "lab")
	for _, want := range []string{"Name:         demo\n", "Project:      lab\n", "Phase:        Running\n",
		"Environment:  greeter (python:3-slim)\n", "Compute:      tiny (0 GPUs, cpu 100m, memory 64Mi)\n",
		"Tool:         web " + e.url + "/ws/lab/demo/web/ (ready: true)\n", "Events:\n", "Created", "Initializing→Running"} {
		if !strings.Contains(d.stdout, want) {
			t.Errorf("ws describe lacks %q:\n%s", want, d)
		}
	}
	var wy map[string]any
	decodeYAML(t, e.ok("ws", "describe", "demo", "-p", "lab", "-o", "yaml"), &wy)
	if wy["status"].(map[string]any)["phase"] != "Running" {
		t.Errorf("ws describe -o yaml: %v", wy["status"])
	}

	// list, in every format.
	rows := table(t, e.ok("ws", "list"), "PROJECT", "NAME", "PHASE", "REASON", "ENVIRONMENT", "GPUS", "AGE")
	if len(rows) != 1 || rows[0]["PROJECT"] != "lab" || rows[0]["NAME"] != "demo" || rows[0]["PHASE"] != "Running" ||
		rows[0]["REASON"] != "Ready" || rows[0]["ENVIRONMENT"] != "greeter" || rows[0]["GPUS"] != "0" {
		t.Errorf("ws list: %v", rows)
	}
	rows = table(t, e.ok("ws", "list", "-p", "lab", "-o", "wide"),
		"PROJECT", "NAME", "PHASE", "REASON", "ENVIRONMENT", "GPUS", "AGE", "COMPUTE", "CREATED BY", "TOOLS", "MESSAGE")
	if len(rows) != 1 || rows[0]["COMPUTE"] != "tiny" || rows[0]["CREATED BY"] != "admin" || rows[0]["TOOLS"] != "web" {
		t.Errorf("ws list -o wide: %v", rows)
	}
	if got := e.names("ws", "list", "-p", "lab"); strings.Join(got, ",") != "demo" {
		t.Errorf("ws list -o json: %v", got)
	}
	var ly listed
	decodeYAML(t, e.ok("ws", "list", "-o", "yaml"), &ly)
	if strings.Join(ly.names(), ",") != "demo" {
		t.Errorf("ws list -o yaml: %v", ly.names())
	}
	if got := e.names("ws", "list", "--phase", "Stopped"); len(got) != 0 {
		t.Errorf("ws list --phase Stopped: %v", got)
	}
	if got := e.names("ws", "list", "-A", "--filter", "environment==greeter,name=@DEM", "--filter", "phase!=Stopped"); strings.Join(got, ",") != "demo" {
		t.Errorf("ws list --filter: %v", got)
	}
	if got := e.names("ws", "list", "--filter", "name!=demo"); len(got) != 0 {
		t.Errorf("ws list --filter name!=demo: %v", got)
	}
	e.fails(exitUsage, []string{"filterBy", "cannot filter workspace on \"gpus\""}, "ws", "list", "--filter", "gpus==1")
	if rows := table(t, e.ok("ws", "list", "--search", "nothing-like-it"), "PROJECT", "NAME", "PHASE", "REASON", "ENVIRONMENT", "GPUS", "AGE"); len(rows) != 0 {
		t.Errorf("ws list --search: %v", rows)
	}

	// open prints the tool's URL, and only that.
	if r := e.ok("ws", "open", "demo", "web", "-p", "lab"); r.stdout != w.Status.Tools[0].URL+"\n" || !strings.HasPrefix(r.stdout, e.url+"/ws/lab/demo/web") {
		t.Errorf("ws open (tools %+v):\n%s", w.Status.Tools, r)
	}
	e.fails(exitError, []string{`workspace demo has no tool "nope" (it has: web)`}, "ws", "open", "demo", "nope", "-p", "lab")

	// stop, start, delete.
	if r := e.ok("ws", "stop", "demo", "-p", "lab"); !strings.HasPrefix(r.stdout, "Workspace lab/demo: stop requested") {
		t.Errorf("ws stop:\n%s", r)
	}
	e.ok("ws", "wait", "demo", "-p", "lab", "--for=phase=Stopped", "--timeout", phaseWait.String())
	if pids := e.processes(); len(pids) != 0 {
		t.Errorf("processes %v run for a stopped workspace", pids)
	}
	e.fails(exitError, []string{"tool web is not ready", "Stopped"}, "ws", "open", "demo", "web", "-p", "lab")
	if r := e.ok("ws", "start", "demo", "-p", "lab"); !strings.HasPrefix(r.stdout, "Workspace lab/demo: start requested") {
		t.Errorf("ws start:\n%s", r)
	}
	e.ok("ws", "wait", "demo", "-p", "lab", "--for=phase=Running", "--timeout", phaseWait.String())
	if d := e.ok("ws", "describe", "demo", "-p", "lab"); !strings.Contains(d.stdout, "StopRequested") || !strings.Contains(d.stdout, "StartRequested") {
		t.Errorf("ws describe lacks the stop and start:\n%s", d)
	}
	if r := e.ok("ws", "delete", "demo", "-p", "lab"); !strings.HasPrefix(r.stdout, "Workspace lab/demo: delete requested") {
		t.Errorf("ws delete:\n%s", r)
	}
	e.waitGone("lab", "demo")
	e.fails(exitError, []string{`Workspace "demo" not found`}, "ws", "describe", "demo", "-p", "lab")
	if pids := e.processes(); len(pids) != 0 {
		t.Errorf("processes %v survive the deleted workspace", pids)
	}
}

// A workspace whose command fails: `ws wait` stops waiting at once and
// says why, and logs and describe show what happened.
func TestWorkspaceFailure(t *testing.T) {
	e := newEnv(t)
	e.labBlocks()
	e.ok("environment", "create", "-f", "testdata/environment-boom.yaml")
	e.ok("ws", "create", "bad", "-p", "lab", "--environment", "boom", "--compute", "tiny")
	r := e.fails(exitError, []string{"workspace bad failed", "ProcessExited", "exited with code 3", "boom"},
		"ws", "wait", "bad", "-p", "lab", "--for=phase=Running", "--timeout", phaseWait.String())
	if r.stdout != "" {
		t.Errorf("ws wait printed to stdout:\n%s", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	events, err := e.admin.Events(ctx, "lab", "bad")
	if err != nil {
		t.Fatal(err)
	}
	var failed time.Time
	for _, ev := range events {
		if ev.ToPhase == labspace.PhaseFailed {
			failed = ev.Time
		}
	}
	if failed.IsZero() || time.Since(failed) > promptly {
		t.Errorf("ws wait returned %v after the workspace failed (events %+v)", time.Since(failed), events)
	}

	if logs := e.ok("ws", "logs", "bad", "-p", "lab"); !strings.Contains(logs.stdout, "boom\n") {
		t.Errorf("ws logs:\n%s", logs)
	}
	d := e.ok("ws", "describe", "bad", "-p", "lab")
	for _, want := range []string{"Phase:        Failed\n", "Reason:       ProcessExited\n", "exited with code 3", "Initializing→Failed"} {
		if !strings.Contains(d.stdout, want) {
			t.Errorf("ws describe lacks %q:\n%s", want, d)
		}
	}
	rows := table(t, e.ok("ws", "list", "-p", "lab"), "PROJECT", "NAME", "PHASE", "REASON", "ENVIRONMENT", "GPUS", "AGE")
	if len(rows) != 1 || rows[0]["PHASE"] != "Failed" || rows[0]["REASON"] != "ProcessExited" {
		t.Errorf("ws list: %v", rows)
	}
	// Waiting for the phase it is in succeeds.
	if r := e.ok("ws", "wait", "bad", "-p", "lab", "--for=phase=Failed"); r.stdout != "Workspace lab/bad is Failed.\n" {
		t.Errorf("ws wait --for=phase=Failed:\n%s", r)
	}
}

// Workspaces created stopped, from files and from standard input; the
// default project of `ws use`. Nothing here runs a process.
func TestWorkspaceCreateOptions(t *testing.T) {
	e := newEnv(t)
	e.labBlocks()

	r := e.ok("ws", "create", "idle", "-p", "lab", "--environment", "python-http", "--compute", "tiny", "--stopped")
	if r.stdout != "Workspace lab/idle created (Stopped).\n" {
		t.Errorf("ws create --stopped:\n%s", r)
	}
	if w := e.workspace("lab", "idle"); w.DesiredPhase != labspace.PhaseStopped || w.Status.Phase != labspace.PhaseStopped {
		t.Errorf("--stopped: desired %s, phase %s", w.DesiredPhase, w.Status.Phase)
	}
	e.ok("ws", "create", "spare", "-p", "lab", "--environment", "python-http", "--compute", "tiny", "--stopped", "--preemptible")
	if w := e.workspace("lab", "spare"); !w.Spec.General.Preemptible {
		t.Error("--preemptible did not reach the workspace")
	}
	// This host is not in any node pool: refused up front, with the field.
	e.fails(exitError, []string{"nodePool", "no node is in node pool"},
		"ws", "create", "pooled", "-p", "lab", "--environment", "python-http", "--compute", "tiny", "--node-pool", "a100")
	e.ok("ws", "wait", "idle", "-p", "lab", "--for=phase=Stopped")
	// Waiting for Running on a stopped workspace times out with where it is.
	e.fails(exitError, []string{"workspace idle is Stopped, not Running, after waiting"},
		"ws", "wait", "idle", "-p", "lab", "--for=phase=Running", "--timeout", "1s")

	// -f: a YAML request.
	if r := e.ok("ws", "create", "-p", "lab", "-f", "testdata/workspace.yaml"); r.stdout != "Workspace lab/from-file created (Stopped).\n" {
		t.Errorf("ws create -f:\n%s", r)
	}
	w := e.workspace("lab", "from-file")
	if w.Description != "created from a file" || len(w.Spec.Env) != 1 || w.Spec.Env[0] != (labspace.EnvVar{Name: "FROM_FILE", Value: "yes"}) ||
		w.DesiredPhase != labspace.PhaseStopped || w.Spec.Environment.From.Name != "python-http" {
		t.Errorf("from file: %+v", w)
	}
	// -f with a name and flags on top of the file.
	var created labspace.Workspace
	decodeJSON(t, e.ok("ws", "create", "renamed", "-p", "lab", "-f", "testdata/workspace.yaml", "--env", "EXTRA=1", "-o", "json"), &created)
	if created.Name != "renamed" || len(created.Spec.Env) != 2 {
		t.Errorf("ws create renamed -f --env -o json: name %q env %+v", created.Name, created.Spec.Env)
	}
	// -f - : JSON from standard input.
	r = e.cliIn(`{"name": "from-stdin", "environment": "python-http", "compute": "tiny", "desiredPhase": "Stopped"}`,
		"ws", "create", "-p", "lab", "-f", "-")
	if r.code != exitOK || r.stdout != "Workspace lab/from-stdin created (Stopped).\n" {
		t.Errorf("ws create -f -:\n%s", r)
	}
	if got := strings.Join(e.names("ws", "list", "-p", "lab"), ","); got != "from-file,from-stdin,idle,renamed,spare" {
		t.Errorf("workspaces: %s", got)
	}

	// ws use sets the project of commands without -p.
	e.fails(exitUsage, []string{"give a project with -p/--project", "labspace ws use"}, "ws", "describe", "idle")
	if r := e.ok("ws", "use", "lab"); r.stdout != "Default project: lab.\n" {
		t.Errorf("ws use:\n%s", r)
	}
	if cfg := e.readConfig(); cfg.Project != "lab" || cfg.Token == "" || cfg.Server != e.url {
		t.Errorf("config after ws use: %+v", cfg)
	}
	e.checkConfigMode()
	if d := e.ok("ws", "describe", "idle"); !strings.Contains(d.stdout, "Project:      lab\n") {
		t.Errorf("ws describe without -p:\n%s", d)
	}
	if r := e.ok("ws", "create", "defaulted", "--environment", "python-http", "--compute", "tiny", "--stopped"); r.stdout != "Workspace lab/defaulted created (Stopped).\n" {
		t.Errorf("ws create without -p:\n%s", r)
	}
	e.ok("ws", "delete", "defaulted")
	e.waitGone("lab", "defaulted")
	// -p still wins over the default.
	e.ok("project", "create", "-f", writeFile(t, "other.yaml", "meta: {name: other, scope: {type: global}}\nspec: {quota: {gpus: 0}}\n"))
	e.fails(exitError, []string{`Workspace "idle" not found in project "other"`}, "ws", "describe", "idle", "-p", "other")
	// Signing in again keeps the default project.
	e.login()
	if cfg := e.readConfig(); cfg.Project != "lab" {
		t.Errorf("login dropped the default project: %+v", cfg)
	}
}
