package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// load is one wrk run's settings.
type load struct {
	threads, conns int
	duration       time.Duration
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	reqPerSec     float64
	avg, p50, p99 time.Duration
	requests      int
	problems      string // non-2xx responses, socket errors
}

func (l load) args(url, auth string) []string {
	a := []string{"-t" + strconv.Itoa(l.threads), "-c" + strconv.Itoa(l.conns),
		"-d" + strconv.Itoa(int(l.duration.Seconds())) + "s", "--timeout", "10s", "--latency"}
	if auth != "" {
		a = append(a, "-H", "Authorization: "+auth)
	}
	return append(a, url)
}

// runWrk loads url with wrk and parses its report.
func runWrk(ctx context.Context, l load, url, auth string) (wrkResult, error) {
	out, err := exec.CommandContext(ctx, "wrk", l.args(url, auth)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v: %s", url, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return r, fmt.Errorf("wrk %s: %v in:\n%s", url, err, out)
	}
	return r, nil
}

var (
	wrkAvg      = regexp.MustCompile(`(?m)^\s+Latency\s+([\d.]+[a-z]+)`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+[a-z]+)`)
	wrkReqs     = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	wrkCount    = regexp.MustCompile(`(?m)^\s+(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`(?m)^\s+Non-2xx or 3xx responses: (\d+)`)
	wrkSockErrs = regexp.MustCompile(`(?m)^\s+Socket errors: (.*)$`)
)

// parseWrk reads requests/s, the average latency and p50/p99 from wrk's
// report (run with --latency).
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkReqs.FindStringSubmatch(out)
	c := wrkCount.FindStringSubmatch(out)
	a := wrkAvg.FindStringSubmatch(out)
	if m == nil || c == nil || a == nil {
		return r, fmt.Errorf("no Requests/sec, request count or latency")
	}
	r.reqPerSec, _ = strconv.ParseFloat(m[1], 64)
	r.requests, _ = strconv.Atoi(c[1])
	var err error
	if r.avg, err = wrkDuration(a[1]); err != nil {
		return r, err
	}
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		d, err := wrkDuration(p[2])
		if err != nil {
			return r, err
		}
		if p[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	var problems []string
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		problems = append(problems, m[1]+" non-2xx")
	}
	if m := wrkSockErrs.FindStringSubmatch(out); m != nil {
		problems = append(problems, "socket errors: "+m[1])
	}
	r.problems = strings.Join(problems, "; ")
	return r, nil
}

// wrkDuration parses wrk's durations: 850.00us, 1.23ms, 1.02s, 2.00m.
func wrkDuration(s string) (time.Duration, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' })
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %v", s, err)
	}
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second,
		"m": time.Minute, "h": time.Hour}[s[i:]]
	if unit == 0 {
		return 0, fmt.Errorf("duration %q: unknown unit", s)
	}
	return time.Duration(v * float64(unit)), nil
}
