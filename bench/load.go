package main

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"sync"
	"time"
)

// The load phase (issue 11, "Under load"): many clients at once for a
// while, most reading, some writing, as a team's browsers and scripts do;
// beside the same mix in SQL on the same database with as many goroutines,
// the floor the store sets. Each client loops: i%10 == 0 creates a stopped
// workspace and deletes it again (two writes), 1-3 lists the researcher's
// workspaces, 4-6 reads one workspace, 7-9 asks /me (the raw side reads a
// token by hash instead).

// opStats are the latencies of one kind of operation.
type opStats struct {
	name string
	lat  []time.Duration
}

func (o *opStats) pct(q float64) time.Duration {
	if len(o.lat) == 0 {
		return 0
	}
	sort.Slice(o.lat, func(i, j int) bool { return o.lat[i] < o.lat[j] })
	return o.lat[min(len(o.lat)-1, int(q*float64(len(o.lat))))]
}

// loadResult is one side's run.
type loadResult struct {
	ops        []*opStats // write, list, get, me
	total      int
	wall       time.Duration
	cpu, dbcpu time.Duration // this process's CPU time meanwhile, the database's
	retried    int64         // requests sent again after a conflict (client.retried)
}

// runLoad runs c clients for d, each calling op(client, i) and recording
// its latency under the operation kind it returns.
func runLoad(c int, d time.Duration, op func(client, i int) (kind int, err error)) (loadResult, error) {
	res := loadResult{ops: []*opStats{{name: "write"}, {name: "list"}, {name: "get"}, {name: "me / token"}}}
	var mu sync.Mutex
	var firstErr error
	clk, start := readClock(), time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for g := 0; g < c; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var mine [4][]time.Duration
			for i := g % 10; time.Now().Before(stop); i++ {
				t := time.Now()
				kind, err := op(g, i)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine[kind] = append(mine[kind], time.Since(t))
			}
			mu.Lock()
			for k := range mine {
				res.ops[k].lat = append(res.ops[k].lat, mine[k]...)
				res.total += len(mine[k])
			}
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	res.wall = time.Since(start)
	res.cpu, res.dbcpu = clk.since()
	return res, firstErr
}

// kindOf says which operation step i of a client is.
func kindOf(i int) int {
	switch i % 10 {
	case 0:
		return 0
	case 1, 2, 3:
		return 1
	case 4, 5, 6:
		return 2
	}
	return 3
}

// measureLoad runs the mix through the API, then on the raw database.
func (b *bench) measureLoad() error {
	c, d := b.cfg.loadC, b.cfg.loadD
	progress("load: %d clients for %s through the API", c, d)
	var err error
	retried := b.cl.retried.Load()
	b.res.load, err = runLoad(c, d, func(g, i int) (int, error) {
		kind := kindOf(i)
		project := projectName(g % b.cfg.projects)
		switch kind {
		case 0:
			name := fmt.Sprintf("load-%03d-%06d", g, i)
			if err := b.cl.createWorkspace(b.admin, project, name); err != nil {
				return 0, err
			}
			_, err := b.cl.do("DELETE", "/api/v1/projects/"+project+"/workspaces/"+name, b.admin, nil, 202)
			return 0, err
		case 1:
			// Not listWorkspaces: its buffer is for one caller at a time.
			_, err := b.cl.do("GET", listPath, b.researcher, nil, 200)
			return 1, err
		case 2:
			_, err := b.cl.do("GET", "/api/v1/projects/"+projectName(0)+"/workspaces/ws-000000", b.admin, nil, 200)
			return 2, err
		}
		_, err := b.cl.do("GET", "/api/v1/me", b.researcher, nil, 200)
		return 3, err
	})
	if err != nil {
		return fmt.Errorf("load through the API: %w", err)
	}
	b.res.load.retried = b.cl.retried.Load() - retried
	progress("load: %d goroutines for %s on the raw database", c, d)
	b.res.rawLoad, err = b.rawLoad(c, d)
	return err
}

// rawLoad is the same mix as SQL on the server's database: the list query
// of measureRawList, a workspace by name, a token by hash, and an insert
// and a delete each in its own write transaction (the database's default
// isolation). Like the server it prepares each statement once and goes
// through as many connections (engine.open).
func (b *bench) rawLoad(c int, d time.Duration) (loadResult, error) {
	ctx := context.Background()
	reader, writer := b.db.reader, b.db.writer
	t, _, newest, err := template(ctx, b.eng, writer)
	if err != nil {
		return loadResult{}, err
	}
	args := listArgs(b.mine)
	var st [5]*sql.Stmt
	for i, q := range []struct {
		db  *sql.DB
		sql string
	}{{writer, insertRow}, {writer, `DELETE FROM objects WHERE id = ?`}, {reader, b.eng.listQuery()},
		{reader, `SELECT ` + columns + ` FROM objects WHERE kind = ? AND scope_type = ? AND scope_name = ? AND name = ?`},
		{reader, `SELECT count(*) FROM tokens WHERE hash = ?`}} {
		if st[i], err = q.db.PrepareContext(ctx, b.eng.rebind(q.sql)); err != nil {
			return loadResult{}, err
		}
		defer st[i].Close()
	}
	return runLoad(c, d, func(g, i int) (int, error) {
		kind := kindOf(i)
		switch kind {
		case 0:
			r, err := copyRow(t, fmt.Sprintf("rawload-%03d-%06d", g, i), projectName(g%b.cfg.projects), newest+int64(g*1_000_000+i+1))
			if err != nil {
				return 0, err
			}
			if err := inTx(ctx, writer, func(tx *sql.Tx) error { _, err := tx.StmtContext(ctx, st[0]).ExecContext(ctx, r.args()...); return err }); err != nil {
				return 0, err
			}
			return 0, inTx(ctx, writer, func(tx *sql.Tx) error { _, err := tx.StmtContext(ctx, st[1]).ExecContext(ctx, r.id); return err })
		case 1:
			rows, err := st[2].QueryContext(ctx, args...)
			if err != nil {
				return 1, err
			}
			for rows.Next() {
				var r row
				if err := rows.Scan(r.dest()...); err != nil {
					rows.Close()
					return 1, err
				}
			}
			rows.Close()
			return 1, rows.Err()
		case 2:
			var r row
			return 2, st[3].QueryRowContext(ctx, "workspace", "project", projectName(0), "ws-000000").Scan(r.dest()...)
		}
		var n int
		return 3, st[4].QueryRowContext(ctx, "no-such-hash").Scan(&n)
	})
}

// reportLoad prints the load phase's table.
func reportLoad(w func(format string, a ...any), api, raw loadResult, c int, d time.Duration) {
	w("\n### Under load: %d clients for %s\n\n", c, d)
	w("Each client loops over ten steps: one creates a stopped workspace and deletes it (two writes), three list the researcher's workspaces, three read one workspace, three ask `/me`; the raw side does the same in SQL on the same database with as many goroutines (a token read by hash for `/me`).\n\n")
	w("| side | operations/s (a write is two requests) | op | n | p50 | p99 |\n|---|---:|---|---:|---:|---:|\n")
	for _, side := range []struct {
		name string
		r    loadResult
	}{{"labspace API", api}, {"raw SQL", raw}} {
		rate := float64(side.r.total) / side.r.wall.Seconds()
		for _, o := range side.r.ops {
			w("| %s | %.0f | %s | %d | %s | %s |\n", side.name, rate, o.name, len(o.lat), ms(o.pct(0.5)), ms(o.pct(0.99)))
		}
	}
	w("\nCPU cores busy: labspace API %s, raw SQL %s (this process; the database's own processes after the +).\n",
		coresBusy(api.cpu, api.dbcpu, api.wall), coresBusy(raw.cpu, raw.dbcpu, raw.wall))
	w("\nAPI requests sent again after a 409 \"a concurrent change conflicted\" (each counted once in n, timed from its first try): %d.\n", api.retried)
}
