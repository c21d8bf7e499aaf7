package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Writes that wait together are committed together (batch.go); each must
// still succeed or fail on its own, as if it had its own transaction.

func rec(name string) *store.Record {
	now := time.Now()
	return &store.Record{Kind: labspace.KindWorkspace, ID: "ws-" + name, Name: name, Scope: labspace.ProjectScope("p1"),
		CreatedAt: now, UpdatedAt: now, Data: []byte(`{}`)}
}

// holdWriter starts a write that blocks the writer until release is called,
// so that the writes started meanwhile queue up and form one batch.
func holdWriter(t *testing.T, s store.Store) (release func()) {
	t.Helper()
	held, done := make(chan struct{}), make(chan error, 1)
	gate := make(chan struct{})
	go func() {
		done <- s.Update(context.Background(), func(tx store.Tx) error {
			close(held)
			<-gate
			return tx.Insert(rec("holder"))
		})
	}()
	<-held
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("holder: %v", err)
		}
	}
}

func names(t *testing.T, s store.Store) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := s.View(context.Background(), func(tx store.Tx) error {
		rs, _, err := tx.List(labspace.KindWorkspace, store.ListQuery{Limit: 1000})
		for _, r := range rs {
			out[r.Name] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBatchedWritesFailAlone(t *testing.T) {
	db := openSQLite(t, filepath.Join(t.TempDir(), "labspace.db"))
	defer db.Close()
	release := holdWriter(t, db)
	const n = 40
	errs := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = db.Update(context.Background(), func(tx store.Tx) error {
				if err := tx.Insert(rec(fmt.Sprintf("w%02d", i))); err != nil {
					return err
				}
				switch i % 4 {
				case 1: // fails after writing: its insert must go
					return labspace.Errorf(labspace.EINVALID, "no")
				case 2: // the store refuses its second insert (same id)
					return tx.Insert(rec(fmt.Sprintf("w%02d", i)))
				case 3:
					panic("boom")
				}
				return nil
			})
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them queue behind the holder
	release()
	wg.Wait()
	got := names(t, db)
	for i := range n {
		name := fmt.Sprintf("w%02d", i)
		switch i % 4 {
		case 0:
			if errs[i] != nil || panics[i] != nil || !got[name] {
				t.Errorf("%s: err %v, panic %v, stored %v; want committed", name, errs[i], panics[i], got[name])
			}
		case 1, 2:
			if errs[i] == nil || got[name] {
				t.Errorf("%s: err %v, stored %v; want an error and nothing stored", name, errs[i], got[name])
			}
		case 3:
			if panics[i] != "boom" || got[name] {
				t.Errorf("%s: panic %v, stored %v; want the panic in the caller and nothing stored", name, panics[i], got[name])
			}
		}
	}
	if !got["holder"] {
		t.Error("the holder's write was lost")
	}
}

func TestBatchedWriteOfAGoneCallerNeverRuns(t *testing.T) {
	db := openSQLite(t, filepath.Join(t.TempDir(), "labspace.db"))
	defer db.Close()
	release := holdWriter(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	ran := make(chan struct{}, 1)
	go func() {
		errc <- db.Update(ctx, func(tx store.Tx) error {
			ran <- struct{}{}
			return tx.Insert(rec("gone"))
		})
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	release()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Update of a cancelled caller: %v, want context.Canceled", err)
	}
	select {
	case <-ran:
		t.Fatal("the cancelled caller's write ran")
	default:
	}
	if names(t, db)["gone"] {
		t.Fatal("the cancelled caller's write was stored")
	}
}
