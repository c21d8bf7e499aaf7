package sqlstore_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
	"github.com/labspace/labspace/store/sqlstore"
	"github.com/labspace/labspace/store/storetest"
)

func openSQLite(t *testing.T, path string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return db
}

func TestSQLiteContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db := openSQLite(t, filepath.Join(t.TempDir(), "labspace.db"))
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return db
	})
}

// migrations reads the applied schema versions straight from the file.
func migrations(t *testing.T, path string) []int64 {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSQLiteReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "labspace.db")
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	r := &store.Record{Kind: labspace.KindEnvironment, ID: "env-1", Name: "py", Scope: labspace.Global,
		CreatedAt: now, UpdatedAt: now, CreatedBy: "user:alice", Data: []byte(`{"a":1}`), Secret: []byte{0, 1}}

	db := openSQLite(t, path)
	if err := db.Update(t.Context(), func(tx store.Tx) error {
		if err := tx.Insert(r); err != nil {
			return err
		}
		return tx.AddEvent(&labspace.Event{WorkspaceID: "env-1", Time: now, Type: "Created"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	first := migrations(t, path)
	if len(first) == 0 {
		t.Fatal("no migrations recorded")
	}

	for i := range 2 {
		db := openSQLite(t, path)
		var got *store.Record
		var events []labspace.Event
		err := db.View(t.Context(), func(tx store.Tx) (err error) {
			if got, err = tx.Get(r.Kind, r.ID); err != nil {
				return err
			}
			events, err = tx.Events("env-1")
			return err
		})
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if got.Name != r.Name || got.RV != 1 || !got.CreatedAt.Equal(now) || string(got.Data) != string(r.Data) ||
			string(got.Secret) != string(r.Secret) || len(events) != 1 {
			t.Fatalf("reopen %d: record %+v, events %v; want %+v and one event", i, got, events, r)
		}
		// The store still writes after a reopen.
		if err := db.Update(t.Context(), func(tx store.Tx) error {
			return tx.Insert(&store.Record{Kind: labspace.KindEnvironment, ID: "env-" + string(rune('a'+i)),
				Name: "py" + string(rune('a'+i)), Scope: labspace.Global, CreatedAt: now, UpdatedAt: now, Data: []byte(`{}`)})
		}); err != nil {
			t.Fatalf("reopen %d: insert: %v", i, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if again := migrations(t, path); len(again) != len(first) || again[len(again)-1] != first[len(first)-1] {
			t.Fatalf("reopen %d: migrations %v, want unchanged %v", i, again, first)
		}
	}
}

// Paths are files, not URIs: characters that mean something in a URI must
// not send the database elsewhere.
func TestSQLiteOddPaths(t *testing.T) {
	for _, dir := range []string{"has space", "pct%41x", "hash#x", "q?x=1", "amp&x"} {
		t.Run(dir, func(t *testing.T) {
			parent := t.TempDir()
			path := filepath.Join(parent, dir, "labspace.db")
			if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			r := &store.Record{Kind: labspace.KindEnvironment, ID: "env-1", Name: "py", Scope: labspace.Global,
				CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(1, 0), Data: []byte(`{}`)}
			db := openSQLite(t, path)
			err := db.Update(t.Context(), func(tx store.Tx) error { return tx.Insert(r) })
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database not where asked: %v", err)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Fatalf("%d entries beside %q, want only it", len(entries), dir)
			}
			db = openSQLite(t, path)
			defer db.Close()
			if err := db.View(t.Context(), func(tx store.Tx) error { _, err := tx.Get(r.Kind, r.ID); return err }); err != nil {
				t.Fatalf("after reopening: %v", err)
			}
		})
	}
}
