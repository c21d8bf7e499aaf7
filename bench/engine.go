package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/labspace/labspace/server"
	_ "modernc.org/sqlite" // the driver the server uses
)

// engine is the database the server stores into and the floor runs on
// (-database): what differs between SQLite and PostgreSQL, so that the
// phases are written once. Queries are written with ? placeholders and
// go through rebind, as the store's do.
type engine interface {
	// title names the database in the report: "SQLite", "PostgreSQL".
	title() string
	// version is the database's version, for the report.
	version(ctx context.Context, db *sql.DB) (string, error)
	// serve points the server's configuration at the database.
	serve(cfg *server.Config)
	// open opens pools on the server's database with the store's
	// settings (store/sqlstore): its drivers, its connections.
	open() (pools, error)
	// rebind is q with the database's placeholders.
	rebind(q string) string
	// listQuery is the store's list query for the researcher's 5
	// projects (store/sqlstore/objects.go List, newest first).
	listQuery() string
	// variant is, for reference, the list query run another way.
	variant() variant
	// viewTx is how the store begins a read (store/sqlstore View).
	viewTx() *sql.TxOptions
	// plan is the database's plan for q on conn.
	plan(ctx context.Context, conn *sql.Conn, q string, args []any) (string, error)
	// settled runs once the seeding is over (PostgreSQL: VACUUM ANALYZE,
	// what autovacuum would do before long in any case).
	settled(ctx context.Context, db *sql.DB) error
	// size is the database's and its log's bytes on disk.
	size(ctx context.Context, db *sql.DB) (data, log int64)
	// cpu is the CPU time the database's own processes have used so far
	// (0 for SQLite: it runs in this process, whose time is counted).
	cpu() time.Duration
	close() error
}

// variant is the list query run another way, for reference, on a
// connection of its own: setup runs on it first, reset after.
type variant struct {
	label, setup, query, reset string
}

// pools are the connections the floor uses, as the store opens them: on
// SQLite a reader pool and a single writer connection, on PostgreSQL one
// pool for both.
type pools struct{ reader, writer *sql.DB }

func (p pools) close() {
	p.reader.Close()
	if p.writer != p.reader {
		p.writer.Close()
	}
}

// newEngine starts (PostgreSQL) or locates (SQLite) the database named by
// -database for a server whose data directory is dir.
func newEngine(cfg config, dir string) (engine, error) {
	switch cfg.database {
	case "sqlite":
		return &sqliteEngine{path: filepath.Join(dir, "labspace.db")}, nil
	case "postgres", "postgresql":
		return startPostgres(cfg.pgBin)
	}
	if strings.HasPrefix(cfg.database, "postgres://") || strings.HasPrefix(cfg.database, "postgresql://") {
		return &pgEngine{url: cfg.database}, nil
	}
	return nil, fmt.Errorf("-database %q: want sqlite, postgres or a postgres:// URL", cfg.database)
}

// listTemplate is the store's list query for the researcher's 5
// projects, newest first, as store/sqlstore/objects.go List writes it: the
// page's keys, one more than the page, from the index of (kind,
// scope_type, scope_name, created_at, id), then their rows; its arguments
// are listArgs. {key} is the cheapest row key, {hint} SQLite's index hint.
const listTemplate = `SELECT ` + columns + ` FROM objects WHERE {key} IN (SELECT {key} FROM objects {hint}WHERE kind = ? AND ((scope_type = ? AND scope_name IN (?,?,?,?,?))) ORDER BY created_at DESC, id DESC LIMIT ?) ORDER BY created_at DESC, id DESC`

func listQuery(key, hint string) string {
	return strings.NewReplacer("{key}", key, "{hint}", hint).Replace(listTemplate)
}

// listArgs are the list query's arguments for the projects mine.
func listArgs(mine []string) []any {
	args := []any{"workspace", "project"}
	for _, p := range mine {
		args = append(args, p)
	}
	return append(args, 51)
}

// sqliteEngine is the server's default: the SQLite file in its data
// directory, which the floor opens beside the running server.
type sqliteEngine struct{ path string }

func (e *sqliteEngine) title() string          { return "SQLite" }
func (e *sqliteEngine) serve(*server.Config)   {}
func (e *sqliteEngine) rebind(q string) string { return q }
func (e *sqliteEngine) listQuery() string      { return listQuery("rowid", "INDEXED BY objects_created ") }
func (e *sqliteEngine) viewTx() *sql.TxOptions { return &sql.TxOptions{} }
func (e *sqliteEngine) cpu() time.Duration     { return 0 }
func (e *sqliteEngine) close() error           { return nil }

func (e *sqliteEngine) version(ctx context.Context, db *sql.DB) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v)
	return v + " (modernc.org/sqlite)", err
}

// open opens the server's reader pool (as many connections as the store's,
// read-only) and its single writer connection.
func (e *sqliteEngine) open() (pools, error) {
	reader, err := openSQLite(e.path, false)
	if err != nil {
		return pools{}, err
	}
	reader.SetMaxOpenConns(max(4, goruntime.NumCPU())) // the server's reader pool (store/sqlstore)
	writer, err := openSQLite(e.path, true)
	if err != nil {
		reader.Close()
		return pools{}, err
	}
	return pools{reader: reader, writer: writer}, nil
}

// openSQLite opens the server's SQLite file beside the running server,
// with the server's own settings (sqlstore.OpenSQLite): WAL, a busy
// timeout, its page cache and memory-mapped reads, and for a writer one
// connection taking the write lock at BEGIN.
func openSQLite(path string, write bool) (*sql.DB, error) {
	q := url.Values{}
	cache := "-65536"
	if write {
		cache = "-2000" // the server's writer keeps SQLite's default
	}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(ON)",
		"cache_size(" + cache + ")", "mmap_size(1073741824)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?" + q.Encode()
	if write {
		dsn += "&_txlock=immediate"
	} else {
		dsn += "&mode=ro"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, db.Ping()
}

// variant is the list query without its index hint: without statistics
// SQLite then picks the index on (kind, created_at, id) and walks every
// workspace newest first, filtering by project (what the server did
// before it named the index).
func (e *sqliteEngine) variant() variant {
	return variant{label: "the floor query without `INDEXED BY objects_created`", query: listQuery("rowid", "")}
}

// plan is SQLite's query plan for q, its steps joined by "; ".
func (e *sqliteEngine) plan(ctx context.Context, conn *sql.Conn, q string, args []any) (string, error) {
	rows, err := conn.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		steps = append(steps, detail)
	}
	return strings.Join(steps, "; "), rows.Err()
}

// settled does nothing: the server never runs ANALYZE either (its list
// names its index instead).
func (e *sqliteEngine) settled(context.Context, *sql.DB) error { return nil }

func (e *sqliteEngine) size(context.Context, *sql.DB) (data, log int64) {
	if fi, err := os.Stat(e.path); err == nil {
		data = fi.Size()
	}
	if fi, err := os.Stat(e.path + "-wal"); err == nil {
		log = fi.Size()
	}
	return data, log
}
