package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"
)

// measureRawList runs the store's list query (engine.listQuery) on the
// same database, prepared once as the store's are, reading every column of
// every row, the same number of times as the list request; then the same
// in a read transaction begun as the store begins one; then, on SQLite,
// the query without its index hint.
func (b *bench) measureRawList() error {
	ctx := context.Background()
	db := b.db.reader
	args := listArgs(b.mine)
	var err error
	if b.res.listPlan, err = b.eng.plan(ctx, db, b.eng.listQuery(), args); err != nil {
		return err
	}
	st, err := db.PrepareContext(ctx, b.eng.listQuery())
	if err != nil {
		return err
	}
	defer st.Close()
	read := func(rows *sql.Rows, err error) error {
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
	if b.res.rawList, err = timed(b.cfg.warmup, b.cfg.n, func() error { return read(st.QueryContext(ctx, args...)) }); err != nil {
		return err
	}
	progress("raw list in a transaction: %d warm-up + %d queries", b.cfg.warmup, b.cfg.n)
	if b.res.txList, err = timed(b.cfg.warmup, b.cfg.n, func() error {
		tx, err := db.BeginTx(ctx, b.eng.viewTx())
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := read(tx.StmtContext(ctx, st).QueryContext(ctx, args...)); err != nil {
			return err
		}
		return tx.Commit()
	}); err != nil {
		return err
	}
	unhinted := b.eng.unhinted()
	if unhinted == "" {
		return nil
	}
	if b.res.indexedPlan, err = b.eng.plan(ctx, db, unhinted, args); err != nil {
		return err
	}
	progress("unhinted list: %d warm-up + %d queries", b.cfg.warmup, b.cfg.n)
	un, err := db.PrepareContext(ctx, unhinted)
	if err != nil {
		return err
	}
	defer un.Close()
	b.res.indexedList, err = timed(b.cfg.warmup, b.cfg.n, func() error { return read(un.QueryContext(ctx, args...)) })
	return err
}

// measureRawInsert inserts rows like the created workspaces, one row per
// transaction, from as many goroutines as the create benchmark had
// clients, through the store's writer connections (SQLite: one), the
// statement prepared once. The rows are built before the clock starts.
func (b *bench) measureRawInsert() error {
	ctx := context.Background()
	db := b.db.writer
	t, _, newest, err := template(ctx, b.eng, db)
	if err != nil {
		return err
	}
	rows := make([]*row, b.cfg.m)
	for i := range rows {
		if rows[i], err = copyRow(t, fmt.Sprintf("raw-%06d", i), projectName(i%b.cfg.projects), newest+int64(i+1)*1000); err != nil {
			return err
		}
	}
	insert, err := db.PrepareContext(ctx, b.eng.rebind(insertRow))
	if err != nil {
		return err
	}
	defer insert.Close()
	b.res.rawInsert, err = concurrent(b.cfg.c, b.cfg.m, func(i int) error {
		return inTx(ctx, db, func(tx *sql.Tx) error {
			_, err := tx.StmtContext(ctx, insert).ExecContext(ctx, rows[i].args()...)
			return err
		})
	})
	return err
}

// facts gathers what the report says of the database.
func (b *bench) facts() error {
	ctx := context.Background()
	db := b.db.reader
	var err error
	if b.res.dbVersion, err = b.eng.version(ctx, db); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM objects WHERE kind = 'workspace'`).Scan(&b.res.total); err != nil {
		return err
	}
	b.res.dbBytes, b.res.walBytes = b.eng.size(ctx, db)
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
