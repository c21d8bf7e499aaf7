package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// OpenPostgres opens the PostgreSQL database at url (postgres://...) and
// applies migrations, under a lock so that replicas starting together
// migrate once. Transactions are serializable: the read-check-write
// sequences of admission and unique names stay right across replicas,
// and one that loses a race is run again (runRetrying).
func OpenPostgres(ctx context.Context, url string, conns int) (*DB, error) {
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	if conns <= 0 {
		conns = 16
	}
	pool.SetMaxOpenConns(conns)
	pool.SetMaxIdleConns(conns)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", redact(url), err)
	}
	db := &DB{writers: make(gate, conns), readers: make(gate, conns), writer: pool, reader: pool,
		d: dialect{name: "postgres", serial: "BIGSERIAL PRIMARY KEY", blob: "BYTEA", numbered: true, rowKey: "id",
			environment: `COALESCE(data::jsonb #>> '{spec,environment,from,name}', '')`,
			isUnique:    pgCode("23505"), isRetry: pgCode("40001", "40P01")}}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// pgCode matches PostgreSQL errors with one of codes (SQLSTATE).
func pgCode(codes ...string) func(error) bool {
	return func(err error) bool {
		var e *pgconn.PgError
		if !errors.As(err, &e) {
			return false
		}
		for _, c := range codes {
			if e.Code == c {
				return true
			}
		}
		return false
	}
}

// redact hides the password of a database URL for messages.
func redact(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "(the database URL)"
	}
	return u.Redacted()
}
