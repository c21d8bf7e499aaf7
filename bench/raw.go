package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"
)

// rawListQuery is the query the server runs for the list request, with
// the researcher's 5 projects: newest first, one row more than the page,
// the page's rowids first from the index of (kind, scope_type, scope_name,
// created_at, id), then their rows.
const rawListQuery = `SELECT ` + columns + ` FROM objects WHERE rowid IN (SELECT rowid FROM objects INDEXED BY objects_created
	WHERE kind = 'workspace' AND scope_type = 'project' AND scope_name IN (?,?,?,?,?)
	ORDER BY created_at DESC, id DESC LIMIT 51) ORDER BY created_at DESC, id DESC`

// indexedListQuery is, for reference, the same query without the index
// hint: without statistics SQLite then picks the index on (kind,
// created_at, id) and walks every workspace newest first, filtering by
// project (what the server did before it named the index).
var indexedListQuery = strings.Replace(rawListQuery, "FROM objects INDEXED BY objects_created", "FROM objects", 1)

// measureRawList runs rawListQuery on the same file, reading every column
// of every row, the same number of times as the list request; then the
// same with indexedListQuery.
func (b *bench) measureRawList() error {
	ctx := context.Background()
	db, err := openDB(b.dbPath, false)
	if err != nil {
		return err
	}
	defer db.Close()
	args := make([]any, len(b.mine))
	for i, p := range b.mine {
		args[i] = p
	}
	if b.res.listPlan, err = plan(ctx, db, rawListQuery, args); err != nil {
		return err
	}
	if b.res.indexedPlan, err = plan(ctx, db, indexedListQuery, args); err != nil {
		return err
	}
	query := func(q string) error {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var r row
			if err := rows.Scan(r.dest()...); err != nil {
				return err
			}
			n++
		}
		b.res.rawListRows = n
		return rows.Err()
	}
	if b.res.rawList, err = timed(b.cfg.warmup, b.cfg.n, func() error { return query(rawListQuery) }); err != nil {
		return err
	}
	progress("indexed list: %d warm-up + %d queries", b.cfg.warmup, b.cfg.n)
	b.res.indexedList, err = timed(b.cfg.warmup, b.cfg.n, func() error { return query(indexedListQuery) })
	return err
}

// plan is SQLite's query plan for q, its steps joined by "; ".
func plan(ctx context.Context, db *sql.DB, q string, args []any) (string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
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

// measureRawInsert inserts rows like the created workspaces, one row per
// transaction, from as many goroutines as the create benchmark had
// clients, through one connection as the server writes. The rows are built
// before the clock starts.
func (b *bench) measureRawInsert() error {
	ctx := context.Background()
	db, err := openDB(b.dbPath, true)
	if err != nil {
		return err
	}
	defer db.Close()
	t, _, newest, err := template(ctx, db)
	if err != nil {
		return err
	}
	rows := make([]*row, b.cfg.m)
	for i := range rows {
		if rows[i], err = copyRow(t, fmt.Sprintf("raw-%06d", i), projectName(i%b.cfg.projects), newest+int64(i+1)*1000); err != nil {
			return err
		}
	}
	b.res.rawInsert, err = concurrent(b.cfg.c, b.cfg.m, func(i int) error {
		return inTx(ctx, db, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, insertRow, rows[i].args()...)
			return err
		})
	})
	return err
}

// facts gathers what the report says of the database.
func (b *bench) facts() error {
	ctx := context.Background()
	db, err := openDB(b.dbPath, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&b.res.sqliteVersion); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM objects WHERE kind = 'workspace'`).Scan(&b.res.total); err != nil {
		return err
	}
	if fi, err := os.Stat(b.dbPath); err == nil {
		b.res.dbBytes = fi.Size()
	}
	if fi, err := os.Stat(b.dbPath + "-wal"); err == nil {
		b.res.walBytes = fi.Size()
	}
	return nil
}

// loadAvg is the 1-minute load average, where the system says it.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(raw))[0]
}

// cpuModel is the processor's name from /proc/cpuinfo, where there is one.
func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
