// Package runtime defines what every workspace backend (local processes,
// Kubernetes) offers the lifecycle controller, and the rules they share:
// the variables a workload gets for its tools, and $(VAR) expansion.
package runtime

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labspace/labspace"
)

// State is what a runtime sees of a workspace.
type State string

const (
	Absent   State = "Absent"   // nothing runs
	Starting State = "Starting" // launched; not every tool answers yet
	Ready    State = "Ready"    // every tool answers
	Exited   State = "Exited"   // ended on its own; Reason and Message say how
	Stopping State = "Stopping" // told to stop, not gone yet
	// Waiting: admitted, but the runtime cannot place it yet (Kubernetes:
	// no node fits); Reason and Message carry the scheduler's words.
	Waiting State = "Waiting"
	// Degraded: it runs, but something it needs went missing (its
	// service, a volume); Apply puts back what labspace made.
	Degraded State = "Degraded"
)

// Observation is one look at a workspace.
type Observation struct {
	State   State
	Reason  string
	Message string
	// Tools maps each tool to the address the proxy forwards to.
	Tools     map[string]string
	StartedAt time.Time
	// Warnings name what of the workspace's spec this run does not
	// enforce (a limit this host cannot apply): said, never ignored.
	Warnings []string
}

// Capacity is what the runtime can hold in all.
type Capacity struct {
	GPUs        []int // device indexes the runtime hands out itself (local)
	MilliCPU    int64
	MemoryBytes int64
	// Scheduled: the runtime places workloads with its own scheduler
	// (Kubernetes). Admission then checks project quotas only, and the
	// totals above are used to decide preemption, not to refuse.
	Scheduled bool
	// Nodes are the machines a workspace can land on, including those
	// that cannot take work now (Node.Unavailable): a request that no node
	// could ever hold is refused when the workspace is created, one that
	// waits for a cordoned node is not. The totals above count available
	// nodes only.
	Nodes []Node
}

// Node is one machine's allocatable resources.
type Node struct {
	Name        string
	Pool        string
	GPUs        int
	MilliCPU    int64
	MemoryBytes int64
	// Unavailable says why the node takes no work for now ("cordoned",
	// "not ready"); "" when it does.
	Unavailable string
}

// Credential is a credential opened for a workload.
type Credential struct {
	ID       string
	Name     string
	Type     labspace.CredentialType
	Registry string
	Values   map[string]string
}

// Inputs is what a runtime needs beside the workspace to start it.
type Inputs struct {
	// Namespace is the project's Kubernetes namespace.
	Namespace string
	// ByID holds the credentials the workspace's variables draw from.
	ByID map[string]Credential
	// ByName holds the credentials its data sources name (git, s3,
	// secret), resolved in the project, its department, then globally.
	ByName map[string]Credential
	// Registries are the docker-registry credentials usable in the
	// project (the nearest scope wins a name): its image pull secrets.
	Registries []Credential
}

// Watcher is a runtime that reports changes itself (Kubernetes
// informers): the controller is told the workspace id of anything that
// changed, instead of polling. settled says the change is one a phase
// follows (ready, no longer ready, ended, gone), rather than a step on
// the way (scheduled, pulling): the controller looks at those first.
type Watcher interface {
	Watch(changed func(workspaceID string, settled bool))
}

// Runtime runs workspaces. Every method is idempotent: the controller may
// call it again after a crash at any point.
type Runtime interface {
	// Apply starts w unless it already runs, with what w.Status.Admission gives it.
	Apply(ctx context.Context, w *labspace.Workspace) error
	// Stop ends w's workload and keeps its storage.
	Stop(ctx context.Context, w *labspace.Workspace) error
	// Delete ends w's workload and removes everything the runtime made for it.
	Delete(ctx context.Context, w *labspace.Workspace) error
	// Observe reports what runs for w.
	Observe(ctx context.Context, w *labspace.Workspace) (Observation, error)
	// Capacity reports what the runtime can hold; callers only read it
	// (its slices may be shared with other callers).
	Capacity(ctx context.Context) (Capacity, error)
	// Workloads lists the ids of the workspaces that have anything running,
	// so that the controller can stop what no workspace claims.
	Workloads(ctx context.Context) ([]string, error)
	// Logs returns w's output; with follow it stays open for new lines
	// until ctx ends.
	Logs(ctx context.Context, w *labspace.Workspace, follow bool) (io.ReadCloser, error)
}

// Use is what a workspace's workload uses, as last sampled. Each figure
// is -1 when the runtime cannot tell.
type Use struct {
	// GPUPercent is the utilisation of the busiest of its GPUs.
	GPUPercent int
	// CPUCores is CPU time per second over the last sample (1.0: one core busy).
	CPUCores float64
	// MemoryBytes is its resident memory.
	MemoryBytes int64
}

// Unknown is a Use the runtime cannot tell anything of.
var Unknown = Use{GPUPercent: -1, CPUCores: -1, MemoryBytes: -1}

// Meter is a runtime that can tell what a workspace uses. One reading
// (nvidia-smi, a scan of the process table, a Prometheus query) serves
// every workspace for a few seconds, so asking for each is cheap.
type Meter interface {
	Use(ctx context.Context, w *labspace.Workspace) Use
}

// ToolTokenVar carries a secret the workload's tools may require (the
// seeded Jupyter does): labspace's proxy sends it to them as
// "Authorization: token <value>", so that only requests through the
// proxy, which checked the caller, get in; not other users of the host or
// cluster who reach the tool's port directly.
const ToolTokenVar = "LABSPACE_TOOL_TOKEN"

// ToolToken is workspace id's tool token under key ("" without a key).
func ToolToken(key []byte, workspaceID string) string {
	if len(key) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tool-token\x00" + workspaceID))
	return hex.EncodeToString(m.Sum(nil)[:20])
}

// BasePath is the path under which the proxy serves tool of w.
func BasePath(w *labspace.Workspace, tool string) string {
	return "/ws/" + w.Project() + "/" + w.Name + "/" + tool + "/"
}

// EnvKey turns a tool name into the suffix of its variables: upper case,
// other characters as '_'.
func EnvKey(tool string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, tool)
}

// ToolVars returns LABSPACE_PORT_<TOOL> and LABSPACE_BASE_URL_<TOOL> for
// every tool that listens, and PORT and BASE_URL for the first one.
func ToolVars(w *labspace.Workspace, ports map[string]int) map[string]string {
	vars := map[string]string{}
	first := true
	for _, t := range w.Spec.Environment.Spec.Tools {
		port, ok := ports[t.Name]
		if !ok {
			continue
		}
		p, base := itoa(port), BasePath(w, t.Name)
		vars["LABSPACE_PORT_"+EnvKey(t.Name)] = p
		vars["LABSPACE_BASE_URL_"+EnvKey(t.Name)] = base
		if first {
			vars["PORT"], vars["BASE_URL"] = p, base
			first = false
		}
	}
	return vars
}

// Expand replaces $(VAR) in s with vars[VAR], as Kubernetes does for
// command and args: $$ stands for a literal $, and a reference to an
// undefined variable is left as written.
func Expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Incomplete: "$(" is text, and what follows is read on
				// (a later "$$" is still an escape), as in Kubernetes.
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// WorkloadVars are the variables a workload sees: the workspace's env
// (values expanded from earlier ones, as Kubernetes does) and the tool
// variables. Credential-backed variables are resolved by the runtime.
func WorkloadVars(w *labspace.Workspace, ports map[string]int) map[string]string {
	return WorkloadVarsWith(w, ports, nil)
}

// WorkloadVarsWith is WorkloadVars with more variables (the runtime's:
// HOME, the tool token) set before the workspace's, so these can use them.
func WorkloadVarsWith(w *labspace.Workspace, ports map[string]int, extra map[string]string) map[string]string {
	vars := ToolVars(w, ports)
	for k, v := range extra {
		vars[k] = v
	}
	for _, e := range w.Spec.Env {
		if e.Credential == nil {
			vars[e.Name] = Expand(e.Value, vars)
		}
	}
	return vars
}

func itoa(i int) string { return strconv.Itoa(i) }

// Sample keeps a reading (nvidia-smi's, a Prometheus query's) for a while,
// so that asking for every workspace costs one reading.
type Sample[T any] struct {
	mu   sync.Mutex
	at   time.Time
	v    T
	okay bool
}

// Get returns the last reading when it is younger than every, else takes
// a new one with read.
func (s *Sample[T]) Get(every time.Duration, read func() (T, bool)) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.at.IsZero() && time.Since(s.at) < every {
		return s.v, s.okay
	}
	s.at = time.Now()
	s.v, s.okay = read()
	return s.v, s.okay
}
