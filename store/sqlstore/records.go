package sqlstore

import (
	"database/sql"
	"errors"
	"strconv"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Events, audit entries and tokens: append-mostly rows beside the objects.

func (t *sqlTx) AddEvent(e *labspace.Event) error {
	return t.queryRow(`INSERT INTO events (workspace_id, at, type, from_phase, to_phase, reason, message, actor)
		VALUES (?,?,?,?,?,?,?,?) RETURNING id`, e.WorkspaceID, nanos(e.Time), e.Type, e.FromPhase, e.ToPhase,
		e.Reason, e.Message, e.Actor).Scan(&e.ID)
}

func (t *sqlTx) Events(workspaceID string) ([]labspace.Event, error) {
	rows, err := t.query(`SELECT id, workspace_id, at, type, from_phase, to_phase, reason, message, actor
		FROM events WHERE workspace_id = ? ORDER BY id`, workspaceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []labspace.Event{}
	for rows.Next() {
		var e labspace.Event
		var at int64
		if err := rows.Scan(&e.ID, &e.WorkspaceID, &at, &e.Type, &e.FromPhase, &e.ToPhase, &e.Reason, &e.Message, &e.Actor); err != nil {
			return nil, err
		}
		e.Time = fromNanos(at)
		out = append(out, e)
	}
	return out, t.note(rows.Err())
}

func (t *sqlTx) AddAudit(e *labspace.AuditEntry) error {
	return t.queryRow(`INSERT INTO audit (at, actor, action, kind, object_id, object_name, scope, source)
		VALUES (?,?,?,?,?,?,?,?) RETURNING id`, nanos(e.Time), e.Actor, e.Action, e.Kind, e.ObjectID, e.ObjectName,
		e.Scope.String(), e.Source).Scan(&e.ID)
}

func (t *sqlTx) ListAudit(q store.AuditQuery) ([]labspace.AuditEntry, string, error) {
	where, args := "1 = 1", []any{}
	if q.Actor != "" {
		where, args = where+" AND actor = ?", append(args, q.Actor)
	}
	if q.ObjectID != "" {
		where, args = where+" AND object_id = ?", append(args, q.ObjectID)
	}
	if q.Continue != "" {
		before, err := strconv.ParseInt(q.Continue, 10, 64)
		if err != nil || before < 0 {
			return nil, "", badContinue()
		}
		where, args = where+" AND id < ?", append(args, before)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	rows, err := t.query(`SELECT id, at, actor, action, kind, object_id, object_name, scope, source FROM audit
		WHERE `+where+` ORDER BY id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []labspace.AuditEntry{}
	for rows.Next() {
		var e labspace.AuditEntry
		var at int64
		var scope string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Kind, &e.ObjectID, &e.ObjectName, &scope, &e.Source); err != nil {
			return nil, "", err
		}
		e.Time, e.Scope = fromNanos(at), parseScope(scope)
		out = append(out, e)
	}
	if err := t.note(rows.Err()); err != nil || len(out) <= limit {
		return out, "", err
	}
	out = out[:limit]
	return out, strconv.FormatInt(out[limit-1].ID, 10), nil
}

func parseScope(s string) labspace.Scope {
	for _, typ := range []labspace.ScopeType{labspace.ScopeDepartment, labspace.ScopeProject} {
		if p := string(typ) + "/"; len(s) > len(p) && s[:len(p)] == p {
			return labspace.Scope{Type: typ, Name: s[len(p):]}
		}
	}
	return labspace.Global
}

const tokenColumns = `id, hash, subject, kind, name, created_at, expires_at`

func scanToken(sc interface{ Scan(...any) error }) (*labspace.Token, error) {
	var tk labspace.Token
	var subject string
	var created, expires int64
	if err := sc.Scan(&tk.ID, &tk.Hash, &subject, &tk.Kind, &tk.Name, &created, &expires); err != nil {
		return nil, err
	}
	tk.Subject = parseSubject(subject)
	tk.CreatedAt, tk.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &tk, nil
}

func parseSubject(s string) labspace.Subject {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return labspace.Subject{Type: labspace.SubjectType(s[:i]), Name: s[i+1:]}
		}
	}
	return labspace.Subject{Name: s}
}

func (t *sqlTx) InsertToken(tk *labspace.Token) error {
	err := t.exec(`INSERT INTO tokens (`+tokenColumns+`) VALUES (?,?,?,?,?,?,?)`, tk.ID, tk.Hash, tk.Subject.String(),
		tk.Kind, tk.Name, nanos(tk.CreatedAt), nanos(tk.ExpiresAt))
	if err != nil && t.d.isUnique(err) {
		return labspace.Errorf(labspace.ECONFLICT, "Token already exists.")
	}
	return err
}

func (t *sqlTx) TokenByHash(hash string) (*labspace.Token, error) {
	tk, err := scanToken(t.queryRow(`SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, labspace.Errorf(labspace.ENOTFOUND, "Token not found.")
	}
	return tk, err
}

func (t *sqlTx) ListTokens(subject labspace.Subject) ([]labspace.Token, error) {
	rows, err := t.query(`SELECT `+tokenColumns+` FROM tokens WHERE subject = ? ORDER BY created_at, id`, subject.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []labspace.Token{}
	for rows.Next() {
		tk, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *tk)
	}
	return out, t.note(rows.Err())
}

func (t *sqlTx) DeleteToken(subject labspace.Subject, id string) error {
	res, err := t.execResult(`DELETE FROM tokens WHERE subject = ? AND id = ?`, subject.String(), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return labspace.Errorf(labspace.ENOTFOUND, "Token %q not found.", id)
	}
	return nil
}

func (t *sqlTx) DeleteTokensOf(subject labspace.Subject) error {
	return t.exec(`DELETE FROM tokens WHERE subject = ?`, subject.String())
}
