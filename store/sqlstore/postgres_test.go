package sqlstore_test

import (
	"testing"

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
