package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// bench holds the state shared by the phases, and their results.
type bench struct {
	cfg        config
	cl         *client
	eng        engine   // the database (engine.go)
	db         pools    // the floor's connections to it
	admin      string   // the admin's token
	researcher string   // the researcher's token
	mine       []string // the researcher's projects
	res        results
}

const researcher = "researcher"

func projectName(i int) string { return fmt.Sprintf("proj-%04d", i) }

// seed creates the projects, the researcher and the workspaces.
func (b *bench) seed() error {
	var err error
	if b.admin, err = b.cl.login("admin", adminPassword); err != nil {
		return err
	}
	start, retried := time.Now(), b.cl.retried.Load()
	if _, err := parallel(b.cfg.seedC, b.cfg.projects, time.Time{}, func(i int) error {
		return b.cl.do2xx("POST", "/api/v1/projects", b.admin, map[string]any{
			"meta": map[string]any{"name": projectName(i), "scope": map[string]any{"type": "global"}},
			"spec": map[string]any{"quota": map[string]any{"gpus": 8}}})
	}); err != nil {
		return err
	}
	b.res.seedProjects = since(start)
	b.res.seedProjectsRetried = b.cl.retried.Load() - retried
	progress("seeded %d projects in %v", b.cfg.projects, b.res.seedProjects.Round(time.Millisecond))
	if err := b.seedResearcher(); err != nil {
		return err
	}
	if err := b.seedWorkspacesAPI(); err != nil {
		return err
	}
	if b.res.settle, err = b.settle("ws-"); err != nil {
		return err
	}
	if err := b.seedWorkspacesSQL(); err != nil {
		return err
	}
	return b.eng.settled(context.Background(), b.db.writer)
}

// seedResearcher creates the researcher, l1-researcher in 5 projects
// spread over the range.
func (b *bench) seedResearcher() error {
	pw := "researcher-password"
	if err := b.cl.do2xx("POST", "/api/v1/users", b.admin, map[string]any{
		"meta": map[string]any{"name": researcher}, "password": pw}); err != nil {
		return err
	}
	for k := range 5 {
		p := projectName(k * b.cfg.projects / 5)
		b.mine = append(b.mine, p)
		if err := b.cl.do2xx("POST", "/api/v1/access-rules", b.admin, map[string]any{
			"meta": map[string]any{"scope": map[string]any{"type": "project", "name": p}},
			"spec": map[string]any{"subject": map[string]any{"type": "user", "name": researcher}, "role": "l1-researcher"}}); err != nil {
			return err
		}
	}
	var err error
	b.researcher, err = b.cl.login(researcher, pw)
	return err
}

// seedWorkspacesAPI creates workspaces through the API, round-robin over
// the projects, until all are there or the -api-seed time is up.
func (b *bench) seedWorkspacesAPI() error {
	start, retried := time.Now(), b.cl.retried.Load()
	lat, err := parallel(b.cfg.seedC, b.cfg.workspaces, start.Add(b.cfg.apiSeed), func(i int) error {
		if i%5000 == 4999 {
			progress("seeded %d workspaces through the API", i+1)
		}
		return b.cl.createWorkspace(b.admin, projectName(i%b.cfg.projects), fmt.Sprintf("ws-%06d", i))
	})
	if err != nil {
		return err
	}
	b.res.seedAPI = phase{count: len(lat), wall: since(start), lat: lat, retried: b.cl.retried.Load() - retried}
	progress("seeded %d workspaces through the API in %v (%.0f creates/s, %d sent again after a conflict)", b.res.seedAPI.count,
		b.res.seedAPI.wall.Round(time.Millisecond), b.res.seedAPI.rate(), b.res.seedAPI.retried)
	return nil
}

// parallel runs fn(0..n-1) on c goroutines and returns each call's
// latency, stopping at the first error. After stop (when not zero) no new
// call starts: the latencies returned are those of fn(0..k-1), all done.
func parallel(c, n int, stop time.Time, fn func(i int) error) ([]time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Bool
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for !failed.Load() && (stop.IsZero() || time.Now().Before(stop)) {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
				lat[i] = since(t)
			}
		})
	}
	wg.Wait()
	return lat[:min(int(next.Load()), n)], first
}

func since(t time.Time) time.Duration { return time.Since(t) }

// do2xx is do for a create: 201 Created.
func (c *client) do2xx(method, path, token string, body any) error {
	_, err := c.do(method, path, token, body, 201)
	return err
}

// settle waits (up to 10 minutes) until the controller has looked at every
// workspace created through the API: its first pass writes the status
// (resourceVersion 2): the workspaces named prefix..., as rows written
// with SQL stay at 1 (the controller never hears of them). Then the measurements do not share the machine with
// that backlog, and the SQL copies start from a reconciled row.
func (b *bench) settle(prefix string) (time.Duration, error) {
	ctx := context.Background()
	start := time.Now()
	for {
		var n int
		if err := b.db.reader.QueryRowContext(ctx, b.eng.rebind(`SELECT COUNT(*) FROM objects WHERE kind = 'workspace' AND rv = 1
			AND name LIKE ?`), prefix+"%").Scan(&n); err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		if since(start) > 10*time.Minute {
			return 0, fmt.Errorf("the controller has not reconciled %d workspaces after 10 minutes", n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	progress("the controller reconciled them %v later", since(start).Round(time.Millisecond))
	return since(start), nil
}

// seedWorkspacesSQL seeds the workspaces the API did not, by copying the
// first API-created workspace row (and its refs) straight into the
// database while the server runs: new ids and names, round-robin projects,
// created_at increasing by 1µs after the newest row.
func (b *bench) seedWorkspacesSQL() error {
	todo := b.cfg.workspaces - b.res.seedAPI.count
	if todo <= 0 {
		return nil
	}
	ctx := context.Background()
	db := b.db.writer
	t, refs, newest, err := template(ctx, b.eng, db)
	if err != nil {
		return err
	}
	insert, insertRef := b.eng.rebind(insertRow), b.eng.rebind(`INSERT INTO refs (from_id, to_id) VALUES (?, ?)`)
	start := time.Now()
	const batch = 5000
	for lo := 0; lo < todo; lo += batch {
		err := inTx(ctx, db, func(tx *sql.Tx) error {
			for j := lo; j < min(lo+batch, todo); j++ {
				r, err := copyRow(t, fmt.Sprintf("wsq-%06d", j), projectName(j%b.cfg.projects), newest+int64(j+1)*1000)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, insert, r.args()...); err != nil {
					return err
				}
				for _, to := range refs {
					if _, err := tx.ExecContext(ctx, insertRef, r.id, to); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		progress("copied %d workspaces with SQL", min(lo+batch, todo))
	}
	b.res.seedSQL = phase{count: todo, wall: since(start)}
	return nil
}

// inTx runs fn in one transaction.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
