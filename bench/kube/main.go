// Command kube measures starting many workspaces at once on the Kubernetes
// runtime, on the test control plane (etcd, kube-apiserver, scheduler,
// controller manager, kwok nodes), against the floor: the same number of
// pods created directly with client-go.
//
// The two sides alternate, floor (A) and labspace (B), in rounds A B B A A
// B, each in a new namespace or project that is deleted, pods and all,
// before the next round. The floor is timed until an informer has seen
// every pod Ready; labspace runs as the shipped binary (`labspace serve
// --kubeconfig`, a process of its own with a fresh data folder each round)
// and is timed until its API reports every workspace Running. The control
// plane's and labspace's CPU time and peak memory come from /proc. It runs
// on a cluster with default component rates, as clusters ship, and on one
// with tuned rates, each started fresh.
//
//	go run ./bench/kube                          # 500 workspaces, both rate settings
//	go run ./bench/kube -n 40 -rates default     # a quick one
//
// The report (Markdown) goes to stdout, progress to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

// schedule is the order of the rounds, A the floor and B labspace: each
// pair of rounds (1-2, 3-4, 5-6) has one of each and the order within a
// pair alternates, so that a slow drift (a cluster warming up, the
// machine's load) falls on both sides about equally.
const schedule = "ABBAAB"

// sample is what one round measured.
type sample = kubebench.Usage

// round is one measured round.
type round struct {
	index  int  // 1-based
	side   byte // 'A' floor, 'B' labspace
	sample sample
}

// noTool has labspace's workspaces made from an environment with no tool,
// whose start writes the pod alone (no Secret for a tool token).
var noTool bool

// result is every round on one cluster.
type result struct {
	rates  rates
	rounds []round
	load   string // load average when the last round ended
}

func main() {
	n := flag.Int("n", 500, "workspaces (and pods) to start at once in each round")
	clients := flag.Int("c", 16, "concurrent clients sending the requests")
	flag.BoolVar(&noTool, "no-tool", false, "workspaces of an environment with no tool: no tool token, so no Secret (the pod alone)")
	rateFlag := flag.String("rates", "both", "the control plane's component rates: default (as clusters ship), tuned, or both (each on a cluster of its own)")
	flag.Parse()
	settings, ok := rateSettings[*rateFlag]
	if !ok || flag.NArg() > 0 || *n < 1 || *clients < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if why := kubetest.Available(); why != "" {
		log.Fatal(why)
	}
	if err := run(settings, *n, *clients); err != nil {
		log.Fatal(err)
	}
}

func run(settings []rates, n, clients int) error {
	ctx := context.Background()
	dir, exe, remove, err := kubebench.Workdir("labspace-bench-kube")
	if err != nil {
		return err
	}
	defer remove()
	start := time.Now()
	var results []result
	for _, r := range settings {
		res, err := runCluster(ctx, filepath.Join(dir, r.name), exe, r, n, clients)
		if err != nil {
			return fmt.Errorf("%s rates: %w", r.name, err)
		}
		results = append(results, res)
	}
	report(os.Stdout, n, clients, start, results)
	return nil
}

// runCluster starts a control plane with rates r and runs the schedule on it.
func runCluster(ctx context.Context, dir, exe string, r rates, n, clients int) (result, error) {
	benchkit.Progress("starting the control plane (%s rates)", r.name)
	c, err := startCluster(ctx, filepath.Join(dir, "cluster"), r)
	if err != nil {
		return result{}, err
	}
	defer c.Stop()
	res := result{rates: r}
	for i, side := range []byte(schedule) {
		index := i + 1
		var s sample
		if side == 'A' {
			benchkit.Progress("round %d/%d (%s rates), floor: %d pods with client-go", index, len(schedule), r.name, n)
			s, err = floorRound(ctx, c, index, n, clients)
		} else {
			benchkit.Progress("round %d/%d (%s rates), labspace: %d workspaces through the API", index, len(schedule), r.name, n)
			s, err = labspaceRound(ctx, c, exe, dir, index, n, clients)
		}
		if err != nil {
			return res, fmt.Errorf("round %d: %w", index, err)
		}
		benchkit.Progress("round %d: all ready in %s", index, s.Wall.Round(10*time.Millisecond))
		res.rounds = append(res.rounds, round{index: index, side: side, sample: s})
	}
	res.load = benchkit.LoadAvg()
	return res, nil
}

// sideName is how the report names a side.
func sideName(side byte) string {
	if side == 'A' {
		return "client-go"
	}
	return "labspace"
}
