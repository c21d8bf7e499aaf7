package main

import (
	"context"
	"os"
	"time"

	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

// rates is a configuration of the control plane's components.
type rates struct {
	name  string
	tuned bool
}

var rateSettings = map[string][]rates{
	"default": {{"default", false}},
	"tuned":   {{"tuned", true}},
	"both":    {{"default", false}, {"tuned", true}},
}

// describe says what the setting changes, for the report.
func (r rates) describe() string {
	if r.tuned {
		return "Tuned component rates (scheduler and controller manager 500 requests/s, API server 2000 requests in flight)"
	}
	return "Default component rates, as clusters ship (scheduler 50, controller manager 20 requests/s)"
}

// startCluster starts a fresh control plane in dir with the rates r.
func startCluster(ctx context.Context, dir string, r rates) (*kubetest.Cluster, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return kubetest.StartWith(ctx, dir, kubetest.Options{TunedRates: r.tuned})
}

// dropNamespace deletes ns with everything in it and waits until it is
// gone, so that the next round finds the cluster as this one did. Both
// sides clean up this way: pods first, at once (no grace), then the rest.
func dropNamespace(ctx context.Context, c *kubetest.Cluster, ns string) error {
	return kubebench.DropNamespaces(ctx, c, []string{ns}, kubebench.Drop{Within: 3 * time.Minute, Every: 200 * time.Millisecond, PodsFirst: true})
}

// measure times fn (see kubebench.Measure) with labspace's pid, 0 for none;
// a round is short, so memory is sampled every 50ms.
func measure(c *kubetest.Cluster, labspace int, fn func() error) (sample, error) {
	return kubebench.Measure(c.Pids(), func() int { return labspace }, 50*time.Millisecond, fn)
}

// quiet waits, up to 20s, until the control plane has used under a tenth
// of a core for a second, so that no round starts while the last one's
// clean-up (or the cluster's start) still keeps it busy.
func quiet(c *kubetest.Cluster) { kubebench.Quiet(c, time.Second, 0.1, 20*time.Second) }
