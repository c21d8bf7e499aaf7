package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// report prints the Markdown report.
func report(w io.Writer, cfg config, res results) {
	fmt.Fprintf(w, "## Workspace start latency, local runtime\n\n")
	fmt.Fprintf(w, "Command: `%s`  \n", benchkit.CommandLine("go run ./bench/start"))
	fmt.Fprintf(w, "Machine: %s; load average (1, 5, 15 min) at the start %s, at the end %s  \n", machine(), res.loadStart, benchkit.LoadAvg())
	fmt.Fprintf(w, "Workload: a copy of this binary run as an HTTP server on $(PORT), ready as soon as it listens; labspace runs it in its sandbox. "+
		"%d workspaces created one after another (desiredPhase Running, compute 10m/16Mi, no quota), each polled "+
		"every %s with GET until Running; all stay running until the end, as the bare processes do. The controller's "+
		"transition poll is its default (5 ms after a start, doubling up to 50 ms).\n\n", cfg.n, cfg.poll)
	var totals []time.Duration
	for _, s := range res.starts {
		totals = append(totals, s.total())
	}
	ls, direct, shell := summarize(totals), summarize(res.direct), summarize(res.shell)
	fmt.Fprintln(w, "| measure | n | p50 | p99 | mean | p50 × bare | p99 × bare | mean × bare |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	row := func(name string, s stats) {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", name, s.n, ms(s.p50), ms(s.p99), ms(s.mean),
			ratio(s.p50, direct.p50), ratio(s.p99, direct.p99), ratio(s.mean, direct.mean))
	}
	row("labspace: create request → Running seen", ls)
	row("bare: exec → port answers", direct)
	row("bare under /bin/sh -c", shell)
	row("bare in new PID and mount namespaces as another uid (a sandbox's floor)", summarize(res.isolated))
	fmt.Fprintln(w)
	breakdown(w, res.starts, cfg.poll)
	n := min(10, len(totals))
	fmt.Fprintf(w, "Trend: the first %d starts average %s, the last %d (with %d workspaces running) %s.  \n",
		n, ms(summarize(totals[:n]).mean), n, len(totals)-1, ms(summarize(totals[len(totals)-n:]).mean))
	fmt.Fprintf(w, "Teardown: %d workspaces deleted (DELETE each, then wait until the list is empty) in %s; "+
		"workload processes left: %d.\n", len(res.starts), ms(res.deleted), res.left)
}

// breakdown prints where the time goes, from the server's event times.
func breakdown(w io.Writer, starts []sample, poll time.Duration) {
	var segs [4][]time.Duration
	for _, s := range starts {
		if seg, ok := s.segments(); ok {
			for i, d := range seg {
				segs[i] = append(segs[i], d)
			}
		}
	}
	what := [4][2]string{
		{"request → Created event", "API: token check, validation, insert, event"},
		{"Created → Initializing (admitted)", "controller queue pick-up, runtime observation (a /proc scan), admission"},
		{"Initializing → Running", "spawn (another /proc scan, files, fork/exec), then the controller's next look (5 ms after the start, doubling), " +
			"observation with the readiness dial, status write"},
		{"Running → seen by the client", "the client's " + poll.String() + " poll and one GET"},
	}
	fmt.Fprintln(w, "Where the time goes (the server's event times; same clock, same process):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| segment | n | p50 | p99 | mean | what happens |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
	for i, ds := range segs {
		s := summarize(ds)
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", what[i][0], s.n, ms(s.p50), ms(s.p99), ms(s.mean), what[i][1])
	}
	fmt.Fprintln(w)
}

// machine describes the CPUs, memory, kernel and Go.
func machine() string {
	cpu, mem := "?", "?"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		if fs := strings.Fields(string(raw)); len(fs) > 1 {
			kb, _ := strconv.ParseFloat(fs[1], 64)
			mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d CPUs (%s), %s, Linux %s, %s", runtime.NumCPU(), cpu, mem, strings.TrimSpace(string(kernel)), runtime.Version())
}

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fx", float64(a)/float64(b))
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}
