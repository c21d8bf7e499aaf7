package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
)

// Stop sends SIGTERM to w's process groups, and SIGKILL once the grace
// period since the first request has passed. The stop request is a file,
// so a restarted server keeps counting from the first one.
func (r *Runtime) Stop(ctx context.Context, w *labspace.Workspace) error {
	defer r.lock(w.ID)()
	groups := r.groups(w)
	if len(groups) == 0 {
		return nil
	}
	marker := r.file(w, "stopping")
	fi, err := os.Stat(marker)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			return err
		}
		fi, err = os.Stat(marker)
	}
	if err != nil {
		return err
	}
	sig := syscall.SIGTERM
	if time.Since(fi.ModTime()) >= r.opts.Grace {
		sig = syscall.SIGKILL
	}
	for _, g := range groups {
		_ = syscall.Kill(-g, sig)
	}
	return nil
}

// Delete kills w's processes at once and removes its folder, home included.
func (r *Runtime) Delete(ctx context.Context, w *labspace.Workspace) error {
	defer r.lock(w.ID)()
	// The whole table: Delete also ends orphans whose files are gone.
	// Scanning reads every process's environment, so not for a workspace
	// that never started here (Start makes its directory before any
	// process), and once more only when there was something to kill.
	var groups []int
	if _, err := os.Lstat(r.dir(w)); !errors.Is(err, os.ErrNotExist) {
		groups = scan(r.opts.Dir)[w.ID]
	}
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(groups) > 0 && len(scan(r.opts.Dir)[w.ID]) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of workspace %s survive SIGKILL", w.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.limits.remove(w.ID)
	if r.isolation == IsolateUIDs {
		r.release(w.ID)
	}
	return os.RemoveAll(r.dir(w))
}

// Observe reports w's state from the process table and its files.
func (r *Runtime) Observe(ctx context.Context, w *labspace.Workspace) (runtime.Observation, error) {
	defer r.lock(w.ID)()
	st, err := r.readState(w)
	if errors.Is(err, os.ErrNotExist) {
		st, err = nil, nil
	}
	if err != nil {
		return runtime.Observation{}, err
	}
	_, stopErr := os.Stat(r.file(w, "stopping"))
	stopping := stopErr == nil
	if len(r.groups(w)) > 0 {
		if r.isolation == IsolateNone {
			r.trimLog(w)
		}
		if stopping {
			return runtime.Observation{State: runtime.Stopping, Reason: "Stopping", Message: "Waiting for the processes to exit."}, nil
		}
		return r.readiness(w, st), nil
	}
	if st != nil {
		// A run ended: its cgroups go (a start makes them again). Without a
		// state nothing ran since, and no look at a stopped workspace costs
		// a system call for them.
		r.limits.remove(w.ID)
	}
	if st == nil || stopping || st.PGID == 0 {
		// Nothing runs, and whatever ran was stopped on purpose; or it
		// never ran: labspace stopped between writing the state and
		// starting the process (the process id comes after), and a start
		// is to be tried again, not reported as a death.
		_ = os.Remove(r.file(w, "state.json"))
		_ = os.Remove(r.file(w, "stopping"))
		return runtime.Observation{State: runtime.Absent}, nil
	}
	code, err := os.ReadFile(r.file(w, "exit"))
	reason, msg := "Killed", "The process was killed (by a signal or the out-of-memory killer)."
	if c := strings.TrimSpace(string(code)); err == nil && c != "" {
		reason, msg = exitReason(c)
	}
	if tail := r.tail(w, 10); tail != "" {
		msg += " Last lines:\n" + tail
	}
	return runtime.Observation{State: runtime.Exited, Reason: reason, Message: msg, StartedAt: st.StartedAt}, nil
}

// exitReason explains an exit code the workload's shell recorded: codes
// above 128 are the signal that killed the command (the shell lived on).
func exitReason(code string) (string, string) {
	n, err := strconv.Atoi(code)
	if err != nil || n <= 128 || n > 128+64 {
		return "ProcessExited", "The process exited with code " + code + "."
	}
	sig := syscall.Signal(n - 128)
	msg := fmt.Sprintf("The process was killed by signal %d (%s).", n-128, sig)
	if sig == syscall.SIGKILL {
		msg = "The process was killed by SIGKILL: the out-of-memory killer, or someone on this host."
	}
	return "Killed", msg
}

// readiness is Ready once every tool's port accepts connections. A tool
// of a running workspace gets longer to answer (a loaded host is slow,
// not starting), and one that stops answering makes it Degraded.
func (r *Runtime) readiness(w *labspace.Workspace, st *state) runtime.Observation {
	if st == nil {
		// Adopted before its state was written: its ports are unknown.
		return runtime.Observation{State: runtime.Starting, Reason: "Adopting", Message: "The process runs but its ports are not known yet."}
	}
	obs := runtime.Observation{State: runtime.Ready, Tools: map[string]string{}, Warnings: st.Warnings}
	obs.StartedAt = st.StartedAt
	var waiting []string
	running := w.Status.Phase == labspace.PhaseRunning || w.Status.Phase == labspace.PhaseDegraded
	timeout := 200 * time.Millisecond
	if running {
		timeout = 2 * time.Second
	}
	for tool, port := range st.Ports {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		obs.Tools[tool] = "http://" + addr
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			waiting = append(waiting, tool)
			continue
		}
		c.Close()
	}
	sort.Strings(waiting)
	switch {
	case len(waiting) > 0 && running:
		obs.State, obs.Reason = runtime.Degraded, "ToolsNotAnswering"
		obs.Message = strings.Join(waiting, ", ") + " stopped answering; the process still runs."
	case len(waiting) > 0:
		obs.State, obs.Reason = runtime.Starting, "ToolsStarting"
		obs.Message = "Waiting for " + strings.Join(waiting, ", ") + " to answer."
	}
	return obs
}

// tail returns the last n lines of w's log.
func (r *Runtime) tail(w *labspace.Workspace, n int) string {
	raw, err := os.ReadFile(r.file(w, "log"))
	if err != nil {
		return ""
	}
	if len(raw) > 64<<10 {
		raw = raw[len(raw)-64<<10:]
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Capacity is this host's GPUs, cores and memory.
func (r *Runtime) Capacity(ctx context.Context) (runtime.Capacity, error) {
	c := runtime.Capacity{GPUs: r.gpus, MilliCPU: int64(goruntime.NumCPU()) * 1000, MemoryBytes: memTotal()}
	host, _ := os.Hostname()
	c.Nodes = []runtime.Node{{Name: host, GPUs: len(c.GPUs), MilliCPU: c.MilliCPU, MemoryBytes: c.MemoryBytes}}
	return c, nil
}

// Workloads lists the workspaces with processes in the process table.
func (r *Runtime) Workloads(ctx context.Context) ([]string, error) {
	var ids []string
	for id := range scan(r.opts.Dir) {
		ids = append(ids, id)
	}
	return ids, nil
}

// Logs returns w's log; with follow, new output keeps coming until ctx ends.
func (r *Runtime) Logs(ctx context.Context, w *labspace.Workspace, follow bool) (io.ReadCloser, error) {
	f, err := os.Open(r.file(w, "log"))
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil || !follow {
		return f, err
	}
	return &follower{ctx: ctx, f: f, path: r.file(w, "log")}, nil
}

// follower reads a growing file until its context ends, and goes on with
// the new file when the log turns over (limits: cappedLog, trimLog).
type follower struct {
	ctx  context.Context
	f    *os.File
	path string
}

func (t *follower) Read(p []byte) (int, error) {
	for {
		n, err := t.f.Read(p)
		if n > 0 || (err != nil && err != io.EOF) {
			return n, err
		}
		t.turnOver()
		select {
		case <-t.ctx.Done():
			return 0, io.EOF
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// turnOver follows the log to its new file, or to its start when it was
// emptied in place.
func (t *follower) turnOver() {
	cur, err1 := t.f.Stat()
	now, err2 := os.Stat(t.path)
	if err1 != nil || err2 != nil {
		return
	}
	if !os.SameFile(cur, now) {
		if f, err := os.Open(t.path); err == nil {
			t.f.Close()
			t.f = f
		}
		return
	}
	if off, err := t.f.Seek(0, io.SeekCurrent); err == nil && off > cur.Size() {
		_, _ = t.f.Seek(0, io.SeekStart)
	}
}

// trimLog keeps the log of a workload without a sandbox (which turns its
// log over itself) within the limit: past it, the log is copied to log.1
// and emptied in place (its writer appends, and goes on at the start).
func (r *Runtime) trimLog(w *labspace.Workspace) {
	st, err := os.Stat(r.file(w, "log"))
	if err != nil || st.Size() <= r.opts.LogLimit {
		return
	}
	raw, err := os.ReadFile(r.file(w, "log"))
	if err != nil {
		return
	}
	if os.WriteFile(r.file(w, "log.1"), raw, 0o600) == nil {
		_ = os.Truncate(r.file(w, "log"), 0)
	}
}

func (t *follower) Close() error { return t.f.Close() }

// discoverGPUs asks nvidia-smi for the GPU indexes; none without it.
func discoverGPUs() []int {
	out, err := exec.Command("nvidia-smi", "--query-gpu=index", "--format=csv,noheader").Output()
	if err != nil {
		return nil
	}
	var gpus []int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if i, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			gpus = append(gpus, i)
		}
	}
	return gpus
}

func memTotal() int64 {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
