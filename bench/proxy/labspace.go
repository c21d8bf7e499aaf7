package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/server"
)

// The names the benchmark gives what it creates in labspace.
const (
	projectName   = "bench"
	envName       = "bench-tool"
	computeName   = "bench-tiny"
	workspaceName = "w"
	toolName      = "tool"
	userName      = "researcher"
	userPassword  = "bench-researcher-password"
)

// toolPrefix is the tool's address under every proxy, and the prefix the
// tool server sees (labspace and configurable-http-proxy forward it as is).
const toolPrefix = "/ws/" + projectName + "/" + workspaceName + "/" + toolName

// apiClient calls labspace's REST API.
type apiClient = benchkit.Client

// labspaceTool is a real labspace server in this process with one
// workspace whose workload is the tool server, created by a researcher
// of the project, whose token the proxy checks.
type labspaceTool struct {
	srv    *server.Server
	dir    string
	api    *apiClient // as the admin
	user   string     // the researcher's token
	id     string     // the workspace's id
	target string     // where the tool listens (http://127.0.0.1:port)
}

// startLabspace opens a server in dir, creates the project, building
// blocks and workspace through the API, and waits until the tool runs.
func startLabspace(ctx context.Context, dir, exe string, verbose bool) (*labspaceTool, error) {
	srv, err := benchkit.OpenServer(ctx, dir, verbose)
	if err != nil {
		return nil, err
	}
	lt := &labspaceTool{srv: srv, dir: dir, api: benchkit.NewClient(srv.URL())}
	if err := lt.setUp(ctx, exe); err != nil {
		lt.close()
		return nil, err
	}
	return lt, nil
}

// setUp creates, as the admin, the project, a tiny compute resource, the
// environment whose command is exe serving the tool on $(PORT), and a
// researcher of the project; the researcher creates the workspace.
func (lt *labspaceTool) setUp(ctx context.Context, exe string) (err error) {
	if lt.api.Token, err = lt.api.Login("admin", benchkit.AdminPassword); err != nil {
		return err
	}
	err = lt.api.CreateToolBlocks(benchkit.ToolBlocks{Project: projectName, Compute: computeName,
		Environment: envName, Tool: toolName, Command: []string{exe, "-serve-tool", "$(PORT)"}})
	if err != nil {
		return err
	}
	// A researcher of the project creates the workspace.
	if err := lt.api.Do("POST", "/api/v1/users", map[string]any{"meta": map[string]any{"name": userName}, "password": userPassword}, 201, nil); err != nil {
		return err
	}
	rule := map[string]any{"meta": map[string]any{"scope": map[string]any{"type": "project", "name": projectName}},
		"spec": map[string]any{"subject": map[string]any{"type": "user", "name": userName}, "role": "l1-researcher"}}
	if err := lt.api.Do("POST", "/api/v1/access-rules", rule, 201, nil); err != nil {
		return err
	}
	if lt.user, err = lt.api.Login(userName, userPassword); err != nil {
		return err
	}
	user := &apiClient{Base: lt.api.Base, Token: lt.user, HC: lt.api.HC}
	if err := user.Do("POST", "/api/v1/projects/"+projectName+"/workspaces",
		map[string]any{"name": workspaceName, "environment": envName, "compute": computeName}, 201, nil); err != nil {
		return err
	}
	return lt.waitRunning(ctx)
}

// workspace is the part of a workspace the benchmark reads.
type workspace struct {
	Meta struct {
		ID string `json:"id"`
	} `json:"meta"`
	Status struct {
		Phase        string `json:"phase"`
		PhaseMessage string `json:"phaseMessage"`
	} `json:"status"`
}

// waitRunning waits until the workspace runs and learns its tool's address.
func (lt *labspaceTool) waitRunning(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var w workspace
		if err := lt.api.Do("GET", "/api/v1/projects/"+projectName+"/workspaces/"+workspaceName, nil, 200, &w); err != nil {
			return err
		}
		switch w.Status.Phase {
		case "Running":
			lt.id = w.Meta.ID
			t, ok := lt.srv.Controller.Target(w.Meta.ID, toolName)
			if !ok {
				return fmt.Errorf("the workspace runs but the controller knows no address for its tool")
			}
			lt.target = t
			return nil
		case "Failed":
			return fmt.Errorf("the workspace failed: %s", w.Status.PhaseMessage)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the workspace is %s after a minute: %s", w.Status.Phase, w.Status.PhaseMessage)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// close deletes the workspace (so its process ends), waits until it is
// gone, and stops the server.
func (lt *labspaceTool) close() {
	if lt.api.Token != "" {
		if err := lt.deleteWorkspace(); err != nil {
			benchkit.Progress("WARNING: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lt.srv.Close(ctx); err != nil {
		benchkit.Progress("labspace close: %v", err)
	}
	if n := reap(lt.dir); n > 0 {
		benchkit.Progress("WARNING: %d workload processes survived their workspace's deletion (now killed)", n)
	}
}

// deleteWorkspace deletes the workspace and waits until it is gone.
func (lt *labspaceTool) deleteWorkspace() error {
	path := "/api/v1/projects/" + projectName + "/workspaces/" + workspaceName
	if err := lt.api.Do("DELETE", path, nil, 202, nil); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if lt.api.Do("GET", path, nil, 404, nil) == nil {
			return nil
		}
	}
	return fmt.Errorf("workspace %s is still there 30s after its deletion", workspaceName)
}

// reap kills what survives of the workloads of the server in dir (this
// run's own processes, marked with its runtime folder) and says how many
// there were.
func reap(dir string) int {
	abs, _ := filepath.Abs(filepath.Join(dir, "workspaces"))
	want := []byte("LABSPACE_RUNTIME_DIR=" + abs)
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append(env, 0), append(want, 0)) {
			continue
		}
		if stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat"); bytes.Contains(stat, []byte(") Z ")) {
			continue // exited, not yet reaped
		}
		n++
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return n
}
