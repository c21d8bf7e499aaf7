package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// facts describe the machine and the tools of the run.
type facts struct {
	loadStart               string // /proc/loadavg: 1, 5, 15 minutes
	cpus                    int
	cpu, mem, kernel, goVer string
	wrk, node, chp          string
}

func gatherFacts() facts {
	f := facts{cpus: runtime.NumCPU(), goVer: runtime.Version(), cpu: "?", mem: "?", chp: "-", loadStart: benchkit.LoadAvg()}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				f.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		if fs := strings.Fields(string(raw)); len(fs) > 1 {
			kb, _ := strconv.ParseFloat(fs[1], 64)
			f.mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	raw, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	f.kernel = strings.TrimSpace(string(raw))
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	f.wrk, _, _ = strings.Cut(strings.TrimSpace(string(out)), " Copyright")
	out, _ = exec.Command("node", "--version").Output()
	f.node = strings.TrimSpace(string(out))
	return f
}

// report prints the Markdown report: the run, the table, the goals.
func report(w io.Writer, cfg config, targets []*target, f facts) {
	fmt.Fprintf(w, "## Tool proxy: direct, bare Go proxy, labspace, configurable-http-proxy\n\n")
	fmt.Fprintf(w, "Command: `%s`  \n", benchkit.CommandLine("go run ./bench/proxy"))
	fmt.Fprintf(w, "Machine: %d CPUs (%s), %s, Linux %s; %s; %s; node %s; configurable-http-proxy %s  \n",
		f.cpus, f.cpu, f.mem, f.kernel, f.goVer, f.wrk, f.node, f.chp)
	fmt.Fprintf(w, "Settings: `wrk -t%d -c%d -d%s --latency` on 1 KiB responses and `wrk -t%d -c%d -d%s` on 10 MiB ones, "+
		"each target in turn, rounds: %d, the round with the median requests/s shown; WebSocket: %d sequential echo round trips "+
		"of 64 bytes (after %d unmeasured). Client, proxy and tool share the %d CPUs. labspace checks a researcher's bearer token "+
		"on every request. The bare Go proxy is an httputil.ReverseProxy with its defaults; \"+ buffer pool\" gives it labspace's "+
		"pool of 32 KiB copy buffers; both, and labspace, use a transport with 64 idle connections per host. \"labspace's proxy "+
		"alone\" is proxy.New over the same server's service and controller, served on an http.Server of its own (the server's "+
		"timeouts, not its mux), once with idle tracking on and once off (proxy.Options.NoActivityTracking); the two trade "+
		"places every other round.  \n",
		cfg.small.threads, cfg.small.conns, cfg.small.duration, cfg.large.threads, cfg.large.conns, cfg.large.duration,
		cfg.rounds, cfg.wsN, wsWarmup, f.cpus)
	fmt.Fprintf(w, "Load average (1, 5, 15 min) at the start: %s; at the end: %s. Other work on the machine skews every figure; "+
		"the ratios within one run hold best.\n\n", f.loadStart, benchkit.LoadAvg())
	fmt.Fprintln(w, "| target | 1 KiB req/s | × direct | × bare Go proxy | rounds (req/s) | latency avg / p50 / p99 | 10 MiB MiB/s | × direct | 10 MiB p50 / p99 | WS p50 / p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|---:|---:|---|---|")
	direct, bare := targets[iDirect], targets[iBare]
	for _, t := range targets {
		if t.skip != "" {
			fmt.Fprintf(w, "| %s | left out | | | | | | | | |\n", t.name)
			continue
		}
		s, l := median(t.small), median(t.large)
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s / %s / %s | %.0f | %s | %s / %s | %s / %s |\n",
			t.name, s.reqPerSec, ratio(s.reqPerSec, median(direct.small).reqPerSec), ratio(s.reqPerSec, median(bare.small).reqPerSec),
			spread(t.small), ms(s.avg), ms(s.p50), ms(s.p99), mibps(l), ratio(mibps(l), mibps(median(direct.large))),
			ms(l.p50), ms(l.p99), us(t.ws.p50), us(t.ws.p99))
	}
	fmt.Fprintln(w)
	goals(w, targets)
	tracking(w, targets)
	notes(w, targets)
}

// goals prints the aims of docs' Conventions against this run.
func goals(w io.Writer, targets []*target) {
	direct, bare, pooled, ls, chp := targets[iDirect], targets[iBare], targets[iPooled], targets[iLabspace], targets[iCHP]
	rps := func(t *target) float64 { return median(t.small).reqPerSec }
	fmt.Fprintln(w, "Goals:")
	r := rps(ls) / rps(bare)
	fmt.Fprintf(w, "- labspace ÷ bare Go proxy, 1 KiB req/s: %.2f (goal ≥ 0.90): %s; ÷ the bare proxy with the same buffer pool "+
		"(what labspace's checks, routing and header cleaning cost): %.2f\n", r, verdict(r >= 0.9), rps(ls)/rps(pooled))
	if chp.skip == "" {
		r = rps(ls) / rps(chp)
		fmt.Fprintf(w, "- labspace ÷ configurable-http-proxy, 1 KiB req/s: %.2f (goal ≥ 2): %s; the bare Go proxy reaches %.2f, "+
			"and on 10 MiB responses labspace reaches %.2f\n", r, verdict(r >= 2), rps(bare)/rps(chp),
			mibps(median(ls.large))/mibps(median(chp.large)))
	} else {
		fmt.Fprintf(w, "- labspace ÷ configurable-http-proxy: not measured (%s)\n", chp.skip)
	}
	lsL, dL, bL := mibps(median(ls.large)), mibps(median(direct.large)), mibps(median(bare.large))
	fmt.Fprintf(w, "- labspace ÷ direct, 10 MiB MiB/s: %.2f (aim 0.9 where the copy path allows; the bare Go proxy reaches %.2f)\n",
		lsL/dL, bL/dL)
	fmt.Fprintf(w, "- WebSocket p50 round trip: labspace %s, bare Go proxy %s, direct %s\n\n", us(ls.ws.p50), us(bare.ws.p50), us(direct.ws.p50))
}

// notes lists wrk's errors and the targets left out.
func notes(w io.Writer, targets []*target) {
	for _, t := range targets {
		if t.skip != "" {
			fmt.Fprintf(w, "- %s left out: %s\n", t.name, t.skip)
		}
		for i, r := range append(append([]wrkResult{}, t.small...), t.large...) {
			if r.problems != "" {
				size := map[bool]string{true: "1 KiB", false: "10 MiB"}[i < len(t.small)]
				fmt.Fprintf(w, "- %s, %s, a round: %s (%d requests)\n", t.name, size, r.problems, r.requests)
			}
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func mibps(r wrkResult) float64 { return r.reqPerSec * largeSize / (1 << 20) }

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + " µs"
}
