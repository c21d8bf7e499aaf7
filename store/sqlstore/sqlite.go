package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// OpenSQLite opens (creating if needed) the SQLite database at path and
// applies migrations. WAL mode lets readers run beside the single writer.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	// The writer keeps SQLite's default 2 MiB page cache: it reads through
	// the memory map like the readers, and at every commit SQLite walks its
	// cache's hash table, which at 64 MiB cost each workspace create 30µs.
	writer, err := openPool(sqliteDSN(path, "-2000") + "&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	reader, err := openPool(sqliteDSN(path, "-65536") + "&mode=ro")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	readers := max(4, runtime.NumCPU())
	reader.SetMaxOpenConns(readers)
	db := &DB{writers: make(gate, 1), readers: make(gate, readers), d: dialect{name: "sqlite", serial: "INTEGER PRIMARY KEY AUTOINCREMENT", blob: "BLOB", indexedBy: true, rowKey: "rowid",
		environment: `COALESCE(json_extract(data, '$.spec.environment.from.name'), '')`,
		isUnique:    sqliteUnique, isRetry: sqliteBusy}, writer: writer, reader: reader}
	db.batch = newBatcher(writer, &db.d)
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// sqliteDSN is the URI of the database at path with the server's settings
// and a page cache of cache pages (negative: KiB).
func sqliteDSN(path, cache string) string {
	q := url.Values{}
	// A 64 MiB page cache per reader and memory-mapped reads: without
	// them every list pays a read system call per page it visits.
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "synchronous(NORMAL)", "foreign_keys(ON)",
		"cache_size(" + cache + ")", "mmap_size(1073741824)"} {
		q.Add("_pragma", p)
	}
	// The path goes into a URI: escape what SQLite would otherwise read as
	// an escape, the query or the fragment.
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?" + q.Encode()
}

// openPool opens a pool of connections that keep their prepared
// statements (stmtcache.go).
func openPool(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(stmtConnector{c}), nil
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return 0
	}
	return e.Code()
}

func sqliteUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func sqliteBusy(err error) bool { return sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY }
