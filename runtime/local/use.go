package local

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
)

// What workloads use: GPUs from nvidia-smi, CPU and memory from one pass
// over the process table. Each reading serves every workspace for
// useSample, so idle rules and /metrics may ask for each at no extra cost.

// useSample is how long one reading serves; a CPU rate is told only when
// the reading before is at most useWindow old, so that it says what the
// workload does now, not what it did an hour ago.
const (
	useSample = 5 * time.Second
	useWindow = time.Minute
)

// Use reports what w's workload uses (runtime.Meter).
func (r *Runtime) Use(ctx context.Context, w *labspace.Workspace) runtime.Use {
	u := runtime.Unknown
	if w.Status.Admission != nil && len(w.Status.Admission.GPUDevices) > 0 {
		if use, ok := r.gpuUse.read(ctx); ok {
			for _, d := range w.Status.Admission.GPUDevices {
				if p, ok := use[d]; ok {
					u.GPUPercent = max(u.GPUPercent, p)
				}
			}
		}
	}
	st, err := r.readState(w)
	if err != nil || st.PGID == 0 {
		return u
	}
	// A sandboxed workload is everything in its PID namespace, which it
	// cannot leave; otherwise its process group.
	key := "pgid:" + strconv.Itoa(st.PGID)
	if r.isolation != IsolateNone {
		if key = pidNamespace(st.PGID); key == "" {
			return u
		}
	}
	if g, ok := r.procUse.read()[key]; ok {
		u.CPUCores, u.MemoryBytes = g.cores, g.rss
	}
	return u
}

// gpuUse caches nvidia-smi's utilisation by GPU index.
type gpuUse struct{ runtime.Sample[map[int]int] }

func (g *gpuUse) read(ctx context.Context) (map[int]int, bool) {
	return g.Get(useSample, func() (map[int]int, bool) {
		out, err := exec.CommandContext(ctx, "nvidia-smi", "--query-gpu=index,utilization.gpu", "--format=csv,noheader,nounits").Output()
		use := map[int]int{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			idx, pct, found := strings.Cut(sc.Text(), ",")
			i, err1 := strconv.Atoi(strings.TrimSpace(idx))
			p, err2 := strconv.Atoi(strings.TrimSpace(pct))
			if found && err1 == nil && err2 == nil {
				use[i] = p
			}
		}
		return use, err == nil
	})
}

// groupUse is what one PID namespace or process group uses.
type groupUse struct {
	cpu   float64 // CPU seconds, its processes' and their reaped children's
	cores float64 // CPU seconds per second since the reading before
	rss   int64
}

// procUse caches one pass over /proc, grouped by PID namespace
// ("pid:[inode]") and by process group ("pgid:N"). The CPU rate is the
// change since the reading before, when that one is recent enough to say
// what the workload does now.
type procUse struct {
	mu     sync.Mutex
	at     time.Time
	groups map[string]*groupUse
}

var (
	clockTick = 100.0 // USER_HZ: Linux reports /proc times in 1/100 s on every architecture Go supports
	pageSize  = int64(os.Getpagesize())
)

func (p *procUse) read() map[string]*groupUse {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.at) < useSample {
		return p.groups
	}
	prev, dt := p.groups, now.Sub(p.at).Seconds()
	p.at, p.groups = now, scanUse()
	for key, g := range p.groups {
		g.cores = -1
		if old, ok := prev[key]; ok && dt <= useWindow.Seconds() {
			g.cores = max(g.cpu-old.cpu, 0) / dt
		}
	}
	return p.groups
}

// scanUse sums every process's CPU time and resident memory by PID
// namespace and process group. A process's reaped children count in its
// own figures (cutime, cstime), so the sum covers the workload's whole
// history while its processes live.
func scanUse() map[string]*groupUse {
	out := map[string]*groupUse{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		pgid, cpu, rss, ok := parseStat(raw)
		if !ok {
			continue
		}
		keys := []string{"pgid:" + strconv.Itoa(pgid)}
		if ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/pid")); err == nil {
			keys = append(keys, ns)
		}
		for _, k := range keys {
			g := out[k]
			if g == nil {
				g = &groupUse{}
				out[k] = g
			}
			g.cpu += cpu
			g.rss += rss
		}
	}
	return out
}

// parseStat reads a /proc/PID/stat line: process group, CPU seconds
// (utime, stime, cutime, cstime) and resident bytes.
func parseStat(raw []byte) (pgid int, cpu float64, rss int64, ok bool) {
	i := bytes.LastIndexByte(raw, ')') // the command name may hold anything
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state): pgrp is 5, utime..cstime 14-17, rss 24.
	if len(f) < 22 {
		return 0, 0, 0, false
	}
	pgid, _ = strconv.Atoi(f[2])
	var ticks float64
	for _, s := range f[11:15] {
		n, _ := strconv.ParseFloat(s, 64)
		ticks += n
	}
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	return pgid, ticks / clockTick, pages * pageSize, true
}

// pidNamespace names pid's PID namespace as /proc does ("pid:[inode]").
func pidNamespace(pid int) string {
	ns, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns/pid"))
	return ns
}
