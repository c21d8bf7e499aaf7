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
	"context"
	"encoding/json"
	"errors"
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

func testRollback(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	kept, doomed := rec(labspace.KindEnvironment, "kept"), rec(labspace.KindEnvironment, "doomed")
	insert(t, s, kept, doomed)

	fresh := rec(labspace.KindEnvironment, "fresh")
	changed := *kept
	changed.Data = []byte(`{"changed":true}`)
	err := update(t, s, func(tx store.Tx) error {
		if err := tx.Insert(fresh); err != nil {
			return err
		}
		if err := tx.Update(&changed); err != nil {
			return err
		}
		if err := tx.Delete(doomed.Kind, doomed.ID); err != nil {
			return err
		}
		if err := tx.SetRefs(kept.ID, []string{doomed.ID}); err != nil {
			return err
		}
		if err := tx.AddEvent(&labspace.Event{WorkspaceID: kept.ID, Time: base, Type: "Created"}); err != nil {
			return err
		}
		if err := tx.AddAudit(&labspace.AuditEntry{Time: base, Actor: "user:alice", Action: "create"}); err != nil {
			return err
		}
		if err := tx.InsertToken(&labspace.Token{ID: "t1", Hash: "h1", Subject: labspace.Subject{Type: labspace.SubjectUser, Name: "alice"},
			Kind: labspace.TokenSession, CreatedAt: base, ExpiresAt: at(time.Hour)}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}

	_, err = get(t, s, fresh.Kind, fresh.ID)
	wantCode(t, err, labspace.ENOTFOUND)
	checkRecord(t, mustGet(t, s, kept.Kind, kept.ID), kept)
	checkRecord(t, mustGet(t, s, doomed.Kind, doomed.ID), doomed)
	mustView(t, s, func(tx store.Tx) error {
		if refs, err := tx.Referrers(doomed.ID); err != nil || len(refs) != 0 {
			t.Errorf("referrers after rollback = %v, %v; want none", ids(refs), err)
		}
		if evs, err := tx.Events(kept.ID); err != nil || len(evs) != 0 {
			t.Errorf("events after rollback = %v, %v; want none", evs, err)
		}
		if es, _, err := tx.ListAudit(store.AuditQuery{}); err != nil || len(es) != 0 {
			t.Errorf("audit after rollback = %v, %v; want none", es, err)
		}
		_, err := tx.TokenByHash("h1")
		if labspace.ErrorCode(err) != labspace.ENOTFOUND {
			t.Errorf("token after rollback: %v, want not found", err)
		}
		return nil
	})
}

func testViewIsReadOnly(t *testing.T, s store.Store) {
	r := rec(labspace.KindEnvironment, "a")
	err := s.View(t.Context(), func(tx store.Tx) error { return tx.Insert(r) })
	if err == nil {
		t.Fatal("Insert in a View succeeded")
	}
	_, err = get(t, s, r.Kind, r.ID)
	wantCode(t, err, labspace.ENOTFOUND)
}

// --- list ---

func testListKind(t *testing.T, s store.Store) {
	insert(t, s, rec(labspace.KindEnvironment, "a"), rec(labspace.KindEnvironment, "b"), rec(labspace.KindDataSource, "c"))
	got, next, err := list(t, s, labspace.KindEnvironment, store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(got), []string{"a", "b"}) || next != "" {
		t.Fatalf("list = %q, %q; want [a b] sorted by name and no continue", names(got), next)
	}
	got, _, err = list(t, s, labspace.KindTemplate, store.ListQuery{})
	if err != nil || len(got) != 0 {
		t.Fatalf("list of a kind with no records = %q, %v; want none", names(got), err)
	}
}

func testListScopes(t *testing.T, s store.Store) {
	p1, p2, x := labspace.ProjectScope("p1"), labspace.ProjectScope("p2"), labspace.ProjectScope("x")
	d1, dx := labspace.DepartmentScope("d1"), labspace.DepartmentScope("x")
	insert(t, s,
		rec(labspace.KindEnvironment, "in-p1", inScope(p1)),
		rec(labspace.KindEnvironment, "in-p2", inScope(p2)),
		rec(labspace.KindEnvironment, "in-d1", inScope(d1)),
		rec(labspace.KindEnvironment, "in-dx", inScope(dx)),
		rec(labspace.KindEnvironment, "in-global", inScope(labspace.Global)),
		rec(labspace.KindDataSource, "ds-in-p1", inScope(p1)),
	)
	for _, tc := range []struct {
		name   string
		scopes []labspace.Scope
		want   []string
	}{
		{"nil is any", nil, []string{"in-p1", "in-p2", "in-d1", "in-dx", "in-global"}},
		{"empty is none", []labspace.Scope{}, nil},
		{"one project", []labspace.Scope{p1}, []string{"in-p1"}},
		{"two projects", []labspace.Scope{p1, p2}, []string{"in-p1", "in-p2"}},
		{"global", []labspace.Scope{labspace.Global}, []string{"in-global"}},
		{"mix", []labspace.Scope{p2, d1, labspace.Global}, []string{"in-p2", "in-d1", "in-global"}},
		{"interleaved types", []labspace.Scope{p1, d1, p2, dx}, []string{"in-p1", "in-d1", "in-p2", "in-dx"}},
		{"type matters", []labspace.Scope{x}, nil},
		{"department", []labspace.Scope{dx}, []string{"in-dx"}},
		{"unknown", []labspace.Scope{labspace.ProjectScope("nope")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantNames(t, listAll(t, s, labspace.KindEnvironment, store.ListQuery{Scopes: tc.scopes}), tc.want...)
		})
	}
}

func testCountByPhase(t *testing.T, s store.Store) {
	insert(t, s,
		rec(labspace.KindWorkspace, "a", withPhase("Running")),
		rec(labspace.KindWorkspace, "b", withPhase("Stopped")),
		rec(labspace.KindWorkspace, "c", withPhase("Running")),
		rec(labspace.KindAccessRule, "d", withPhase("Running")),
	)
	var got map[string]int
	err := s.View(context.Background(), func(tx store.Tx) (err error) {
		got, err = tx.CountByPhase(labspace.KindWorkspace)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["Running"] != 2 || got["Stopped"] != 1 {
		t.Errorf("CountByPhase = %v, want Running 2, Stopped 1", got)
	}
}

func testListFilters(t *testing.T, s store.Store) {
	insert(t, s,
		rec(labspace.KindAccessRule, "a", withPhase("Running"), withCreatedBy("user:alice"), withSubject("user:alice")),
		rec(labspace.KindAccessRule, "b", withPhase("Stopped"), withCreatedBy("user:bob"), withSubject("group:devs")),
		rec(labspace.KindAccessRule, "c", withPhase("Running"), withCreatedBy("user:bob"), withSubject("user:bob")),
		rec(labspace.KindAccessRule, "d", inScope(labspace.Global), withPhase("Failed"), withCreatedBy("user:alice"), withSubject("user:alice")),
		rec(labspace.KindAccessRule, "a", inScope(labspace.ProjectScope("p2")), withSubject("user:carol")),
	)
	for _, tc := range []struct {
		name string
		q    store.ListQuery
		want []string
	}{
		{"names", store.ListQuery{Names: []string{"b", "d"}}, []string{"b", "d"}},
		{"names in two scopes", store.ListQuery{Names: []string{"a"}}, []string{"a", "a"}},
		{"unknown name", store.ListQuery{Names: []string{"zz"}}, nil},
		{"phase", store.ListQuery{Phase: "Running"}, []string{"a", "c"}},
		{"unknown phase", store.ListQuery{Phase: "Nope"}, nil},
		{"created by", store.ListQuery{CreatedBy: "user:bob"}, []string{"b", "c"}},
		{"subjects", store.ListQuery{Subjects: []string{"user:alice", "group:devs"}}, []string{"a", "b", "d"}},
		{"one subject", store.ListQuery{Subjects: []string{"user:carol"}}, []string{"a"}},
		{"combined", store.ListQuery{Phase: "Running", CreatedBy: "user:alice"}, []string{"a"}},
		{"with scope", store.ListQuery{Scopes: []labspace.Scope{labspace.Global}, Subjects: []string{"user:alice"}}, []string{"d"}},
		{"names and scope", store.ListQuery{Scopes: []labspace.Scope{labspace.ProjectScope("p2")}, Names: []string{"a", "b"}}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantNames(t, listAll(t, s, labspace.KindAccessRule, tc.q), tc.want...)
		})
	}
}

func testListSearch(t *testing.T, s store.Store) {
	for _, n := range []string{"web-app", "my-web", "db", "a%b", "axb", "a_b", "ayb", `a\b`, "100%"} {
		insert(t, s, rec(labspace.KindEnvironment, n))
	}
	for _, tc := range []struct {
		search string
		want   []string
	}{
		{"web", []string{"web-app", "my-web"}},
		{"web-app", []string{"web-app"}},
		{"-", []string{"web-app", "my-web"}},
		{"nope", nil},
		{"%", []string{"a%b", "100%"}},
		{"a%b", []string{"a%b"}},
		{"_", []string{"a_b"}},
		{"a_b", []string{"a_b"}},
		{`\`, []string{`a\b`}},
		{`a\b`, []string{`a\b`}},
	} {
		t.Run(tc.search, func(t *testing.T) {
			wantNames(t, listAll(t, s, labspace.KindEnvironment, store.ListQuery{Search: tc.search}), tc.want...)
		})
	}
}

func testListFilterBy(t *testing.T, s store.Store) {
	for _, n := range []string{"bert-a", "Bert-b", "gpt", "a%b", "axb", "a_b", `a\b`, "o'brien", "x-bert"} {
		insert(t, s, rec(labspace.KindWorkspace, n, withPhase("Running"), withCreatedBy("alice")))
	}
	insert(t, s, rec(labspace.KindWorkspace, "stopped-bert", withPhase("Stopped"), withCreatedBy("bob")),
		rec(labspace.KindWorkspace, "bert-other", inScope(labspace.ProjectScope("p2")), withPhase("Running"), withCreatedBy("bob")),
		rec(labspace.KindEnvironment, "bert-env")) // another kind: never listed
	f := func(field string, op store.FilterOp, v string) store.Filter {
		return store.Filter{Field: field, Op: op, Value: v}
	}
	p1 := []labspace.Scope{labspace.ProjectScope("p1")}
	for _, tc := range []struct {
		name    string
		scopes  []labspace.Scope
		filters []store.Filter
		want    []string
	}{
		{"contains, any case", p1, []store.Filter{f("name", store.OpContains, "bert")}, []string{"bert-a", "Bert-b", "x-bert", "stopped-bert"}},
		{"contains upper", p1, []store.Filter{f("name", store.OpContains, "BERT")}, []string{"bert-a", "Bert-b", "x-bert", "stopped-bert"}},
		{"not contains", p1, []store.Filter{f("name", store.OpNotContains, "bert")}, []string{"gpt", "a%b", "axb", "a_b", `a\b`, "o'brien"}},
		{"prefix", p1, []store.Filter{f("name", store.OpPrefix, "bert")}, []string{"bert-a", "Bert-b"}},
		{"suffix", p1, []store.Filter{f("name", store.OpSuffix, "bert")}, []string{"x-bert", "stopped-bert"}},
		{"equal is exact", p1, []store.Filter{f("name", store.OpEqual, "bert-b")}, nil},
		{"equal", p1, []store.Filter{f("name", store.OpEqual, "Bert-b")}, []string{"Bert-b"}},
		{"not equal", p1, []store.Filter{f("phase", store.OpNotEqual, "Running")}, []string{"stopped-bert"}},
		{"creator", nil, []store.Filter{f("creator", store.OpEqual, "bob")}, []string{"stopped-bert", "bert-other"}},
		{"anded", p1, []store.Filter{f("name", store.OpContains, "bert"), f("phase", store.OpEqual, "Running"), f("creator", store.OpEqual, "alice")},
			[]string{"bert-a", "Bert-b", "x-bert"}},
		{"scope holds", p1, []store.Filter{f("creator", store.OpEqual, "bob"), f("name", store.OpEqual, "bert-other")}, nil},
		{"no scope", []labspace.Scope{}, []store.Filter{f("name", store.OpContains, "")}, nil},
		// Wildcards and quotes are matched as themselves.
		{"percent", p1, []store.Filter{f("name", store.OpContains, "%")}, []string{"a%b"}},
		{"underscore", p1, []store.Filter{f("name", store.OpContains, "_")}, []string{"a_b"}},
		{"backslash", p1, []store.Filter{f("name", store.OpContains, `\`)}, []string{`a\b`}},
		{"quote", p1, []store.Filter{f("name", store.OpContains, "'")}, []string{"o'brien"}},
		{"injection", p1, []store.Filter{f("name", store.OpEqual, "x' OR '1'='1")}, nil},
		{"injection contains", p1, []store.Filter{f("name", store.OpContains, "'; DROP TABLE objects; --")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := store.ListQuery{Scopes: tc.scopes, Filters: tc.filters, Limit: 2}
			wantNames(t, listAll(t, s, labspace.KindWorkspace, q), tc.want...)
		})
	}
	// Still there after the injections.
	wantNames(t, listAll(t, s, labspace.KindEnvironment, store.ListQuery{}), "bert-env")
	for _, bad := range []store.Filter{f("secret", store.OpEqual, "x"), f("data", store.OpEqual, "x"), f("name; DROP TABLE objects", store.OpEqual, "x"),
		f("name", "~~", "x"), f("name", "", "x")} {
		_, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{Filters: []store.Filter{bad}})
		wantCode(t, err, labspace.EINVALID)
	}
}

func testListFilterByEnvironment(t *testing.T, s store.Store) {
	ws := func(name, env string) *store.Record {
		return rec(labspace.KindWorkspace, name, withData(map[string]any{"spec": map[string]any{
			"environment": map[string]any{"from": map[string]any{"name": env}}}}))
	}
	insert(t, s, ws("a", "jupyter-lab"), ws("b", "vscode"), ws("c", "jupyter-gpu"), rec(labspace.KindWorkspace, "d"))
	f := func(op store.FilterOp, v string) []store.Filter {
		return []store.Filter{{Field: "environment", Op: op, Value: v}}
	}
	for _, tc := range []struct {
		name    string
		filters []store.Filter
		want    []string
	}{
		{"equal", f(store.OpEqual, "vscode"), []string{"b"}},
		{"not equal", f(store.OpNotEqual, "vscode"), []string{"a", "c", "d"}},
		{"prefix", f(store.OpPrefix, "jupyter"), []string{"a", "c"}},
		{"contains", f(store.OpContains, "GPU"), []string{"c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantNames(t, listAll(t, s, labspace.KindWorkspace, store.ListQuery{Filters: tc.filters}), tc.want...)
		})
	}
}

func testListOffset(t *testing.T, s store.Store) {
	recs := tiedRecords(23)
	insert(t, s, recs...)
	for _, sortBy := range sortFields {
		for _, desc := range []bool{false, true} {
			all := listAll(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Desc: desc, Limit: 1000})
			for _, off := range []int{0, 1, 5, 22, 23, 30} {
				page, next, err := list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Desc: desc, Limit: 5, Offset: off})
				if err != nil {
					t.Fatal(err)
				}
				want := all[min(off, len(all)):min(off+5, len(all))]
				if !slices.Equal(ids(page), ids(want)) {
					t.Errorf("sort %q desc %v offset %d: %v, want %v", sortBy, desc, off, names(page), names(want))
				}
				if (off+5 < len(all)) != (next != "") {
					t.Errorf("sort %q desc %v offset %d: continue %q", sortBy, desc, off, next)
				}
				if next != "" { // the cursor carries on after the offset page
					rest := listAll(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Desc: desc, Limit: 5, Continue: next})
					if !slices.Equal(ids(rest), ids(all[off+5:])) {
						t.Errorf("sort %q desc %v offset %d: the rest is %v, want %v", sortBy, desc, off, names(rest), names(all[off+5:]))
					}
				}
			}
		}
	}
	_, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{Offset: -1})
	wantCode(t, err, labspace.EINVALID)
	_, next, _ := list(t, s, labspace.KindWorkspace, store.ListQuery{Limit: 2})
	_, _, err = list(t, s, labspace.KindWorkspace, store.ListQuery{Limit: 2, Offset: 2, Continue: next})
	wantCode(t, err, labspace.EINVALID)
}

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

func testListSort(t *testing.T, s store.Store) {
	// Each field orders the records differently, with no ties.
	recs := []*store.Record{
		rec(labspace.KindWorkspace, "b", withPhase("Running"), createdAt(at(3*time.Second)), updatedAt(at(1))),
		rec(labspace.KindWorkspace, "d", withPhase("Failed"), createdAt(at(1)), updatedAt(at(3))),
		rec(labspace.KindWorkspace, "a", withPhase("Stopped"), createdAt(at(2)), updatedAt(at(time.Hour))),
		rec(labspace.KindWorkspace, "c", withPhase("Pending"), createdAt(at(-time.Hour)), updatedAt(at(2))),
	}
	insert(t, s, recs...)
	want := map[string][]string{
		"":          {"a", "b", "c", "d"},
		"name":      {"a", "b", "c", "d"},
		"createdAt": {"c", "d", "a", "b"},
		"updatedAt": {"b", "c", "d", "a"},
		"phase":     {"d", "c", "b", "a"},
	}
	for _, sortBy := range sortFields {
		for _, desc := range []bool{false, true} {
			w := slices.Clone(want[sortBy])
			if desc {
				slices.Reverse(w)
			}
			got, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Desc: desc})
			if err != nil {
				t.Fatalf("sort %q desc %v: %v", sortBy, desc, err)
			}
			if !slices.Equal(names(got), w) {
				t.Errorf("sort %q desc %v = %q, want %q", sortBy, desc, names(got), w)
			}
		}
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

func testListPagination(t *testing.T, s store.Store) {
	recs := tiedRecords(23)
	insert(t, s, recs...)
	for _, sortBy := range sortFields {
		for _, desc := range []bool{false, true} {
			for _, limit := range []int{1, 5, 22, 23, 24} {
				t.Run(fmt.Sprintf("%s/desc=%v/limit=%d", sortBy, desc, limit), func(t *testing.T) {
					q := store.ListQuery{SortBy: sortBy, Desc: desc, Limit: limit}
					checkOrder(t, listAll(t, s, labspace.KindWorkspace, q), recs, sortBy, desc)
				})
			}
		}
	}
}

func testListPaginationAllTied(t *testing.T, s store.Store) {
	var recs []*store.Record
	for i := range 23 {
		recs = append(recs, rec(labspace.KindWorkspace, fmt.Sprintf("w%02d", i), withPhase("Running")))
	}
	insert(t, s, recs...)
	for _, sortBy := range []string{"createdAt", "updatedAt", "phase"} {
		for _, desc := range []bool{false, true} {
			q := store.ListQuery{SortBy: sortBy, Desc: desc, Limit: 5}
			checkOrder(t, listAll(t, s, labspace.KindWorkspace, q), recs, sortBy, desc)
		}
	}
}

func testListPaginationFiltered(t *testing.T, s store.Store) {
	recs := tiedRecords(23)
	insert(t, s, recs...)
	insert(t, s, rec(labspace.KindEnvironment, "w00")) // another kind: never listed
	var want []*store.Record
	for _, r := range recs {
		if r.Phase == "Running" && r.Scope.Name == "p1" {
			want = append(want, r)
		}
	}
	for _, sortBy := range sortFields {
		for _, desc := range []bool{false, true} {
			q := store.ListQuery{Scopes: []labspace.Scope{labspace.ProjectScope("p1")}, Phase: "Running",
				SortBy: sortBy, Desc: desc, Limit: 2}
			checkOrder(t, listAll(t, s, labspace.KindWorkspace, q), want, sortBy, desc)
		}
	}
}

func testListLimits(t *testing.T, s store.Store) {
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := range 1001 {
			if err := tx.Insert(rec(labspace.KindEnvironment, fmt.Sprintf("e%04d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tc := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {7, 7}, {1000, 1000}, {1001, 1000}, {5000, 1000}} {
		got, next, err := list(t, s, labspace.KindEnvironment, store.ListQuery{Limit: tc.limit})
		if err != nil {
			t.Fatalf("limit %d: %v", tc.limit, err)
		}
		if len(got) != tc.want || next == "" {
			t.Errorf("limit %d: %d records, continue %q; want %d and a continue token", tc.limit, len(got), next, tc.want)
		}
	}
}

func testListBadQuery(t *testing.T, s store.Store) {
	insert(t, s, tiedRecords(6)...)
	_, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: "secret"})
	wantCode(t, err, labspace.EINVALID)
	_, _, err = list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: "created_at"})
	wantCode(t, err, labspace.EINVALID)
	for _, sortBy := range sortFields {
		for _, token := range []string{"garbage", "!!!", "bm90IGpzb24", "%%%%", "eyJ2IjoiYSJ9!"} {
			_, _, err := list(t, s, labspace.KindWorkspace, store.ListQuery{SortBy: sortBy, Continue: token, Limit: 2})
			if labspace.ErrorCode(err) != labspace.EINVALID {
				t.Errorf("sort %q continue %q: error %v, want code %q", sortBy, token, err, labspace.EINVALID)
			}
		}
	}
}

// --- refs, events, audit ---

func testRefs(t *testing.T, s store.Store) {
	env, ds, cred := rec(labspace.KindEnvironment, "env"), rec(labspace.KindDataSource, "ds"), rec(labspace.KindCredential, "cred")
	ws, tpl := rec(labspace.KindWorkspace, "ws"), rec(labspace.KindTemplate, "tpl")
	insert(t, s, env, ds, cred, ws, tpl)
	referrers := func(id string) []*store.Record {
		t.Helper()
		var out []*store.Record
		mustView(t, s, func(tx store.Tx) (err error) { out, err = tx.Referrers(id); return err })
		return out
	}
	wantReferrers := func(of *store.Record, want ...*store.Record) {
		t.Helper()
		got := referrers(of.ID)
		if !sameSet(ids(got), ids(want)) {
			t.Fatalf("referrers of %s = %q, want %q", of.Name, ids(got), ids(want))
		}
		for _, g := range got {
			for _, w := range want {
				if g.ID == w.ID {
					checkRecord(t, g, w)
				}
			}
		}
	}

	wantReferrers(env)
	mustUpdate(t, s, func(tx store.Tx) error {
		if err := tx.SetRefs(ws.ID, []string{env.ID, ds.ID, env.ID}); err != nil {
			return err
		}
		return tx.SetRefs(tpl.ID, []string{env.ID})
	})
	wantReferrers(env, ws, tpl)
	wantReferrers(ds, ws)
	wantReferrers(cred)

	// Replacing drops the old refs.
	mustUpdate(t, s, func(tx store.Tx) error { return tx.SetRefs(ws.ID, []string{cred.ID, cred.ID}) })
	wantReferrers(env, tpl)
	wantReferrers(ds)
	wantReferrers(cred, ws)

	mustUpdate(t, s, func(tx store.Tx) error { return tx.SetRefs(ws.ID, nil) })
	wantReferrers(cred)
	wantReferrers(env, tpl)
	if got := referrers("nope"); len(got) != 0 {
		t.Fatalf("referrers of an unknown id = %q", ids(got))
	}
}

func testEvents(t *testing.T, s store.Store) {
	ws1, ws2 := rec(labspace.KindWorkspace, "ws1"), rec(labspace.KindWorkspace, "ws2")
	insert(t, s, ws1, ws2)
	mk := func(ws *store.Record, i int) *labspace.Event {
		return &labspace.Event{WorkspaceID: ws.ID, Time: at(time.Duration(i) * time.Nanosecond), Type: "PhaseChanged",
			FromPhase: labspace.PhasePending, ToPhase: labspace.PhaseRunning, Reason: fmt.Sprintf("r%d", i),
			Message: fmt.Sprintf("message %d", i), Actor: "user:alice"}
	}
	var added []*labspace.Event
	for i := range 6 {
		ws := ws1
		if i%3 == 1 {
			ws = ws2
		}
		e := mk(ws, i)
		mustUpdate(t, s, func(tx store.Tx) error { return tx.AddEvent(e) })
		if len(added) > 0 && e.ID <= added[len(added)-1].ID {
			t.Fatalf("event ids not increasing: %d after %d", e.ID, added[len(added)-1].ID)
		}
		added = append(added, e)
	}
	// Several in one transaction.
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := 6; i < 9; i++ {
			e := mk(ws1, i)
			if err := tx.AddEvent(e); err != nil {
				return err
			}
			if e.ID <= added[len(added)-1].ID {
				t.Errorf("event ids not increasing: %d after %d", e.ID, added[len(added)-1].ID)
			}
			added = append(added, e)
		}
		return nil
	})

	for _, ws := range []*store.Record{ws1, ws2} {
		var want []labspace.Event
		for _, e := range added {
			if e.WorkspaceID == ws.ID {
				w := *e
				w.Time = w.Time.UTC()
				want = append(want, w)
			}
		}
		var got []labspace.Event
		mustView(t, s, func(tx store.Tx) (err error) { got, err = tx.Events(ws.ID); return err })
		if len(got) != len(want) {
			t.Fatalf("events of %s = %d, want %d", ws.Name, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] || !sameTime(got[i].Time, want[i].Time) {
				t.Errorf("event %d of %s = %+v, want %+v", i, ws.Name, got[i], want[i])
			}
		}
	}
	mustView(t, s, func(tx store.Tx) error {
		if evs, err := tx.Events("nope"); err != nil || len(evs) != 0 {
			t.Errorf("events of unknown workspace = %v, %v; want none", evs, err)
		}
		return nil
	})
}

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

func testAudit(t *testing.T, s store.Store) {
	all := addAudits(t, s, 9)
	got, next, err := listAudit(t, s, store.AuditQuery{})
	if err != nil || next != "" {
		t.Fatalf("list audit: %v, continue %q", err, next)
	}
	wantAudit(t, got, all)

	filter := func(keep func(labspace.AuditEntry) bool) []labspace.AuditEntry {
		var out []labspace.AuditEntry
		for _, e := range all {
			if keep(e) {
				out = append(out, e)
			}
		}
		return out
	}
	got, _, err = listAudit(t, s, store.AuditQuery{Actor: "user:bob"})
	if err != nil {
		t.Fatal(err)
	}
	wantAudit(t, got, filter(func(e labspace.AuditEntry) bool { return e.Actor == "user:bob" }))
	got, _, err = listAudit(t, s, store.AuditQuery{ObjectID: "obj-1"})
	if err != nil {
		t.Fatal(err)
	}
	wantAudit(t, got, filter(func(e labspace.AuditEntry) bool { return e.ObjectID == "obj-1" }))
	got, _, err = listAudit(t, s, store.AuditQuery{Actor: "user:alice", ObjectID: "obj-0"})
	if err != nil {
		t.Fatal(err)
	}
	wantAudit(t, got, filter(func(e labspace.AuditEntry) bool { return e.Actor == "user:alice" && e.ObjectID == "obj-0" }))
	got, _, err = listAudit(t, s, store.AuditQuery{Actor: "user:nobody"})
	if err != nil || len(got) != 0 {
		t.Fatalf("audit of unknown actor = %+v, %v; want none", got, err)
	}
}

func testAuditPagination(t *testing.T, s store.Store) {
	all := addAudits(t, s, 23)
	for _, tc := range []struct {
		q    store.AuditQuery
		want func(labspace.AuditEntry) bool
	}{
		{store.AuditQuery{Limit: 5}, func(labspace.AuditEntry) bool { return true }},
		{store.AuditQuery{Limit: 1}, func(labspace.AuditEntry) bool { return true }},
		{store.AuditQuery{Limit: 23}, func(labspace.AuditEntry) bool { return true }},
		{store.AuditQuery{Limit: 2, Actor: "user:bob"}, func(e labspace.AuditEntry) bool { return e.Actor == "user:bob" }},
		{store.AuditQuery{Limit: 2, ObjectID: "obj-3"}, func(e labspace.AuditEntry) bool { return e.ObjectID == "obj-3" }},
	} {
		var got []labspace.AuditEntry
		q := tc.q
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("audit %+v: continue token does not advance", tc.q)
			}
			page, next, err := listAudit(t, s, q)
			if err != nil {
				t.Fatalf("audit %+v: %v", q, err)
			}
			if len(page) > q.Limit || (next != "" && len(page) < q.Limit) {
				t.Fatalf("audit %+v: page of %d with continue %q", q, len(page), next)
			}
			got = append(got, page...)
			if next == "" {
				break
			}
			q.Continue = next
		}
		var want []labspace.AuditEntry
		for _, e := range all {
			if tc.want(e) {
				want = append(want, e)
			}
		}
		wantAudit(t, got, want)
	}
	for _, token := range []string{"garbage", "-5", "1.5", "!!"} {
		_, _, err := listAudit(t, s, store.AuditQuery{Continue: token})
		if labspace.ErrorCode(err) != labspace.EINVALID {
			t.Errorf("audit continue %q: error %v, want code %q", token, err, labspace.EINVALID)
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

func testTokens(t *testing.T, s store.Store) {
	session := token("t1", alice)
	session.Kind, session.Name = labspace.TokenSession, ""
	session.CreatedAt, session.ExpiresAt = at(time.Nanosecond), at(-time.Hour) // expired
	pat, bobs, groups := token("t2", alice), token("t3", bob), token("t4", aliceGroup)
	insertTokens(t, s, session, pat, bobs, groups)

	for _, want := range []*labspace.Token{session, pat, bobs, groups} {
		got, err := tokenByHash(t, s, want.Hash)
		if err != nil {
			t.Fatalf("token by hash %s: %v", want.Hash, err)
		}
		checkToken(t, got, want)
	}
	_, err := tokenByHash(t, s, "hash-nope")
	wantCode(t, err, labspace.ENOTFOUND)

	if got := listTokens(t, s, alice); !sameSet(got, []string{"t1", "t2"}) {
		t.Errorf("tokens of alice = %q, want [t1 t2]", got)
	}
	if got := listTokens(t, s, aliceGroup); !sameSet(got, []string{"t4"}) {
		t.Errorf("tokens of group alice = %q, want [t4]", got)
	}
	if got := listTokens(t, s, labspace.Subject{Type: labspace.SubjectUser, Name: "carol"}); len(got) != 0 {
		t.Errorf("tokens of carol = %q, want none", got)
	}

	dup := token("t5", bob)
	dup.Hash = pat.Hash
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.InsertToken(dup) }), labspace.ECONFLICT)
	got, err := tokenByHash(t, s, pat.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, got, pat)
}

func testTokenDelete(t *testing.T, s store.Store) {
	insertTokens(t, s, token("t1", alice), token("t2", alice), token("t3", alice), token("t4", bob), token("t5", aliceGroup))

	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.DeleteToken(bob, "t1") }), labspace.ENOTFOUND)
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.DeleteToken(aliceGroup, "t1") }), labspace.ENOTFOUND)
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.DeleteToken(alice, "nope") }), labspace.ENOTFOUND)
	if _, err := tokenByHash(t, s, "hash-t1"); err != nil {
		t.Fatalf("token deleted by the wrong subject: %v", err)
	}

	mustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteToken(alice, "t1") })
	_, err := tokenByHash(t, s, "hash-t1")
	wantCode(t, err, labspace.ENOTFOUND)
	if got := listTokens(t, s, alice); !sameSet(got, []string{"t2", "t3"}) {
		t.Fatalf("tokens of alice after deleting t1 = %q, want [t2 t3]", got)
	}
	wantCode(t, update(t, s, func(tx store.Tx) error { return tx.DeleteToken(alice, "t1") }), labspace.ENOTFOUND)

	mustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteTokensOf(alice) })
	if got := listTokens(t, s, alice); len(got) != 0 {
		t.Fatalf("tokens of alice after DeleteTokensOf = %q, want none", got)
	}
	for _, h := range []string{"hash-t2", "hash-t3"} {
		_, err := tokenByHash(t, s, h)
		wantCode(t, err, labspace.ENOTFOUND)
	}
	if got := listTokens(t, s, bob); !sameSet(got, []string{"t4"}) {
		t.Fatalf("tokens of bob = %q, want [t4]", got)
	}
	if got := listTokens(t, s, aliceGroup); !sameSet(got, []string{"t5"}) {
		t.Fatalf("tokens of group alice = %q, want [t5]", got)
	}
	mustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteTokensOf(alice) }) // none left: no error
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

func testConcurrentInsertSameName(t *testing.T, s store.Store) {
	ctx := t.Context()
	recs := make([]*store.Record, workers)
	for i := range recs {
		recs[i] = rec(labspace.KindWorkspace, "same", withData(map[string]any{"worker": i}))
	}
	errs := parallel(func(i int) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Insert(recs[i]) })
	})
	winner := -1
	for i, err := range errs {
		switch labspace.ErrorCode(err) {
		case "":
			if winner >= 0 {
				t.Fatalf("workers %d and %d both inserted the same name", winner, i)
			}
			winner = i
		case labspace.ECONFLICT:
		default:
			t.Errorf("worker %d: %v, want success or code %q", i, err, labspace.ECONFLICT)
		}
	}
	if winner < 0 {
		t.Fatal("no insert succeeded")
	}
	var got *store.Record
	mustView(t, s, func(tx store.Tx) (err error) {
		got, err = tx.GetByName(labspace.KindWorkspace, labspace.ProjectScope("p1"), "same")
		return err
	})
	checkRecord(t, got, recs[winner])
	if all := listAll(t, s, labspace.KindWorkspace, store.ListQuery{}); len(all) != 1 {
		t.Fatalf("workspaces = %q, want one", ids(all))
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := rec(labspace.KindWorkspace, "counter", withData(map[string]any{"n": 0}))
	insert(t, s, r)
	increment := func(cur *store.Record) error {
		var c struct{ N int }
		if err := json.Unmarshal(cur.Data, &c); err != nil {
			return err
		}
		cur.Data = mustJSON(map[string]any{"n": c.N + 1})
		return nil
	}
	// Even workers read in one transaction and write in another, as an API
	// client does: the RV check keeps updates from being lost. Odd workers
	// read and write in one Update transaction, as the service does.
	errs := parallel(func(i int) error {
		for range 1000 {
			var err error
			if i%2 == 0 {
				var cur *store.Record
				if err := s.View(ctx, func(tx store.Tx) (err error) { cur, err = tx.Get(r.Kind, r.ID); return err }); err != nil {
					return err
				}
				if err := increment(cur); err != nil {
					return err
				}
				err = s.Update(ctx, func(tx store.Tx) error { return tx.Update(cur) })
			} else {
				err = s.Update(ctx, func(tx store.Tx) error {
					cur, err := tx.Get(r.Kind, r.ID)
					if err != nil {
						return err
					}
					if err := increment(cur); err != nil {
						return err
					}
					return tx.Update(cur)
				})
			}
			if labspace.ErrorCode(err) != labspace.ECONFLICT {
				return err
			}
		}
		return errors.New("still conflicting after 1000 attempts")
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	got := mustGet(t, s, r.Kind, r.ID)
	var c struct{ N int }
	if err := json.Unmarshal(got.Data, &c); err != nil {
		t.Fatal(err)
	}
	if got.RV != workers+1 || c.N != workers {
		t.Fatalf("after %d updates: RV %d, counter %d; want RV %d, counter %d", workers, got.RV, c.N, workers+1, workers)
	}
}
