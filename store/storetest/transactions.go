package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// The contract of transactions: a failed one leaves nothing, a view
// writes nothing, and concurrent writers never both win.

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
