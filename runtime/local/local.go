// Package local runs workspaces as process groups on this host: the
// zero-setup runtime of `labspace serve`. Each workspace gets a home that
// survives stop and start, a free port per tool, its own GPUs through
// CUDA_VISIBLE_DEVICES, and a log file. Processes outlive a crash of the
// server and are found again through a marker in their environment.
package local

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
)

// Options configure the local runtime.
type Options struct {
	// Dir holds one folder per workspace.
	Dir string
	// Grace is how long a workload has to exit after SIGTERM (default 10s).
	Grace time.Duration
	// GPUs overrides discovery through nvidia-smi.
	GPUs []int
	// Secret returns a key of a credential, for credential-backed variables.
	Secret func(ctx context.Context, credentialID, key string) (string, error)
	// ToolKey derives each workspace's tool token (runtime.ToolToken).
	ToolKey []byte
	// Hide lists folders workloads must not see (labspace's data
	// directory); Dir is always hidden.
	Hide []string
	// FirstUID and UIDCount bound the uids (and gids) workloads get when
	// labspace runs as root (default DefaultFirstUID, DefaultUIDCount).
	FirstUID, UIDCount int
	// LogLimit caps each workspace's log (default 16 MiB): past it the log
	// turns over to log.1, so a workspace keeps at most twice as much.
	LogLimit int64
	// NoCgroups keeps labspace from using cgroups for limits (tests of the
	// fallback: RLIMIT_DATA for memory, CPU unenforced and said so).
	NoCgroups bool
}

// Runtime is the local process runtime.
type Runtime struct {
	opts  Options
	locks sync.Map // workspace id -> *sync.Mutex
	gpus  []int
	ports ports

	isolation    Isolation
	isolationWhy string
	limits       *limits
	hide         []string
	uidMu        sync.Mutex // uid allocation
	gpuUse       gpuUse     // nvidia-smi's utilisation, sampled
	procUse      procUse    // CPU and memory by PID namespace and process group, sampled
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a local runtime keeping its files under opts.Dir.
func New(opts Options) (*Runtime, error) {
	if opts.Grace == 0 {
		opts.Grace = 10 * time.Second
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = abs
	if opts.LogLimit <= 0 {
		opts.LogLimit = 16 << 20
	}
	if opts.FirstUID <= 0 || opts.UIDCount <= 0 {
		opts.FirstUID, opts.UIDCount = DefaultFirstUID, DefaultUIDCount
	}
	r := &Runtime{opts: opts, gpus: opts.GPUs, hide: []string{abs}}
	// labspace's own user's home goes too: in a user namespace the
	// workload is that user, and its files (keys, configuration) are not
	// the workload's business.
	if home, err := os.UserHomeDir(); err == nil && home != "/" {
		opts.Hide = append(opts.Hide, home)
	}
	for _, h := range opts.Hide {
		if h, err := filepath.Abs(h); err == nil && h != abs {
			r.hide = append(r.hide, h)
		}
	}
	if r.gpus == nil {
		r.gpus = discoverGPUs()
	}
	r.limits = &limits{}
	if !opts.NoCgroups {
		r.limits = detectLimits("/", abs)
	}
	r.detectIsolation()
	return r, nil
}

// state is what a launch leaves on disk, written before the process starts.
type state struct {
	Ports     map[string]int `json:"ports"`
	StartedAt time.Time      `json:"startedAt"`
	PGID      int            `json:"pgid,omitempty"`
	// Warnings: what of the spec this run does not enforce.
	Warnings []string `json:"warnings,omitempty"`
}

func (r *Runtime) dir(w *labspace.Workspace) string  { return filepath.Join(r.opts.Dir, w.ID) }
func (r *Runtime) home(w *labspace.Workspace) string { return filepath.Join(r.dir(w), "home") }

// homeIn is the home's path as the workload sees it.
func (r *Runtime) homeIn(w *labspace.Workspace) string {
	if r.isolation == IsolateNone {
		return r.home(w)
	}
	return sandboxHome
}
func (r *Runtime) file(w *labspace.Workspace, name string) string {
	return filepath.Join(r.dir(w), name)
}

func (r *Runtime) lock(id string) func() {
	m, _ := r.locks.LoadOrStore(id, &sync.Mutex{})
	m.(*sync.Mutex).Lock()
	return m.(*sync.Mutex).Unlock
}

func (r *Runtime) readState(w *labspace.Workspace) (*state, error) {
	raw, err := os.ReadFile(r.file(w, "state.json"))
	if err != nil {
		return nil, err
	}
	var st state
	return &st, json.Unmarshal(raw, &st)
}

func (r *Runtime) writeState(w *labspace.Workspace, st *state) error {
	raw, _ := json.Marshal(st)
	tmp := r.file(w, "state.json.tmp")
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.file(w, "state.json"))
}

// groups returns the live process groups of w.
// groups returns the live process groups of w. A launch writes its state
// file before the process starts, so without one nothing runs; with one
// whose group leader still carries w's marker, that group is it. Only
// otherwise (a launch cut short, a leader gone before its children) is the
// whole process table read.
func (r *Runtime) groups(w *labspace.Workspace) []int {
	st, err := r.readState(w)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil && st.PGID > 0 && markerOf(st.PGID, r.opts.Dir) == w.ID {
		return []int{st.PGID}
	}
	return scan(r.opts.Dir)[w.ID]
}

// Apply starts w's command unless a process of w already runs.
func (r *Runtime) Apply(ctx context.Context, w *labspace.Workspace) error {
	defer r.lock(w.ID)()
	if len(r.groups(w)) > 0 {
		return nil
	}
	spec := w.Spec
	if len(spec.Command) == 0 {
		return labspace.Errorf(labspace.EUNPROCESSABLE, "The local runtime runs the environment's command on this host, and %q has none.", spec.Environment.From.Name)
	}
	if err := os.MkdirAll(r.home(w), 0o700); err != nil {
		return err
	}
	for _, name := range []string{"exit", "stopping"} {
		_ = os.Remove(r.file(w, name))
	}
	st := &state{Ports: map[string]int{}, StartedAt: time.Now().UTC()}
	for _, t := range spec.Environment.Spec.Tools {
		if t.Type == "external" {
			continue
		}
		p, err := r.ports.take()
		if err != nil {
			return err
		}
		st.Ports[t.Name] = p
	}
	env, err := r.environ(ctx, w, st)
	if err != nil {
		return err
	}
	if err := r.linkData(w); err != nil {
		return err
	}
	if err := r.writeState(w, st); err != nil {
		return err
	}
	return r.start(w, st, env)
}

// start launches the command under a small shell that records its exit
// code, in a new process group, writing to the workspace's log.
func (r *Runtime) start(w *labspace.Workspace, st *state, env []string) error {
	vars := r.vars(w, st)
	argv := make([]string, 0, len(w.Spec.Command)+len(w.Spec.Args))
	for _, a := range append(append([]string{}, w.Spec.Command...), w.Spec.Args...) {
		argv = append(argv, runtime.Expand(a, vars))
	}
	logf, err := os.OpenFile(r.file(w, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	dir := r.homeIn(w)
	wd := w.Spec.Environment.Spec.WorkingDir
	lim := &sandboxConfig{WorkDir: wd}
	for _, ds := range w.Spec.DataSources {
		if ds.Spec.HostPath != nil {
			lim.Binds = append(lim.Binds, sandboxBind{Path: ds.Spec.HostPath.Path, ReadOnly: ds.Spec.ReadOnly,
				Link: filepath.Join(sandboxHome, ds.Spec.MountPath)})
		}
	}
	if err := r.personRunAs(w, lim); err != nil {
		return err
	}
	st.Warnings = unenforcedSpec(w, r.isolation)
	if r.isolation != IsolateNone {
		var more []string
		if lim.Cgroups, lim.DataLimit, more, err = r.limits.prepare(w.ID, &w.Spec.Compute.Spec); err != nil {
			return err
		}
		st.Warnings = append(st.Warnings, more...)
	}
	if r.isolation == IsolateNone && wd != "" {
		// labspace's own user, as the workload: nothing to take over.
		if err := os.MkdirAll(filepath.Join(r.home(w), wd), 0o700); err != nil {
			return err
		}
	}
	cmd, done, err := r.sandboxed(w.ID, argv, filepath.Join(dir, wd), lim)
	if err != nil {
		return err
	}
	defer done()
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	fmt.Fprintf(logf, "labspace: starting %q at %s (isolation: %s, limits: %s)\n", argv, st.StartedAt.Format(time.RFC3339),
		r.isolation, cmp.Or(r.limits.how, "rlimits"))
	for _, warning := range st.Warnings {
		fmt.Fprintf(logf, "labspace: warning: %s\n", warning)
	}
	if err := cmd.Start(); err != nil {
		return labspace.Errorf(labspace.EUNPROCESSABLE, "Cannot start %q: %v", argv[0], err)
	}
	st.PGID = cmd.Process.Pid
	go func() { _ = cmd.Wait() }() // reap; a restarted server leaves this to init
	return r.writeState(w, st)
}

// vars are the variables command and args expand from: the workspace's,
// its tools', its home and its tool token.
func (r *Runtime) vars(w *labspace.Workspace, st *state) map[string]string {
	return runtime.WorkloadVarsWith(w, st.Ports, map[string]string{"HOME": r.homeIn(w),
		runtime.ToolTokenVar: runtime.ToolToken(r.opts.ToolKey, w.ID)})
}

// environ builds the workload's environment: a clean base, the
// workspace's variables, its tools' ports and base URLs, its GPUs, its
// home, and the marker.
func (r *Runtime) environ(ctx context.Context, w *labspace.Workspace, st *state) ([]string, error) {
	vars := r.vars(w, st)
	for _, e := range w.Spec.Env {
		if e.Credential == nil {
			continue
		}
		if r.opts.Secret == nil {
			return nil, errors.New("no credential resolver")
		}
		v, err := r.opts.Secret(ctx, e.Credential.ID, e.Credential.Key)
		if err != nil {
			return nil, fmt.Errorf("credential %q: %w", e.Credential.Name, err)
		}
		vars[e.Name] = v
	}
	var gpus []string
	if a := w.Status.Admission; a != nil {
		for _, g := range a.GPUDevices {
			gpus = append(gpus, strconv.Itoa(g))
		}
	}
	vars["CUDA_VISIBLE_DEVICES"] = strings.Join(gpus, ",")
	vars[markerVar], vars[ownerVar] = w.ID, r.opts.Dir
	env := []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env, nil
}

// linkData makes host-path data sources available at their mount path
// inside the workspace's home (the local runtime cannot mount at /). In a
// sandbox the workload makes the links itself (sandboxConfig.Links):
// labspace, root, never follows paths in a home a workload controls.
func (r *Runtime) linkData(w *labspace.Workspace) error {
	for _, ds := range w.Spec.DataSources {
		if ds.Spec.Type != labspace.DataHostPath {
			return labspace.Errorf(labspace.EUNPROCESSABLE, "The local runtime supports host-path data sources only; %q is %s.", ds.From.Name, ds.Spec.Type)
		}
		if r.isolation != IsolateNone {
			continue
		}
		link := filepath.Join(r.home(w), ds.Spec.MountPath)
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			return err
		}
		if cur, err := os.Readlink(link); err == nil && cur == ds.Spec.HostPath.Path {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(ds.Spec.HostPath.Path, link); err != nil {
			return err
		}
	}
	return nil
}

// Tool ports come from below Linux's ephemeral range (32768-60999), so no
// program binding port 0 or connecting out can take one between labspace
// choosing it and the tool binding it.
const firstToolPort, toolPorts = 20000, 10000

// ports hands out tool ports, each probed free and not handed out again
// for a minute (the tool may take that long to bind it).
type ports struct {
	mu     sync.Mutex
	recent map[int]time.Time
}

func (p *ports) take() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.recent == nil {
		p.recent = map[int]time.Time{}
	}
	for port, t := range p.recent {
		if time.Since(t) >= time.Minute {
			delete(p.recent, port)
		}
	}
	start := rand.IntN(toolPorts)
	for i := 0; i < toolPorts; i++ {
		port := firstToolPort + (start+i)%toolPorts
		if _, ok := p.recent[port]; ok {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		p.recent[port] = time.Now()
		return port, nil
	}
	return 0, labspace.Errorf(labspace.EUNPROCESSABLE, "No free port for a tool between %d and %d.", firstToolPort, firstToolPort+toolPorts-1)
}
