package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// target is one way to reach the tool, and what was measured through it.
type target struct {
	name string
	base string // URL prefix; the tool's paths follow
	auth string // Authorization header value, if any
	skip string // why it is left out, if it is
	swap bool   // trades places with the next target every other round (inTurn)

	small, large []wrkResult // one per round
	ws           wsResult
}

// measure checks every target, warms it up, loads it with wrk round by
// round (all targets in turn, the same settings), then times WebSocket
// echoes through each.
func measure(ctx context.Context, cfg config, targets []*target) error {
	var live []*target
	for _, t := range targets {
		if t.skip == "" {
			live = append(live, t)
		}
	}
	for _, t := range live {
		if err := check(t.base+"/small", t.auth, smallSize); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if err := check(t.base+"/large", t.auth, largeSize); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		warm := cfg.small
		warm.duration = max(cfg.warmup, time.Second)
		if _, err := runWrk(ctx, warm, t.base+"/small", t.auth); err != nil {
			return err
		}
	}
	for round := 1; round <= cfg.rounds; round++ {
		for _, t := range inTurn(live, round) {
			benchkit.Progress("round %d/%d: %s", round, cfg.rounds, t.name)
			if err := loadTarget(ctx, cfg, t, round); err != nil {
				return err
			}
		}
	}
	for _, t := range live {
		benchkit.Progress("WebSocket echo: %s", t.name)
		r, err := echoRoundTrips(ctx, t.base+"/echo", t.auth, cfg.wsN)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		t.ws = r
	}
	return nil
}

// loadTarget runs wrk on t's small and large responses once.
func loadTarget(ctx context.Context, cfg config, t *target, round int) error {
	small, err := profiled(cfg, t, round, "small", func() (wrkResult, error) {
		return runWrk(ctx, cfg.small, t.base+"/small", t.auth)
	})
	if err != nil {
		return err
	}
	large, err := profiled(cfg, t, round, "large", func() (wrkResult, error) {
		return runWrk(ctx, cfg.large, t.base+"/large", t.auth)
	})
	if err != nil {
		return err
	}
	t.small, t.large = append(t.small, small), append(t.large, large)
	return nil
}

// profiled runs fn, under the CPU profiler in round 1 for the Go proxies
// (they run in this process) when -cpuprofile is set.
func profiled(cfg config, t *target, round int, size string, fn func() (wrkResult, error)) (wrkResult, error) {
	name := map[string]string{"bare Go proxy": "bare", "bare Go proxy + buffer pool": "pooled", "labspace": "labspace",
		"labspace's proxy alone, tracking on": "tracking-on", "labspace's proxy alone, tracking off": "tracking-off"}[t.name]
	if cfg.cpuprofile == "" || round != 1 || name == "" {
		return fn()
	}
	var r wrkResult
	err := benchkit.WithProfile(cfg.cpuprofile+"-"+name+"-"+size+".pprof", func() (err error) {
		r, err = fn()
		return err
	})
	return r, err
}

// median returns the run with the median requests/s of rs.
func median(rs []wrkResult) wrkResult {
	if len(rs) == 0 {
		return wrkResult{}
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b wrkResult) int {
		switch {
		case a.reqPerSec < b.reqPerSec:
			return -1
		case a.reqPerSec > b.reqPerSec:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// spread is "min–max" requests/s of rs.
func spread(rs []wrkResult) string {
	lo, hi := rs[0].reqPerSec, rs[0].reqPerSec
	for _, r := range rs {
		lo, hi = min(lo, r.reqPerSec), max(hi, r.reqPerSec)
	}
	return strconv.FormatFloat(lo, 'f', 0, 64) + "–" + strconv.FormatFloat(hi, 'f', 0, 64)
}
