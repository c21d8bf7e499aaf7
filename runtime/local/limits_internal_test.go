package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labspace/labspace"
)

// On a cgroup v2 host (these machines are v1, so the kernel's side is
// played by files): labspace moves itself into a leaf, hands cpu and
// memory to its subtree, and writes each workspace's limits there.
func TestCgroup2Layout(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/cgroup", "0::/system.slice/labspace.service\n")
	write("proc/self/mounts", "proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n")
	svc := "sys/fs/cgroup/system.slice/labspace.service"
	write(svc+"/cgroup.controllers", "cpuset cpu io memory pids\n")
	write(svc+"/cgroup.subtree_control", "")
	write(svc+"/labspace-server/cgroup.procs", "")

	l := detectLimits(root, "/var/lib/labspace/workspaces")
	if l.how != "cgroup v2" || l.dirs[""] != filepath.Join(root, svc) {
		t.Fatalf("detected %q in %v", l.how, l.dirs)
	}
	read := func(p string) string {
		raw, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(raw))
	}
	if got := read(svc + "/labspace-server/cgroup.procs"); got != "0" {
		t.Errorf("labspace did not move itself into its leaf: %q", got)
	}
	if got := read(svc + "/cgroup.subtree_control"); got != "+cpu +memory" {
		t.Errorf("subtree_control %q", got)
	}
	procs, data, unenforced, err := l.prepare("w1", &labspace.ComputeSpec{CPULimit: "1500m", MemoryLimit: "1Gi"})
	if err != nil || data != 0 || len(unenforced) != 0 || len(procs) != 1 || procs[0] != filepath.Join(root, svc, l.prefix+"w1", "cgroup.procs") {
		t.Fatalf("prepare: %v %d %v %v", procs, data, unenforced, err)
	}
	if got := read(svc + "/" + l.prefix + "w1/memory.max"); got != "1073741824" {
		t.Errorf("memory.max %q", got)
	}
	if got := read(svc + "/" + l.prefix + "w1/cpu.max"); got != "150000 100000" {
		t.Errorf("cpu.max %q", got)
	}

	// Without the controllers (a hybrid host's empty cgroup2), nothing.
	write(svc+"/cgroup.controllers", "")
	write("proc/self/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
	if l := detectLimits(root, "/x"); l.how != "" {
		t.Errorf("detected %q without controllers", l.how)
	}
}
