package main

import (
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// phase is one measured run: how many operations, the wall time, each
// operation's latency and the CPU time this process (and the database's
// processes, dbCPU) spent meanwhile.
type phase struct {
	count int
	wall  time.Duration
	lat   []time.Duration
	cpu   time.Duration
	dbcpu time.Duration
	// retried is how many of its requests the client sent again after a
	// 409 "a concurrent change conflicted" (client.retried).
	retried int64
	alloc   uint64 // bytes the process allocated meanwhile (where measured)
	gcs     uint32 // garbage collections meanwhile (where measured)
}

// heap is the bytes allocated so far and the garbage collections run.
func heap() (uint64, uint32) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc, m.NumGC
}

func (p phase) rate() float64 { return float64(p.count) / p.wall.Seconds() }

// pct is the q-th quantile (0..1) of the latencies, nearest rank.
func (p phase) pct(q float64) time.Duration {
	if len(p.lat) == 0 {
		return 0
	}
	s := slices.Clone(p.lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (p phase) mean() time.Duration {
	if len(p.lat) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range p.lat {
		sum += d
	}
	return sum / time.Duration(len(p.lat))
}

// cores is how many CPU cores this process kept busy on average, and the
// database's processes beside it where it has its own.
func (p phase) cores() string { return coresBusy(p.cpu, p.dbcpu, p.wall) }

func coresBusy(cpu, dbcpu, wall time.Duration) string {
	s := fmt.Sprintf("%.2f", cpu.Seconds()/wall.Seconds())
	if dbcpu > 0 {
		s += fmt.Sprintf(" + %.2f database", dbcpu.Seconds()/wall.Seconds())
	}
	return s
}

// dbCPU is the CPU time the database's own processes have used so far:
// engine.cpu, set once the database runs (0 for SQLite, in this process).
var dbCPU = func() time.Duration { return 0 }

// clock reads this process's and the database's CPU time.
type clock struct{ cpu, db time.Duration }

func readClock() clock { return clock{cpuTime(), dbCPU()} }

// since is the CPU time of this process and of the database since c.
func (c clock) since() (cpu, db time.Duration) { return cpuTime() - c.cpu, dbCPU() - c.db }

type results struct {
	seedProjects        time.Duration
	seedProjectsRetried int64
	settle              time.Duration // after the API seeding, until the controller caught up
	seedAPI, seedSQL    phase
	list, rawList       phase
	listDecoded         phase  // the same list requests, until the client had decoded the page
	txList              phase  // the floor in a read transaction as the store begins one
	variantList         phase  // the floor run another way, for reference (engine.variant)
	listPlan            string // the database's plan for the list query
	variantPlan         string
	loadStart, loadEnd  string // the 1-minute load average before measuring and after
	create, rawInsert   phase
	total, rawListRows  int // workspaces at the end; rows per raw query
	dbVersion           string
	dbBytes, walBytes   int64
	load, rawLoad       loadResult // the load phase (load.go)
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed runs warmup unmeasured calls, then n sequential measured ones.
func timed(warmup, n int, fn func() error) (phase, error) {
	for range warmup {
		if err := fn(); err != nil {
			return phase{}, err
		}
	}
	p := phase{count: n, lat: make([]time.Duration, n)}
	c, start := readClock(), time.Now()
	for i := range n {
		t := time.Now()
		if err := fn(); err != nil {
			return phase{}, err
		}
		p.lat[i] = since(t)
	}
	p.wall = since(start)
	p.cpu, p.dbcpu = c.since()
	return p, nil
}

// timedReply is timed for a request whose reply the client then decodes:
// got runs from sending the request until the whole reply is read (the
// server's part), decoded until the client has also decoded it with check.
func timedReply(warmup, n int, fn func() ([]byte, error), check func([]byte) error) (got, decoded phase, err error) {
	for range warmup {
		raw, err := fn()
		if err == nil {
			err = check(raw)
		}
		if err != nil {
			return phase{}, phase{}, err
		}
	}
	got, decoded = phase{count: n, lat: make([]time.Duration, n)}, phase{count: n, lat: make([]time.Duration, n)}
	alloc, gcs := heap()
	c, start := readClock(), time.Now()
	for i := range n {
		t := time.Now()
		raw, err := fn()
		if err != nil {
			return phase{}, phase{}, err
		}
		got.lat[i] = since(t)
		if err := check(raw); err != nil {
			return phase{}, phase{}, err
		}
		decoded.lat[i] = since(t)
	}
	got.wall = since(start)
	got.cpu, got.dbcpu = c.since()
	a, g := heap()
	got.alloc, got.gcs = a-alloc, g-gcs
	decoded.wall, decoded.cpu, decoded.dbcpu, decoded.alloc, decoded.gcs = got.wall, got.cpu, got.dbcpu, got.alloc, got.gcs
	return got, decoded, nil
}

// concurrent runs fn(0..n-1) on c goroutines, measured.
func concurrent(c, n int, fn func(i int) error) (phase, error) {
	clk, start := readClock(), time.Now()
	lat, err := parallel(c, n, time.Time{}, fn)
	p := phase{count: n, wall: since(start), lat: lat}
	p.cpu, p.dbcpu = clk.since()
	return p, err
}

// measure runs the four measured phases in turn.
func (b *bench) measure() error {
	var err error
	b.res.loadStart = loadAvg()
	defer func() { b.res.loadEnd = loadAvg() }()
	progress("list: %d warm-up + %d requests", b.cfg.warmup, b.cfg.n)
	if b.res.list, b.res.listDecoded, err = timedReply(b.cfg.warmup, b.cfg.n, func() ([]byte, error) {
		return b.cl.listWorkspaces(b.researcher)
	}, checkList); err != nil {
		return err
	}
	progress("raw list: %d warm-up + %d queries", b.cfg.warmup, b.cfg.n)
	if err := b.measureRawList(); err != nil {
		return err
	}
	if b.cfg.m > 0 {
		progress("create: %d workspaces, %d clients", b.cfg.m, b.cfg.c)
		retried := b.cl.retried.Load()
		if b.res.create, err = concurrent(b.cfg.c, b.cfg.m, func(i int) error {
			return b.cl.createWorkspace(b.admin, projectName(i%b.cfg.projects), fmt.Sprintf("bench-%06d", i))
		}); err != nil {
			return err
		}
		b.res.create.retried = b.cl.retried.Load() - retried
		progress("raw insert: %d rows, %d clients", b.cfg.m, b.cfg.c)
		if err := b.measureRawInsert(); err != nil {
			return err
		}
	}
	if b.cfg.loadC > 0 && b.cfg.loadD > 0 {
		// Not on top of the controller's first passes over the creates.
		if _, err := b.settle("bench-"); err != nil {
			return err
		}
		if err := b.measureLoad(); err != nil {
			return err
		}
	}
	return b.facts()
}
