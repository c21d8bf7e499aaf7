package local

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/labspace/labspace"
)

// Isolation is how the local runtime keeps a workload away from labspace's
// data and from the other workloads on the host.
type Isolation string

const (
	// IsolateUIDs: labspace runs as root; each workspace gets a uid and gid
	// of its own from a range, and its processes run in a PID and mount
	// namespace of their own where the data directory is hidden and only
	// the workspace's home (and /tmp of its own) are there.
	IsolateUIDs Isolation = "uids"
	// IsolateUserNS: labspace runs as an ordinary user; each workload runs
	// in user, PID and mount namespaces of its own, with no capabilities,
	// and the same hidden data directory.
	IsolateUserNS Isolation = "user-namespaces"
	// IsolateNone: the kernel allows neither; every workload runs as
	// labspace itself, so only administrators (or, with SingleUser, the one
	// user) may run workspaces.
	IsolateNone Isolation = "none"
)

// Default range of the workloads' uids and gids when labspace runs as
// root: above the ranges that /etc/subuid hands to users' containers.
const (
	DefaultFirstUID = 900000
	DefaultUIDCount = 100000
)

// sandboxArg0 is the name the labspace binary is started under to become a
// workload's sandbox (sandbox_linux.go).
const sandboxArg0 = "labspace-sandbox"

// sandboxEnv carries the sandbox's configuration to the re-executed binary;
// the sandbox removes it before the workload starts.
const sandboxEnv = "LABSPACE_SANDBOX"

// sandboxConfig is what the sandbox needs besides the workload's argv.
type sandboxConfig struct {
	Home string   `json:"home"` // bound at its own path
	Tmp  string   `json:"tmp"`  // bound at /tmp
	Hide []string `json:"hide"` // covered by an empty tmpfs
	Dir  string   `json:"dir"`  // the workload's working directory
	UID  int      `json:"uid"`  // with IsolateUIDs
	GID  int      `json:"gid"`  // with IsolateUIDs
	// Groups are supplementary groups (the identity provider's, with
	// IsolateUIDs); Person marks UID and GID as the person's, given by the
	// caller, rather than a uid of the workspace's own.
	Groups []int  `json:"groups,omitempty"`
	Person bool   `json:"-"`
	Mode   string `json:"mode"`           // an Isolation
	Exit   string `json:"exit,omitempty"` // file for the exit code (name in the fd 3 folder)
	// Binds are host folders (host-path data sources) bound at their own
	// path, so the links in the home reach them even under /home or /tmp.
	Binds []sandboxBind `json:"binds,omitempty"`
	// Cgroups are the cgroup.procs files the sandbox joins before the
	// workload starts (limits.go); DataLimit is its RLIMIT_DATA without them.
	Cgroups   []string `json:"cgroups,omitempty"`
	DataLimit int64    `json:"dataLimit,omitempty"`
	// WorkDir is the working folder under the home, made by the workload.
	WorkDir string `json:"workDir,omitempty"`
	// LogLimit caps the log file; past it, the log turns over (log.1).
	LogLimit int64 `json:"logLimit,omitempty"`
}

type sandboxBind struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	Link     string `json:"link,omitempty"` // made by the workload, pointing at Path
}

// Isolation returns how this runtime isolates workloads, and why.
func (r *Runtime) Isolation() (Isolation, string) { return r.isolation, r.isolationWhy }

// detectIsolation picks the strongest isolation this host allows, and
// proves it by running a sandbox once.
func (r *Runtime) detectIsolation() {
	mode, why := IsolateUserNS, "labspace runs as an ordinary user: each workspace runs in user, PID and mount namespaces of its own, with no capabilities"
	if os.Geteuid() == 0 {
		mode, why = IsolateUIDs, "labspace runs as root: each workspace runs as a uid of its own, in PID and mount namespaces of its own"
	}
	r.isolation = mode
	if err := r.probe(); err != nil {
		r.isolation, why = IsolateNone, "this host cannot run a sandbox ("+err.Error()+"); every workload runs as labspace itself"
	}
	r.isolationWhy = why
}

// probe runs `true` in a sandbox.
func (r *Runtime) probe() error {
	const id = ".probe"
	dir := filepath.Join(r.opts.Dir, id)
	defer os.RemoveAll(dir)
	defer r.release(id)
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		return err
	}
	cmd, done, err := r.sandboxed(id, []string{"true"}, sandboxHome, nil)
	if err != nil {
		return err
	}
	out := &strings.Builder{}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	done()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
	}
	if code, _ := os.ReadFile(filepath.Join(dir, "exit")); strings.TrimSpace(string(code)) != "0" {
		return fmt.Errorf("the probe exited with %q: %s", strings.TrimSpace(string(code)), strings.TrimSpace(out.String()))
	}
	return nil
}

// uidOf returns the uid w's processes run as: the owner of its home when
// that is in the range, else the lowest uid of the range that no other
// home owns, no process of the host runs as and no account of
// /etc/passwd has (another installation's workloads, a real user). The
// home records it, so a restart changes nothing. Callers hold r.uidMu.
func (r *Runtime) uidOf(w string) (int, error) {
	first, n := r.opts.FirstUID, r.opts.UIDCount
	if st, err := os.Stat(filepath.Join(r.opts.Dir, w, "home")); err == nil {
		if uid := int(st.Sys().(*syscall.Stat_t).Uid); uid >= first && uid < first+n && r.claim(uid, w) {
			return uid, nil
		}
	}
	used := uidsOnHost()
	entries, err := os.ReadDir(r.opts.Dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join(r.opts.Dir, e.Name(), "home")); err == nil && e.Name() != w {
			used[int(st.Sys().(*syscall.Stat_t).Uid)] = true
		}
	}
	for uid := first; uid < first+n; uid++ {
		if !used[uid] && r.claim(uid, w) {
			return uid, nil
		}
	}
	return 0, fmt.Errorf("every workload uid from %d to %d is taken", first, first+n-1)
}

// uidClaims is where the runtimes of a host claim uids, one file each, so
// that two installations (or two runtimes in tests) never hand out the
// same one, even before its first process runs. /run empties at boot; a
// restart claims the homes' uids again.
const uidClaims = "/run/labspace-uids"

// claim takes uid for workspace w of this runtime, or says it is another's.
func (r *Runtime) claim(uid int, w string) bool {
	owner := filepath.Join(r.opts.Dir, w)
	if err := os.MkdirAll(uidClaims, 0o700); err != nil {
		return true // no claims on this host: the homes and processes decide
	}
	file := filepath.Join(uidClaims, strconv.Itoa(uid))
	if f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		_, _ = f.WriteString(owner)
		return f.Close() == nil
	}
	got, err := os.ReadFile(file)
	if err == nil && string(got) != owner && !exists(string(got)) {
		// The claim of a workspace deleted while its runtime was down.
		return os.WriteFile(file, []byte(owner), 0o600) == nil
	}
	return err == nil && string(got) == owner
}

// release gives back workspace w's uid, when it holds one.
func (r *Runtime) release(w string) {
	owner := filepath.Join(r.opts.Dir, w)
	entries, _ := os.ReadDir(uidClaims)
	for _, e := range entries {
		if got, err := os.ReadFile(filepath.Join(uidClaims, e.Name())); err == nil && string(got) == owner {
			_ = os.Remove(filepath.Join(uidClaims, e.Name()))
		}
	}
}

// uidsOnHost returns the uids processes run as and accounts have.
func uidsOnHost() map[int]bool {
	used := map[int]bool{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		for _, line := range readLines(filepath.Join("/proc", p.Name(), "status")) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
				if uid, err := strconv.Atoi(f[1]); err == nil {
					used[uid] = true
				}
			}
		}
	}
	for _, line := range readLines("/etc/passwd") {
		if f := strings.Split(line, ":"); len(f) > 2 {
			if uid, err := strconv.Atoi(f[2]); err == nil {
				used[uid] = true
			}
		}
	}
	return used
}

// own makes dir (and everything in it) the workload's, mode 0700 at the top.
func own(dir string, uid, gid int) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if s := st.Sys().(*syscall.Stat_t); int(s.Uid) == uid && int(s.Gid) == gid {
		return nil
	}
	// A home made before workloads had uids of their own: hand it over.
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// sandboxed wraps argv so that it runs in w's sandbox; with IsolateNone it
// runs argv under a shell that records its exit code, as labspace itself.
// The caller adds the environment, starts cmd, and then calls done.
func (r *Runtime) sandboxed(id string, argv []string, dir string, lim *sandboxConfig) (cmd *exec.Cmd, done func(), err error) {
	if r.isolation == IsolateNone {
		cmd := exec.Command("/bin/sh", append([]string{"-c", `"$@"; echo $? > "$LABSPACE_EXIT_FILE"`, "labspace-workload"}, argv...)...)
		cmd.Env = []string{"LABSPACE_EXIT_FILE=" + filepath.Join(r.opts.Dir, id, "exit")}
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd, func() {}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cfg := sandboxConfig{Home: filepath.Join(r.opts.Dir, id, "home"), Tmp: filepath.Join(r.opts.Dir, id, "tmp"),
		Hide: r.hide, Dir: sandboxHome, Mode: string(r.isolation), Exit: "exit", LogLimit: r.opts.LogLimit}
	if lim != nil {
		cfg.Cgroups, cfg.DataLimit, cfg.Binds, cfg.WorkDir = lim.Cgroups, lim.DataLimit, lim.Binds, lim.WorkDir
	}
	if r.isolation == IsolateUIDs {
		r.uidMu.Lock()
		defer r.uidMu.Unlock()
		if lim != nil && lim.Person {
			cfg.UID, cfg.GID, cfg.Groups = lim.UID, lim.GID, lim.Groups
		} else {
			uid, err := r.uidOf(id)
			if err != nil {
				return nil, nil, err
			}
			cfg.UID, cfg.GID = uid, uid
		}
		for _, d := range []string{cfg.Home, cfg.Tmp} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, nil, err
			}
			if err := own(d, cfg.UID, cfg.GID); err != nil {
				return nil, nil, err
			}
		}
	} else if err := os.MkdirAll(cfg.Tmp, 0o700); err != nil {
		return nil, nil, err
	}
	raw, _ := json.Marshal(cfg)
	wsDir, err := os.Open(filepath.Join(r.opts.Dir, id))
	if err != nil {
		return nil, nil, err
	}
	cmd = &exec.Cmd{Path: self, Args: append([]string{sandboxArg0}, argv...)}
	cmd.Env = []string{sandboxEnv + "=" + string(raw)}
	cmd.ExtraFiles = []*os.File{wsDir} // fd 3: where the exit code goes
	cmd.SysProcAttr = sandboxAttr(r.isolation)
	return cmd, func() { wsDir.Close() }, nil
}

// personRunAs runs w as its creator's uid from the identity provider
// (filled by the service) when labspace, as root, gives workloads uids:
// their shared storage then knows them. A uid that could be labspace's,
// a system account's or one labspace gives workspaces is refused, so a
// provider's claim never reaches another workspace's files.
func (r *Runtime) personRunAs(w *labspace.Workspace, lim *sandboxConfig) error {
	ra := w.Spec.Environment.Spec.RunAs
	if ra.Source != labspace.UIDFromIdP || r.isolation != IsolateUIDs || ra.UID == nil {
		return nil
	}
	gid := *ra.UID
	if ra.GID != nil {
		gid = *ra.GID
	}
	first, last := int64(r.opts.FirstUID), int64(r.opts.FirstUID+r.opts.UIDCount)
	for _, id := range append([]int64{*ra.UID, gid}, ra.SupplementalGroups...) {
		switch {
		case id < 1000:
			return labspace.Errorf(labspace.EUNPROCESSABLE, "The identity provider's id %d is a system account's (under 1000): labspace does not run workloads as it.", id)
		case id >= first && id < last:
			return labspace.Errorf(labspace.EUNPROCESSABLE, "The identity provider's id %d is among those labspace gives workspaces (%d-%d): labspace does not run workloads as it.", id, first, last-1)
		case id == int64(os.Getuid()) || id == int64(os.Getgid()):
			return labspace.Errorf(labspace.EUNPROCESSABLE, "The identity provider's id %d is labspace's own: labspace does not run workloads as it.", id)
		}
	}
	lim.Person, lim.UID, lim.GID = true, int(*ra.UID), int(gid)
	for _, g := range ra.SupplementalGroups {
		lim.Groups = append(lim.Groups, int(g))
	}
	return nil
}
