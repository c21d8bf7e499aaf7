package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
)

// database/sql prepares every statement run outside a *sql.Stmt again, each
// time: on SQLite, parsing and planning took a tenth of a workspace create's
// time (ten statements) and 40µs of every list. A *sql.Stmt cannot be kept
// across transactions on the single writer connection (preparing one takes
// a connection from the pool, which the open transaction holds), so the
// statements are kept below database/sql instead: each connection keeps
// its prepared statements by query text and runs them again with new
// arguments.

// maxCachedStmts bounds the statements a connection keeps; the store's
// queries are a few dozen texts, lists with their filters included.
const maxCachedStmts = 256

// stmtConnector opens connections that keep their prepared statements.
type stmtConnector struct{ driver.Connector }

func (c stmtConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(cachingInner)
	if !ok {
		return conn, nil // not a driver this knows: prepare every time
	}
	return &stmtConn{cachingInner: inner, stmts: map[string]*cachedStmt{}}, nil
}

// cachingInner is what stmtConn needs of the driver's connection.
type cachingInner interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmtConn is a driver connection whose queries and statements go through
// prepared statements it keeps. database/sql uses a connection from one
// goroutine at a time, so the map needs no lock.
type stmtConn struct {
	cachingInner
	stmts map[string]*cachedStmt
}

// Unwrap returns the driver's connection, as modernc.org/sqlite asks of
// wrappers.
func (c *stmtConn) Unwrap() driver.Conn { return c.cachingInner }

type cachedStmt struct {
	stmt driver.Stmt
	busy bool // its rows are open: a second query on it would reset them
}

type stmtQueryExec interface {
	driver.StmtQueryContext
	driver.StmtExecContext
}

// prepared returns the kept statement for query, preparing it the first
// time; nil when it cannot be used now (in use, or the driver's statements
// cannot run with a context) and the query should run unprepared.
func (c *stmtConn) prepared(ctx context.Context, query string) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	st, err := c.cachingInner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if _, ok := st.(stmtQueryExec); !ok {
		return nil, st.Close()
	}
	if len(c.stmts) >= maxCachedStmts {
		c.evict()
	}
	s := &cachedStmt{stmt: st}
	c.stmts[query] = s
	return s, nil
}

// evict closes every kept statement not in use.
func (c *stmtConn) evict() {
	for q, s := range c.stmts {
		if !s.busy {
			_ = s.stmt.Close()
			delete(c.stmts, q)
		}
	}
}

func (c *stmtConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.prepared(ctx, query)
	if err != nil || s == nil {
		if err == nil || errors.Is(err, driver.ErrSkip) {
			return c.cachingInner.QueryContext(ctx, query, args)
		}
		return nil, err
	}
	rows, err := s.stmt.(stmtQueryExec).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, s: s}, nil
}

func (c *stmtConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.prepared(ctx, query)
	if err != nil || s == nil {
		if err == nil || errors.Is(err, driver.ErrSkip) {
			return c.cachingInner.ExecContext(ctx, query, args)
		}
		return nil, err
	}
	return s.stmt.(stmtQueryExec).ExecContext(ctx, args)
}

// Close closes the kept statements, then the connection.
func (c *stmtConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.cachingInner.Close())...)
}

// cachedRows frees its statement for the next query when closed (the
// driver resets the statement then, ready to run again).
type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	r.s.busy = false
	return r.Rows.Close()
}
