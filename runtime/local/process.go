package local

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// markerVar is set in every workload's environment, so that after a restart
// labspace finds its processes in the process table (/proc), not only in
// files it may not have had time to write. ownerVar names the runtime's
// folder, so that two labspace servers on one host (or two tests) never
// take each other's processes for their own.
const (
	markerVar = "LABSPACE_WORKSPACE_ID"
	ownerVar  = "LABSPACE_RUNTIME_DIR"
)

// scan returns, for every workspace id, the process groups whose members
// carry the marker of the runtime in dir. Processes of other users or
// already gone are skipped.
func scan(dir string) map[string][]int {
	out := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		id := markerOf(pid, dir)
		if id == "" {
			continue
		}
		pgid, err := syscall.Getpgid(pid)
		if err != nil {
			continue
		}
		if !contains(out[id], pgid) {
			out[id] = append(out[id], pgid)
		}
	}
	return out
}

// markerOf returns the workspace id in pid's environment when pid belongs
// to the runtime in dir, or "".
func markerOf(pid int, dir string) string {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return ""
	}
	id, owned := "", false
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if v, ok := strings.CutPrefix(string(kv), markerVar+"="); ok {
			id = v
		} else if v, ok := strings.CutPrefix(string(kv), ownerVar+"="); ok {
			owned = v == dir
		}
	}
	if id == "" || !owned || isZombie(pid) {
		return ""
	}
	return id
}

// isZombie reports whether pid has exited but not been reaped.
func isZombie(pid int) bool {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(raw, ')')
	return i < 0 || i+2 >= len(raw) || raw[i+2] == 'Z' || raw[i+2] == 'X'
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
