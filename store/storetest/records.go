package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// The contract of what is kept beside objects: references, counts by
// phase, workspace events, the audit log and tokens.

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
