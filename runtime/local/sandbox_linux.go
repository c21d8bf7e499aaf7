package local

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sandboxHome is where a sandboxed workload finds its home: /home is an
// empty tmpfs in the sandbox (other users' homes are not there), so the
// path is reachable whatever folders hold the data directory on the host.
const sandboxHome = "/home/workspace"

// The labspace binary becomes a workload's sandbox when started under
// sandboxArg0: this runs before main (and before a test's TestMain), so any
// binary that runs the local runtime can be its own sandbox.
func init() {
	if filepath.Base(os.Args[0]) != sandboxArg0 || os.Getenv(sandboxEnv) == "" {
		return
	}
	os.Exit(sandboxMain(os.Args[1:]))
}

// sandboxAttr is how labspace starts the sandbox: new PID and mount
// namespaces, and with IsolateUserNS a user namespace where labspace's uid
// is root (the sandbox gives up every capability before the workload runs).
func sandboxAttr(mode Isolation) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
	if mode == IsolateUserNS {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	return attr
}

// sandboxMain runs in the sandbox's new namespaces, as their PID 1: it
// hides the data directory and /home, binds the workload's home and /tmp,
// mounts a /proc that shows only the sandbox, drops every privilege, runs
// argv, reaps what it leaves, and records its exit code.
func sandboxMain(argv []string) int {
	goruntime.LockOSThread() // privileges dropped below are the thread's, and the fork happens from it
	fail := func(step string, err error) int {
		fmt.Fprintf(os.Stderr, "labspace sandbox: %s: %v\n", step, err)
		return 126
	}
	if os.Getpid() != 1 {
		// Started by hand, not by the runtime in namespaces of its own: its
		// mounts would change the host's.
		return fail("namespaces", fmt.Errorf("the sandbox runs only as PID 1 of a new PID namespace"))
	}
	var cfg sandboxConfig
	if err := json.Unmarshal([]byte(os.Getenv(sandboxEnv)), &cfg); err != nil {
		return fail("configuration", err)
	}
	if len(argv) == 0 {
		return fail("command", fmt.Errorf("none"))
	}
	unix.CloseOnExec(3)
	for _, procs := range cfg.Cgroups {
		// "0" is the writer itself; what it starts stays in.
		if err := os.WriteFile(procs, []byte("0"), 0o644); err != nil {
			return fail("limits", err)
		}
	}
	if err := mountSandbox(&cfg); err != nil {
		return fail("mounts", err)
	}
	if err := dropPrivileges(Isolation(cfg.Mode)); err != nil {
		return fail("privileges", err)
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, sandboxEnv+"=") {
			env = append(env, kv)
		}
	}
	argv = append([]string{"/bin/sh", "-c", workloadScript(&cfg), "labspace-workload"}, argv...)
	attr := &syscall.SysProcAttr{}
	if Isolation(cfg.Mode) == IsolateUIDs {
		groups := []uint32{}
		for _, g := range cfg.Groups {
			groups = append(groups, uint32(g))
		}
		attr.Credential = &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.GID), Groups: groups}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// The workload writes into a pipe; the sandbox keeps the log within
	// its limit (S9: a noisy job filled the disk).
	out, in, err := os.Pipe()
	if err != nil {
		return fail("log", err)
	}
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Dir: cfg.Dir, Env: env,
		Files: []*os.File{os.Stdin, in, in}, Sys: attr})
	in.Close()
	if err != nil {
		return fail("start "+argv[0], err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&cappedLog{f: os.Stdout, name: "log", limit: cfg.LogLimit}, out)
	}()
	go func() {
		for s := range sigs {
			_ = p.Signal(s)
		}
	}()
	code := reap(p.Pid)
	select { // what the workload wrote last, unless a child it left holds the pipe
	case <-copied:
	case <-time.After(time.Second):
	}
	if f, err := unix.Openat(3, cfg.Exit, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600); err == nil {
		_, _ = unix.Write(f, []byte(strconv.Itoa(code)+"\n"))
		unix.Close(f)
	}
	return 0 // the workload's code is in the exit file; leaving kills what it left behind
}

// cappedLog writes a workload's output to its log (in the folder open as
// fd 3), and when the log would pass limit, renames it to <name>.1 (the
// part before, replacing an older one) and starts a new one: the tail is
// kept, at most twice the limit.
type cappedLog struct {
	f     *os.File
	name  string
	limit int64
	size  int64
	sized bool
}

func (l *cappedLog) Write(p []byte) (int, error) {
	if !l.sized {
		if st, err := l.f.Stat(); err == nil {
			l.size = st.Size()
		}
		l.sized = true
	}
	if l.limit > 0 && l.size+int64(len(p)) > l.limit {
		if err := unix.Renameat(3, l.name, 3, l.name+".1"); err == nil {
			if fd, err := unix.Openat(3, l.name, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600); err == nil {
				l.f.Close()
				l.f, l.size = os.NewFile(uintptr(fd), l.name), 0
				n, _ := fmt.Fprintf(l.f, "labspace: the log reached %d MiB; what came before is in %s.1\n", l.limit>>20, l.name)
				l.size += int64(n)
			}
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return len(p), err
}

// mountSandbox builds the workload's view of the file system.
func mountSandbox(cfg *sandboxConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	// Every source is opened before anything is hidden.
	binds := make([]int, len(cfg.Binds))
	for i, b := range cfg.Binds {
		fd, err := unix.Open(b.Path, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("data source %s: %w", b.Path, err)
		}
		binds[i] = fd
	}
	home, err := unix.Open(cfg.Home, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open home: %w", err)
	}
	tmp, err := unix.Open(cfg.Tmp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open tmp: %w", err)
	}
	// /sys/fs/cgroup goes too: a workload must not raise its own limits.
	const hidden = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	var covers []int // the covers, open: /tmp may lie over one of them below
	for _, h := range outermost(append(cfg.Hide, "/home", "/sys/fs/cgroup")) {
		if _, err := os.Stat(h); err != nil {
			continue
		}
		if err := unix.Mount("tmpfs", h, "tmpfs", hidden, "mode=0755,size=64k"); err != nil {
			return fmt.Errorf("hide %s: %w", h, err)
		}
		fd, err := unix.Open(h, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("hide %s: %w", h, err)
		}
		covers = append(covers, fd)
	}
	if err := bindFD(tmp, "/tmp"); err != nil {
		return err
	}
	// Mount points first, then the covers go read-only: in a user
	// namespace the workload owns them, and must not write where the data
	// directory seems to be.
	if err := os.MkdirAll(sandboxHome, 0o755); err != nil {
		return err
	}
	for i, b := range cfg.Binds {
		if err := mountPoint(binds[i], b.Path); err != nil {
			return fmt.Errorf("data source %s: %w", b.Path, err)
		}
	}
	for _, fd := range covers {
		if err := unix.Mount("", "/proc/self/fd/"+strconv.Itoa(fd), "", unix.MS_REMOUNT|unix.MS_RDONLY|hidden, ""); err != nil {
			return fmt.Errorf("hide: read-only: %w", err)
		}
		unix.Close(fd)
	}
	if err := bindFD(home, sandboxHome); err != nil {
		return err
	}
	for i, b := range cfg.Binds {
		if err := bindAt(binds[i], b.Path, b.ReadOnly); err != nil {
			return fmt.Errorf("data source %s: %w", b.Path, err)
		}
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}

// workloadScript is what the workload's shell does before it becomes the
// command: as the workload, it makes the data sources' links and the
// working folder in its home (labspace, root, never follows paths there),
// sets the data-size limit when there are no cgroups (on the workload
// only: the sandbox's Go runtime reserves more), and looks the command up
// in PATH, passing over folders it cannot enter (root's own).
func workloadScript(cfg *sandboxConfig) string {
	var steps []string
	if cfg.DataLimit > 0 {
		steps = append(steps, "ulimit -d "+strconv.FormatInt(cfg.DataLimit>>10, 10))
	}
	for _, b := range cfg.Binds {
		if b.Link != "" {
			steps = append(steps, "mkdir -p "+quote(filepath.Dir(b.Link)), "ln -sfn "+quote(b.Path)+" "+quote(b.Link))
		}
	}
	if cfg.WorkDir != "" {
		wd := filepath.Join(sandboxHome, cfg.WorkDir)
		steps = append(steps, "mkdir -p "+quote(wd), "cd "+quote(wd))
	}
	return strings.Join(append(steps, `exec "$@"`), " && ")
}

// quote makes s one word of a shell command.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// bindFD binds the folder open as fd at target.
func bindFD(fd int, target string) error {
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(fd), target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", target, err)
	}
	return unix.Close(fd)
}

// outermost drops the paths that lie inside another one of paths: the
// cover of the outer one hides them already.
func outermost(paths []string) []string {
	var out []string
	for _, p := range paths {
		inside := false
		for _, q := range paths {
			inside = inside || (q != p && strings.HasPrefix(p, strings.TrimSuffix(q, "/")+"/"))
		}
		if !inside && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// mountPoint makes target, for the folder or file open as fd to be bound on.
func mountPoint(fd int, target string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return os.MkdirAll(target, 0o755)
	}
	if _, err := os.Stat(target); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	return os.WriteFile(target, nil, 0o644)
}

// bindAt binds the folder or file open as fd at target (see mountPoint),
// read-only when asked.
func bindAt(fd int, target string, readOnly bool) error {
	src := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	unix.Close(fd)
	if readOnly {
		return unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
	}
	return nil
}

// dropPrivileges leaves the workload no way back to labspace's powers: no
// setuid gains, no capabilities (with IsolateUserNS the workload is root of
// its own namespace, and must not unmount what hides the data directory),
// and the sandbox itself cannot be inspected through /proc.
func dropPrivileges(mode Isolation) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return err
	}
	if mode != IsolateUserNS {
		return nil // setuid to the workload's uid clears its capabilities
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	return nil
}

// reap waits for every process of the sandbox (it is their init) until
// the workload's own one exits, and returns its code as a shell would: the
// exit status, or 128 plus the signal that killed it.
func reap(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 127
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}
