package controller

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// lanes orders the work queue: a workspace whose runtime reported a
// settled change (its pod became ready, ended, went) comes before the
// rest: starts, steps on the way, polls, resyncs, retries. During a start
// of thousands of workspaces the queue holds nearly all of them, and in
// one line a workspace whose pod was ready waited behind every start not
// yet made (minutes at 10,000) before it was seen Running. Only settled
// changes go first: the steps on the way still wait in line, where
// several of one workspace make one pass. One pop in every fairTurn
// serves the other lane, so reports never hold up a user's start or stop
// for long.
//
// The work queue calls Push, Pop, Touch and Len under its own lock;
// settle is called from the runtime's goroutines, hence mu.
type lanes struct {
	mu      sync.Mutex
	settled map[string]bool // reported settled since last popped
	lane    map[string]int  // the lane of each queued item
	fast    []string
	slow    []string
	turn    int
}

const (
	slowLane = iota + 1
	fastLane
	// fairTurn: one pop in this many serves the slow lane when both wait.
	fairTurn = 8
)

var _ workqueue.Queue[string] = (*lanes)(nil)

func newLanes() *lanes {
	return &lanes{settled: map[string]bool{}, lane: map[string]int{}}
}

// settle notes a settled change of id: the Add that follows puts it in
// the fast lane, or moves it there if it is queued.
func (l *lanes) settle(id string) {
	l.mu.Lock()
	l.settled[id] = true
	l.mu.Unlock()
}

func (l *lanes) Push(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.settled[id] {
		l.fast = append(l.fast, id)
		l.lane[id] = fastLane
		return
	}
	l.slow = append(l.slow, id)
	l.lane[id] = slowLane
}

// Touch is an Add of a queued item: a settled one moves to the fast lane
// (its old place in the slow one is skipped when reached).
func (l *lanes) Touch(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.settled[id] && l.lane[id] == slowLane {
		l.fast = append(l.fast, id)
		l.lane[id] = fastLane
	}
}

func (l *lanes) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lane)
}

// Pop is only called when Len is above zero.
func (l *lanes) Pop() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		l.turn++
		from, lane := &l.fast, fastLane
		if len(l.fast) == 0 || l.turn%fairTurn == 0 && len(l.slow) > 0 {
			from, lane = &l.slow, slowLane
		}
		id := (*from)[0]
		(*from)[0] = ""
		*from = (*from)[1:]
		if l.lane[id] != lane {
			continue // moved to the fast lane since
		}
		delete(l.lane, id)
		delete(l.settled, id)
		return id
	}
}

// newQueue is the work queue of one Run, in the order of l. Retries back
// off up to 10s: after an outage of the runtime (an API server down),
// everything is tried again within seconds of its return.
func newQueue(l *lanes) workQueue {
	rl := workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 10*time.Second)
	q := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "workspaces", Queue: l})
	dq := workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: "workspaces", Queue: q})
	return workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[string]{DelayingQueue: dq})
}

type workQueue = workqueue.TypedRateLimitingInterface[string]
