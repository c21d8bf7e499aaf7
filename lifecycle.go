package labspace

import (
	"fmt"
	"strings"
	"time"
)

// LifecycleRules stop what nobody uses and bound how long a workspace runs.
// Durations are seconds; 0 leaves a rule off.
type LifecycleRules struct {
	// IdleStopSeconds stops a running workspace this long after its last
	// activity (IdleSignals).
	IdleStopSeconds int64 `json:"idleStopSeconds,omitempty"`
	// IdleSignals are what counts as activity; empty: all of them.
	IdleSignals []Signal `json:"idleSignals,omitempty"`
	// GPUIdleBelowPercent: GPUs busy under this (default 5) are idle.
	GPUIdleBelowPercent int `json:"gpuIdleBelowPercent,omitempty"`
	// CPUIdleBelowMillicores: a workload using less CPU than this
	// (default 100, a tenth of a core) is idle.
	CPUIdleBelowMillicores int `json:"cpuIdleBelowMillicores,omitempty"`
	// MaxRunningSeconds stops a workspace this long after it started,
	// busy or not; MaxPreemptibleRunningSeconds does for preemptible ones.
	MaxRunningSeconds int64 `json:"maxRunningSeconds,omitempty"`
	// As maxRunningSeconds, for preemptible workspaces.
	MaxPreemptibleRunningSeconds int64 `json:"maxPreemptibleRunningSeconds,omitempty"`
	// WarnBeforeSeconds is how long before such a stop the user is told
	// (default 600, at most half the rule's duration).
	WarnBeforeSeconds int64 `json:"warnBeforeSeconds,omitempty"`
}

// Signal is a kind of activity.
type Signal string

const (
	// SignalToolTraffic: requests and WebSocket frames through the proxy.
	SignalToolTraffic Signal = "tool-traffic"
	// SignalKernel: a Jupyter kernel computing, or its last activity.
	SignalKernel Signal = "kernel"
	// SignalGPU: the workspace's GPUs busy at or above the rule's threshold.
	SignalGPU Signal = "gpu"
	// SignalCPU: the workload using CPU at or above the rule's threshold.
	SignalCPU Signal = "cpu"
	// SignalKeepRunning: the user asked to keep the workspace running.
	SignalKeepRunning Signal = "keep-running"
)

// Signals are the signals rules may name, in docs order.
var Signals = [...]Signal{SignalToolTraffic, SignalKernel, SignalGPU, SignalCPU, SignalKeepRunning}

// signalWords name signals for people.
var signalWords = map[Signal]string{SignalToolTraffic: "tool traffic", SignalKernel: "notebook kernel activity", SignalGPU: "GPU use",
	SignalCPU: "CPU use", SignalKeepRunning: "a request to keep it running"}

// Validate checks the rules' own fields.
func (l *LifecycleRules) Validate(field string, v *Invalid) {
	for name, secs := range map[string]int64{"idleStopSeconds": l.IdleStopSeconds, "maxRunningSeconds": l.MaxRunningSeconds,
		"maxPreemptibleRunningSeconds": l.MaxPreemptibleRunningSeconds, "warnBeforeSeconds": l.WarnBeforeSeconds} {
		if secs < 0 || secs > 366*24*3600 {
			v.Add(field+"."+name, "must be between 0 and a year in seconds")
		}
	}
	if l.GPUIdleBelowPercent < 0 || l.GPUIdleBelowPercent > 100 {
		v.Add(field+".gpuIdleBelowPercent", "must be between 0 and 100")
	}
	if l.CPUIdleBelowMillicores < 0 || l.CPUIdleBelowMillicores > 1_000_000 {
		v.Add(field+".cpuIdleBelowMillicores", "must be between 0 and 1000000 (a thousand cores)")
	}
	for i, s := range l.IdleSignals {
		known := false
		for _, k := range Signals {
			known = known || s == k
		}
		if !known {
			v.Add(fieldIndex(field+".idleSignals", i), "is not a signal; one of %s", joinSignals(Signals[:]))
		}
	}
}

func joinSignals(ss []Signal) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// EffectiveLifecycle is the strictest of a chain's lifecycle rules, with
// the scope each comes from.
type EffectiveLifecycle struct {
	LifecycleRules
	// The scope each rule comes from, by rule.
	From map[string]Scope `json:"from"`
}

// narrow keeps the shorter of each duration and the signals both count.
func (e *EffectiveLifecycle) narrow(r LifecycleRules, from Scope) {
	if e.From == nil {
		e.From = map[string]Scope{}
	}
	shorter := func(name string, cur *int64, v int64) {
		if v > 0 && (*cur == 0 || v < *cur) {
			*cur, e.From[name] = v, from
		}
	}
	shorter("idleStopSeconds", &e.IdleStopSeconds, r.IdleStopSeconds)
	shorter("maxRunningSeconds", &e.MaxRunningSeconds, r.MaxRunningSeconds)
	shorter("maxPreemptibleRunningSeconds", &e.MaxPreemptibleRunningSeconds, r.MaxPreemptibleRunningSeconds)
	shorter("warnBeforeSeconds", &e.WarnBeforeSeconds, r.WarnBeforeSeconds)
	if r.GPUIdleBelowPercent > e.GPUIdleBelowPercent { // more use counts as idle: stricter
		e.GPUIdleBelowPercent, e.From["gpuIdleBelowPercent"] = r.GPUIdleBelowPercent, from
	}
	if r.CPUIdleBelowMillicores > e.CPUIdleBelowMillicores {
		e.CPUIdleBelowMillicores, e.From["cpuIdleBelowMillicores"] = r.CPUIdleBelowMillicores, from
	}
	if len(r.IdleSignals) > 0 {
		if e.IdleSignals == nil {
			e.IdleSignals = append([]Signal(nil), r.IdleSignals...)
		} else {
			var kept []Signal
			for _, s := range e.IdleSignals {
				for _, t := range r.IdleSignals {
					if s == t {
						kept = append(kept, s)
					}
				}
			}
			e.IdleSignals = append([]Signal{}, kept...)
		}
		e.From["idleSignals"] = from
	}
}

// Counts reports whether signal s counts as activity.
func (e *EffectiveLifecycle) Counts(s Signal) bool {
	if s == SignalKeepRunning || e.IdleSignals == nil {
		return true
	}
	for _, t := range e.IdleSignals {
		if t == s {
			return true
		}
	}
	return false
}

// GPUThreshold is the utilisation (percent) at and above which GPUs count
// as used.
func (e *EffectiveLifecycle) GPUThreshold() int {
	if e.GPUIdleBelowPercent == 0 {
		return 5
	}
	return e.GPUIdleBelowPercent
}

// CPUThreshold is the CPU use (millicores) at and above which a workload
// counts as busy.
func (e *EffectiveLifecycle) CPUThreshold() int {
	if e.CPUIdleBelowMillicores == 0 {
		return 100
	}
	return e.CPUIdleBelowMillicores
}

// StopCause says why a workspace was stopped other than by a person.
type StopCause struct {
	Reason string `json:"reason"` // IdleTimeout, MaxDurationReached
	// Why, in words.
	Message string `json:"message"`
	// When it was stopped.
	At time.Time `json:"at"`
}

// Activity is a workspace's last activity that counts, as last recorded.
type Activity struct {
	// When the last activity was seen.
	Last time.Time `json:"last"`
	// What the activity was.
	Signal Signal `json:"signal"`
}

// StopNotice tells that a running workspace will be stopped at At unless
// it is used (an idle stop) or in any case (a maximum duration).
type StopNotice struct {
	// When the workspace will be stopped.
	At time.Time `json:"at"`
	// Why, as a code (IdleTimeout, MaxDurationReached).
	Reason string `json:"reason"`
	// Why, in words.
	Message string `json:"message"`
}

// Deadline is when the rules stop running workspace w, last active at
// last, and why; ok is false when no rule applies. warnAt is when to tell.
func (e *EffectiveLifecycle) Deadline(w *Workspace, last time.Time) (at, warnAt time.Time, cause StopCause, ok bool) {
	if w.Status.StartedAt == nil {
		return at, warnAt, cause, false
	}
	started := *w.Status.StartedAt
	var span int64
	if e.IdleStopSeconds > 0 {
		idleSince := last
		if idleSince.Before(started) {
			idleSince = started
		}
		at, span, ok = idleSince.Add(seconds(e.IdleStopSeconds)), e.IdleStopSeconds, true
		cause = StopCause{Reason: "IdleTimeout", Message: fmt.Sprintf("Stopped after %s without %s (idle since %s UTC), as the %s policy asks.",
			Span(e.IdleStopSeconds), e.activityWords(), idleSince.UTC().Format("15:04"), e.From["idleStopSeconds"].Words())}
	}
	limit, from := e.MaxRunningSeconds, e.From["maxRunningSeconds"]
	if w.Spec.General.Preemptible && e.MaxPreemptibleRunningSeconds > 0 && (limit == 0 || e.MaxPreemptibleRunningSeconds < limit) {
		limit, from = e.MaxPreemptibleRunningSeconds, e.From["maxPreemptibleRunningSeconds"]
	}
	if limit > 0 {
		if end := started.Add(seconds(limit)); !ok || end.Before(at) {
			at, span, ok = end, limit, true
			cause = StopCause{Reason: "MaxDurationReached", Message: fmt.Sprintf("Stopped after running %s, the longest the %s policy allows.",
				Span(limit), from.Words())}
		}
	}
	if !ok {
		return at, warnAt, cause, false
	}
	warn := e.WarnBeforeSeconds
	if warn == 0 {
		warn = 600
	}
	warn = min(warn, span/2)
	cause.At = at
	return at, at.Add(-seconds(warn)), cause, true
}

// activityWords lists what counts as activity, for the stop message.
func (e *EffectiveLifecycle) activityWords() string {
	var words []string
	for _, s := range Signals {
		if s != SignalKeepRunning && e.Counts(s) {
			words = append(words, signalWords[s])
		}
	}
	if len(words) == 0 {
		return "a request to keep it running"
	}
	return strings.Join(words, " or ")
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// Span writes seconds for people: "45 s", "60 min", "8 h", "2 days".
func Span(secs int64) string {
	switch {
	case secs%86400 == 0 && secs >= 2*86400:
		return fmt.Sprintf("%d days", secs/86400)
	case secs%3600 == 0 && secs >= 3600:
		return fmt.Sprintf("%d h", secs/3600)
	case secs%60 == 0 && secs >= 60:
		return fmt.Sprintf("%d min", secs/60)
	}
	return fmt.Sprintf("%d s", secs)
}

// ActiveAt is when running workspace w was last seen in use, as recorded
// (status.activity, at most a minute behind), or when it started; zero
// when it is not running.
func (w *Workspace) ActiveAt() time.Time {
	if w.Status.Phase != PhaseRunning || w.Status.StartedAt == nil {
		return time.Time{}
	}
	if a := w.Status.Activity; a != nil && a.Last.After(*w.Status.StartedAt) {
		return a.Last
	}
	return *w.Status.StartedAt
}
