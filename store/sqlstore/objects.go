package sqlstore

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

const objectColumns = `id, kind, name, scope_type, scope_name, rv, created_at, updated_at, created_by, phase, subject, data, secret, data_format, active_at`

// scanRecord reads a row of objectColumns.
func scanRecord(sc interface{ Scan(...any) error }) (*store.Record, error) {
	var r store.Record
	var created, updated, active int64
	var data string
	if err := sc.Scan(&r.ID, &r.Kind, &r.Name, &r.Scope.Type, &r.Scope.Name, &r.RV, &created, &updated,
		&r.CreatedBy, &r.Phase, &r.Subject, &data, &r.Secret, &r.Format, &active); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(updated)
	if active != notActive {
		r.ActiveAt = fromNanos(active)
	}
	// The driver hands over the document as a string of its own, made for
	// this row and held by nothing else: Data takes its bytes rather than a
	// copy, which was a third of what a list of 50 workspaces allocated.
	// Nothing writes into a record's Data in place.
	r.Data = unsafe.Slice(unsafe.StringData(data), len(data))
	return &r, nil
}

// notActive is active_at for what is not a running workspace: after every
// running one in the idle order.
const notActive = math.MaxInt64

func activeNanos(t time.Time) int64 {
	if t.IsZero() {
		return notActive
	}
	return nanos(t)
}

func notFound(kind labspace.Kind, what string) error {
	return labspace.Errorf(labspace.ENOTFOUND, "%s %q not found.", kindTitle(kind), what)
}

func kindTitle(k labspace.Kind) string {
	s := strings.ReplaceAll(string(k), "-", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func (t *sqlTx) Insert(r *store.Record) error {
	r.RV = 1
	err := t.exec(`INSERT INTO objects (`+objectColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Kind, r.Name, r.Scope.Type, r.Scope.Name, r.RV, nanos(r.CreatedAt), nanos(r.UpdatedAt),
		r.CreatedBy, r.Phase, r.Subject, string(r.Data), r.Secret, r.Format, activeNanos(r.ActiveAt))
	if err != nil && t.d.isUnique(err) {
		return labspace.Errorf(labspace.ECONFLICT, "%s %q already exists in %s.", kindTitle(r.Kind), r.Name, r.Scope)
	}
	return err
}

func (t *sqlTx) Get(kind labspace.Kind, id string) (*store.Record, error) {
	r, err := scanRecord(t.queryRow(`SELECT `+objectColumns+` FROM objects WHERE kind = ? AND id = ?`, kind, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kind, id)
	}
	return r, err
}

func (t *sqlTx) GetByName(kind labspace.Kind, scope labspace.Scope, name string) (*store.Record, error) {
	r, err := scanRecord(t.queryRow(`SELECT `+objectColumns+` FROM objects
		WHERE kind = ? AND scope_type = ? AND scope_name = ? AND name = ?`, kind, scope.Type, scope.Name, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kind, name)
	}
	return r, err
}

func (t *sqlTx) Update(r *store.Record) error {
	res, err := t.execResult(`UPDATE objects SET name = ?, rv = rv + 1, updated_at = ?, phase = ?,
		subject = ?, data = ?, secret = ?, data_format = ?, active_at = ? WHERE kind = ? AND id = ? AND rv = ?`,
		r.Name, nanos(r.UpdatedAt), r.Phase, r.Subject, string(r.Data), r.Secret, r.Format, activeNanos(r.ActiveAt), r.Kind, r.ID, r.RV)
	if err != nil {
		if t.d.isUnique(err) {
			return labspace.Errorf(labspace.ECONFLICT, "%s %q already exists in %s.", kindTitle(r.Kind), r.Name, r.Scope)
		}
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 1 {
		r.RV++
		return nil
	}
	var rv int64
	if err := t.queryRow(`SELECT rv FROM objects WHERE kind = ? AND id = ?`, r.Kind, r.ID).Scan(&rv); errors.Is(err, sql.ErrNoRows) {
		return notFound(r.Kind, r.ID)
	} else if err != nil {
		return err
	}
	return labspace.Errorf(labspace.ECONFLICT, "%s %q was changed by someone else (resourceVersion %d, yours %d); read it again.",
		kindTitle(r.Kind), r.Name, rv, r.RV)
}

func (t *sqlTx) Delete(kind labspace.Kind, id string) error {
	res, err := t.execResult(`DELETE FROM objects WHERE kind = ? AND id = ?`, kind, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound(kind, id)
	}
	if err := t.exec(`DELETE FROM refs WHERE from_id = ?`, id); err != nil {
		return err
	}
	return t.exec(`DELETE FROM events WHERE workspace_id = ?`, id)
}

// sortColumns maps the API's sort fields to columns.
var sortColumns = map[string]string{"": "name", "name": "name", "createdAt": "created_at", "updatedAt": "updated_at", "phase": "phase",
	"activeAt": "active_at"}

type cursor struct {
	V  string `json:"v"`
	ID string `json:"id"`
}

func sortValue(col string, r *store.Record) string {
	switch col {
	case "created_at":
		return strconv.FormatInt(nanos(r.CreatedAt), 10)
	case "updated_at":
		return strconv.FormatInt(nanos(r.UpdatedAt), 10)
	case "active_at":
		return strconv.FormatInt(activeNanos(r.ActiveAt), 10)
	case "phase":
		return r.Phase
	}
	return r.Name
}

func badContinue() error {
	return labspace.FieldErr("continue", "is not a continue token from this list")
}

func (t *sqlTx) List(kind labspace.Kind, q store.ListQuery) ([]*store.Record, string, error) {
	col, ok := sortColumns[q.SortBy]
	if !ok {
		return nil, "", labspace.FieldErr("sortBy", "must be one of name, createdAt, updatedAt, phase, activeAt")
	}
	if q.Scopes != nil && len(q.Scopes) == 0 {
		return nil, "", nil
	}
	where, args := []string{"kind = ?"}, []any{kind}
	if q.Scopes != nil {
		where, args = scopeFilter(q.Scopes, where, args)
	}
	where, args = inFilter("name", q.Names, where, args)
	where, args = inFilter("subject", q.Subjects, where, args)
	if q.Phase != "" {
		where, args = append(where, "phase = ?"), append(args, q.Phase)
	}
	if q.CreatedBy != "" {
		where, args = append(where, "created_by = ?"), append(args, q.CreatedBy)
	}
	if q.Search != "" {
		where, args = append(where, `name LIKE ? ESCAPE '\'`), append(args, "%"+likeEscape(q.Search)+"%")
	}
	for _, f := range q.Filters {
		cond, arg, err := t.filter(f)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, cond), append(args, arg)
	}
	if q.Offset < 0 || (q.Offset > 0 && q.Continue != "") {
		return nil, "", labspace.FieldErr("offset", "must be 0 or more, and not given with continue")
	}
	op, dir := ">", "ASC"
	if q.Desc {
		op, dir = "<", "DESC"
	}
	if q.Continue != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Continue)
		var c cursor
		if err != nil || json.Unmarshal(raw, &c) != nil {
			return nil, "", badContinue()
		}
		var v any = c.V
		if strings.HasSuffix(col, "_at") {
			n, err := strconv.ParseInt(c.V, 10, 64)
			if err != nil {
				return nil, "", badContinue()
			}
			v = n
		}
		where = append(where, "("+col+" "+op+" ? OR ("+col+" = ? AND id "+op+" ?))")
		args = append(args, v, v, c.ID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 1000 {
		limit = 1000
	}
	// Two steps: the page's keys first, from the index alone where it
	// holds every column filtered on, then those rows. Sorting the keys of
	// all matches (the workspaces of several projects) costs half what
	// sorting whole rows did.
	order := ` ORDER BY ` + col + ` ` + dir + `, id ` + dir
	rows, err := t.query(`SELECT `+objectColumns+` FROM objects WHERE `+t.d.rowKey+` IN (SELECT `+t.d.rowKey+` FROM objects `+
		t.indexHint(col, q.Scopes)+`WHERE `+strings.Join(where, " AND ")+order+` LIMIT ? OFFSET ?)`+order, append(args, limit+1, q.Offset)...)
	if err != nil {
		return nil, "", err
	}
	out, err := t.collect(rows)
	if err != nil || len(out) <= limit {
		return out, "", err
	}
	out = out[:limit]
	last := out[limit-1]
	raw, _ := json.Marshal(cursor{V: sortValue(col, last), ID: last.ID})
	return out, base64.RawURLEncoding.EncodeToString(raw), nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// filter returns the condition of f, with its one argument. Values are
// always arguments, never part of the statement; field names come from a
// fixed table.
func (t *sqlTx) filter(f store.Filter) (string, any, error) {
	var expr string
	switch f.Field {
	case "name":
		expr = "name"
	case "creator":
		expr = "created_by"
	case "phase":
		expr = "phase"
	case "environment":
		expr = t.d.environment
	default:
		return "", nil, labspace.FieldErr("filterBy", "cannot filter on %q: use one of %s", f.Field, strings.Join(store.FilterFields, ", "))
	}
	pattern := func(before, after string) string {
		return before + likeEscape(strings.ToLower(f.Value)) + after
	}
	like := "LOWER(" + expr + ") LIKE ? ESCAPE '\\'"
	switch f.Op {
	case store.OpEqual:
		return expr + " = ?", f.Value, nil
	case store.OpNotEqual:
		return expr + " <> ?", f.Value, nil
	case store.OpContains:
		return like, pattern("%", "%"), nil
	case store.OpNotContains:
		return "NOT " + like, pattern("%", "%"), nil
	case store.OpPrefix:
		return like, pattern("", "%"), nil
	case store.OpSuffix:
		return like, pattern("%", ""), nil
	}
	return "", nil, labspace.FieldErr("filterBy", "has no operator %q", f.Op)
}

func (t *sqlTx) collect(rows *sql.Rows) ([]*store.Record, error) {
	defer rows.Close()
	var out []*store.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, t.note(rows.Err())
}

// scopeFilter groups scopes by type so that a list of projects becomes one
// IN clause the (kind, scope_type, scope_name) index serves.
func scopeFilter(scopes []labspace.Scope, where []string, args []any) ([]string, []any) {
	byType := map[labspace.ScopeType][]string{}
	var order []labspace.ScopeType
	for _, s := range scopes {
		if _, ok := byType[s.Type]; !ok {
			order = append(order, s.Type)
		}
		byType[s.Type] = append(byType[s.Type], s.Name)
	}
	var ors []string
	for _, typ := range order {
		names := byType[typ]
		ors = append(ors, "(scope_type = ? AND scope_name IN ("+placeholders(len(names))+"))")
		args = append(args, typ)
		for _, n := range names {
			args = append(args, n)
		}
	}
	return append(where, "("+strings.Join(ors, " OR ")+")"), args
}

func inFilter(col string, vals []string, where []string, args []any) ([]string, []any) {
	if len(vals) == 0 {
		return where, args
	}
	for _, v := range vals {
		args = append(args, v)
	}
	return append(where, col+" IN ("+placeholders(len(vals))+")"), args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func (t *sqlTx) SetRefs(from string, to []string) error {
	if err := t.exec(`DELETE FROM refs WHERE from_id = ?`, from); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, id := range to {
		if seen[id] {
			continue
		}
		seen[id] = true
		if err := t.exec(`INSERT INTO refs (from_id, to_id) VALUES (?, ?)`, from, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqlTx) Referrers(id string) ([]*store.Record, error) {
	rows, err := t.query(`SELECT `+objectColumns+` FROM objects WHERE id IN (SELECT from_id FROM refs WHERE to_id = ?)
		ORDER BY kind, name`, id)
	if err != nil {
		return nil, err
	}
	return t.collect(rows)
}

// indexHint names the index for a list within scopes of one type, sorted by
// name or creation: without statistics SQLite otherwise walks the
// (kind, created_at) index over every object of the kind and filters, which
// at 100,000 workspaces is 30 times slower for a researcher's few projects.
func (t *sqlTx) indexHint(col string, scopes []labspace.Scope) string {
	if !t.d.indexedBy || len(scopes) == 0 {
		return ""
	}
	for _, s := range scopes {
		if s.Type != scopes[0].Type {
			return "" // an OR over scope types cannot use one index range
		}
	}
	switch col {
	case "created_at":
		return "INDEXED BY objects_created "
	case "name":
		return "INDEXED BY objects_name "
	case "active_at":
		return "INDEXED BY objects_active "
	}
	return ""
}

func (t *sqlTx) CountByPhase(kind labspace.Kind) (map[string]int, error) {
	rows, err := t.query(`SELECT phase, COUNT(*) FROM objects WHERE kind = ? GROUP BY phase`, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var phase string
		var n int
		if err := rows.Scan(&phase, &n); err != nil {
			return nil, err
		}
		out[phase] = n
	}
	return out, t.note(rows.Err())
}
