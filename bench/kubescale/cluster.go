package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

// clusterNodes are n CPU nodes of 16 cores and 64Gi, 110 pods each (the
// kubelet's default): 1,000 of them hold 110,000 pods, so the scheduler
// never runs out of room and spreads the pods as it would on a real cluster.
func clusterNodes(n int) []kubetest.Node {
	nodes := make([]kubetest.Node, n)
	for i := range nodes {
		nodes[i] = kubetest.Node{Name: fmt.Sprintf("cpu-%04d", i), Pool: "cpu", CPU: "16", Memory: "64Gi", MaxPods: 110}
	}
	return nodes
}

// startCluster starts the control plane with default component rates, as
// clusters ship, and reports how long it took until its n nodes were
// Ready (kubetest waits longer the more nodes there are).
func startCluster(ctx context.Context, dir string, n int) (*kubetest.Cluster, time.Duration, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	c, err := kubetest.StartWith(ctx, dir, kubetest.Options{Nodes: clusterNodes(n)})
	if err != nil {
		return nil, 0, err
	}
	return c, time.Since(t0), nil
}

// quiet waits, up to a minute, until the control plane has used under
// half a core for two seconds: 1,000 kwok nodes' heartbeats keep it from
// ever being fully idle.
func quiet(c *kubetest.Cluster) { kubebench.Quiet(c, 2*time.Second, 0.5, time.Minute) }

// measure times fn (see kubebench.Measure), sampling RSS every 200ms: a
// 10,000-pod phase takes minutes, and finer sampling would only cost CPU.
func measure(c *kubetest.Cluster, ls func() int, fn func() error) (kubebench.Usage, error) {
	return kubebench.Measure(c.Pids(), ls, 200*time.Millisecond, fn)
}

// startLabspace runs labspace with its data folder in dir, kept across
// restarts, and so its log too: a restart appends to it. At 10,000
// workspaces a start and a page of the API may take minutes.
func startLabspace(exe, dir, kubeconfig string, clients int) (*kubebench.Labspace, error) {
	return kubebench.StartLabspace(exe, dir, kubeconfig, kubebench.LabspaceOptions{Clients: clients,
		Timeout: 5 * time.Minute, Healthy: 5 * time.Minute, StopGrace: time.Minute, AppendLog: true})
}

// projectName is the i-th project (and, with a prefix, floor namespace).
func projectName(i int) string { return "p" + strconv.Itoa(i) }
