package sqlstore_test

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
	"github.com/labspace/labspace/store/pgtest"
	"github.com/labspace/labspace/store/sqlstore"
	"github.com/labspace/labspace/store/storetest"
)

// The store's contract, unchanged, on a real PostgreSQL: a database of
// its own for each case.
func TestPostgresContract(t *testing.T) {
	c := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlstore.OpenPostgres(t.Context(), c.Database(t), 8)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// Replicas starting together on a new database migrate it once: each
// migration is applied by one of them, under an advisory lock, and every
// one of them opens.
func TestPostgresReplicasMigrateOnce(t *testing.T) {
	c := pgtest.Start(t)
	url := c.Database(t)
	const replicas = 4
	errs := make(chan error, replicas)
	for range replicas {
		go func() {
			db, err := sqlstore.OpenPostgres(t.Context(), url, 2)
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatalf("a replica could not open: %v", err)
		}
	}
	db, err := sqlstore.OpenPostgres(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	versions, applied := sqlstore.SchemaVersions(t.Context(), db)
	if applied != versions {
		t.Errorf("schema_migrations holds %d rows for %d migrations: a migration was applied twice or not at all", applied, versions)
	}
}

// One of two replicas leads; when the leader's session dies (as when its
// process is killed) the other takes over within seconds, and after a
// restart of PostgreSQL one of them leads again.
func TestPostgresLeadMovesOn(t *testing.T) {
	c := pgtest.Start(t)
	url := c.Database(t)
	type replica struct {
		db      *sqlstore.DB
		leading atomic.Bool
		die     context.CancelFunc
	}
	var rs [2]*replica
	for i := range rs {
		db, err := sqlstore.OpenPostgres(t.Context(), url, 4)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		ctx, cancel := context.WithCancel(t.Context())
		r := &replica{db: db, die: cancel}
		rs[i] = r
		go db.Lead(ctx, func(yes bool) { r.leading.Store(yes) }, func(ctx context.Context) { <-ctx.Done() })
	}
	leaders := func() (n int, who int) {
		for i, r := range rs {
			if r.leading.Load() {
				n, who = n+1, i
			}
		}
		return n, who
	}
	wait := func(what string, within time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait("one leader", 5*time.Second, func() bool { n, _ := leaders(); return n == 1 })
	time.Sleep(2 * time.Second)
	if n, _ := leaders(); n != 1 {
		t.Fatalf("%d leaders", n)
	}
	_, first := leaders()
	// The leader dies: its session ends, and it never tries again.
	pid := 0
	conn, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.QueryRowContext(t.Context(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	rs[first].die()
	start := time.Now()
	wait("the other replica to lead", 5*time.Second, func() bool { n, who := leaders(); return n == 1 && who != first })
	t.Logf("the lead moved in %s", time.Since(start).Round(10*time.Millisecond))
	c.Restart(t, time.Second)
	wait("the survivor to lead again after PostgreSQL restarted", 15*time.Second, func() bool { n, who := leaders(); return n == 1 && who != first })
}

// A statement that loses a race makes its transaction run again, whatever
// the caller made of the error: the service turned such a failure into
// "not found", and a stop answered 404 for a workspace that exists.
func TestPostgresLostRaceRunsAgainWhateverTheCallerSaid(t *testing.T) {
	c := pgtest.Start(t)
	url := c.Database(t)
	ctx := t.Context()
	db, err := sqlstore.OpenPostgres(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(ctx, func(tx store.Tx) error {
		return tx.Insert(&store.Record{Kind: labspace.KindEnvironment, ID: "x", Name: "x", Scope: labspace.Global, Data: []byte(`{}`),
			CreatedAt: time.Now(), UpdatedAt: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tries := 0
	err = db.Update(ctx, func(tx store.Tx) error {
		tries++
		rec, err := tx.Get(labspace.KindEnvironment, "x")
		if err != nil {
			return err
		}
		if tries == 1 { // another replica writes it after this transaction read it
			if _, err := other.ExecContext(ctx, `UPDATE objects SET rv = rv + 1 WHERE kind = 'environment' AND id = 'x'`); err != nil {
				return err
			}
		}
		rec.Data = []byte(`{"description":"changed"}`)
		if err := tx.Update(rec); err != nil {
			return labspace.Errorf(labspace.ENOTFOUND, "Environment %q not found.", "x") // what a caller may make of it
		}
		return nil
	})
	if err != nil || tries != 2 {
		t.Fatalf("after a lost race: %v, %d tries; want the transaction run again and done", err, tries)
	}
}
