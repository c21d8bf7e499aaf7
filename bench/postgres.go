package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", the store's
	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/server"
	"github.com/labspace/labspace/store/pgtest"
	"github.com/labspace/labspace/store/sqlstore"
)

// pgConns is the store's pool: sqlstore.OpenPostgres's default, which the
// server uses (server/store.go), and so the floor's too.
const pgConns = 16

// pgEngine is a throwaway PostgreSQL cluster that this program starts
// (initdb, pg_ctl) in a temporary folder, on a free port of 127.0.0.1,
// with PostgreSQL's defaults (durable commits: fsync and
// synchronous_commit on) but for max_connections; the server and the
// floor share its one database. Given a URL instead (-database
// postgres://...), it is that database, which it neither starts nor stops.
type pgEngine struct {
	bin     string
	dir     string // the cluster's folder: data, log, socket ("" for a URL given)
	port    int
	cred    *syscall.Credential // as root: the postgres account's
	url     string              // the benchmark's database
	started atomic.Bool         // pg_ctl started it
	stop    chan os.Signal
	once    sync.Once // close
}

// pgBin is the folder of the newest PostgreSQL's programs on this machine.
func pgBin() string { return pgtest.Bin() }

// startPostgres makes a cluster, starts it and creates the benchmark's
// database. PostgreSQL refuses to run as root: as root, the cluster runs
// as the postgres account (or nobody) in a folder given to it.
func startPostgres(bin string) (*pgEngine, error) {
	if bin == "" {
		return nil, errors.New("PostgreSQL is not installed: apt-get install postgresql, or give -pg-bin")
	}
	dir, err := os.MkdirTemp("", "labspace-bench-pg-")
	if err != nil {
		return nil, err
	}
	e := &pgEngine{bin: bin, dir: dir, stop: make(chan os.Signal, 1)}
	// An interrupted run stops the cluster it started and removes it.
	signal.Notify(e.stop, os.Interrupt, syscall.SIGTERM)
	go func(stop <-chan os.Signal) {
		if _, ok := <-stop; ok {
			_ = e.close()
			os.Exit(1)
		}
	}(e.stop)
	if err := e.init(); err != nil {
		_ = e.close()
		return nil, err
	}
	if err := e.createDatabase("labspace"); err != nil {
		_ = e.close()
		return nil, err
	}
	return e, nil
}

// init makes the cluster as its account and starts it on a free port.
func (e *pgEngine) init() error {
	if os.Geteuid() == 0 {
		e.cred = pgtest.Account()
		if err := os.Chown(e.dir, int(e.cred.Uid), int(e.cred.Gid)); err != nil {
			return err
		}
	}
	var err error
	if e.port, err = benchkit.FreePort(); err != nil {
		return err
	}
	if err := e.run("initdb", "-D", e.data(), "-U", "labspace", "--auth=trust", "-E", "UTF8", "--no-instructions"); err != nil {
		return err
	}
	if err := e.run("pg_ctl", "-D", e.data(), "-l", filepath.Join(e.dir, "log"), "-w", "-t", "60", "start", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", e.port, e.dir)); err != nil {
		return err
	}
	e.started.Store(true)
	return nil
}

func (e *pgEngine) data() string { return filepath.Join(e.dir, "data") }

func (e *pgEngine) clusterURL(db string) string {
	return fmt.Sprintf("postgres://labspace@127.0.0.1:%d/%s?sslmode=disable", e.port, db)
}

func (e *pgEngine) createDatabase(name string) error {
	db, err := sql.Open("pgx", e.clusterURL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	e.url = e.clusterURL(name)
	return nil
}

// run runs one of PostgreSQL's programs in the cluster's folder, as its
// account.
func (e *pgEngine) run(prog string, args ...string) error {
	cmd := exec.Command(filepath.Join(e.bin, prog), args...)
	cmd.Dir = e.dir
	if e.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(e.dir, "log"))
		return fmt.Errorf("%s %s: %v\n%s\n%s", prog, strings.Join(args, " "), err, out, log)
	}
	return nil
}

// close stops the cluster and removes its folder, once.
func (e *pgEngine) close() error {
	if e.dir == "" {
		return nil
	}
	var err error
	e.once.Do(func() {
		signal.Stop(e.stop)
		close(e.stop)
		if e.started.Load() {
			err = e.run("pg_ctl", "-D", e.data(), "-w", "-t", "60", "stop", "-m", "fast")
		}
		err = errors.Join(err, os.RemoveAll(e.dir))
	})
	return err
}

func (e *pgEngine) title() string            { return "PostgreSQL" }
func (e *pgEngine) serve(cfg *server.Config) { cfg.Database = e.url }
func (e *pgEngine) rebind(q string) string   { return sqlstore.Numbered(q) }
func (e *pgEngine) listQuery() string        { return sqlstore.Numbered(listQuery("id", "")) }
func (e *pgEngine) viewTx() *sql.TxOptions   { return &sql.TxOptions{ReadOnly: true} }

func (e *pgEngine) version(ctx context.Context, db *sql.DB) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, `SHOW server_version`).Scan(&v)
	if e.dir == "" {
		return v + " (pgx stdlib, at the URL given)", err
	}
	return v + " (pgx stdlib; a cluster of its own, PostgreSQL's defaults but max_connections 200)", err
}

// open opens one pool of the store's size for reads and writes alike, as
// sqlstore.OpenPostgres does; pgx prepares and caches each connection's
// statements, for the floor as for the store.
func (e *pgEngine) open() (pools, error) {
	db, err := sql.Open("pgx", e.url)
	if err != nil {
		return pools{}, err
	}
	db.SetMaxOpenConns(pgConns)
	db.SetMaxIdleConns(pgConns)
	if err := db.Ping(); err != nil {
		db.Close()
		return pools{}, err
	}
	return pools{reader: db, writer: db}, nil
}

// plan is PostgreSQL's plan for q as a prepared statement runs it once
// it has run a few times (after 5 runs PostgreSQL may keep a generic
// plan, made without the arguments), with the database's own time for it
// (EXPLAIN ANALYZE), its lines joined by "; ". The store and the floor
// run q prepared (pgx's statement cache, database/sql's Stmt).
func (e *pgEngine) plan(ctx context.Context, conn *sql.Conn, q string, args []any) (string, error) {
	if _, err := conn.ExecContext(ctx, "PREPARE bench_plan AS "+q); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, "DEALLOCATE bench_plan")
	lits := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			lits[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
		} else {
			lits[i] = fmt.Sprint(a)
		}
	}
	execute := "EXECUTE bench_plan(" + strings.Join(lits, ", ") + ")"
	for range 6 {
		if _, err := conn.ExecContext(ctx, execute); err != nil {
			return "", err
		}
	}
	rows, err := conn.QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+execute)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	return strings.Join(lines, "; "), rows.Err()
}

// variant is the list query planned for its arguments at every run. A
// prepared statement (the store's, through pgx's cache, as the floor's)
// is planned for its arguments 5 times, then PostgreSQL may keep a
// generic plan made without them, estimated by default selectivities.
func (e *pgEngine) variant() variant {
	return variant{label: "the floor query planned for its arguments at every run (`SET plan_cache_mode = force_custom_plan`)",
		setup: "SET plan_cache_mode = force_custom_plan", query: e.listQuery(), reset: "RESET plan_cache_mode"}
}

// settled vacuums and analyzes the seeded tables: the rows copied with SQL
// come in faster than autovacuum looks (once a minute), which would
// otherwise do it in the middle of a measurement; the server and the
// floor then plan with the same statistics.
func (e *pgEngine) settled(ctx context.Context, db *sql.DB) error {
	start := time.Now()
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	progress("VACUUM ANALYZE in %v", since(start).Round(time.Millisecond))
	return nil
}

func (e *pgEngine) size(ctx context.Context, db *sql.DB) (data, log int64) {
	_ = db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&data)
	_ = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM pg_ls_waldir()`).Scan(&log)
	return data, log
}

// cpu is the user and system time of the cluster's processes: the
// postmaster and its children (the backends serving the pools, the
// writers and autovacuum), from /proc.
func (e *pgEngine) cpu() time.Duration {
	if e.dir == "" {
		return 0 // not ours: maybe not even on this machine
	}
	raw, err := os.ReadFile(filepath.Join(e.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	master := strings.SplitN(string(raw), "\n", 2)[0]
	entries, _ := os.ReadDir("/proc")
	var ticks int64
	for _, ent := range entries {
		if ent.Name()[0] < '0' || ent.Name()[0] > '9' {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if err != nil {
			continue
		}
		// After the command's closing parenthesis: state, ppid, ... with
		// utime and stime the 12th and 13th fields from there.
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 13 || (ent.Name() != master && f[1] != master) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
