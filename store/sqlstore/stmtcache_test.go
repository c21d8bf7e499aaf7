package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// stmts is how many statements the pool's one idle connection keeps.
func stmts(t *testing.T, pool *sql.DB) int {
	t.Helper()
	conn, err := pool.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := -1
	err = conn.Raw(func(dc any) error {
		if c, ok := dc.(*stmtConn); ok {
			n = len(c.stmts)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConnectionsKeepStatements(t *testing.T) {
	db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "labspace.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.reader.SetMaxOpenConns(1)
	at := time.Unix(1, 0)
	for i, name := range []string{"a", "b", "c"} {
		err := db.Update(t.Context(), func(tx store.Tx) error {
			return tx.Insert(&store.Record{Kind: labspace.KindEnvironment, ID: name, Name: name,
				Scope: labspace.Global, CreatedAt: at.Add(time.Duration(i)), UpdatedAt: at, Data: []byte(`{}`)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := stmts(t, db.writer); n < 1 {
		t.Fatalf("the writer keeps %d statements, want the insert's", n)
	}
	before := stmts(t, db.reader)
	list := func(tx store.Tx) []*store.Record {
		recs, _, err := tx.List(labspace.KindEnvironment, store.ListQuery{SortBy: "createdAt"})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	for range 3 {
		if err := db.View(t.Context(), func(tx store.Tx) error { list(tx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if after := stmts(t, db.reader); after != before+1 {
		t.Errorf("three lists left %d statements kept, want %d", after, before+1)
	}

	// The same query again while its rows are open runs apart, without
	// disturbing them.
	err = db.View(t.Context(), func(tx store.Tx) error {
		q := `SELECT ` + objectColumns + ` FROM objects WHERE kind = ? ORDER BY name`
		rows, err := tx.(*sqlTx).query(q, labspace.KindEnvironment)
		if err != nil {
			return err
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			r, err := scanRecord(rows)
			if err != nil {
				return err
			}
			inner, err := tx.(*sqlTx).collect(must(tx.(*sqlTx).query(q, labspace.KindEnvironment)))
			if err != nil || len(inner) != 3 {
				t.Errorf("inner query: %d records, %v", len(inner), err)
			}
			names = append(names, r.Name)
		}
		if len(names) != 3 || names[0] != "a" || names[2] != "c" {
			t.Errorf("outer query read %v, want [a b c]", names)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	// A bad statement is an error, as before, and is not kept.
	err = db.View(context.Background(), func(tx store.Tx) error {
		return tx.(*sqlTx).exec(`SELECT nonsense FROM nowhere`)
	})
	if err == nil {
		t.Error("a bad statement ran")
	}
}

func must(rows *sql.Rows, err error) *sql.Rows {
	if err != nil {
		panic(err)
	}
	return rows
}
