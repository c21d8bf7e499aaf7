package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

// pollEvery is how often labspace's API is asked how many workspaces run:
// it has no watch, so the answer is up to this late, and each ask is
// labspace CPU time counted in its round.
const pollEvery = 50 * time.Millisecond

// labspaceRound starts `labspace serve` on the cluster with a fresh data
// folder, creates a new project's building blocks, and times n workspaces
// created through the API by clients goroutines until the API reports
// every one Running. Then it stops labspace and deletes the project's
// namespace, pods first, as the floor's rounds do.
func labspaceRound(ctx context.Context, c *kubetest.Cluster, exe, dir string, round, n, clients int) (sample, error) {
	p, err := startLabspace(exe, filepath.Join(dir, "labspace-"+strconv.Itoa(round)), c.Kubeconfig, clients)
	if err != nil {
		return sample{}, err
	}
	defer p.stop()
	project := "bench-" + strconv.Itoa(round)
	err = p.API.CreateToolBlocks(benchkit.ToolBlocks{Project: project, Compute: "tiny", Environment: "tool", Tool: "web",
		Command: []string{"serve"}})
	if err != nil {
		return sample{}, err
	}
	quiet(c)
	s, err := measure(c, p.Pid(), func() error {
		t0 := time.Now()
		err := kubebench.Parallel(n, clients, func(i int) error {
			return p.API.Do("POST", "/api/v1/projects/"+project+"/workspaces", map[string]any{"name": "w" + strconv.Itoa(i),
				"environment": "tool", "compute": "tiny"}, 201, nil)
		})
		if err != nil {
			return err
		}
		benchkit.Progress("all %d created in %s", n, time.Since(t0).Round(time.Millisecond))
		return p.awaitRunning(project, n)
	})
	if err != nil {
		return s, fmt.Errorf("%w\nlabspace's log ends:\n%s", err, p.LogTail())
	}
	// Stopped first: it would start again the pods the clean-up deletes.
	if err := p.stop(); err != nil {
		return s, err
	}
	return s, dropNamespace(ctx, c, labspace.DefaultNamespace(project))
}

// labspaceProc is labspace as a round runs it: a fresh data folder each
// round, so each start begins a new log.
type labspaceProc struct{ *kubebench.Labspace }

// startLabspace starts labspace with the clients' kept connections (see
// kubebench.StartLabspace) and returns once the admin is signed in.
func startLabspace(exe, dir, kubeconfig string, clients int) (labspaceProc, error) {
	p, err := kubebench.StartLabspace(exe, dir, kubeconfig, kubebench.LabspaceOptions{Clients: clients,
		Timeout: time.Minute, Healthy: 30 * time.Second, StopGrace: 20 * time.Second})
	return labspaceProc{p}, err
}

// awaitRunning asks labspace every pollEvery until n workspaces of project
// are Running, saying every second how many are.
func (p labspaceProc) awaitRunning(project string, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	said := time.Now()
	for {
		running, err := p.countRunning(project)
		if err != nil || running == n {
			return err
		}
		if time.Since(said) >= time.Second {
			benchkit.Progress("%d workspaces Running", running)
			said = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workspaces Running after 5m", running, n)
		}
		time.Sleep(pollEvery)
	}
}

// countRunning lists project's Running workspaces, 1000 (the most) a page.
func (p labspaceProc) countRunning(project string) (int, error) {
	count, next := 0, ""
	for {
		var page struct {
			Items    []struct{} `json:"items"`
			Continue string     `json:"continue"`
		}
		path := "/api/v1/projects/" + project + "/workspaces?limit=1000&phase=Running"
		if next != "" {
			path += "&continue=" + url.QueryEscape(next)
		}
		if err := p.API.Do("GET", path, nil, 200, &page); err != nil {
			return 0, err
		}
		count += len(page.Items)
		if page.Continue == "" {
			return count, nil
		}
		next = page.Continue
	}
}

// stop ends labspace with SIGTERM (SIGKILL after 20s), as an operator would.
func (p labspaceProc) stop() error {
	_, err := p.Stop()
	return err
}
