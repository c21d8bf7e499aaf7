package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// report prints the results as Markdown.
func (b *bench) report(w io.Writer) {
	cfg, r := b.cfg, &b.res
	fmt.Fprintf(w, "## labspace whole-system benchmark (%s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(w, "Command: `go run ./bench %s`\n\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintln(w, "| Machine | |\n|---|---|")
	fmt.Fprintf(w, "| CPU | %s |\n| runtime.NumCPU | %d |\n| GOOS/GOARCH | %s/%s |\n| Go | %s |\n| %s | %s |\n",
		cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), b.eng.title(), r.dbVersion)
	fmt.Fprintf(w, "| load average (1 min) | %s before measuring, %s after |\n\n", r.loadStart, r.loadEnd)
	resync := "5s (server default)"
	if cfg.resync > 0 {
		resync = cfg.resync.String()
	}
	fmt.Fprintln(w, "| Parameter | Value |\n|---|---|")
	fmt.Fprintf(w, "| projects | %d |\n| workspaces seeded | %d (%d through the API, %d copied with SQL) |\n",
		cfg.projects, cfg.workspaces, r.seedAPI.count, r.seedSQL.count)
	fmt.Fprintf(w, "| researcher | l1-researcher in %d projects (%s) |\n", len(b.mine), strings.Join(b.mine, ", "))
	fmt.Fprintf(w, "| list requests | %d sequential, after %d warm-up |\n| creates | %d by %d concurrent clients |\n",
		cfg.n, cfg.warmup, cfg.m, cfg.c)
	fmt.Fprintf(w, "| controller resync | %s |\n| workspaces at the end | %d |\n| database, write-ahead log at the end | %.1f MiB, %.1f MiB |\n\n",
		resync, r.total, float64(r.dbBytes)/(1<<20), float64(r.walBytes)/(1<<20))
	b.reportSeed(w)
	b.reportResults(w)
}

func (b *bench) reportSeed(w io.Writer) {
	r := &b.res
	fmt.Fprintln(w, "| Seeding | Count | Time | Rate | p50 | p99 | Sent again after a conflict |\n|---|--:|--:|--:|--:|--:|--:|")
	fmt.Fprintf(w, "| projects (API, %d clients) | %d | %v | %.0f /s | | | %d |\n", b.cfg.seedC, b.cfg.projects,
		r.seedProjects.Round(time.Millisecond), float64(b.cfg.projects)/r.seedProjects.Seconds(), r.seedProjectsRetried)
	if p := r.seedAPI; p.count > 0 {
		fmt.Fprintf(w, "| workspaces (API, %d clients) | %d | %v | %.0f creates/s | %s | %s | %d |\n", b.cfg.seedC, p.count,
			p.wall.Round(time.Millisecond), p.rate(), ms(p.pct(0.5)), ms(p.pct(0.99)), p.retried)
		fmt.Fprintf(w, "| controller catching up on them (first reconcile of each) | | %v | | | | |\n", r.settle.Round(time.Millisecond))
	}
	if p := r.seedSQL; p.count > 0 {
		fmt.Fprintf(w, "| workspaces (SQL copy, 5,000 rows a transaction) | %d | %v | %.0f rows/s | | | |\n", p.count,
			p.wall.Round(time.Millisecond), p.rate())
	}
	fmt.Fprintln(w)
}

func (b *bench) reportResults(w io.Writer) {
	r := &b.res
	fmt.Fprintln(w, "| Benchmark | Ops | p50 | p99 | mean | Throughput | CPU cores busy |\n|---|--:|--:|--:|--:|--:|--:|")
	line := func(name string, p phase, unit string) {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %.0f %s | %s |\n", name, p.count, ms(p.pct(0.5)), ms(p.pct(0.99)),
			ms(p.mean()), p.rate(), unit, p.cores())
	}
	ratio := func(name string, a, f phase) {
		fmt.Fprintf(w, "| %s | | %.1fx | %.1fx | %.1fx | %.1fx | |\n", name, x(a.pct(0.5), f.pct(0.5)),
			x(a.pct(0.99), f.pct(0.99)), x(a.mean(), f.mean()), f.rate()/a.rate())
	}
	line("list: `GET "+listPath+"` as the researcher, until the reply is read", r.list, "req/s")
	line(fmt.Sprintf("list floor: the same SQL on the same database (%d rows read)", r.rawListRows), r.rawList, "queries/s")
	ratio("**list / floor**", r.list, r.rawList)
	line("(the same list requests, until the client has also decoded the page)", r.listDecoded, "req/s")
	ratio("list and client decode / floor", r.listDecoded, r.rawList)
	begin := "BEGIN"
	if b.eng.viewTx().ReadOnly {
		begin = "BEGIN READ ONLY"
	}
	line("(for reference) the floor query in a transaction as the store runs it: "+begin+", query, COMMIT", r.txList, "queries/s")
	line("(for reference) "+b.eng.variant().label, r.variantList, "queries/s")
	if b.cfg.m > 0 {
		conns := b.db.writer.Stats().MaxOpenConnections
		line(fmt.Sprintf("create: `POST /api/v1/projects/{p}/workspaces` as admin, %d clients", b.cfg.c), r.create, "creates/s")
		line(fmt.Sprintf("create floor: one-row INSERT transactions, %d goroutines, %d connection(s) (the store's)", b.cfg.c, conns), r.rawInsert, "inserts/s")
		ratio("**create / floor**", r.create, r.rawInsert)
	}
	if r.create.retried > 0 {
		fmt.Fprintf(w, "\nOf the creates, %d requests were sent again after a 409 \"a concurrent change conflicted\" "+
			"(the store had run the transaction 10 times); each create is timed from its first try.\n", r.create.retried)
	}
	fmt.Fprintf(w, "\nThe list requests allocated %.0f KiB each in this process (server, controller and benchmark client), "+
		"with %d garbage collections in all.\n", float64(r.list.alloc)/float64(max(1, r.list.count))/1024, r.list.gcs)
	fmt.Fprintln(w, "\nRatios are API over floor: latency divided by latency, and for throughput floor rate divided by API rate "+
		"(how many times slower the API is). CPU cores busy is this process's CPU time (server, controller and "+
		"benchmark client together) over the wall time, and after the + that of the database's own processes where it has them.")
	fmt.Fprintf(w, "\n%s's plan for the list query: `%s`", b.eng.title(), r.listPlan)
	fmt.Fprintf(w, "; %s: `%s`.\n", b.eng.variant().label, r.variantPlan)
	if b.cfg.loadC > 0 && b.cfg.loadD > 0 {
		reportLoad(func(format string, a ...any) { fmt.Fprintf(w, format, a...) }, r.load, r.rawLoad, b.cfg.loadC, b.cfg.loadD)
	}
}

func x(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
