// Package storetest is the contract suite every store.Store implementation
// passes. An implementation's test calls Run with a function that opens a
// fresh, empty store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openEmpty(t) })
//	}
package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Run runs the contract suite; each subtest gets a fresh store from open,
// which should close it on cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"InsertGetRoundTrip", testInsertGetRoundTrip},
		{"InsertDuplicateName", testInsertDuplicateName},
		{"InsertSameNameElsewhere", testInsertSameNameElsewhere},
		{"InsertDuplicateID", testInsertDuplicateID},
		{"GetMissing", testGetMissing},
		{"Update", testUpdate},
		{"UpdateStaleRV", testUpdateStaleRV},
		{"UpdateMissing", testUpdateMissing},
		{"UpdateToTakenName", testUpdateToTakenName},
		{"Delete", testDelete},
		{"DeleteMissing", testDeleteMissing},
		{"Rollback", testRollback},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"ListKind", testListKind},
		{"ListScopes", testListScopes},
		{"ListFilters", testListFilters},
		{"ListSearch", testListSearch},
		{"ListFilterBy", testListFilterBy},
		{"ListFilterByEnvironment", testListFilterByEnvironment},
		{"ListOffset", testListOffset},
		{"ListSort", testListSort},
		{"ListSortByActivity", testListSortByActivity},
		{"ListPagination", testListPagination},
		{"ListPaginationAllTied", testListPaginationAllTied},
		{"ListPaginationFiltered", testListPaginationFiltered},
		{"ListLimits", testListLimits},
		{"ListBadQuery", testListBadQuery},
		{"CountByPhase", testCountByPhase},
		{"Refs", testRefs},
		{"Events", testEvents},
		{"Audit", testAudit},
		{"AuditPagination", testAuditPagination},
		{"Tokens", testTokens},
		{"TokenDelete", testTokenDelete},
		{"ConcurrentInsertSameName", testConcurrentInsertSameName},
		{"ConcurrentUpdates", testConcurrentUpdates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// --- fixtures ---

// base is a time with every nanosecond digit set, outside UTC, so that
// truncation and zone handling show.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 5*3600+30*60))

var seq atomic.Int64

type opt func(*store.Record)

func inScope(s labspace.Scope) opt    { return func(r *store.Record) { r.Scope = s } }
func withPhase(p string) opt          { return func(r *store.Record) { r.Phase = p } }
func withCreatedBy(u string) opt      { return func(r *store.Record) { r.CreatedBy = u } }
func withSubject(s string) opt        { return func(r *store.Record) { r.Subject = s } }
func withID(id string) opt            { return func(r *store.Record) { r.ID = id } }
func createdAt(tm time.Time) opt      { return func(r *store.Record) { r.CreatedAt = tm } }
func updatedAt(tm time.Time) opt      { return func(r *store.Record) { r.UpdatedAt = tm } }
func withSecret(b []byte) opt         { return func(r *store.Record) { r.Secret = b } }
func withData(v map[string]any) opt   { return func(r *store.Record) { r.Data = mustJSON(v) } }
func mustJSON(v any) []byte           { b, _ := json.Marshal(v); return b }
func at(d time.Duration) time.Time    { return base.Add(d) }
func newID(kind labspace.Kind) string { return fmt.Sprintf("%s-%d", kind, seq.Add(1)) }

// rec builds a record of kind named name in project p1, filling every other
// column with a default.
func rec(kind labspace.Kind, name string, opts ...opt) *store.Record {
	r := &store.Record{Kind: kind, ID: newID(kind), Name: name, Scope: labspace.ProjectScope("p1"),
		CreatedAt: base, UpdatedAt: base, CreatedBy: "user:alice", Data: mustJSON(map[string]any{"name": name})}
	for _, o := range opts {
		o(r)
	}
	return r
}

// --- helpers ---

func update(t *testing.T, s store.Store, fn func(store.Tx) error) error {
	t.Helper()
	return s.Update(t.Context(), fn)
}

func mustUpdate(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := update(t, s, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func mustView(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// insert stores records, each in its own transaction.
func insert(t *testing.T, s store.Store, recs ...*store.Record) {
	t.Helper()
	for _, r := range recs {
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Insert(r) })
	}
}

func insertErr(t *testing.T, s store.Store, r *store.Record) error {
	t.Helper()
	return update(t, s, func(tx store.Tx) error { return tx.Insert(r) })
}

func get(t *testing.T, s store.Store, kind labspace.Kind, id string) (*store.Record, error) {
	t.Helper()
	var r *store.Record
	err := s.View(t.Context(), func(tx store.Tx) (err error) { r, err = tx.Get(kind, id); return err })
	return r, err
}

func mustGet(t *testing.T, s store.Store, kind labspace.Kind, id string) *store.Record {
	t.Helper()
	r, err := get(t, s, kind, id)
	if err != nil {
		t.Fatalf("get %s %s: %v", kind, id, err)
	}
	return r
}

func list(t *testing.T, s store.Store, kind labspace.Kind, q store.ListQuery) ([]*store.Record, string, error) {
	t.Helper()
	var out []*store.Record
	var next string
	err := s.View(t.Context(), func(tx store.Tx) (err error) { out, next, err = tx.List(kind, q); return err })
	return out, next, err
}

// listAll follows continue tokens to the end, checking each page's size.
func listAll(t *testing.T, s store.Store, kind labspace.Kind, q store.ListQuery) []*store.Record {
	t.Helper()
	var all []*store.Record
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("list %+v: more than 10000 pages; continue token does not advance", q)
		}
		page, next, err := list(t, s, kind, q)
		if err != nil {
			t.Fatalf("list %+v: %v", q, err)
		}
		if q.Limit > 0 && len(page) > q.Limit {
			t.Fatalf("list %+v: page of %d records, over the limit", q, len(page))
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		if len(page) == 0 {
			t.Fatalf("list %+v: empty page with continue token %q", q, next)
		}
		if q.Limit > 0 && len(page) < q.Limit {
			t.Fatalf("list %+v: short page (%d) with continue token %q", q, len(page), next)
		}
		q.Continue = next
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := labspace.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func names(recs []*store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Name
	}
	return out
}

func ids(recs []*store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// sameSet reports whether got and want hold the same strings, in any order.
func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

func wantNames(t *testing.T, recs []*store.Record, want ...string) {
	t.Helper()
	if got := names(recs); !sameSet(got, want) {
		t.Fatalf("names = %q, want %q (any order)", got, want)
	}
}

func sameTime(got, want time.Time) bool { return got.Equal(want) && got.Location() == time.UTC }

// checkRecord compares every column of got with want; times must be equal
// to the nanosecond and in UTC.
func checkRecord(t *testing.T, got, want *store.Record) {
	t.Helper()
	var diffs []string
	diff := func(field string, g, w any) { diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.Kind != want.Kind {
		diff("Kind", got.Kind, want.Kind)
	}
	if got.ID != want.ID {
		diff("ID", got.ID, want.ID)
	}
	if got.Name != want.Name {
		diff("Name", got.Name, want.Name)
	}
	if got.Scope != want.Scope {
		diff("Scope", got.Scope, want.Scope)
	}
	if got.RV != want.RV {
		diff("RV", got.RV, want.RV)
	}
	if !sameTime(got.CreatedAt, want.CreatedAt) {
		diff("CreatedAt", got.CreatedAt, want.CreatedAt.UTC())
	}
	if !sameTime(got.UpdatedAt, want.UpdatedAt) {
		diff("UpdatedAt", got.UpdatedAt, want.UpdatedAt.UTC())
	}
	if got.CreatedBy != want.CreatedBy {
		diff("CreatedBy", got.CreatedBy, want.CreatedBy)
	}
	if got.Phase != want.Phase {
		diff("Phase", got.Phase, want.Phase)
	}
	if got.Subject != want.Subject {
		diff("Subject", got.Subject, want.Subject)
	}
	if !bytes.Equal(got.Data, want.Data) {
		diff("Data", string(got.Data), string(want.Data))
	}
	if !bytes.Equal(got.Secret, want.Secret) {
		diff("Secret", got.Secret, want.Secret)
	}
	if got.Format != want.Format {
		diff("Format", got.Format, want.Format)
	}
	if len(diffs) > 0 {
		t.Fatalf("record %s:\n  %s", want.ID, strings.Join(diffs, "\n  "))
	}
}

// --- records ---

func testInsertGetRoundTrip(t *testing.T, s store.Store) {
	r := rec(labspace.KindWorkspace, "ws", inScope(labspace.DepartmentScope("physics")),
		createdAt(base), updatedAt(at(time.Hour+time.Nanosecond)), withCreatedBy("user:bob"),
		withPhase("Running"), withSubject("group:devs"), withSecret([]byte{0, 1, 0xfe, 0xff, '\''}),
		withData(map[string]any{"spec": map[string]any{"image": "jupyter", "gpus": 2}}))
	r.RV = 7 // ignored: a new record starts at 1
	r.Format = "j1-0123456789abcdef"
	insert(t, s, r)
	if r.RV != 1 {
		t.Errorf("Insert left r.RV = %d, want 1", r.RV)
	}
	want := *r
	want.RV = 1

	checkRecord(t, mustGet(t, s, r.Kind, r.ID), &want)
	var byName *store.Record
	mustView(t, s, func(tx store.Tx) (err error) {
		byName, err = tx.GetByName(r.Kind, r.Scope, r.Name)
		return err
	})
	checkRecord(t, byName, &want)

	// Without phase, subject or secret.
	plain := rec(labspace.KindEnvironment, "env", inScope(labspace.Global))
	insert(t, s, plain)
	checkRecord(t, mustGet(t, s, plain.Kind, plain.ID), plain)
}

func testInsertDuplicateName(t *testing.T, s store.Store) {
	first := rec(labspace.KindEnvironment, "py")
	insert(t, s, first)
	wantCode(t, insertErr(t, s, rec(labspace.KindEnvironment, "py", withData(map[string]any{"other": true}))), labspace.ECONFLICT)
	checkRecord(t, mustGet(t, s, first.Kind, first.ID), first)
	all := listAll(t, s, labspace.KindEnvironment, store.ListQuery{})
	if len(all) != 1 {
		t.Fatalf("after a conflicting insert, list = %q, want one record", ids(all))
	}
}

func testInsertSameNameElsewhere(t *testing.T, s store.Store) {
	insert(t, s,
		rec(labspace.KindEnvironment, "py"),
		rec(labspace.KindEnvironment, "py", inScope(labspace.ProjectScope("p2"))),
		rec(labspace.KindEnvironment, "py", inScope(labspace.DepartmentScope("p1"))),
		rec(labspace.KindEnvironment, "py", inScope(labspace.Global)),
		rec(labspace.KindDataSource, "py"),
	)
	if all := listAll(t, s, labspace.KindEnvironment, store.ListQuery{}); len(all) != 4 {
		t.Fatalf("environments = %d, want 4", len(all))
	}
}

func testInsertDuplicateID(t *testing.T, s store.Store) {
	first := rec(labspace.KindEnvironment, "a")
	insert(t, s, first)
	wantCode(t, insertErr(t, s, rec(labspace.KindEnvironment, "b", withID(first.ID))), labspace.ECONFLICT)
	wantCode(t, insertErr(t, s, rec(labspace.KindDataSource, "c", withID(first.ID))), labspace.ECONFLICT)
	checkRecord(t, mustGet(t, s, first.Kind, first.ID), first)
}

func testGetMissing(t *testing.T, s store.Store) {
	r := rec(labspace.KindEnvironment, "a")
	insert(t, s, r)
	_, err := get(t, s, labspace.KindEnvironment, "nope")
	wantCode(t, err, labspace.ENOTFOUND)
	_, err = get(t, s, labspace.KindDataSource, r.ID) // right id, wrong kind
	wantCode(t, err, labspace.ENOTFOUND)
	for _, q := range []struct {
		kind  labspace.Kind
		scope labspace.Scope
		name  string
	}{
		{labspace.KindEnvironment, r.Scope, "nope"},
		{labspace.KindEnvironment, labspace.ProjectScope("p2"), r.Name},
		{labspace.KindEnvironment, labspace.DepartmentScope("p1"), r.Name},
		{labspace.KindDataSource, r.Scope, r.Name},
	} {
		err := s.View(t.Context(), func(tx store.Tx) error { _, err := tx.GetByName(q.kind, q.scope, q.name); return err })
		wantCode(t, err, labspace.ENOTFOUND)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	r := rec(labspace.KindWorkspace, "ws", withPhase("Pending"), withSecret([]byte("old")))
	insert(t, s, r)
	r.Data, r.Phase, r.Subject, r.Secret = []byte(`{"v":2}`), "Running", "user:carol", []byte("new")
	r.UpdatedAt, r.Format = at(time.Minute+3), "j1-fedcba9876543210"
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Update(r) })
	if r.RV != 2 {
		t.Errorf("Update left r.RV = %d, want 2", r.RV)
	}
	checkRecord(t, mustGet(t, s, r.Kind, r.ID), r)

	r.Data, r.Format = []byte(`{"v":3}`), "" // a document of no known shape
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Update(r) })
	checkRecord(t, mustGet(t, s, r.Kind, r.ID), r)
	if r.RV != 3 {
		t.Errorf("RV after two updates = %d, want 3", r.RV)
	}
}

func testUpdateStaleRV(t *testing.T, s store.Store) {
	r := rec(labspace.KindWorkspace, "ws")
	insert(t, s, r)
	stale := *r
	r.Data = []byte(`{"by":"first"}`)
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Update(r) })

	stale.Data = []byte(`{"by":"second"}`)
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.Update(&stale) }), labspace.ECONFLICT)
	if stale.RV != 1 {
		t.Errorf("failed Update changed r.RV to %d", stale.RV)
	}
	checkRecord(t, mustGet(t, s, r.Kind, r.ID), r)

	ahead := *r
	ahead.RV = 99
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.Update(&ahead) }), labspace.ECONFLICT)
	checkRecord(t, mustGet(t, s, r.Kind, r.ID), r)
}

func testUpdateMissing(t *testing.T, s store.Store) {
	r := rec(labspace.KindWorkspace, "ws")
	r.RV = 1
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.Update(r) }), labspace.ENOTFOUND)
	if _, err := get(t, s, r.Kind, r.ID); labspace.ErrorCode(err) != labspace.ENOTFOUND {
		t.Fatalf("Update of a missing record created it (get: %v)", err)
	}
}

func testUpdateToTakenName(t *testing.T, s store.Store) {
	a, b := rec(labspace.KindEnvironment, "a"), rec(labspace.KindEnvironment, "b")
	insert(t, s, a, b)
	renamed := *b
	renamed.Name = "a"
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.Update(&renamed) }), labspace.ECONFLICT)
	checkRecord(t, mustGet(t, s, b.Kind, b.ID), b)
}

func testDelete(t *testing.T, s store.Store) {
	ws, other := rec(labspace.KindWorkspace, "ws"), rec(labspace.KindWorkspace, "other")
	env := rec(labspace.KindEnvironment, "env")
	insert(t, s, ws, other, env)
	mustUpdate(t, s, func(tx store.Tx) error {
		for _, w := range []*store.Record{ws, other} {
			if err := tx.SetRefs(w.ID, []string{env.ID}); err != nil {
				return err
			}
			if err := tx.AddEvent(&labspace.Event{WorkspaceID: w.ID, Time: base, Type: "Created", Actor: "user:alice"}); err != nil {
				return err
			}
		}
		return nil
	})

	mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete(ws.Kind, ws.ID) })

	_, err := get(t, s, ws.Kind, ws.ID)
	wantCode(t, err, labspace.ENOTFOUND)
	err = s.View(t.Context(), func(tx store.Tx) error { _, err := tx.GetByName(ws.Kind, ws.Scope, ws.Name); return err })
	wantCode(t, err, labspace.ENOTFOUND)
	mustView(t, s, func(tx store.Tx) error {
		refs, err := tx.Referrers(env.ID)
		if err != nil {
			return err
		}
		if got := ids(refs); !slices.Equal(got, []string{other.ID}) {
			t.Errorf("referrers of env after deleting ws = %q, want only %q", got, other.ID)
		}
		if evs, err := tx.Events(ws.ID); err != nil || len(evs) != 0 {
			t.Errorf("events of deleted ws = %v, %v; want none", evs, err)
		}
		if evs, err := tx.Events(other.ID); err != nil || len(evs) != 1 {
			t.Errorf("events of other ws = %v, %v; want its one event", evs, err)
		}
		return nil
	})
	checkRecord(t, mustGet(t, s, other.Kind, other.ID), other)
	checkRecord(t, mustGet(t, s, env.Kind, env.ID), env)

	// The name and id are free again, and the new record inherits neither
	// the old one's references nor its events.
	again := rec(labspace.KindWorkspace, "ws", withID(ws.ID))
	insert(t, s, again)
	checkRecord(t, mustGet(t, s, again.Kind, again.ID), again)
	mustView(t, s, func(tx store.Tx) error {
		if refs, err := tx.Referrers(env.ID); err != nil || !slices.Equal(ids(refs), []string{other.ID}) {
			t.Errorf("referrers of env after re-creating ws = %q, %v; want only %q", ids(refs), err, other.ID)
		}
		if evs, err := tx.Events(again.ID); err != nil || len(evs) != 0 {
			t.Errorf("events of re-created ws = %v, %v; want none", evs, err)
		}
		return nil
	})
}

func testDeleteMissing(t *testing.T, s store.Store) {
	r := rec(labspace.KindEnvironment, "a")
	insert(t, s, r)
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.Delete(r.Kind, "nope") }), labspace.ENOTFOUND)
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.Delete(labspace.KindDataSource, r.ID) }), labspace.ENOTFOUND)
	mustGet(t, s, r.Kind, r.ID)
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete(r.Kind, r.ID) })
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.Delete(r.Kind, r.ID) }), labspace.ENOTFOUND)
}

// --- list ---

var sortFields = []string{"", "name", "createdAt", "updatedAt", "phase"}

// compareBy compares records on the field a ListQuery sorts by.
func compareBy(sortBy string, a, b *store.Record) int {
	switch sortBy {
	case "createdAt":
		return a.CreatedAt.Compare(b.CreatedAt)
	case "updatedAt":
		return a.UpdatedAt.Compare(b.UpdatedAt)
	case "phase":
		return strings.Compare(a.Phase, b.Phase)
	}
	return strings.Compare(a.Name, b.Name)
}

// checkOrder fails unless recs are sorted by sortBy and hold exactly want.
func checkOrder(t *testing.T, recs []*store.Record, want []*store.Record, sortBy string, desc bool) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range recs {
		if seen[r.ID] {
			t.Fatalf("record %s (%s) returned twice; order %q", r.ID, r.Name, ids(recs))
		}
		seen[r.ID] = true
		if i == 0 {
			continue
		}
		c := compareBy(sortBy, recs[i-1], r)
		if desc {
			c = -c
		}
		if c > 0 {
			t.Fatalf("records %d and %d out of order by %q (desc %v): %s then %s", i-1, i, sortBy, desc, recs[i-1].ID, r.ID)
		}
	}
	if !sameSet(ids(recs), ids(want)) {
		t.Fatalf("got %d records %q, want %d records %q", len(recs), ids(recs), len(want), ids(want))
	}
}

// tiedRecords returns n workspaces in two projects whose names, phases,
// creation and update times all repeat.
func tiedRecords(n int) []*store.Record {
	phases := []string{"Running", "Stopped", "Failed"}
	var recs []*store.Record
	for i := range n {
		scope := labspace.ProjectScope("p1")
		if i%2 == 1 {
			scope = labspace.ProjectScope("p2")
		}
		recs = append(recs, rec(labspace.KindWorkspace, fmt.Sprintf("w%02d", i/2), inScope(scope),
			withPhase(phases[i%3]), createdAt(at(time.Duration(i/4)*time.Second)),
			updatedAt(at(time.Duration((i*7)%5)*time.Nanosecond))))
	}
	return recs
}

// --- refs, events, audit ---

func addAudits(t *testing.T, s store.Store, n int) []labspace.AuditEntry {
	t.Helper()
	actors := []string{"user:alice", "user:bob", "application:ci"}
	scopes := []labspace.Scope{labspace.Global, labspace.ProjectScope("p1"), labspace.DepartmentScope("d1")}
	var out []labspace.AuditEntry
	for i := range n {
		e := labspace.AuditEntry{Time: at(time.Duration(i) * time.Second), Actor: actors[i%3], Action: "update",
			Kind: labspace.KindWorkspace, ObjectID: fmt.Sprintf("obj-%d", i%4), ObjectName: fmt.Sprintf("ws%d", i%4),
			Scope: scopes[i%3], Source: "10.0.0.1"}
		mustUpdate(t, s, func(tx store.Tx) error { return tx.AddAudit(&e) })
		if len(out) > 0 && e.ID <= out[len(out)-1].ID {
			t.Fatalf("audit ids not increasing: %d after %d", e.ID, out[len(out)-1].ID)
		}
		e.Time = e.Time.UTC()
		out = append(out, e)
	}
	return out
}

func listAudit(t *testing.T, s store.Store, q store.AuditQuery) ([]labspace.AuditEntry, string, error) {
	t.Helper()
	var out []labspace.AuditEntry
	var next string
	err := s.View(t.Context(), func(tx store.Tx) (err error) { out, next, err = tx.ListAudit(q); return err })
	return out, next, err
}

// wantAudit checks got is want newest first, every field intact.
func wantAudit(t *testing.T, got, want []labspace.AuditEntry) {
	t.Helper()
	want = slices.Clone(want)
	slices.Reverse(want)
	if len(got) != len(want) {
		t.Fatalf("audit entries = %d, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		if got[i] != want[i] || !sameTime(got[i].Time, want[i].Time) {
			t.Fatalf("audit entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// --- tokens ---

var (
	alice      = labspace.Subject{Type: labspace.SubjectUser, Name: "alice"}
	bob        = labspace.Subject{Type: labspace.SubjectUser, Name: "bob"}
	aliceGroup = labspace.Subject{Type: labspace.SubjectGroup, Name: "alice"}
)

func token(id string, sub labspace.Subject) *labspace.Token {
	return &labspace.Token{ID: id, Hash: "hash-" + id, Subject: sub, Kind: labspace.TokenPersonal, Name: "laptop " + id,
		CreatedAt: base, ExpiresAt: at(24 * time.Hour)}
}

func insertTokens(t *testing.T, s store.Store, tks ...*labspace.Token) {
	t.Helper()
	for _, tk := range tks {
		mustUpdate(t, s, func(tx store.Tx) error { return tx.InsertToken(tk) })
	}
}

func checkToken(t *testing.T, got, want *labspace.Token) {
	t.Helper()
	w := *want
	w.CreatedAt, w.ExpiresAt = w.CreatedAt.UTC(), w.ExpiresAt.UTC()
	if *got != w || !sameTime(got.CreatedAt, w.CreatedAt) || !sameTime(got.ExpiresAt, w.ExpiresAt) {
		t.Fatalf("token = %+v, want %+v", *got, w)
	}
}

func tokenByHash(t *testing.T, s store.Store, hash string) (*labspace.Token, error) {
	t.Helper()
	var tk *labspace.Token
	err := s.View(t.Context(), func(tx store.Tx) (err error) { tk, err = tx.TokenByHash(hash); return err })
	return tk, err
}

func listTokens(t *testing.T, s store.Store, sub labspace.Subject) []string {
	t.Helper()
	var tks []labspace.Token
	mustView(t, s, func(tx store.Tx) (err error) { tks, err = tx.ListTokens(sub); return err })
	out := make([]string, len(tks))
	for i, tk := range tks {
		out[i] = tk.ID
	}
	return out
}

// --- concurrency ---

const workers = 20

// parallel runs fn(i) for i in [0, workers) at once and returns their errors.
func parallel(fn func(i int) error) []error {
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}
