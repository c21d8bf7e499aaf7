package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Group commit. SQLite has one writer, so on it every write transaction
// waits for the one before. Under load the writer connection changed hands
// (and goroutines) at every transaction and spent as long on BEGIN and
// COMMIT as on the work itself. Instead one goroutine takes the waiting
// writes in arrival order and runs up to maxBatch of them in one
// transaction, each in a savepoint of its own: a write that fails is
// rolled back alone, the others commit together, and no caller hears back
// before the commit that holds its write.

const maxBatch = 64

// write is one Update waiting for the batch writer.
type write struct {
	ctx  context.Context
	fn   func(store.Tx) error
	done chan writeResult // buffered: the writer never waits for a caller
}

type writeResult struct {
	err      error
	panicked any // fn panicked: panic again in the caller's goroutine
}

// batcher runs writes in batches on the writer connection.
type batcher struct {
	db     *sql.DB
	d      *dialect
	queue  chan *write
	quit   chan struct{}
	exited chan struct{}
}

func newBatcher(db *sql.DB, d *dialect) *batcher {
	b := &batcher{db: db, d: d, queue: make(chan *write), quit: make(chan struct{}), exited: make(chan struct{})}
	go b.loop()
	return b
}

// update queues fn and waits for the commit (or rollback) that settles it.
// Once queued it waits even if ctx ends: the write may already be
// committed, and saying otherwise would be a lie.
func (b *batcher) update(ctx context.Context, fn func(store.Tx) error) error {
	w := &write{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	select {
	case b.queue <- w:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return errors.New("store closed")
	}
	r := <-w.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

// close stops the writer after the batch it is running.
func (b *batcher) close() {
	close(b.quit)
	<-b.exited
}

func (b *batcher) loop() {
	defer close(b.exited)
	batch := make([]*write, 0, maxBatch)
	for {
		select {
		case w := <-b.queue:
			batch = append(batch[:0], w)
		case <-b.quit:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case w := <-b.queue:
				batch = append(batch, w)
			default:
				break fill
			}
		}
		b.run(batch)
	}
}

// run commits one batch and answers each of its writes.
func (b *batcher) run(batch []*write) {
	results := make([]writeResult, len(batch))
	err := b.runTx(batch, results)
	for i, w := range batch {
		if err != nil && results[i].err == nil && results[i].panicked == nil {
			results[i].err = err
		}
		w.done <- results[i]
	}
}

// runTx runs the batch's writes in one transaction, recording each one's
// own outcome in results; its error is the transaction's, for every write
// that did not fail on its own.
func (b *batcher) runTx(batch []*write, results []writeResult) error {
	tx, err := b.db.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			results[i].err = err // its caller has gone: never run it
			continue
		}
		if _, err := tx.Exec("SAVEPOINT w"); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("savepoint: %w", err)
		}
		// Not the caller's cancellation: interrupting a statement can
		// roll back the whole transaction, the other writes with it.
		results[i] = call(w.fn, &sqlTx{ctx: context.WithoutCancel(w.ctx), tx: tx, d: b.d})
		if results[i].err != nil || results[i].panicked != nil {
			if _, err := tx.Exec("ROLLBACK TO w"); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("roll back to savepoint: %w", err)
			}
		}
		if _, err := tx.Exec("RELEASE w"); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		if b.d.isRetry(err) {
			return labspace.Errorf(labspace.ECONFLICT, "A concurrent change conflicted; try again.")
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// call runs fn, turning a panic into a result.
func call(fn func(store.Tx) error, t *sqlTx) (r writeResult) {
	defer func() {
		if p := recover(); p != nil {
			r = writeResult{panicked: p}
		}
	}()
	return writeResult{err: fn(t)}
}
