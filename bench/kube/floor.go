package main

import (
	"context"
	"strconv"
	"time"

	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

// floorRound is the floor: n pods created with client-go by clients
// goroutines in a namespace of the round's own, timed from the namespace's
// creation until an informer has seen every pod Ready. The namespace is
// made inside the timed part because labspace makes its project's
// namespace at the first start too.
func floorRound(ctx context.Context, c *kubetest.Cluster, round, n, clients int) (sample, error) {
	ns := "floor-" + strconv.Itoa(round)
	// Started before the clock, as labspace's informers are started
	// before its round: LIST and WATCH of a namespace not made yet.
	w, err := kubebench.WatchPods(c, kubebench.Watch{Namespace: ns, Pods: n, Accounts: 1,
		Within: 5 * time.Minute, SayEvery: time.Second})
	if err != nil {
		return sample{}, err
	}
	defer w.Stop()
	quiet(c)
	s, err := measure(c, 0, func() error { return kubebench.Floor(ctx, c, w, []string{ns}, n, clients, nil) })
	if err == nil {
		err = dropNamespace(ctx, c, ns)
	}
	return s, err
}
