package controller_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/controller"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/service"
)

// counting shows every workspace running and counts the passes that
// looked at it.
type counting struct {
	observed
	passes atomic.Int64
}

func (c *counting) Observe(ctx context.Context, w *labspace.Workspace) (runtime.Observation, error) {
	c.passes.Add(1)
	if !w.Holds() {
		return runtime.Observation{State: runtime.Absent}, nil
	}
	return runtime.Observation{State: runtime.Ready, Tools: map[string]string{"web": "10.0.0.7:8000"}}, nil
}

func (c *counting) Capacity(context.Context) (runtime.Capacity, error) {
	return runtime.Capacity{Scheduled: true, MilliCPU: 64000, MemoryBytes: 1 << 40}, nil
}

// watching is a counting runtime that reports changes itself, as the
// Kubernetes runtime's informers do.
type watching struct {
	counting
	mu      sync.Mutex
	changed func(string, bool)
}

func (w *watching) Watch(f func(string, bool)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed = f
}

func (w *watching) report(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.changed(id, false)
}

// passes runs a controller over rt for the given time once lab/nb is
// Running, and returns how many passes looked at it meanwhile.
func passes(t *testing.T, rt interface {
	runtime.Runtime
	count() int64
}, during time.Duration, meanwhile func(id string)) int64 {
	svc, w := oneWorkspace(t)
	c := controller.New(controller.Options{Service: svc, Runtime: rt, Resync: 20 * time.Millisecond, WatchedResync: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := svc.WorkspaceByID(service.AsController(t.Context()), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == labspace.PhaseRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never Running: %s", got.Status.Phase)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the passes queued on the way there
	from := rt.count()
	if meanwhile != nil {
		meanwhile(w.ID)
	}
	time.Sleep(during)
	return rt.count() - from
}

func (c *counting) count() int64 { return c.passes.Load() }

// A Running workspace is looked at every Resync when the runtime says
// nothing of its changes, and only when told (or every WatchedResync)
// when it does: at 10,000 workspaces the 5 s passes cost a third of a core.
func TestRunningIsResyncedOnlyWithoutReports(t *testing.T) {
	if n := passes(t, &counting{}, 500*time.Millisecond, nil); n < 5 {
		t.Errorf("without reports: %d passes in 500 ms at a 20 ms resync, want at least 5", n)
	}
	w := &watching{}
	if n := passes(t, w, 500*time.Millisecond, nil); n != 0 {
		t.Errorf("with reports and none made: %d passes in 500 ms, want none", n)
	}
	if n := passes(t, w, 200*time.Millisecond, w.report); n != 1 {
		t.Errorf("one report: %d passes, want 1", n)
	}
}
