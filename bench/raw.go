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
// in a read transaction begun as the store begins one; then the engine's
// variant of it.
func (b *bench) measureRawList() error {
	ctx := context.Background()
	db := b.db.reader
	args := listArgs(b.mine)
	st, err := db.PrepareContext(ctx, b.eng.listQuery())
	if err != nil {
		return err
	}
	defer st.Close()
	if b.res.rawList, err = timed(b.cfg.warmup, b.cfg.n, func() error { return b.readList(st.QueryContext(ctx, args...)) }); err != nil {
		return err
	}
	progress("raw list in a transaction: %d warm-up + %d queries", b.cfg.warmup, b.cfg.n)
	if b.res.txList, err = timed(b.cfg.warmup, b.cfg.n, func() error {
		tx, err := db.BeginTx(ctx, b.eng.viewTx())
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := b.readList(tx.StmtContext(ctx, st).QueryContext(ctx, args...)); err != nil {
			return err
		}
		return tx.Commit()
	}); err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if b.res.listPlan, err = b.eng.plan(ctx, conn, b.eng.listQuery(), args); err != nil {
		return err
	}
	return b.measureVariant(ctx, conn, args)
}

// measureVariant runs the engine's variant of the list query on conn.
func (b *bench) measureVariant(ctx context.Context, conn *sql.Conn, args []any) error {
	v := b.eng.variant()
	progress("raw list, %s: %d warm-up + %d queries", v.label, b.cfg.warmup, b.cfg.n)
	if v.setup != "" {
		if _, err := conn.ExecContext(ctx, v.setup); err != nil {
			return err
		}
		defer conn.ExecContext(ctx, v.reset)
	}
	st, err := conn.PrepareContext(ctx, v.query)
	if err != nil {
		return err
	}
	defer st.Close()
	if b.res.variantList, err = timed(b.cfg.warmup, b.cfg.n, func() error { return b.readList(st.QueryContext(ctx, args...)) }); err != nil {
		return err
	}
	b.res.variantPlan, err = b.eng.plan(ctx, conn, v.query, args)
	return err
}

// readList reads every column of every row of a list query's result.
func (b *bench) readList(rows *sql.Rows, err error) error {
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
