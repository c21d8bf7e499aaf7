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
// files it may not have had time to write.
const markerVar = "LABSPACE_WORKSPACE_ID"

// scan returns, for every workspace id, the process groups whose members
// carry the marker. Processes of other users or already gone are skipped.
func scan() map[string][]int {
	out := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		id := markerOf(pid)
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

// markerOf returns the workspace id in pid's environment, or "".
func markerOf(pid int) string {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return ""
	}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if v, ok := strings.CutPrefix(string(kv), markerVar+"="); ok {
			if isZombie(pid) {
				return ""
			}
			return v
		}
	}
	return ""
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

// groupAlive reports whether any process of group pgid still runs for id.
func groupAlive(id string, pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid && markerOf(pid) == id {
			return true
		}
	}
	return false
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
