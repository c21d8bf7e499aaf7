package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// serve is the workload: an HTTP server on 127.0.0.1:port, ready as soon
// as it listens.
func serve(port string) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return err
	}
	return http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	}))
}

// How a bare process is spawned.
type spawnHow int

const (
	spawnDirect   spawnHow = iota
	spawnShell             // under a shell, as the local runtime's exit-code wrapper
	spawnIsolated          // in new PID and mount namespaces, as another uid (root) or in a user namespace
)

// spawnOnce starts exe serving on a free port, as how says, and returns
// how long until the port accepts a connection (the runtime's readiness
// test). The process keeps running; the caller ends it.
func spawnOnce(exe string, how spawnHow) (time.Duration, *exec.Cmd, error) {
	port, err := benchkit.FreePort()
	if err != nil {
		return 0, nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	start := time.Now()
	cmd := exec.Command(exe, "-serve", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	switch how {
	case spawnShell:
		cmd = exec.Command("/bin/sh", "-c", `"$@"; echo $? > /dev/null`, "labspace-workload", exe, "-serve", strconv.Itoa(port))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	case spawnIsolated:
		// The floor of any sandbox: the namespaces and the uid, without
		// labspace's mounts and re-executed binary.
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
		if os.Geteuid() == 0 {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 899999, Gid: 899999, Groups: []uint32{}}
		} else {
			cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
			cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
			cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		}
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return time.Since(start), cmd, nil
		}
		if time.Since(start) > 10*time.Second {
			stopAll([]*exec.Cmd{cmd})
			return 0, nil, fmt.Errorf("%s did not answer on %s within 10s: %v", exe, addr, err)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// spawnMany spawns n processes one after another, keeping them all
// running as the workspaces do, and ends them at the end.
func spawnMany(exe string, n int, how spawnHow) ([]time.Duration, error) {
	var cmds []*exec.Cmd
	defer func() { stopAll(cmds) }()
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		d, cmd, err := spawnOnce(exe, how)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
		out = append(out, d)
	}
	return out, nil
}

// stopAll kills the process groups of cmds and reaps them.
func stopAll(cmds []*exec.Cmd) {
	for _, c := range cmds {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
}

// survivors returns the live processes that carry the runtime's marker
// for dir (LABSPACE_RUNTIME_DIR), read from the process table itself.
func survivors(dir string) []int {
	want := []byte("LABSPACE_RUNTIME_DIR=" + dir)
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); err != nil || i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue // gone, or exited and not yet reaped
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// reap kills what survives of the workloads of the runtime in dir (this
// run's own processes) and says how many there were.
func reap(dir string) int {
	pids := survivors(dir)
	for _, pid := range pids {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return len(pids)
}
