package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/labspace/labspace/proxy"
)

// trackingAim is how much idle tracking may cost on the proxy path
// (issue 12): tracking on ÷ off within 3 %.
const trackingAim = 0.03

// startLabspaceProxy serves labspace's tool proxy alone on a free port,
// over lt's service and controller, with activity tracking on or off:
// the two differ in that alone. It is made as the server makes its own
// (a tool key, the server's timeouts), without the server's mux around it.
func startLabspaceProxy(lt *labspaceTool, noTracking, verbose bool) (addr string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr = "http://" + l.Addr().String()
	level := slog.LevelError
	if verbose {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	p := proxy.New(lt.srv.Service, lt.srv.Controller, proxy.Options{PublicURL: addr, NoActivityTracking: noTracking}, logger)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	p.SetToolKey(key) // the tool ignores its token; the proxy sets it as labspace's does
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, ErrorLog: log.New(io.Discard, "", 0)} // clients that go away when wrk stops
	go func() { _ = srv.Serve(l) }()
	return addr, func() { _ = srv.Close() }, nil
}

// inTurn is the order of a round's runs: a target marked swap trades
// places with the next one every other round, so that neither of the
// tracking pair always runs right after the other.
func inTurn(live []*target, round int) []*target {
	out := slices.Clone(live)
	if round%2 == 0 {
		for i := 0; i+1 < len(out); i++ {
			if out[i].swap {
				out[i], out[i+1] = out[i+1], out[i]
				i++
			}
		}
	}
	return out
}

// tracking prints what idle tracking costs: labspace's proxy with it on
// and off, measured in the same rounds, and their ratios.
func tracking(w io.Writer, targets []*target) {
	on, off := targets[iTrackOn], targets[iTrackOff]
	fmt.Fprintln(w, "Idle tracking on the proxy path (labspace's proxy alone, the same settings, tracking on and off):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| labspace's proxy | 1 KiB req/s | rounds (req/s) | latency p50 / p99 | WS p50 / p99 |")
	fmt.Fprintln(w, "|---|---:|---|---|---|")
	for _, t := range []*target{on, off} {
		s := median(t.small)
		fmt.Fprintf(w, "| %s | %.0f | %s | %s / %s | %s / %s |\n", strings.TrimPrefix(t.name, "labspace's proxy alone, "),
			s.reqPerSec, spread(t.small),
			ms(s.p50), ms(s.p99), us(t.ws.p50), us(t.ws.p99))
	}
	sOn, sOff := median(on.small), median(off.small)
	r := []float64{sOn.reqPerSec / sOff.reqPerSec, dratio(sOn.p50, sOff.p50), dratio(sOn.p99, sOff.p99),
		dratio(on.ws.p50, off.ws.p50), dratio(on.ws.p99, off.ws.p99)}
	var rounds []string
	for i := range min(len(on.small), len(off.small)) {
		rounds = append(rounds, fmt.Sprintf("%.2f", on.small[i].reqPerSec/off.small[i].reqPerSec))
	}
	fmt.Fprintf(w, "| on ÷ off | %.3f | by round: %s | %.3f / %.3f | %.3f / %.3f |\n\n", r[0], strings.Join(rounds, ", "), r[1], r[2], r[3], r[4])
	// Tracking's cost: fewer requests/s, longer latencies.
	worst := max(1-r[0], r[1]-1, r[2]-1, r[3]-1, r[4]-1)
	best := max(r[0]-1, 1-r[1], 1-r[2], 1-r[3], 1-r[4])
	fmt.Fprintf(w, "- idle tracking, on ÷ off, 1 KiB req/s %.3f, latency p50 %.3f and p99 %.3f, WebSocket p50 %.3f and p99 %.3f "+
		"(aim: within %.0f %%): %s; its largest cost here %+.1f %%\n", r[0], r[1], r[2], r[3], r[4], trackingAim*100,
		verdict(worst <= trackingAim), worst*100)
	if best > trackingAim {
		fmt.Fprintf(w, "- a figure favours tracking on by %.1f %%: the run's noise exceeds the aim, which it cannot then resolve\n", best*100)
	}
	fmt.Fprintln(w)
}

// dratio is a ÷ b for durations (0 when b is).
func dratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
