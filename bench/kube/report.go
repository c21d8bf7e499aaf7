package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// report writes the Markdown report: a section per rate setting, then a
// summary when there are several, then how it was measured.
func report(w io.Writer, n, clients int, start time.Time, results []result) {
	fmt.Fprintf(w, "# %d workspaces at once on the test cluster\n\n", n)
	fmt.Fprintf(w, "`%s`, %s, %d cores; %d clients per side; rounds %s (A: client-go, B: labspace).\n\n",
		benchkit.CommandLine("go run ./bench/kube"), start.Format("2006-01-02 15:04"), runtime.NumCPU(), clients, schedule)
	for _, res := range results {
		section(w, res)
	}
	if len(results) > 1 {
		fmt.Fprintln(w, "## Summary")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| component rates | client-go, median | labspace, median | × floor, median of pairs |")
		fmt.Fprintln(w, "|---|--:|--:|--:|")
		for _, res := range results {
			fmt.Fprintf(w, "| %s | %s | %s | %.2fx |\n", res.rates.name, ms(res.median('A').Wall), ms(res.median('B').Wall),
				median(res.ratios()))
		}
		fmt.Fprintln(w)
	}
	notes(w, clients)
}

func section(w io.Writer, res result) {
	fmt.Fprintf(w, "## %s rates\n\n", strings.ToUpper(res.rates.name[:1])+res.rates.name[1:])
	fmt.Fprintf(w, "%s. Load average after the last round: %s.\n\n", res.rates.describe(), res.load)
	header := "| all ready | × floor | control plane CPU | control plane peak RSS | labspace CPU | labspace peak RSS | this process CPU |"
	cols := "|--:|--:|--:|--:|--:|--:|--:|"
	fmt.Fprintln(w, "| round | program "+header)
	fmt.Fprintln(w, "|--:|---"+cols)
	ratios := res.ratios()
	for i, r := range res.rounds {
		ratio := "-"
		if r.side == 'B' {
			ratio = fmt.Sprintf("%.2fx", ratios[i/2])
		}
		fmt.Fprintf(w, "| %d | %s %s\n", r.index, sideName(r.side), row(r.side, r.sample, ratio))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| median of 3 "+header)
	fmt.Fprintln(w, "|---"+cols)
	fmt.Fprintf(w, "| client-go %s\n", row('A', res.median('A'), "1.00x"))
	fmt.Fprintf(w, "| labspace %s\n", row('B', res.median('B'), fmt.Sprintf("%.2fx", median(ratios))))
	fmt.Fprintln(w)
	strs := make([]string, len(ratios))
	for i, r := range ratios {
		strs[i] = fmt.Sprintf("%.2fx", r)
	}
	fmt.Fprintf(w, "× floor is labspace's time over the floor's in the same pair of rounds (1-2, 3-4, 5-6): %s; "+
		"its median is above. The ratio of the medians is %.2fx.\n\n", strings.Join(strs, ", "),
		float64(res.median('B').Wall)/float64(res.median('A').Wall))
	perProgram(w, res)
}

// row is a table row's cells after the first, "-" where a side has no value.
func row(side byte, s sample, ratio string) string {
	lsCPU, lsPeak := "-", "-"
	if side == 'B' {
		lsCPU, lsPeak = ms(s.LsCPU), mib(s.LsPeak)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |", ms(s.Wall), ratio, ms(s.CPCPU), mib(s.CPPeak), lsCPU, lsPeak, ms(s.Self))
}

// perProgram lists the control plane's CPU time by program, by round and
// the median of each side.
func perProgram(w io.Writer, res result) {
	fmt.Fprint(w, "| control plane CPU by program |")
	for _, r := range res.rounds {
		fmt.Fprintf(w, " %d %s |", r.index, sideName(r.side))
	}
	fmt.Fprintln(w, " client-go, median | labspace, median |")
	fmt.Fprintln(w, "|---|"+strings.Repeat("--:|", len(res.rounds)+2))
	var names []string
	for name := range res.rounds[0].sample.PerProc {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "| %s |", name)
		for _, r := range res.rounds {
			fmt.Fprintf(w, " %s |", ms(r.sample.PerProc[name]))
		}
		fmt.Fprintf(w, " %s | %s |\n", ms(res.median('A').PerProc[name]), ms(res.median('B').PerProc[name]))
	}
	fmt.Fprintln(w)
}

// environment says what labspace's workspaces are made from.
func environment() string {
	if noTool {
		return "an environment with no tool: each start writes the pod alone"
	}
	return "an environment with one tool behind the proxy: each start writes its tool token's Secret, then the pod"
}

func notes(w io.Writer, clients int) {
	fmt.Fprintf(w, `How it is measured:

- **Floor (client-go)**: %[1]d goroutines create bare pods (one container, 10m CPU, 16Mi) in a
  namespace new to the round, timed from creating the namespace (then waiting for its default
  service account, without which admission refuses pods) until an informer on the namespace's
  pods has seen every pod Ready. Nothing polls.
- **labspace**: the shipped binary, built once from ./cmd/labspace and started for each round
  as `+"`labspace serve --kubeconfig`"+` with a fresh data folder, signed in and given a new
  project's building blocks before the clock starts (%[4]s). %[1]d clients create the
  workspaces through the API; it is timed until labspace counts every one Running
  (labspace_workspaces in its /metrics, one indexed count in its store), confirmed by listing
  them once. labspace has no watch for that, so /metrics is read every %[2]s once nine in ten
  are counted (every %[3]s before): the time is up to %[2]s late, and answering is labspace
  CPU. (Listing the Running workspaces at every read cost more the more ran.)
  labspace also makes the project's namespace, its network policies and the objects besides
  the pod that a workspace needs; the floor makes the namespace and the pods only.
- After each round its namespace is deleted (labspace stopped first), pods first with no grace,
  and the next round starts once it is gone and the control plane has used under 0.1 core for
  a second. Each rate setting runs on a control plane of its own, started fresh.
- CPU time is read from /proc/<pid>/stat of each control plane program and of the labspace
  process over the timed part; peak RSS is sampled every 50 ms. "this process CPU" is the
  benchmark itself: its clients and, for the floor, its informer.
- There is no -cpuprofile any more: it profiled this process, and labspace no longer runs in it.
`, clients, pollEvery, pollCoarse, environment())
}

// median returns the median sample of a side's rounds, each field the
// median of that field.
func (res result) median(side byte) sample {
	var ss []sample
	for _, r := range res.rounds {
		if r.side == side {
			ss = append(ss, r.sample)
		}
	}
	dur := func(f func(sample) time.Duration) time.Duration { return medianOf(ss, f) }
	m := sample{
		Wall:    dur(func(s sample) time.Duration { return s.Wall }),
		CPCPU:   dur(func(s sample) time.Duration { return s.CPCPU }),
		LsCPU:   dur(func(s sample) time.Duration { return s.LsCPU }),
		Self:    dur(func(s sample) time.Duration { return s.Self }),
		CPPeak:  medianOf(ss, func(s sample) int64 { return s.CPPeak }),
		LsPeak:  medianOf(ss, func(s sample) int64 { return s.LsPeak }),
		PerProc: map[string]time.Duration{},
	}
	for name := range ss[0].PerProc {
		m.PerProc[name] = dur(func(s sample) time.Duration { return s.PerProc[name] })
	}
	return m
}

// ratios is labspace's wall time over the floor's, pair by pair of rounds.
func (res result) ratios() []float64 {
	var out []float64
	for i := 0; i+1 < len(res.rounds); i += 2 {
		a, b := res.rounds[i], res.rounds[i+1]
		if a.side == 'B' {
			a, b = b, a
		}
		out = append(out, float64(b.sample.Wall)/float64(a.sample.Wall))
	}
	return out
}

func medianOf[T cmp.Ordered](ss []sample, f func(sample) T) T {
	vs := make([]T, len(ss))
	for i, s := range ss {
		vs[i] = f(s)
	}
	return median(vs)
}

// median of an odd number of values (the upper middle one otherwise).
func median[T cmp.Ordered](vs []T) T {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func ms(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }

func mib(b int64) string { return fmt.Sprintf("%d MiB", b>>20) }
