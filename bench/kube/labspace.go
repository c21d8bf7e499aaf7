package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

// pollEvery is how often labspace's /metrics is read for how many
// workspaces run once nine in ten do (pollCoarse before): it has no watch,
// so the answer is up to this late, and each read is labspace CPU time
// counted in its round.
const pollEvery, pollCoarse = 50 * time.Millisecond, 500 * time.Millisecond

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
	blocks := benchkit.ToolBlocks{Project: project, Compute: "tiny", Environment: "tool", Tool: "web", Command: []string{"serve"}}
	if noTool {
		blocks.Tool = ""
	}
	err = p.API.CreateToolBlocks(blocks)
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

// awaitRunning reads labspace's /metrics (see pollEvery) until it counts
// n workspaces Running, saying every second how many, then confirms it
// by listing project's Running workspaces once. (Listing them at every
// ask cost labspace more the more were Running.)
func (p labspaceProc) awaitRunning(project string, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	said := time.Now()
	for {
		m, err := kubebench.Scrape(p.API)
		if err != nil {
			return err
		}
		running := m.Running()
		if running >= n {
			if running, err = kubebench.CountListed(p.API, "/api/v1/projects/"+project+"/workspaces?phase=Running"); err != nil || running >= n {
				return err
			}
		}
		if time.Since(said) >= time.Second {
			benchkit.Progress("%d workspaces Running", running)
			said = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workspaces Running after 5m", running, n)
		}
		time.Sleep(kubebench.Every(running, n, pollCoarse, pollEvery))
	}
}

// stop ends labspace with SIGTERM (SIGKILL after 20s), as an operator would.
func (p labspaceProc) stop() error {
	_, err := p.Stop()
	return err
}
