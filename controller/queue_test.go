package controller

import (
	"slices"
	"strconv"
	"testing"
)

// A workspace with a settled change comes out before those queued for
// other reasons, even when it was queued first as one of them, and once.
func TestSettledChangesGoFirst(t *testing.T) {
	l := newLanes()
	q := newQueue(l)
	defer q.ShutDown()
	for _, id := range []string{"a", "b", "c", "d"} {
		q.Add(id)
	}
	l.settle("c")
	q.Add("c") // queued already: moves ahead
	l.settle("e")
	q.Add("e")
	var got []string
	for q.Len() > 0 {
		id, _ := q.Get()
		got = append(got, id)
		q.Done(id)
	}
	if want := []string{"c", "e", "a", "b", "d"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// A flood of settled changes does not hold up the rest: one pop in
// fairTurn serves the other lane.
func TestSettledChangesDoNotStarveTheRest(t *testing.T) {
	l := newLanes()
	q := newQueue(l)
	defer q.ShutDown()
	q.Add("start-me")
	for i := range 100 {
		id := "pod-" + strconv.Itoa(i)
		l.settle(id)
		q.Add(id)
	}
	for range fairTurn {
		id, _ := q.Get()
		q.Done(id)
		if id == "start-me" {
			return
		}
	}
	t.Errorf("the one unsettled workspace waited more than %d pops", fairTurn)
}

// A settled change while a worker holds the workspace brings it back
// once, in the fast lane, after Done.
func TestSettledWhileProcessing(t *testing.T) {
	l := newLanes()
	q := newQueue(l)
	defer q.ShutDown()
	q.Add("x")
	id, _ := q.Get()
	q.Add("y")
	l.settle("x")
	q.Add("x")
	q.Done(id)
	if q.Len() != 2 {
		t.Fatalf("len %d, want 2", q.Len())
	}
	if first, _ := q.Get(); first != "x" {
		t.Errorf("first %q, want the settled x", first)
	}
}
