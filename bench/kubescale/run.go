package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/bench/kubebench"
)

// run is the whole benchmark: the floor, then labspace, on one cluster.
// What it measured before a failure is in res all the same.
func run(o opts) (res results, err error) {
	res.o, res.started = o, time.Now()
	defer func() { res.load = benchkit.LoadAvg() }()
	ctx := context.Background()
	dir, exe, remove, err := kubebench.Workdir("labspace-bench-kubescale")
	if err != nil {
		return res, err
	}
	defer remove()
	benchkit.Progress("starting the control plane with %d nodes (default rates)", o.nodes)
	c, up, err := startCluster(ctx, filepath.Join(dir, "cluster"), o.nodes)
	if err != nil {
		return res, err
	}
	defer c.Stop()
	res.nodesUp = up
	benchkit.Progress("control plane up, %d nodes Ready, in %s", o.nodes, up.Round(time.Second))

	nss := floorNamespaces(o.projects)
	benchkit.Progress("floor: %d pods with client-go in %d namespaces", o.workspaces, o.projects)
	if res.floor, err = runFloor(ctx, c, nss, o.workspaces, o.clients); err != nil {
		return res, fmt.Errorf("floor: %w", err)
	}
	benchkit.Progress("floor: all Ready in %s", res.floor.Wall.Round(time.Second))
	t0 := time.Now()
	if err := dropFloor(ctx, c, nss); err != nil {
		return res, err
	}
	res.floorDrop = time.Since(t0)

	res.ls, err = runLabspace(ctx, c, exe, dir, o)
	if err != nil {
		return res, fmt.Errorf("labspace: %w", err)
	}
	return res, nil
}
