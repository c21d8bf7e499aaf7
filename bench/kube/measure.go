package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sample is what one round measured.
type sample struct {
	wall    time.Duration
	cpCPU   time.Duration            // control plane CPU time, all programs
	perProc map[string]time.Duration // control plane CPU time by program
	cpPeak  int64                    // peak summed RSS of the control plane, bytes
	lsCPU   time.Duration            // the labspace process's CPU time (labspace rounds)
	lsPeak  int64                    // its peak RSS, bytes
	client  time.Duration            // this process's CPU time: the clients that drive the round
}

// measure times fn and reads, from /proc, the CPU time of the control
// plane's programs and of labspace (pid; 0 when the round has none),
// sampling their resident memory every 50ms.
func measure(cp map[string]int, labspace int, fn func() error) (sample, error) {
	var s sample
	ls := map[string]int{}
	if labspace != 0 {
		ls["labspace"] = labspace
	}
	cp0, ls0, self0 := cpuByProc(cp), cpuByProc(ls), selfCPU()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.cpPeak = max(s.cpPeak, rssOf(cp))
			s.lsPeak = max(s.lsPeak, rssOf(ls))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	start := time.Now()
	err := fn()
	s.wall = time.Since(start)
	close(done)
	wg.Wait()
	s.client = selfCPU() - self0
	s.lsCPU = cpuByProc(ls)["labspace"] - ls0["labspace"]
	s.perProc = cpuByProc(cp)
	for name, t := range s.perProc {
		s.perProc[name] = t - cp0[name]
		s.cpCPU += s.perProc[name]
	}
	return s, err
}

// cpuByProc reads each process's user and system CPU time from /proc.
func cpuByProc(pids map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[name] = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
	return out
}

// rssOf sums the resident memory of the processes, from /proc.
func rssOf(pids map[string]int) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		pages, _ := strconv.ParseInt(f[1], 10, 64)
		total += pages * int64(os.Getpagesize())
	}
	return total
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
