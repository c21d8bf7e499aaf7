package main

import (
	"context"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

const floorLabel = "kubescale-floor"

// floorNamespaces are the floor's namespaces, one per project.
func floorNamespaces(projects int) []string {
	out := make([]string, projects)
	for i := range out {
		out[i] = "floor-" + projectName(i)
	}
	return out
}

// runFloor creates n bare pods with client-go spread over the namespaces,
// timed from creating the first namespace until informers have seen every
// pod Ready. Namespaces are inside the timed part because labspace makes
// its projects' namespaces at their first start too.
func runFloor(ctx context.Context, c *kubetest.Cluster, nss []string, n, clients int) (kubebench.Usage, error) {
	w, err := kubebench.WatchPods(c, kubebench.Watch{Selector: floorLabel, Pods: n, Accounts: len(nss), AccountPrefix: "floor-",
		Within: phaseLimit, SayEvery: 10 * time.Second, Say: "floor: "})
	if err != nil {
		return kubebench.Usage{}, err
	}
	defer w.Stop()
	quiet(c)
	return measure(c, func() int { return 0 }, func() error {
		return kubebench.Floor(ctx, c, w, nss, n, clients, map[string]string{floorLabel: "1"})
	})
}

// dropFloor deletes the floor's namespaces, pods first and at once (no
// grace), and waits until every one is gone, so that labspace finds the
// cluster as the floor did.
func dropFloor(ctx context.Context, c *kubetest.Cluster, nss []string) error {
	benchkit.Progress("floor: deleting %d namespaces", len(nss))
	t0 := time.Now()
	err := kubebench.DropNamespaces(ctx, c, nss, kubebench.Drop{Within: 20 * time.Minute, Every: 2 * time.Second})
	benchkit.Progress("floor: namespaces gone in %s", time.Since(t0).Round(time.Second))
	return err
}
