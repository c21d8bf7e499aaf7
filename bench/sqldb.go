package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// columns are the objects table's columns, in the order row holds them:
// all that the server reads for a list (store/sqlstore's objectColumns).
const columns = `id, kind, name, scope_type, scope_name, rv, created_at, updated_at, created_by, phase, subject, data, secret, data_format, active_at`

// row is one row of the objects table.
type row struct {
	id, kind, name, scopeType, scopeName string
	rv, createdAt, updatedAt             int64
	createdBy, phase, subject, data      string
	secret                               []byte
	format                               string
	activeAt                             int64
}

func (r *row) args() []any {
	return []any{r.id, r.kind, r.name, r.scopeType, r.scopeName, r.rv, r.createdAt, r.updatedAt,
		r.createdBy, r.phase, r.subject, r.data, r.secret, r.format, r.activeAt}
}

func (r *row) dest() []any {
	return []any{&r.id, &r.kind, &r.name, &r.scopeType, &r.scopeName, &r.rv, &r.createdAt, &r.updatedAt,
		&r.createdBy, &r.phase, &r.subject, &r.data, &r.secret, &r.format, &r.activeAt}
}

// insertRow inserts a row (through engine.rebind).
const insertRow = `INSERT INTO objects (` + columns + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// template reads the first workspace created through the API, the
// workspaces it refers to (environment, compute) and the newest created_at.
func template(ctx context.Context, e engine, db *sql.DB) (*row, []string, int64, error) {
	var t row
	err := db.QueryRowContext(ctx, `SELECT `+columns+` FROM objects WHERE kind = 'workspace'
		ORDER BY created_at, id LIMIT 1`).Scan(t.dest()...)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("template workspace: %w", err)
	}
	rows, err := db.QueryContext(ctx, e.rebind(`SELECT to_id FROM refs WHERE from_id = ?`), t.id)
	if err != nil {
		return nil, nil, 0, err
	}
	defer rows.Close()
	var refs []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, nil, 0, err
		}
		refs = append(refs, id)
	}
	var newest int64
	err = db.QueryRowContext(ctx, `SELECT MAX(created_at) FROM objects`).Scan(&newest)
	return &t, refs, newest, err
}

// copyRow is t as a new workspace: its own id, name, project and times,
// in the columns and in the JSON alike. The JSON is written as the server
// writes it (store.Encode of the workspace), so that the copies are rows
// like those the API makes, stamped with the same document format.
func copyRow(t *row, name, project string, at int64) (*row, error) {
	var w labspace.Workspace
	if err := json.Unmarshal([]byte(t.data), &w); err != nil {
		return nil, fmt.Errorf("template workspace: %w", err)
	}
	r := *t
	r.id, r.name, r.scopeType, r.scopeName, r.rv = newUUID(), name, "project", project, 1
	r.createdAt, r.updatedAt = at, at
	ts := time.Unix(0, at).UTC()
	w.ID, w.Name, w.Scope, w.ResourceVersion = r.id, name, labspace.ProjectScope(project), 1
	w.CreatedAt, w.UpdatedAt = ts, ts
	rec, err := store.Encode(&w)
	if err != nil {
		return nil, err
	}
	r.data, r.format = string(rec.Data), rec.Format
	return &r, nil
}

// newUUID is a random (version 4) UUID, as the server makes.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
