package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// testListSortByActivity: sorted by activeAt, running workspaces come
// idle the longest first and everything else after them, in pages and
// within a scope; an update moves a workspace; the time round-trips.
func testListSortByActivity(t *testing.T, s store.Store) {
	p := labspace.ProjectScope("idle")
	active := func(tm time.Time) opt { return func(r *store.Record) { r.ActiveAt = tm } }
	recs := []*store.Record{
		rec(labspace.KindWorkspace, "busy", inScope(p), withPhase("Running"), active(at(time.Hour))),
		rec(labspace.KindWorkspace, "stopped", inScope(p), withPhase("Stopped")),
		rec(labspace.KindWorkspace, "forgotten", inScope(p), withPhase("Running"), active(at(-time.Hour))),
		rec(labspace.KindWorkspace, "quiet", inScope(p), withPhase("Running"), active(at(time.Minute))),
		rec(labspace.KindWorkspace, "failed", inScope(p), withPhase("Failed")),
	}
	insert(t, s, recs...)
	check := func(q store.ListQuery, want ...string) {
		t.Helper()
		got := names(listAll(t, s, labspace.KindWorkspace, q))
		// The two not running tie; they follow in id order, either way.
		if len(got) != len(want) || !slices.Equal(got[:3], want[:3]) || !sameSet(got[3:], want[3:]) {
			t.Errorf("%+v = %q, want %q", q, got, want)
		}
	}
	check(store.ListQuery{SortBy: "activeAt"}, "forgotten", "quiet", "busy", "stopped", "failed")
	check(store.ListQuery{SortBy: "activeAt", Limit: 2}, "forgotten", "quiet", "busy", "stopped", "failed")
	check(store.ListQuery{SortBy: "activeAt", Scopes: []labspace.Scope{p}, Limit: 1}, "forgotten", "quiet", "busy", "stopped", "failed")
	desc := names(listAll(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: "activeAt", Desc: true, Limit: 2}))
	if !slices.Equal(desc[2:], []string{"busy", "quiet", "forgotten"}) {
		t.Errorf("descending: %q", desc)
	}
	if got := mustGet(t, s, labspace.KindWorkspace, recs[0].ID); !sameTime(got.ActiveAt, at(time.Hour).UTC()) {
		t.Errorf("ActiveAt read back as %v, want %v", got.ActiveAt, at(time.Hour).UTC())
	}
	if got := mustGet(t, s, labspace.KindWorkspace, recs[1].ID); !got.ActiveAt.IsZero() {
		t.Errorf("a stopped workspace's ActiveAt read back as %v", got.ActiveAt)
	}
	// Used again: "forgotten" moves to the end of the running ones.
	mustUpdate(t, s, func(tx store.Tx) error {
		r, err := tx.Get(labspace.KindWorkspace, recs[2].ID)
		if err != nil {
			return err
		}
		r.ActiveAt = at(2 * time.Hour)
		return tx.Update(r)
	})
	check(store.ListQuery{SortBy: "activeAt"}, "quiet", "busy", "forgotten", "stopped", "failed")
}
