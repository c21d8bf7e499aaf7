// Package sqlstore implements store.Store on SQL databases: SQLite (through
// modernc.org/sqlite, pure Go) by default, PostgreSQL for several replicas.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// dialect holds what differs between databases.
type dialect struct {
	name      string
	serial    string
	blob      string
	numbered  bool   // $1, $2... placeholders instead of ?
	indexedBy bool   // supports SQLite's INDEXED BY
	rowKey    string // the cheapest key of an objects row (SQLite: rowid)
	// environment is the name of the environment a workspace was made
	// from, read from its document ("" for other kinds).
	environment string
	isUnique    func(error) bool // a unique constraint was violated
	isRetry     func(error) bool // the transaction lost a race and may be retried
}

// DB is a store.Store on database/sql. Writes go through writer, reads
// through reader (the same pool on PostgreSQL; on SQLite a single writer
// connection avoids lock upgrades between concurrent writers).
type DB struct {
	d      dialect
	writer *sql.DB
	reader *sql.DB
	// Transactions wait for a connection in these queues, first come
	// first served: database/sql hands a freed connection to a random
	// waiter, which under load left some requests waiting seconds.
	writers, readers gate
	batch            *batcher // SQLite: group commit of writes (batch.go)
}

// gate admits as many holders as its capacity, in arrival order (a
// channel's blocked senders are woken first in, first out).
type gate chan struct{}

func (g gate) enter(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g gate) leave() { <-g }

var _ store.Store = (*DB)(nil)

// Close closes the pools.
func (db *DB) Close() error {
	if db.batch != nil {
		db.batch.close()
	}
	err := db.writer.Close()
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	return err
}

func (db *DB) migrate(ctx context.Context) error {
	for {
		done := false
		// One migration per transaction, each under a lock on PostgreSQL:
		// of replicas starting together, one applies it and the others find
		// it applied. Read committed there, so that what follows the lock
		// reads what the replica before committed (a serializable snapshot
		// would be taken by the lock's own statement, before the wait).
		err := db.migrateStep(ctx, func(tx store.Tx) error {
			t := tx.(*sqlTx)
			if db.d.name == "postgres" {
				if err := t.exec(`SELECT pg_advisory_xact_lock(?)`, migrationLock); err != nil {
					return fmt.Errorf("migration lock: %w", err)
				}
			}
			if err := t.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			var current int
			if err := t.queryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
			if done = current >= len(migrations); done {
				return nil
			}
			stmt := strings.NewReplacer("{{serial}}", db.d.serial, "{{blob}}", db.d.blob).Replace(migrations[current])
			for _, s := range strings.Split(stmt, ";") {
				if strings.TrimSpace(s) == "" {
					continue
				}
				if _, err := t.tx.ExecContext(ctx, s); err != nil {
					return fmt.Errorf("migration %d: %w", current+1, err)
				}
			}
			return t.exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, current+1, time.Now().UnixNano())
		})
		if err != nil || done {
			return err
		}
	}
}

func (db *DB) migrateStep(ctx context.Context, fn func(store.Tx) error) error {
	if db.d.name != "postgres" {
		return db.Update(ctx, fn)
	}
	return db.run(ctx, db.writer, db.writers, &sql.TxOptions{Isolation: sql.LevelReadCommitted}, fn)
}

// migrationLock is the PostgreSQL advisory lock migrations take.
const migrationLock = 0x6c61627370616365 // "labspace"

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, db.reader, db.readers, &sql.TxOptions{ReadOnly: db.d.name == "postgres"}, fn)
}

// Update runs fn in a read-write transaction.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	opts := &sql.TxOptions{}
	if db.d.name == "postgres" {
		// Serializable: read-check-write sequences (quota, unique names
		// across scopes) stay correct with several replicas.
		opts.Isolation = sql.LevelSerializable
	}
	if db.batch != nil {
		return db.batch.update(ctx, fn)
	}
	return db.run(ctx, db.writer, db.writers, opts, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, g gate, opts *sql.TxOptions, fn func(store.Tx) error) error {
	if err := g.enter(ctx); err != nil {
		return err
	}
	defer g.leave()
	// PostgreSQL aborts a serializable transaction that lost a race to
	// another (a replica's, or this one's): it runs again from the start,
	// reading what the winner wrote.
	for try := 1; ; try++ {
		err := db.runOnce(ctx, pool, opts, fn)
		if err == nil || !db.d.isRetry(err) {
			return err
		}
		if try == maxTries {
			return labspace.Errorf(labspace.ECONFLICT, "A concurrent change conflicted %d times in a row; try again.", try)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryWait(try)):
		}
	}
}

// maxTries bounds runs of a transaction that keeps losing races: under
// 8 concurrent creators on PostgreSQL, 10 tries at a fixed growing wait
// were not enough for a few in a hundred (bench -database postgres).
const maxTries = 25

// retryWait spreads the tries of transactions that collided, so that they
// do not collide again in step: a random wait up to 2^try ms, at most 100.
func retryWait(try int) time.Duration {
	ceiling := min(time.Duration(1<<min(try, 7))*time.Millisecond, 100*time.Millisecond)
	return time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
}

func (db *DB) runOnce(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(store.Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &sqlTx{ctx: ctx, tx: tx, d: &db.d}
	if err := fn(t); err != nil {
		_ = tx.Rollback()
		if t.retry != nil {
			// Whatever fn made of it (a not-found, a field error), a
			// statement lost a race: the transaction runs again.
			return t.retry
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// sqlTx implements store.Tx.
type sqlTx struct {
	ctx context.Context
	tx  *sql.Tx
	d   *dialect
	// retry is the first error of a statement that calls for running the
	// transaction again (a serialization failure, a deadlock). PostgreSQL
	// refuses the transaction's later statements, and the caller may have
	// turned the error into another (a 404), so run looks here.
	retry error
}

// note keeps err in t.retry when it calls for running the transaction
// again, and returns it.
func (t *sqlTx) note(err error) error {
	if err != nil && t.retry == nil && t.d.isRetry != nil && t.d.isRetry(err) {
		t.retry = err
	}
	return err
}

// noted is a row whose Scan error is noted (sqlTx.note).
type noted struct {
	row *sql.Row
	t   *sqlTx
}

func (r noted) Scan(dest ...any) error { return r.t.note(r.row.Scan(dest...)) }

// rebind turns ? placeholders into $n where the dialect wants them.
func (t *sqlTx) rebind(q string) string {
	if !t.d.numbered {
		return q
	}
	return Numbered(q)
}

// Numbered turns ? placeholders into PostgreSQL's $1, $2...
func Numbered(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (t *sqlTx) exec(q string, args ...any) error {
	_, err := t.tx.ExecContext(t.ctx, t.rebind(q), args...)
	return t.note(err)
}

// execResult is exec for statements whose rows affected are read.
func (t *sqlTx) execResult(q string, args ...any) (sql.Result, error) {
	res, err := t.tx.ExecContext(t.ctx, t.rebind(q), args...)
	return res, t.note(err)
}

func (t *sqlTx) query(q string, args ...any) (*sql.Rows, error) {
	rows, err := t.tx.QueryContext(t.ctx, t.rebind(q), args...)
	return rows, t.note(err)
}

func (t *sqlTx) queryRow(q string, args ...any) noted {
	return noted{t.tx.QueryRowContext(t.ctx, t.rebind(q), args...), t}
}

func nanos(tm time.Time) int64 { return tm.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// SchemaVersions reports how many migrations there are and how many rows
// schema_migrations holds (for tests and diagnostics).
func SchemaVersions(ctx context.Context, db *DB) (migrationsKnown, rowsApplied int) {
	_ = db.View(ctx, func(tx store.Tx) error {
		return tx.(*sqlTx).queryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&rowsApplied)
	})
	return len(migrations), rowsApplied
}
