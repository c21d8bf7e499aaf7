package local

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
)

// limits applies a workspace's CPU and memory limits where the host lets
// labspace: through cgroup v2 when a subtree with the cpu and memory
// controllers is labspace's to manage, through cgroup v1 when labspace may
// write its controllers (as root), and otherwise memory through
// RLIMIT_DATA and CPU not at all. What is not enforced is said (Warnings),
// never ignored.
type limits struct {
	how string // "cgroup v2", "cgroup v1" or "" (rlimits)
	// prefix names this runtime's cgroups ("labspace-<hash of its folder>-"):
	// two runtimes on one host never touch each other's.
	prefix string
	// dirs are where workspaces' cgroups go: one folder for v2, one per
	// controller ("cpu", "memory") for v1.
	dirs map[string]string
}

// detectLimits finds what this host lets the runtime in folder use.
func detectLimits(root, folder string) *limits {
	sum := sha256.Sum256([]byte(folder))
	prefix := "labspace-" + hex.EncodeToString(sum[:4]) + "-"
	if dir := cgroup2Dir(root); dir != "" {
		return &limits{how: "cgroup v2", prefix: prefix, dirs: map[string]string{"": dir}}
	}
	if dirs := cgroup1Dirs(root); dirs != nil {
		return &limits{how: "cgroup v1", prefix: prefix, dirs: dirs}
	}
	return &limits{}
}

// cgroup2Dir returns the folder under which labspace may make cgroups with
// the cpu and memory controllers on cgroup v2, or "". labspace's own
// cgroup may hold processes, so labspace moves itself into a leaf
// ("labspace-server") first: a cgroup with processes cannot hand
// controllers to children.
func cgroup2Dir(root string) string {
	own := ""
	for _, line := range readLines(filepath.Join(root, "proc/self/cgroup")) {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			own = p
		}
	}
	mount := mountOf(root, "cgroup2", "")
	if own == "" || mount == "" || !hasAll(filepath.Join(mount, own, "cgroup.controllers"), "cpu", "memory") {
		return ""
	}
	dir := filepath.Join(mount, own)
	if own != "/" && filepath.Base(own) != "labspace-server" {
		leaf := filepath.Join(dir, "labspace-server")
		if os.Mkdir(leaf, 0o755) != nil && !exists(leaf) {
			return ""
		}
		if os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte("0"), 0o644) != nil {
			return ""
		}
	} else if own != "/" {
		dir = filepath.Dir(dir)
	}
	if os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644) != nil ||
		!hasAll(filepath.Join(dir, "cgroup.subtree_control"), "cpu", "memory") {
		return ""
	}
	return dir
}

// cgroup1Dirs returns labspace's own cgroups of the v1 cpu and memory
// controllers when it may make children there, or nil.
func cgroup1Dirs(root string) map[string]string {
	own := map[string]string{}
	for _, line := range readLines(filepath.Join(root, "proc/self/cgroup")) {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			for _, c := range strings.Split(parts[1], ",") {
				own[c] = parts[2]
			}
		}
	}
	dirs := map[string]string{}
	for _, c := range []string{"cpu", "memory"} {
		mount := mountOf(root, "cgroup", c)
		if mount == "" || own[c] == "" {
			return nil
		}
		dir := filepath.Join(mount, own[c])
		probe := filepath.Join(dir, "labspace-probe")
		if err := os.Mkdir(probe, 0o755); err != nil && !exists(probe) {
			return nil
		}
		os.Remove(probe)
		dirs[c] = dir
	}
	return dirs
}

// prepare makes workspace id's cgroups with its limits and returns the
// cgroup.procs files its sandbox joins, the data-size limit it sets
// itself when there are no cgroups, and what is left unenforced.
func (l *limits) prepare(id string, c *labspace.ComputeSpec) (procs []string, dataLimit int64, unenforced []string, err error) {
	cpu, _ := labspace.MilliCPU(c.CPULimit)
	mem, _ := labspace.MemoryBytes(c.MemoryLimit)
	if l.how == "" {
		if cpu > 0 {
			unenforced = append(unenforced, fmt.Sprintf("CPU limit %s is not enforced: this host gives labspace no cgroup for its workloads", c.CPULimit))
		}
		if mem > 0 {
			unenforced = append(unenforced, fmt.Sprintf("memory limit %s is enforced as a data-size limit (RLIMIT_DATA), not on resident memory: this host gives labspace no cgroup for its workloads", c.MemoryLimit))
		}
		return nil, mem, unenforced, nil
	}
	files := map[string]map[string]string{} // controller -> file -> value
	if l.how == "cgroup v2" {
		files[""] = map[string]string{"memory.max": "max", "cpu.max": "max 100000"}
		if mem > 0 {
			files[""]["memory.max"] = strconv.FormatInt(mem, 10)
			files[""]["memory.swap.max"] = "0"
		}
		if cpu > 0 {
			files[""]["cpu.max"] = strconv.FormatInt(cpu*100, 10) + " 100000"
		}
	} else {
		files["memory"] = map[string]string{"memory.limit_in_bytes": "-1"}
		files["cpu"] = map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1"}
		if mem > 0 {
			files["memory"]["memory.limit_in_bytes"] = strconv.FormatInt(mem, 10)
		}
		if cpu > 0 {
			files["cpu"]["cpu.cfs_quota_us"] = strconv.FormatInt(cpu*100, 10)
		}
	}
	for ctl, fs := range files {
		dir := filepath.Join(l.dirs[ctl], l.prefix+id)
		if err := os.Mkdir(dir, 0o755); err != nil && !exists(dir) {
			return nil, 0, nil, err
		}
		for name, value := range fs {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o644); err != nil && !(name == "memory.swap.max" && os.IsNotExist(err)) {
				return nil, 0, nil, fmt.Errorf("%s %s: %w", l.how, name, err)
			}
		}
		procs = append(procs, filepath.Join(dir, "cgroup.procs"))
	}
	return procs, 0, nil, nil
}

// remove deletes workspace id's cgroups (only empty ones go).
func (l *limits) remove(id string) {
	for _, dir := range l.dirs {
		_ = os.Remove(filepath.Join(dir, l.prefix+id))
	}
}

// mountOf returns where a cgroup file system is mounted ("" if nowhere):
// of type fstype, with controller among its options (v1).
func mountOf(root, fstype, controller string) string {
	for _, line := range readLines(filepath.Join(root, "proc/self/mounts")) {
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != fstype {
			continue
		}
		if controller == "" || hasWord(strings.Split(f[3], ","), controller) {
			return filepath.Join(root, f[1])
		}
	}
	return ""
}

func hasAll(file string, words ...string) bool {
	raw, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	have := strings.Fields(strings.ReplaceAll(string(raw), "+", ""))
	for _, w := range words {
		if !hasWord(have, w) {
			return false
		}
	}
	return true
}

func hasWord(list []string, w string) bool {
	for _, x := range list {
		if x == w {
			return true
		}
	}
	return false
}

func readLines(file string) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// unenforcedSpec names the settings of w that the local runtime does not
// apply as the spec says, whatever the host: on Kubernetes they hold.
func unenforcedSpec(w *labspace.Workspace, iso Isolation) []string {
	var out []string
	env, c := &w.Spec.Environment.Spec, &w.Spec.Compute.Spec
	if iso == IsolateNone {
		for _, l := range [][2]string{{"CPU limit", c.CPULimit}, {"memory limit", c.MemoryLimit}} {
			if l[1] != "" {
				out = append(out, fmt.Sprintf("%s %s is not enforced: workloads run without a sandbox on this host", l[0], l[1]))
			}
		}
	}
	if env.RunAs.Source == labspace.UIDFromCustom || env.RunAs.Source == labspace.UIDFromIdP && iso != IsolateUIDs {
		who := "as a uid of its own"
		if iso == IsolateNone {
			who = "as labspace's own user"
		}
		out = append(out, fmt.Sprintf("runAs (%s) is not applied: the local runtime runs each workspace %s", env.RunAs.Source, who))
	}
	if len(env.Capabilities) > 0 {
		out = append(out, "capabilities "+strings.Join(env.Capabilities, ", ")+" are not granted: local workloads run with none")
	}
	if env.Security.AllowPrivilegeEscalation {
		out = append(out, "allowPrivilegeEscalation is not applied: local workloads can never gain privileges")
	}
	if env.Security.ReadOnlyRootFilesystem {
		out = append(out, "readOnlyRootFilesystem is not applied: a local workload writes wherever its uid may")
	}
	if c.GPUPortion != nil {
		out = append(out, "the GPU portion is not enforced: the local runtime hands out whole devices")
	}
	return out
}

// Limits says how this runtime enforces CPU and memory limits:
// "cgroup v2", "cgroup v1", or "rlimits" (memory as a data-size limit).
func (r *Runtime) Limits() string { return cmp.Or(r.limits.how, "rlimits") }
