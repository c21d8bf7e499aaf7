// Command start measures how long a workspace takes from the create
// request to Running on the local runtime, in a real in-process labspace
// server, beside the bare time to spawn the same process and see its port
// answer. The workload is this binary re-executed as a tiny HTTP server
// (ready as soon as it listens), so what is measured is labspace, not the
// tool. Workspaces are created one after another and stay running, as the
// bare processes do; all are deleted at the end.
//
//	go run ./bench/start            # 100 workspaces
//	go run ./bench/start -n 20      # a quick one
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// config is what the flags set.
type config struct {
	n          int
	poll       time.Duration
	cpuprofile string
	verbose    bool
	serve      string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.n, "n", 100, "workspaces to start one after another (and bare spawns of each kind)")
	flag.DurationVar(&cfg.poll, "poll", 5*time.Millisecond, "how often the client reads a starting workspace")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of this process (the labspace server) while workspaces start")
	flag.BoolVar(&cfg.verbose, "v", false, "show labspace's warnings on stderr")
	flag.StringVar(&cfg.serve, "serve", "", "internal: serve HTTP on this port (the workload)")
	flag.Parse()
	if cfg.serve != "" {
		log.Fatal(serve(cfg.serve))
	}
	if cfg.n < 1 || cfg.poll <= 0 {
		log.Fatal("need -n >= 1 and -poll > 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		stop()
		log.Fatal(err)
	}
}

// results is everything the report shows.
type results struct {
	direct, shell, isolated []time.Duration // bare spawns
	starts                  []sample
	deleted                 time.Duration // deleting every workspace until none is left
	left                    int           // workload processes alive after that
	loadStart               string        // the load average when the run began
}

// run measures the bare spawns, then the workspace starts, deletes every
// workspace, checks that no workload survives, and prints the report.
func run(ctx context.Context, cfg config) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "labspace-bench-start-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The workload runs as a uid of its own with a /tmp of its own: it
	// needs a copy of this binary that every user can reach.
	if exe, err = benchkit.Shareable(exe); err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(exe))
	res := results{loadStart: benchkit.LoadAvg()}
	benchkit.Progress("bare spawns: %d direct, %d under /bin/sh, %d in namespaces", cfg.n, cfg.n, cfg.n)
	if res.direct, err = spawnMany(exe, cfg.n, spawnDirect); err != nil {
		return err
	}
	if res.shell, err = spawnMany(exe, cfg.n, spawnShell); err != nil {
		return err
	}
	if res.isolated, err = spawnMany(exe, cfg.n, spawnIsolated); err != nil {
		return err
	}
	l, err := openLab(ctx, filepath.Join(tmp, "labspace"), exe, cfg.verbose)
	if err != nil {
		return fmt.Errorf("labspace: %w", err)
	}
	defer l.close(ctx)
	startErr := benchkit.WithProfile(cfg.cpuprofile, func() error {
		res.starts, err = startAll(ctx, l, cfg)
		return err
	})
	benchkit.Progress("deleting every workspace")
	res.deleted, err = l.deleteAll()
	res.left = reap(l.runtimeDir())
	switch {
	case startErr != nil:
		return startErr
	case err != nil:
		return err
	case res.left > 0:
		return fmt.Errorf("%d workload processes survived the deletion of their workspaces (now killed)", res.left)
	}
	report(os.Stdout, cfg, res)
	return nil
}
