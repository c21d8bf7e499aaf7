package labspace

import "time"

// Phase is where a workspace is in its lifecycle.
type Phase string

const (
	PhaseCreating     Phase = "Creating"
	PhasePending      Phase = "Pending"
	PhaseInitializing Phase = "Initializing"
	PhaseRunning      Phase = "Running"
	PhaseStopping     Phase = "Stopping"
	PhaseStopped      Phase = "Stopped"
	PhaseDegraded     Phase = "Degraded"
	PhaseFailed       Phase = "Failed"
	PhaseDeleting     Phase = "Deleting"
	PhaseDeleted      Phase = "Deleted" // only as a desired phase
)

// Phases are the observed phases, in lifecycle order.
var Phases = []Phase{PhaseCreating, PhasePending, PhaseInitializing, PhaseRunning, PhaseStopping,
	PhaseStopped, PhaseDegraded, PhaseFailed, PhaseDeleting}

// Workspace is a researcher's running environment in a project. Its spec is
// a resolved snapshot of the building blocks it was made from: later edits
// of those blocks do not change it.
type Workspace struct {
	Meta `json:"meta"`
	// The resolved building blocks, fixed when the workspace was created.
	Spec WorkspaceSpec `json:"spec" openapi:"readOnly"`
	// What was asked: Running, Stopped or Deleted; status.phase follows as the controller acts.
	DesiredPhase Phase `json:"desiredPhase" example:"Running"`
	// Sharing says who besides the creator may connect to its tools.
	Sharing Sharing `json:"sharing"`
	// StopCause says why the desired phase became Stopped when no person
	// asked (a policy's idle or running-time rule); cleared at the next start.
	StopCause *StopCause      `json:"stopCause,omitempty" openapi:"readOnly"`
	Status    WorkspaceStatus `json:"status" openapi:"readOnly"`
}

func (*Workspace) Kind() Kind { return KindWorkspace }

// Sharing lets others connect to a workspace's tools (they also need a role
// that allows connecting, and tools served on origins of their own).
type Sharing struct {
	// Project shares with every member of the workspace's project.
	Project bool `json:"project"`
	// Users names users to share with.
	Users []string `json:"users,omitempty"`
}

// Validate checks a sharing request.
func (s *Sharing) Validate(v *Invalid) {
	if len(s.Users) > 64 {
		v.Add("users", "must have at most 64 items")
		return
	}
	seen := map[string]bool{}
	for i, u := range s.Users {
		ValidateName(fieldIndex("users", i), u, v)
		if seen[u] {
			v.Add(fieldIndex("users", i), "duplicates %q", u)
		}
		seen[u] = true
	}
}

// SharedWith reports whether the workspace is shared with user.
func (s *Sharing) SharedWith(user string) bool {
	if s.Project {
		return true
	}
	for _, u := range s.Users {
		if u == user {
			return true
		}
	}
	return false
}

// Project is the project the workspace lives in.
func (w *Workspace) Project() string { return w.Scope.Name }

// AssetRef records which building block a snapshot came from.
type AssetRef struct {
	// The building block's id.
	ID string `json:"id"`
	// The building block's name when it was used.
	Name string `json:"name"`
	// The building block's scope.
	Scope Scope `json:"scope"`
}

// WorkspaceSpec is the resolved, self-contained description of a workspace.
type WorkspaceSpec struct {
	// The template the workspace was made from, if any.
	Template *AssetRef `json:"template,omitempty"`
	// The environment: image, tools and how they run.
	Environment ResolvedEnvironment `json:"environment"`
	// The compute resource: GPUs, CPU and memory.
	Compute ResolvedCompute `json:"compute"`
	// The data sources mounted, the policy's imposed ones included.
	DataSources []ResolvedDataSource `json:"dataSources"`
	// Replaces the environment's command.
	Command []string `json:"command,omitempty"`
	// Replaces the environment's arguments.
	Args []string `json:"args,omitempty"`
	// The environment variables, with the values given at creation.
	Env []EnvVar `json:"env,omitempty"`
	// Labels, annotations, node pool and preemptibility.
	General GeneralSettings `json:"general"`
}

// ResolvedEnvironment is a snapshot of an environment.
type ResolvedEnvironment struct {
	// The environment the snapshot was taken of.
	From AssetRef `json:"from"`
	// The environment's spec at that time.
	Spec EnvironmentSpec `json:"spec"`
}

// ResolvedCompute is a snapshot of a compute resource.
type ResolvedCompute struct {
	// The compute resource the snapshot was taken of.
	From AssetRef `json:"from"`
	// The compute resource's spec at that time, GPU override applied.
	Spec ComputeSpec `json:"spec"`
}

// ResolvedDataSource is a snapshot of a data source, mount path overridden.
type ResolvedDataSource struct {
	// The data source the snapshot was taken of.
	From AssetRef `json:"from"`
	// The data source's spec at that time, mount path overridden.
	Spec DataSourceSpec `json:"spec"`
}

// WorkspaceStatus is what is true, as the lifecycle last observed it.
type WorkspaceStatus struct {
	// Where the workspace is in its lifecycle, as last observed.
	Phase Phase `json:"phase" example:"Running"`
	// Why it is in this phase, as a code (e.g. Unschedulable, NonPreemptibleOverQuota).
	PhaseReason string `json:"phaseReason,omitempty"`
	// Why it is in this phase, in words.
	PhaseMessage string `json:"phaseMessage,omitempty"`
	// Aspects of the status, as in Kubernetes.
	Conditions []Condition `json:"conditions"`
	// Admission is set while the workspace holds quota and capacity.
	Admission *Admission `json:"admission,omitempty"`
	// Tools lists how to reach each tool of the environment.
	Tools []ToolStatus `json:"tools,omitempty"`
	// When the workspace last started running.
	StartedAt *time.Time `json:"startedAt,omitempty"`
	// Activity is the last activity recorded (at most a minute behind:
	// the running server holds the newest in memory).
	Activity *Activity `json:"activity,omitempty"`
	// StopNotice is set while a policy's rule is about to stop the workspace.
	StopNotice *StopNotice `json:"stopNotice,omitempty"`
}

// Admission records what an admitted workspace holds.
type Admission struct {
	// When the workspace was admitted.
	Time time.Time `json:"time"`
	// GPUDevices are the host's GPU indexes given to it (local runtime).
	GPUDevices []int `json:"gpuDevices,omitempty"`
}

// ToolStatus is one tool's connection.
type ToolStatus struct {
	// The tool's name in the environment.
	Name string `json:"name"`
	// The kind of tool.
	Type ToolType `json:"type"`
	// Where to connect to the tool.
	URL string `json:"url"`
	// Whether the tool answers.
	Ready bool `json:"ready"`
}

// Holds reports whether the workspace counts against quota and capacity.
func (w *Workspace) Holds() bool { return w.Status.Admission != nil }

// Condition is one aspect of the status, as in Kubernetes.
type Condition struct {
	// The aspect this condition is about (e.g. Scheduled, Ready).
	Type string `json:"type"`
	// True, False or Unknown.
	Status string `json:"status"` // True, False, Unknown
	// Why, as a code.
	Reason string `json:"reason,omitempty"`
	// Why, in words.
	Message string `json:"message,omitempty"`
	// When the status last changed.
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Event is one entry of a workspace's history.
type Event struct {
	// The event's number, increasing.
	ID int64 `json:"id"`
	// The workspace's id.
	WorkspaceID string `json:"workspaceId"`
	// When it happened.
	Time time.Time `json:"time"`
	// What happened: PhaseChanged, StartRequested, StopRequested, DeleteRequested or Created.
	Type string `json:"type"` // PhaseChanged, StartRequested, StopRequested, DeleteRequested, Created
	// The phase before, for PhaseChanged.
	FromPhase Phase `json:"fromPhase,omitempty"`
	// The phase after, for PhaseChanged.
	ToPhase Phase `json:"toPhase,omitempty"`
	// Why, as a code.
	Reason string `json:"reason,omitempty"`
	// Why, in words.
	Message string `json:"message,omitempty"`
	// Who asked, or the controller.
	Actor string `json:"actor"`
}

// WorkspaceCreate is the request to create a workspace: a template, or
// building blocks by name or id, plus overrides.
type WorkspaceCreate struct {
	// The workspace's name, a DNS-1123 label unique in the project.
	Name string `json:"name" example:"exp1"`
	// Free text for people, at most 1024 characters.
	Description string `json:"description,omitempty"`
	// A template, by name or id; or give an environment and a compute resource.
	Template string `json:"template,omitempty"`
	// An environment, by name or id (overrides the template's).
	Environment string `json:"environment,omitempty" example:"jupyter-lab"`
	// A compute resource, by name or id (overrides the template's).
	Compute string `json:"compute,omitempty" example:"one-gpu"`
	// Data sources to mount, by name or id, each with an optional mount path.
	DataSources []DataSourceUse `json:"dataSources,omitempty"`
	// Replaces the environment's command.
	Command []string `json:"command,omitempty"`
	// Replaces the environment's arguments, one item per argument.
	Args []string `json:"args,omitempty"`
	// Env sets the values of variables, the ones left for the user included.
	Env map[string]string `json:"env,omitempty"`
	// GPUDevices replaces the compute resource's number of GPUs.
	GPUDevices *int `json:"gpuDevices,omitempty"`
	// Whether the workspace may run beyond the project's quota and be preempted.
	Preemptible *bool `json:"preemptible,omitempty"`
	// The node pool to run on.
	NodePool string `json:"nodePool,omitempty"`
	// Labels for the workspace's Kubernetes objects.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations for the workspace's Kubernetes objects.
	Annotations map[string]string `json:"annotations,omitempty"`
	// DesiredPhase is Running (the default: create and start) or Stopped.
	DesiredPhase Phase `json:"desiredPhase,omitempty" example:"Running"`
}

// Validate checks the request's own fields; references are resolved by the service.
func (c *WorkspaceCreate) Validate(v *Invalid) {
	ValidateName("name", c.Name, v)
	if len(c.Description) > MaxDescription {
		v.Add("description", "must be at most %d characters", MaxDescription)
	}
	if c.Template == "" && (c.Environment == "" || c.Compute == "") {
		v.Add("template", "give a template, or an environment and a compute resource")
	}
	validateRef("template", c.Template, false, v)
	validateRef("environment", c.Environment, false, v)
	validateRef("compute", c.Compute, false, v)
	validateUses("dataSources", c.DataSources, v)
	validateStrings("command", c.Command, v)
	validateStrings("args", c.Args, v)
	if len(c.Env) > MaxListItems {
		v.Add("env", "must have at most %d entries", MaxListItems)
	}
	for k, val := range c.Env {
		if !envName.MatchString(k) || len(k) > 256 {
			v.Add("env."+k, "must be a variable name: letters, digits and '_', not starting with a digit")
		}
		if len(val) > MaxString {
			v.Add("env."+k, "must be at most %d characters", MaxString)
		}
	}
	if c.GPUDevices != nil && (*c.GPUDevices < 0 || *c.GPUDevices > MaxGPUs) {
		v.Add("gpuDevices", "must be between 0 and %d", MaxGPUs)
	}
	if c.NodePool != "" {
		ValidateName("nodePool", c.NodePool, v)
	}
	validateLabels("labels", c.Labels, true, v)
	validateLabels("annotations", c.Annotations, false, v)
	switch c.DesiredPhase {
	case "", PhaseRunning, PhaseStopped:
	default:
		v.Add("desiredPhase", "must be Running or Stopped")
	}
}

// RequestDesired checks that a user may ask for desired phase to, given the
// workspace's current desired phase, and returns the event type to record.
// Asking again for what is already desired is accepted (it is idempotent).
func (w *Workspace) RequestDesired(to Phase) (string, error) {
	if w.DesiredPhase == PhaseDeleted {
		return "", Errorf(ECONFLICT, "Workspace %q is being deleted.", w.Name)
	}
	switch to {
	case PhaseRunning:
		return "StartRequested", nil
	case PhaseStopped:
		return "StopRequested", nil
	case PhaseDeleted:
		return "DeleteRequested", nil
	}
	return "", Errorf(EINVALID, "Unknown desired phase %q.", to)
}
