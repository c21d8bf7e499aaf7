package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/bench/kubebench"
)

// report writes the Markdown report: every figure in tables, then how it
// was measured. A figure not reached (the run failed) shows as "-".
func report(w io.Writer, r results, failure error) {
	o, ls := r.o, r.ls
	fmt.Fprintf(w, "# %d workspaces on %d kwok nodes in %d projects, one labspace process\n\n", o.workspaces, o.nodes, o.projects)
	host, _ := os.Hostname()
	fmt.Fprintf(w, "`%s`, %s, %s, %d cores, %s RAM; load average at the end %s. Default component rates.\n\n",
		benchkit.CommandLine("go run ./bench/kubescale"), r.started.UTC().Format("2006-01-02 15:04 MST"), host,
		runtime.NumCPU(), memTotal(), r.load)
	if failure != nil {
		fmt.Fprintf(w, "**The run failed:** `%s`\n\n", firstLine(failure.Error()))
	}
	fmt.Fprintf(w, "Control plane start with %d nodes Ready: %s. One round of each side.\n\n", o.nodes, secs(r.nodesUp))

	fmt.Fprintln(w, "## Start: all Running")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| side | all ready | × floor | control plane CPU (cores) | control plane peak RSS | labspace CPU (cores) | labspace peak RSS | this process CPU |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|")
	f, s := r.floor, ls.start
	fmt.Fprintf(w, "| client-go floor, %d pods | %s | 1.00x | %s | %s | - | - | %s |\n", o.workspaces, secs(f.Wall),
		cpu(f.CPCPU, f.Wall), mib(f.CPPeak), secs(f.Self))
	ratio := "-"
	if f.Wall > 0 && s.Wall > 0 {
		ratio = fmt.Sprintf("%.2fx", float64(s.Wall)/float64(f.Wall))
	}
	fmt.Fprintf(w, "| labspace, %d workspaces | %s | %s | %s | %s | %s | %s | %s |\n\n", o.workspaces, secs(s.Wall), ratio,
		cpu(s.CPCPU, s.Wall), mib(s.CPPeak), cpu(s.LsCPU, s.Wall), mib(s.LsPeak), secs(s.Self))
	byProgram(w, f, s)
	fmt.Fprintf(w, "Floor namespaces deleted (pods first, no grace) and gone in %s.\n\n", secs(r.floorDrop))

	fmt.Fprintln(w, "## labspace at scale")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| figure | value |")
	fmt.Fprintln(w, "|---|--:|")
	row := func(k, v string) { fmt.Fprintf(w, "| %s | %s |\n", k, v) }
	a, b := ls.atRest, ls.withStopped
	row("labspace's pods all Ready (informer, from the first create)", secs(ls.podsReady))
	row("labspace lists them all Running", secs(ls.start.Wall))
	row("controller queue, deepest during the start (sampled each second)", fmt.Sprintf("%.0f", ls.peakQueue))
	row(fmt.Sprintf("RSS at rest, %d Running (median of a minute; range)", o.workspaces), mibRange(a.rss, a.rssLo, a.rssHi))
	row("Go heap in use at rest (median; range)", mibRange(a.heap, a.heapLo, a.heapHi))
	row("CPU at rest; controller passes a second", restCores(a))
	row(fmt.Sprintf("%d stopped workspaces created and listed Stopped in", o.stopped), secs(ls.stoppedCreated))
	row(fmt.Sprintf("RSS with %d Running + %d Stopped (median; range)", o.workspaces, o.stopped), mibRange(b.rss, b.rssLo, b.rssHi))
	row("Go heap in use with them (median; range)", mibRange(b.heap, b.heapLo, b.heapHi))
	row("CPU at rest with them; controller passes a second", restCores(b))
	if o.stopped > 0 && b.rss > 0 {
		// Within the garbage collector's swing the delta says nothing but "below it".
		row("RSS per stopped workspace (delta of medians / stopped)", kib(float64(b.rss-a.rss)/float64(o.stopped)))
		row("Go heap per stopped workspace (delta of medians / stopped)", kib(float64(b.heap-a.heap)/float64(o.stopped)))
	}
	if o.workspaces > 0 && a.rss > 0 {
		row("RSS per running workspace (RSS at rest / running, an upper bound)", kib(float64(a.rss)/float64(o.workspaces)))
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "## List latency with %d visible (admin, sequential, loopback)\n\n", o.workspaces)
	fmt.Fprintln(w, "| request | n | p50 | p99 | body |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|")
	for _, l := range ls.lists {
		body := "-"
		if l.bytes > 0 {
			body = fmt.Sprintf("%d KiB", l.bytes>>10)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", l.what, l.n, msec(l.p50), msec(l.p99), body)
	}
	fmt.Fprintln(w)

	rs := ls.restart
	fmt.Fprintf(w, "## Restart with %d Running and %d Stopped\n\n", o.workspaces, o.stopped)
	fmt.Fprintln(w, "| figure | value |")
	fmt.Fprintln(w, "|---|--:|")
	row("exit after SIGTERM", msec(rs.exit))
	row("new process healthy and admin signed in", msec(rs.healthy))
	row("re-adopted: every workspace listed in its phase, had a controller pass, queue empty", msec(rs.adopted))
	row("labspace CPU until re-adopted (cores)", cpu(rs.use.LsCPU, rs.use.Wall))
	row("labspace peak RSS until re-adopted", mib(rs.use.LsPeak))
	row("control plane CPU until re-adopted (cores)", cpu(rs.use.CPCPU, rs.use.Wall))
	row("pods before", fmt.Sprint(rs.pods))
	row("pods recreated (same name, new UID) / gone / new", fmt.Sprintf("%d / %d / %d", rs.recreated, rs.gone, rs.added))
	fmt.Fprintln(w)
	notes(w, o)
}

// byProgram lists the control plane's CPU time and peak RSS by program.
func byProgram(w io.Writer, f, s kubebench.Usage) {
	var names []string
	for name := range f.PerProc {
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintln(w, "| control plane program | floor CPU | floor peak RSS | labspace CPU | labspace peak RSS |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|")
	for _, n := range names {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", n, secs(f.PerProc[n]), mib(f.Peaks[n]), secs(s.PerProc[n]), mib(s.Peaks[n]))
	}
	fmt.Fprintln(w)
}

func notes(w io.Writer, o opts) {
	fmt.Fprintf(w, `How it is measured:

- **Cluster**: etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok from
  runtime/kube/kubetest on this machine, component rates as clusters ship (scheduler 50,
  controller manager 20 requests/s); %[1]d kwok nodes of 16 cores, 64Gi and 110 pods.
- **Floor**: %[4]d goroutines make %[3]d namespaces, wait for their default service accounts,
  then create %[2]d bare pods (10m CPU, 16Mi) spread over them with client-go; timed from the
  first namespace until informers have seen every pod Ready (nothing polls). Its namespaces are
  then deleted, pods first with no grace, and labspace starts once they are gone.
- **labspace**: the shipped binary, `+"`labspace serve --kubeconfig`"+`, one process. Projects
  (quota 1000 cores, 4Ti: far above need, so admission checks but never refuses), a global compute
  resource (10m, 16Mi) and environment are made before the clock; %[4]d clients create the
  %[2]d workspaces through the API, timed until labspace's /metrics counts them all Running
  (labspace_workspaces{phase="Running"}, read every 5 s until nine in ten are counted, then
  once a second: up to 1 s late; the same reading gives the controller's queue. Each read
  writes six series per running workspace, 60,000 lines at 10,000, so reading it every second
  all along cost labspace a tenth of its CPU), confirmed by paging through
  GET /api/v1/workspaces?phase=Running once. (Paging through them every second instead cost labspace more the more were Running.)
- **At rest**: after the controller's queue is empty and 10 s more, RSS from /proc and
  go_memstats_heap_inuse_bytes from /metrics, every 6 s for a minute (medians), and CPU over
  that minute, which holds one of the controller's minute-long resyncs. The same after %[5]d workspaces created with "desiredPhase": "Stopped".
- **Latency**: sequential requests with the admin's token (the web page: its session cookie,
  signed in through the login form), timed by the client to the end of the body.
- **Restart**: SIGTERM, then a new process on the same data folder; re-adopted once the API
  lists every workspace in its phase again and labspace_controller_queue_depth is 0. Every pod's
  UID is read before and (10 s after re-adoption) after.
- One round of each side: a round at this size takes many minutes.
`, o.nodes, o.workspaces, o.projects, o.clients, o.stopped)
}

func restCores(r rest) string {
	if r.rss == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f cores; %.0f passes/s", r.cores, r.passesPerSec)
}

func mibRange(mid, lo, hi int64) string {
	if mid == 0 {
		return "-"
	}
	return fmt.Sprintf("%d MiB; %d-%d", mid>>20, lo>>20, hi>>20)
}

func memTotal() string {
	raw, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(v, &kb)
			return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return "?"
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(100 * time.Millisecond).String()
}

func msec(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Second {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// cpu is CPU time and, in brackets, the cores it kept busy on average.
func cpu(t, wall time.Duration) string {
	if wall == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%.2f)", secs(t), kubebench.Cores(t, wall))
}

func mib(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }
