package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/server"
)

// The names the benchmark gives what it creates in labspace.
const (
	projectName = "start"
	envName     = "start-tool"
	computeName = "start-tiny"
	toolName    = "tool"
)

// lab is a real labspace server in this process, with the project and
// building blocks of the benchmark.
type lab struct {
	srv *server.Server
	api *benchkit.Client
	dir string
}

// openLab opens a server in dir and creates, through the API, a project
// without quota limits, a tiny compute resource (10m, 16Mi: 100 fit on 2
// cores) and an environment whose command is exe serving on $(PORT).
func openLab(ctx context.Context, dir, exe string, verbose bool) (*lab, error) {
	srv, err := benchkit.OpenServer(ctx, dir, verbose)
	if err != nil {
		return nil, err
	}
	l := &lab{srv: srv, dir: dir, api: benchkit.NewClient(srv.URL())}
	if err := l.setUp(exe); err != nil {
		l.close(ctx)
		return nil, err
	}
	return l, nil
}

func (l *lab) setUp(exe string) error {
	tok, err := l.api.Login("admin", benchkit.AdminPassword)
	if err != nil {
		return err
	}
	l.api.Token = tok
	return l.api.CreateToolBlocks(benchkit.ToolBlocks{Project: projectName, Compute: computeName,
		Environment: envName, Tool: toolName, Command: []string{exe, "-serve", "$(PORT)"}})
}

// workspace is the part of a workspace the benchmark reads.
type workspace struct {
	Meta struct {
		Name string `json:"name"`
	} `json:"meta"`
	Status struct {
		Phase        string `json:"phase"`
		PhaseMessage string `json:"phaseMessage"`
	} `json:"status"`
}

// event is the part of a workspace event the benchmark reads.
type event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	ToPhase string    `json:"toPhase"`
}

func wsPath(name string) string { return "/api/v1/projects/" + projectName + "/workspaces/" + name }

// startOne creates workspace name (desired phase Running) and polls it
// every poll until it is Running. It returns when the request was sent
// and when Running was seen.
func (l *lab) startOne(ctx context.Context, name string, poll time.Duration) (sent, seen time.Time, err error) {
	sent = time.Now()
	body := map[string]any{"name": name, "environment": envName, "compute": computeName, "desiredPhase": "Running"}
	if err := l.api.Do("POST", "/api/v1/projects/"+projectName+"/workspaces", body, 201, nil); err != nil {
		return sent, seen, err
	}
	deadline := sent.Add(time.Minute)
	for {
		var w workspace
		if err := l.api.Do("GET", wsPath(name), nil, 200, &w); err != nil {
			return sent, seen, err
		}
		switch w.Status.Phase {
		case "Running":
			return sent, time.Now(), nil
		case "Failed":
			return sent, seen, fmt.Errorf("workspace %s failed: %s", name, w.Status.PhaseMessage)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return sent, seen, fmt.Errorf("workspace %s is %s: %s", name, w.Status.Phase, w.Status.PhaseMessage)
		}
		time.Sleep(poll)
	}
}

// events returns the history of workspace name.
func (l *lab) events(name string) ([]event, error) {
	var out struct {
		Items []event `json:"items"`
	}
	err := l.api.Do("GET", wsPath(name)+"/events", nil, 200, &out)
	return out.Items, err
}

// deleteAll deletes every workspace of the project and waits until none
// is left; it returns how long that took.
func (l *lab) deleteAll() (time.Duration, error) {
	start := time.Now()
	var list struct {
		Items []workspace `json:"items"`
	}
	if err := l.api.Do("GET", "/api/v1/projects/"+projectName+"/workspaces?limit=1000", nil, 200, &list); err != nil {
		return 0, err
	}
	for _, w := range list.Items {
		if err := l.api.Do("DELETE", wsPath(w.Meta.Name), nil, 202, nil); err != nil {
			return 0, err
		}
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if err := l.api.Do("GET", "/api/v1/projects/"+projectName+"/workspaces?limit=1000", nil, 200, &list); err != nil {
			return 0, err
		}
		if len(list.Items) == 0 {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d workspaces are still there two minutes after their deletion", len(list.Items))
		}
	}
}

// close stops the server; the workloads must be gone by then (deleteAll).
func (l *lab) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.srv.Close(ctx); err != nil {
		benchkit.Progress("labspace close: %v", err)
	}
}

// runtimeDir is where the server's local runtime keeps its workspaces;
// its workloads carry it in their environment.
func (l *lab) runtimeDir() string {
	abs, _ := filepath.Abs(filepath.Join(l.dir, "workspaces"))
	return abs
}
