package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/runtime/local"
)

// A workspace's memory and CPU limits hold on this host: its processes
// sit in cgroups of their own with those limits, and one that takes more
// memory than its limit is killed, with the reason.
func TestLimitsAreEnforced(t *testing.T) {
	f := newFixture(t, testGrace)
	if iso, _ := f.rt.Isolation(); iso == local.IsolateNone {
		t.Skip("no sandbox on this host: limits are reported, not enforced (TestUnenforcedLimitsAreSaid)")
	}
	if f.rt.Limits() == "rlimits" {
		if os.Getenv("CI") != "" && os.Geteuid() == 0 {
			t.Fatal("labspace runs as root in CI, yet found no cgroup to limit workloads with")
		}
		t.Skip("this host gives labspace no cgroup (TestUnenforcedLimitsAreSaid covers the fallback)")
	}
	w := shell(t, "capped", `exec sleep 60`)
	w.Spec.Compute.Spec.MemoryLimit, w.Spec.Compute.Spec.CPULimit = "128Mi", "250m"
	f.start(w)
	if obs := f.wait(w, runtime.Ready, startTimeout); len(obs.Warnings) != 0 {
		t.Errorf("warnings %q, want none: the limits hold", obs.Warnings)
	}
	// The sandbox joins the cgroups before it starts the workload: look
	// at the workload itself.
	pid := 0
	waitFile(t, "/proc/self/stat", func(string) bool {
		for p := range marked(t, f.dir, w.ID) {
			if cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "cmdline")); strings.HasPrefix(string(cmd), "sleep\x00") {
				pid = p
			}
		}
		return pid != 0
	})
	want := map[string]string{"memory": "134217728", "cpu": "25000"} // v1 files; v2 below
	for _, line := range strings.Split(readFile(t, filepath.Join("/proc", strconv.Itoa(pid), "cgroup")), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.HasSuffix(parts[2], "-"+w.ID) {
			continue
		}
		switch {
		case parts[1] == "memory":
			if got := strings.TrimSpace(readFile(t, "/sys/fs/cgroup/memory"+parts[2]+"/memory.limit_in_bytes")); got != want["memory"] {
				t.Errorf("memory.limit_in_bytes %s, want %s", got, want["memory"])
			}
			delete(want, "memory")
		case parts[1] == "cpu" || strings.Contains(parts[1], "cpu,"):
			if got := strings.TrimSpace(readFile(t, "/sys/fs/cgroup/"+parts[1]+parts[2]+"/cpu.cfs_quota_us")); got != want["cpu"] {
				t.Errorf("cpu.cfs_quota_us %s, want %s", got, want["cpu"])
			}
			delete(want, "cpu")
		case parts[0] == "0" && f.rt.Limits() == "cgroup v2":
			dir := "/sys/fs/cgroup" + parts[2]
			if got := strings.TrimSpace(readFile(t, dir+"/memory.max")); got != want["memory"] {
				t.Errorf("memory.max %s", got)
			}
			if got := strings.TrimSpace(readFile(t, dir+"/cpu.max")); got != "25000 100000" {
				t.Errorf("cpu.max %s", got)
			}
			want = nil
		}
	}
	if len(want) != 0 {
		t.Errorf("process %d is in no labspace cgroup for %v:\n%s", pid, want, readFile(t, filepath.Join("/proc", strconv.Itoa(pid), "cgroup")))
	}

	hog := newWorkspace(t, "hog", "python3", "-c", "x = bytearray(512 << 20); import time; time.sleep(60)")
	hog.Spec.Compute.Spec.MemoryLimit = "128Mi"
	f.start(hog)
	obs := f.wait(hog, runtime.Exited, startTimeout)
	if obs.Reason != "Killed" || !strings.Contains(obs.Message, "SIGKILL") {
		t.Errorf("a workload over its memory limit: %s (%s)", obs.Reason, obs.Message)
	}
}

// Where the host gives no cgroup, memory becomes a data-size limit and the
// CPU limit is not enforced: both are said in the observation (the
// controller turns them into Warning events), and so are the settings the
// local runtime never applies.
func TestUnenforcedLimitsAreSaid(t *testing.T) {
	dir := t.TempDir()
	rt, err := local.New(local.Options{Dir: dir, Grace: testGrace, GPUs: testGPUs, NoCgroups: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, rt: rt}
	w := shell(t, "bare", `ulimit -d > "$HOME/ulimit.txt"; exec sleep 60`)
	w.Spec.Compute.Spec.MemoryLimit, w.Spec.Compute.Spec.CPULimit = "64Mi", "1"
	w.Spec.Environment.Spec.Capabilities = []string{"NET_ADMIN"}
	f.start(w)
	obs := f.wait(w, runtime.Ready, startTimeout)
	all := strings.Join(obs.Warnings, "\n")
	for _, want := range []string{"CPU limit 1 is not enforced", "capabilities NET_ADMIN are not granted"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings %q, want one saying %q", obs.Warnings, want)
		}
	}
	iso, _ := rt.Isolation()
	if iso == local.IsolateNone {
		if !strings.Contains(all, "memory limit 64Mi is not enforced") {
			t.Errorf("warnings %q, want the memory limit said unenforced", obs.Warnings)
		}
		return
	}
	if !strings.Contains(all, "memory limit 64Mi is enforced as a data-size limit") {
		t.Errorf("warnings %q, want the memory limit's rlimit said", obs.Warnings)
	}
	if got := strings.TrimSpace(waitFile(t, filepath.Join(f.home(w), "ulimit.txt"), exists)); got != "65536" {
		t.Errorf("ulimit -d in the workload: %q, want 65536 (KiB)", got)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// A host-path data source marked read-only cannot be written through; and
// the links to data sources are made by the workload itself, so a home
// whose "data" a previous run turned into a link to a folder of root's
// does not make labspace (root) write there.
func TestDataSourcesAsTheWorkloadSeesThem(t *testing.T) {
	f := newFixture(t, testGrace)
	if iso, _ := f.rt.Isolation(); iso == local.IsolateNone {
		t.Skip("no sandbox on this host")
	}
	// root's folder is outside /tmp, which the sandbox replaces: the
	// workload's link reaches it.
	roots, err := os.MkdirTemp("/var/tmp", "roots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(roots) })
	data := t.TempDir()
	for _, d := range []string{data, roots} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := shell(t, "reader", `cat "$HOME/in/ro/hello.txt" > "$HOME/read.txt"; touch "$HOME/in/ro/x" 2>/dev/null; echo $? > "$HOME/write.txt"; exec sleep 60`)
	if err := os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Spec.DataSources = []labspace.ResolvedDataSource{{From: labspace.AssetRef{Name: "ro"},
		Spec: labspace.DataSourceSpec{Type: labspace.DataHostPath, MountPath: "/in/ro", ReadOnly: true, HostPath: &labspace.HostPathSource{Path: data}}}}
	// What a previous run of the workload could have left in its home.
	if err := os.MkdirAll(f.home(w), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(roots, filepath.Join(f.home(w), "in")); err != nil {
		t.Fatal(err)
	}
	f.start(w)
	obs := f.wait(w, runtime.Exited, startTimeout)
	if entries, _ := os.ReadDir(roots); len(entries) != 0 {
		t.Errorf("something was made in root's folder through the workload's link: %v", entries)
	}
	if obs.Reason != "ProcessExited" || !strings.Contains(obs.Message, "Permission denied") {
		t.Errorf("the start through a hostile link: %s %s", obs.Reason, obs.Message)
	}

	// Without the trap, the data source reads and does not write.
	w2 := shell(t, "reader2", `cat "$HOME/in/ro/hello.txt" > "$HOME/read.txt"; touch "$HOME/in/ro/x" 2>/dev/null; echo $? > "$HOME/write.txt"; exec sleep 60`)
	w2.Spec.DataSources = w.Spec.DataSources
	f.start(w2)
	if got := waitFile(t, filepath.Join(f.home(w2), "write.txt"), func(s string) bool { return s != "" }); strings.TrimSpace(got) == "0" {
		t.Error("the workload wrote into a read-only data source")
	}
	if got := readFile(t, filepath.Join(f.home(w2), "read.txt")); got != "hi" {
		t.Errorf("the workload read %q from the data source", got)
	}
	if _, err := os.Stat(filepath.Join(data, "x")); err == nil {
		t.Error("a file appeared in the read-only data source")
	}
}

// A start cut short between labspace's bookkeeping and the process (a kill
// -9 of the server then) leaves a state without a process: it is nothing
// that ran and died, and a start is tried again.
func TestStartCutShortIsNotADeath(t *testing.T) {
	f := newFixture(t, testGrace)
	w := shell(t, "cut", `exec sleep 60`)
	if err := os.MkdirAll(filepath.Join(f.dir, w.ID, "home"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, w.ID, "state.json"), []byte(`{"ports":{},"startedAt":"2026-01-01T00:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if obs := f.observe(w); obs.State != runtime.Absent {
		t.Fatalf("a start cut short: %s (%s), want Absent", obs.State, obs.Message)
	}
	f.start(w)
	f.wait(w, runtime.Ready, startTimeout)
}

// S9: a workload that writes without end keeps at most twice its log limit
// on disk (the log and the part before it), the newest output included,
// and a follower of the log goes on across turnovers to the end (what
// turned over twice while it lagged is gone, as with tail -F).
func TestLogsAreCapped(t *testing.T) {
	dir := t.TempDir()
	rt, err := local.New(local.Options{Dir: dir, Grace: testGrace, GPUs: testGPUs, LogLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if iso, _ := rt.Isolation(); iso == local.IsolateNone {
		t.Skip("no sandbox here: the log is trimmed when observed (trimLog)")
	}
	f := &fixture{t: t, dir: dir, rt: rt}
	w := shell(t, "noisy", `sleep 0.5; yes "a line of output that goes on and on" | head -c 5000000; printf 'THE-%s\\n' END; exec sleep 60`)
	f.start(w)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := rt.Logs(ctx, w, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got int64
	buf := make([]byte, 64<<10)
	var tail []byte
	for !strings.Contains(string(tail), "THE-END") {
		n, err := rc.Read(buf)
		if err != nil {
			t.Fatalf("the followed log ended after %d bytes: %v", got, err)
		}
		got += int64(n)
		tail = append(tail, buf[:n]...)
		if len(tail) > 1<<10 {
			tail = tail[len(tail)-1<<10:]
		}
	}
	var onDisk int64
	for _, name := range []string{"log", "log.1"} {
		st, err := os.Stat(filepath.Join(dir, w.ID, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		onDisk += st.Size()
	}
	if onDisk > 2<<20+4096 {
		t.Errorf("%d bytes of log on disk, want at most twice the 1 MiB limit", onDisk)
	}
	if got <= 1<<20 {
		t.Errorf("the follower read %d bytes: it did not go on past a turnover", got)
	}
	if !strings.Contains(readFile(t, filepath.Join(dir, w.ID, "log")), "THE-END") {
		t.Error("the newest output is not in the log")
	}
}
