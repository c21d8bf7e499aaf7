// Command proxy benchmarks labspace's tool proxy as a whole system, side
// by side in one run with its baselines: the tool server reached directly,
// a bare httputil.ReverseProxy with its defaults (the floor for any Go
// proxy), the same with labspace's buffer pool (so that what labspace's
// own checks cost shows apart from its settings), labspace's proxy in a
// real in-process server (a researcher's bearer token, a real workspace
// whose workload is the tool server), labspace's proxy alone with idle
// tracking on and with it off (what tracking costs), and configurable-http-proxy
// (JupyterHub's proxy, installed with npm into a temporary folder at run
// time). wrk loads 1 KiB and 10 MiB responses; WebSocket echo round trips
// are timed in Go. It prints a Markdown table with every figure as a ratio.
//
//	go run ./bench/proxy                  # the full run (about 7.5 minutes)
//	go run ./bench/proxy -d 3s -rounds 1 -ws 1000   # a quick one
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
	"github.com/labspace/labspace/proxy"
)

// Where each target is in run's list.
const (
	iDirect = iota
	iBare
	iPooled
	iLabspace
	iTrackOn
	iTrackOff
	iCHP
)

// config is what the flags set.
type config struct {
	small, large load
	rounds       int
	warmup       time.Duration
	wsN          int
	chpPackage   string
	cpuprofile   string
	serveTool    string
	verbose      bool
}

func main() {
	var cfg config
	var d time.Duration
	flag.IntVar(&cfg.small.threads, "t", 2, "wrk threads")
	flag.IntVar(&cfg.small.conns, "c", 32, "wrk connections for the 1 KiB responses")
	flag.IntVar(&cfg.large.conns, "c-large", 4, "wrk connections for the 10 MiB responses")
	flag.DurationVar(&d, "d", 10*time.Second, "wrk duration of each run (whole seconds)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds over all targets; each figure is the round with the median requests/s")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "wrk warm-up of each target before the rounds")
	flag.IntVar(&cfg.wsN, "ws", 5000, "sequential WebSocket echo round trips per target")
	flag.StringVar(&cfg.chpPackage, "chp-package", "configurable-http-proxy", "npm package to install for configurable-http-proxy (\"\": skip it)")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write CPU profiles of this process during round 1's runs of the Go proxies to <this>-{bare,pooled,labspace,tracking-on,tracking-off}-{small,large}.pprof")
	flag.BoolVar(&cfg.verbose, "v", false, "show labspace's warnings on stderr (each client that goes away when wrk stops is one)")
	flag.StringVar(&cfg.serveTool, "serve-tool", "", "internal: serve the tool on this port (the workspace's workload)")
	flag.Parse()
	if cfg.serveTool != "" {
		log.Fatal(serveTool(cfg.serveTool))
	}
	cfg.large.threads = cfg.small.threads
	cfg.small.duration, cfg.large.duration = d, d
	if cfg.small.threads < 1 || cfg.small.conns < cfg.small.threads || cfg.large.conns < cfg.small.threads ||
		d < time.Second || cfg.rounds < 1 || cfg.wsN < 1 {
		log.Fatal("need -t >= 1, -c and -c-large >= -t, -d >= 1s, -rounds >= 1, -ws >= 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		stop()
		log.Fatal(err)
	}
}

// run sets the targets up, measures them and prints the report; whatever
// it started (the workspace's process included) ends before it returns.
func run(ctx context.Context, cfg config) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The tool runs in labspace's sandbox, as a uid of its own with a /tmp
	// of its own: it needs a copy of this binary every user can reach.
	if exe, err = benchkit.Shareable(exe); err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(exe))
	tmp, err := os.MkdirTemp("", "labspace-bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	benchkit.Progress("starting labspace and its workspace")
	lt, err := startLabspace(ctx, filepath.Join(tmp, "labspace"), exe, cfg.verbose)
	if err != nil {
		return fmt.Errorf("labspace: %w", err)
	}
	defer lt.close()
	bare, stopBare, err := startBare(lt.target, nil)
	if err != nil {
		return err
	}
	defer stopBare()
	pooled, stopPooled, err := startBare(lt.target, proxy.BufferPool())
	if err != nil {
		return err
	}
	defer stopPooled()
	trackOn, stopOn, err := startLabspaceProxy(lt, false, cfg.verbose)
	if err != nil {
		return err
	}
	defer stopOn()
	trackOff, stopOff, err := startLabspaceProxy(lt, true, cfg.verbose)
	if err != nil {
		return err
	}
	defer stopOff()
	// In the order of the indexes below: the report reads them so.
	targets := []*target{
		{name: "direct", base: lt.target + toolPrefix},
		{name: "bare Go proxy", base: bare + toolPrefix},
		{name: "bare Go proxy + buffer pool", base: pooled + toolPrefix},
		{name: "labspace", base: lt.srv.URL() + toolPrefix, auth: "Bearer " + lt.user},
		{name: "labspace's proxy alone, tracking on", base: trackOn + toolPrefix, auth: "Bearer " + lt.user, swap: true},
		{name: "labspace's proxy alone, tracking off", base: trackOff + toolPrefix, auth: "Bearer " + lt.user},
		{name: "configurable-http-proxy", skip: "not installed (-chp-package \"\")"},
	}
	f := gatherFacts()
	if cfg.chpPackage != "" {
		benchkit.Progress("installing %s with npm", cfg.chpPackage)
		c, err := startCHP(ctx, filepath.Join(tmp, "chp"), cfg.chpPackage, lt.target)
		if err != nil {
			targets[iCHP].skip = err.Error()
			benchkit.Progress("configurable-http-proxy left out: %v", err)
		} else {
			defer c.stop()
			targets[iCHP].skip, targets[iCHP].base = "", c.addr+toolPrefix
			f.chp = c.version
		}
	}
	if err := measure(ctx, cfg, targets); err != nil {
		return err
	}
	report(os.Stdout, cfg, targets, f)
	return nil
}
