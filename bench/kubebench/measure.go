package kubebench

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Usage is what a timed part cost: wall time, CPU time and peak RSS of
// labspace and of the control plane, read from /proc.
type Usage struct {
	Wall    time.Duration
	CPCPU   time.Duration            // control plane CPU time, all programs
	CPPeak  int64                    // peak summed RSS of the control plane, bytes
	PerProc map[string]time.Duration // control plane CPU time by program
	Peaks   map[string]int64         // peak RSS by control plane program
	LsCPU   time.Duration            // the labspace process's CPU time
	LsPeak  int64                    // its peak RSS, bytes
	Self    time.Duration            // this process's CPU time: the clients and informers
}

// Measure times fn and reads, from /proc, the CPU time of the control
// plane's programs (cp) and of labspace, sampling their resident memory
// every `every` (a phase of minutes wants it coarser: sampling costs CPU).
// ls is labspace's pid, 0 for none; it is read anew at each sample
// because a timed part may restart labspace.
func Measure(cp map[string]int, ls func() int, every time.Duration, fn func() error) (Usage, error) {
	u := Usage{Peaks: map[string]int64{}}
	cp0, self0 := CPUByProc(cp), SelfCPU()
	lsPid := ls()
	ls0 := CPUOf(lsPid)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		sample := func() {
			var sum int64
			for name, pid := range cp {
				r := RSSOf(pid)
				u.Peaks[name] = max(u.Peaks[name], r)
				sum += r
			}
			u.CPPeak = max(u.CPPeak, sum)
			u.LsPeak = max(u.LsPeak, RSSOf(ls()))
		}
		for {
			sample()
			select {
			case <-done:
				// Once more at the end: a short part may fall between ticks.
				sample()
				return
			case <-t.C:
			}
		}
	})
	start := time.Now()
	err := fn()
	u.Wall = time.Since(start)
	close(done)
	wg.Wait()
	u.Self = SelfCPU() - self0
	// A restarted labspace is a new process: its CPU counts from zero.
	if pid := ls(); pid == lsPid {
		u.LsCPU = CPUOf(pid) - ls0
	} else {
		u.LsCPU = CPUOf(pid)
	}
	u.PerProc = CPUByProc(cp)
	for name, t := range u.PerProc {
		u.PerProc[name] = t - cp0[name]
		u.CPCPU += u.PerProc[name]
	}
	return u, err
}

// CPUByProc is each process's CPU time (see CPUOf), by name.
func CPUByProc(pids map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range pids {
		out[name] = CPUOf(pid)
	}
	return out
}

// CPUOf is a process's user and system CPU time, from /proc/<pid>/stat;
// 0 for pid 0 or a process gone.
func CPUOf(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// RSSOf is a process's resident memory in bytes, from /proc/<pid>/statm;
// 0 for pid 0 or a process gone.
func RSSOf(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// SelfCPU is this process's CPU time.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Cores is CPU time over wall time: how many cores were busy on average.
func Cores(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return float64(cpu) / float64(wall)
}
