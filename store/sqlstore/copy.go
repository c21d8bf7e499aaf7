package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// copyTables are the tables an installation is, with their columns.
var copyTables = []struct{ name, columns, order string }{
	{"objects", objectColumns, "id"},
	{"refs", "from_id, to_id", "from_id, to_id"},
	{"events", "id, workspace_id, at, type, from_phase, to_phase, reason, message, actor", "id"},
	{"audit", "id, at, actor, action, kind, object_id, object_name, scope, source", "id"},
	{"tokens", "id, hash, subject, kind, name, created_at, expires_at", "id"},
}

// Copy copies every row of from into to, which must hold no objects yet,
// in one transaction of to: a failure leaves it as it was. Sealed
// secrets move as they are, so the installation's key still opens them.
// It returns how many rows each table holds in to afterwards.
func Copy(ctx context.Context, from, to *DB) (map[string]int, error) {
	counts := map[string]int{}
	err := to.migrateStep(ctx, func(tx store.Tx) error {
		dst := tx.(*sqlTx)
		var n int
		if err := dst.queryRow(`SELECT COUNT(*) FROM objects`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return labspace.Errorf(labspace.ECONFLICT, "The target database holds %d objects already: copy into an empty one.", n)
		}
		for _, tbl := range copyTables {
			if err := copyTable(ctx, from, dst, tbl.name, tbl.columns, tbl.order); err != nil {
				return fmt.Errorf("copy %s: %w", tbl.name, err)
			}
			if err := dst.queryRow(`SELECT COUNT(*) FROM ` + tbl.name).Scan(&n); err != nil {
				return err
			}
			counts[tbl.name] = n
		}
		if to.d.name == "postgres" {
			// The copied ids are explicit: the sequences go on after them.
			for _, t := range []string{"events", "audit"} {
				if err := dst.exec(`SELECT setval(pg_get_serial_sequence('` + t + `', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM ` + t + `), false)`); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return counts, err
}

// copyTable streams a table's rows from from into dst.
func copyTable(ctx context.Context, from *DB, dst *sqlTx, table, columns, order string) error {
	names := strings.Split(columns, ",")
	n := len(names)
	insert := `INSERT INTO ` + table + ` (` + columns + `) VALUES (` + strings.TrimSuffix(strings.Repeat("?,", n), ",") + `)`
	return from.View(ctx, func(tx store.Tx) error {
		rows, err := tx.(*sqlTx).query(`SELECT ` + columns + ` FROM ` + table + ` ORDER BY ` + order)
		if err != nil {
			return err
		}
		defer rows.Close()
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			for i, v := range vals {
				if s, ok := v.([]byte); ok && strings.TrimSpace(names[i]) != "secret" {
					vals[i] = string(s) // text read as bytes: written back as text
				}
			}
			if err := dst.exec(insert, vals...); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}
