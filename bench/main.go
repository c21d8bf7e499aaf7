// Command bench is a whole-system benchmark of labspace: it starts a real
// server in-process, seeds projects, a researcher and workspaces, then
// measures the workspace list and workspace creation through the HTTP API,
// each beside the raw SQL floor run on the same database: the SQLite file,
// or with -database postgres a throwaway PostgreSQL cluster it starts. It
// prints a Markdown table meant for docs/benchmarks.md.
//
//	go run ./bench                                  # the full run
//	go run ./bench -projects 20 -workspaces 2000 -n 200 -m 200   # a quick one
//	go run ./bench -database postgres               # on PostgreSQL
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/labspace/labspace/server"
)

// config is what the flags set.
type config struct {
	dataDir    string
	projects   int
	workspaces int
	n          int           // sequential list requests
	warmup     int           // list requests before measuring
	c          int           // concurrent clients for creates
	m          int           // creates
	seedC      int           // concurrent clients while seeding
	apiSeed    time.Duration // how long to seed workspaces through the API before SQL takes over
	resync     time.Duration // the controller's resync period (0: the server's default)
	loadC      int           // clients of the load phase (0: skip it)
	loadD      time.Duration // its length
	database   string        // sqlite, postgres or a postgres:// URL
	pgBin      string        // PostgreSQL's programs
	cpuprofile string
	memprofile string
	verbose    bool
}

const adminPassword = "bench-admin-password"

func main() {
	var cfg config
	flag.StringVar(&cfg.dataDir, "data-dir", "", "new or empty data directory to use and keep (default: a temporary one, removed)")
	flag.IntVar(&cfg.projects, "projects", 1000, "projects to seed (at least 5)")
	flag.IntVar(&cfg.workspaces, "workspaces", 100000, "workspaces to seed")
	flag.IntVar(&cfg.n, "n", 2000, "sequential list requests (and raw SQL queries) to measure")
	flag.IntVar(&cfg.warmup, "warmup", 200, "list requests (and raw queries) before measuring")
	flag.IntVar(&cfg.c, "c", 8, "concurrent clients for the create benchmark")
	flag.IntVar(&cfg.m, "m", 5000, "workspaces to create in the create benchmark (0: skip it)")
	flag.IntVar(&cfg.seedC, "seed-c", 8, "concurrent clients while seeding")
	flag.DurationVar(&cfg.apiSeed, "api-seed", time.Minute, "seed workspaces through the API for at most this long; SQL copies the rest")
	flag.DurationVar(&cfg.resync, "resync", 0, "the controller's resync period (0: the server's default, 5s)")
	flag.IntVar(&cfg.loadC, "load-c", 200, "clients of the load phase: reads and writes at once (0: skip it)")
	flag.DurationVar(&cfg.loadD, "load-d", 20*time.Second, "how long the load phase runs, through the API and on the raw database each")
	flag.StringVar(&cfg.database, "database", "sqlite", "the server's database: sqlite (a file in the data directory), postgres (a throwaway cluster this program starts, with PostgreSQL's defaults) or a postgres:// URL of an empty database; the floor runs on the same one")
	flag.StringVar(&cfg.pgBin, "pg-bin", pgBin(), "folder of PostgreSQL's initdb and pg_ctl, for -database postgres")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the measured phases (not the seeding) to this file")
	flag.StringVar(&cfg.memprofile, "memprofile", "", "write allocation profiles to this file after measuring and to this file.before before (go tool pprof -sample_index=alloc_space -diff_base FILE.before FILE)")
	flag.BoolVar(&cfg.verbose, "v", false, "show the server's log (warnings and up) on stderr")
	flag.Parse()
	if cfg.projects < 5 || cfg.workspaces < 1 || cfg.n < 1 || cfg.c < 1 || cfg.seedC < 1 {
		log.Fatal("need -projects >= 5, -workspaces >= 1, -n >= 1, -c >= 1, -seed-c >= 1")
	}
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

// run does the whole benchmark: start, seed, measure, report.
func run(cfg config) error {
	dir := cfg.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "labspace-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if _, err := os.Stat(filepath.Join(dir, "labspace.db")); err == nil {
		return fmt.Errorf("%s already holds a labspace database; give a new or empty -data-dir", dir)
	}
	eng, err := newEngine(cfg, dir)
	if err != nil {
		return err
	}
	dbCPU = eng.cpu
	defer func() {
		if err := eng.close(); err != nil {
			log.Printf("database: %v", err)
		}
	}()
	srv, err := startServer(cfg, dir, eng)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	}()
	db, err := eng.open()
	if err != nil {
		return err
	}
	defer db.close()
	b := &bench{cfg: cfg, cl: newClient(srv.URL(), max(cfg.c, cfg.seedC, cfg.loadC)), eng: eng, db: db}
	if err := b.seed(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if err := writeAllocs(cfg.memprofile, ".before"); err != nil {
		return err
	}
	if err := b.measure(); err != nil {
		return fmt.Errorf("measure: %w", err)
	}
	if err := writeAllocs(cfg.memprofile, ""); err != nil {
		return err
	}
	b.report(os.Stdout)
	return nil
}

// writeAllocs writes the allocation profile to path+suffix, if path is set.
func writeAllocs(path, suffix string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path + suffix)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// startServer opens a labspace server on a free port and starts serving.
func startServer(cfg config, dir string, eng engine) (*server.Server, error) {
	var logOut io.Writer = io.Discard
	if cfg.verbose {
		logOut = os.Stderr
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sc := server.Config{DataDir: dir, Addr: "127.0.0.1:0", AdminPassword: adminPassword, BcryptCost: 4, Logger: logger, Resync: cfg.resync}
	eng.serve(&sc)
	srv, err := server.Open(context.Background(), sc)
	if err != nil {
		return nil, err
	}
	go func() {
		if err := srv.Serve(); err != nil {
			log.Printf("serve: %v", err)
		}
	}()
	return srv, nil
}

// progress prints a line on stderr, so that stdout stays the report.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
