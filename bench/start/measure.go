package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// sample is one workspace start: when the client sent the create request,
// when it saw Running, and the workspace's events (server times).
type sample struct {
	name       string
	sent, seen time.Time
	events     []event
}

// startAll starts cfg.n workspaces one after another, each to Running,
// then reads their events.
func startAll(ctx context.Context, l *lab, cfg config) ([]sample, error) {
	out := make([]sample, 0, cfg.n)
	for i := 0; i < cfg.n; i++ {
		s := sample{name: fmt.Sprintf("s-%03d", i)}
		var err error
		if s.sent, s.seen, err = l.startOne(ctx, s.name, cfg.poll); err != nil {
			return out, err
		}
		out = append(out, s)
		if (i+1)%10 == 0 {
			benchkit.Progress("%d/%d workspaces running", i+1, cfg.n)
		}
	}
	for i := range out {
		ev, err := l.events(out[i].name)
		if err != nil {
			return out, err
		}
		out[i].events = ev
	}
	return out, nil
}

// total is the latency the user sees.
func (s sample) total() time.Duration { return s.seen.Sub(s.sent) }

// at returns the time of the first event of type typ (and phase, if not
// empty).
func (s sample) at(typ, phase string) (time.Time, bool) {
	for _, e := range s.events {
		if e.Type == typ && (phase == "" || e.ToPhase == phase) {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// segments splits the start at the server's events: request -> Created,
// Created -> Initializing (admitted), Initializing -> Running, Running ->
// seen by the client. ok is false when an event is missing.
func (s sample) segments() (seg [4]time.Duration, ok bool) {
	created, ok1 := s.at("Created", "")
	admitted, ok2 := s.at("PhaseChanged", "Initializing")
	running, ok3 := s.at("PhaseChanged", "Running")
	if !ok1 || !ok2 || !ok3 {
		return seg, false
	}
	return [4]time.Duration{created.Sub(s.sent), admitted.Sub(created), running.Sub(admitted), s.seen.Sub(running)}, true
}

// stats are the p50, p99 and mean of a set of durations.
type stats struct {
	n              int
	p50, p99, mean time.Duration
}

func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return stats{n: len(s), p50: percentile(s, 50), p99: percentile(s, 99), mean: sum / time.Duration(len(s))}
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
