package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// Several replicas on one PostgreSQL database: one runs the controller.
// The leader holds a session-level advisory lock on a connection of its
// own; when its process dies, or the database restarts, the session ends
// and the lock goes with it, and a standby that tries every second takes
// it. The leader checks its connection every second too and stops leading
// when the check fails, so two leaders overlap at most about a second
// (the controller's steps are idempotent and the store serializable).
// On SQLite, one process owns the file: it always leads.

// leaderLock is the advisory lock of the lead.
const leaderLock = 0x6c61627370616366

// leadCheck is how often the leader checks its lock and a standby tries it.
const leadCheck = time.Second

// Lead calls run each time this process gains the lead, with a context
// that ends when it loses it; changed hears of each gain and loss. It
// returns when ctx ends.
func (db *DB) Lead(ctx context.Context, changed func(leading bool), run func(ctx context.Context)) {
	if db.d.name != "postgres" {
		changed(true)
		run(ctx)
		changed(false)
		return
	}
	for ctx.Err() == nil {
		conn := db.tryLead(ctx)
		if conn == nil {
			sleep(ctx, leadCheck)
			continue
		}
		changed(true)
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); run(lctx) }()
		db.holdLead(lctx, conn)
		cancel()
		<-done
		changed(false)
		releaseLead(conn)
	}
}

// TryLead takes the lead once, without waiting: ok is false when another
// process holds it. release gives it back.
func (db *DB) TryLead(ctx context.Context) (release func(), ok bool) {
	if db.d.name != "postgres" {
		return func() {}, true
	}
	conn := db.tryLead(ctx)
	if conn == nil {
		return nil, false
	}
	return func() { releaseLead(conn) }, true
}

// tryLead returns a connection holding the lock, or nil.
func (db *DB) tryLead(ctx context.Context) *sql.Conn {
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return nil
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(leaderLock)).Scan(&got); err != nil || !got {
		conn.Close()
		return nil
	}
	return conn
}

// releaseLead gives the lock back and the connection up (a dead session
// has given the lock back already).
func releaseLead(conn *sql.Conn) {
	_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(leaderLock))
	conn.Close()
}

// holdLead returns when ctx ends or the lock's session is gone.
func (db *DB) holdLead(ctx context.Context, conn *sql.Conn) {
	t := time.NewTicker(leadCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check, cancel := context.WithTimeout(ctx, 2*leadCheck)
			err := conn.PingContext(check)
			cancel()
			if err != nil && ctx.Err() == nil {
				return
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
