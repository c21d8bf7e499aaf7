package labspace

import (
	"path"
	"regexp"
	"strings"
)

// Environment is a building block: the image, its tools and how it runs.
type Environment struct {
	Meta `json:"meta"`
	Spec EnvironmentSpec `json:"spec"`
}

func (*Environment) Kind() Kind { return KindEnvironment }

// PullPolicy says when the runtime pulls the image.
type PullPolicy string

const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// EnvironmentSpec is everything the reference environment offers.
type EnvironmentSpec struct {
	// The container image.
	Image           string     `json:"image" example:"jupyter/base-notebook:latest"`
	ImagePullPolicy PullPolicy `json:"imagePullPolicy,omitempty"`
	// The tools users connect to.
	Tools []Tool `json:"tools,omitempty"`
	// The command the workspace runs (default: the image's).
	Command []string `json:"command,omitempty"`
	// The command's arguments.
	Args []string `json:"args,omitempty"`
	// Environment variables.
	Env []EnvVar `json:"env,omitempty"`
	// The working directory (default: the image's).
	WorkingDir string `json:"workingDir,omitempty"`
	// The user and groups the workload runs as.
	RunAs RunAs `json:"runAs"`
	// Linux capabilities to add.
	Capabilities []string `json:"capabilities,omitempty"`
	// The container's security settings.
	Security Security `json:"security"`
}

// ToolType is a kind of tool a workspace offers.
type ToolType string

// Tool types of the reference, plus custom and external (a URL only).
var ToolTypes = []ToolType{"jupyter-notebook", "visual-studio-code", "tensorboard", "rstudio",
	"mlflow", "pycharm", "matlab", "custom", "external"}

// ConnectionType says how a user reaches a tool.
type ConnectionType string

const (
	ConnExternalURL  ConnectionType = "external-url" // through labspace's proxy
	ConnNodePort     ConnectionType = "node-port"
	ConnLoadBalancer ConnectionType = "load-balancer"
)

// Tool is one thing a user connects to in a workspace.
type Tool struct {
	// The tool's name, unique in the environment.
	Name string `json:"name" example:"jupyter"`
	// The kind of tool.
	Type ToolType `json:"type" example:"jupyter-notebook"`
	Port int      `json:"port,omitempty" example:"8888"` // container port; not for external tools
	// How users reach the tool (default external-url: through labspace's proxy).
	Connection ConnectionType `json:"connection,omitempty"`
	// NodePort, for node-port connections, asks for a fixed port (0: any free one).
	NodePort int `json:"nodePort,omitempty"`
	// URL is an external tool's address; it may use ${VAR} from the workspace's env.
	URL string `json:"url,omitempty"`
	// Private tools are reachable by the workspace's creator only.
	Private bool `json:"private,omitempty"`
	// StripPrefix is for tools that only serve at "/": the proxy removes
	// the workspace's base path before forwarding. Tools that take a base
	// URL (Jupyter's base_url, TensorBoard's path_prefix) leave it off.
	StripPrefix bool `json:"stripPrefix,omitempty"`
}

// EnvVar is an environment variable: a value, a value left for the user to
// fill in when creating a workspace, or a key of a credential.
type EnvVar struct {
	// The variable's name.
	Name string `json:"name" example:"HF_HOME"`
	// The variable's value.
	Value string `json:"value,omitempty"`
	// The user gives the value when creating a workspace.
	FromUser bool `json:"fromUser,omitempty"`
	// What the variable is for, shown to the user.
	Description string `json:"description,omitempty"`
	// Takes the value from a credential's key instead.
	Credential *SecretRef `json:"credential,omitempty"`
}

// SecretRef names one key of a credential.
type SecretRef struct {
	// The credential's name.
	Name string `json:"name"`
	// The key of the credential's secret.
	Key string `json:"key"`
	ID  string `json:"id,omitempty"` // set when a workspace resolves it
}

// UIDSource says where a workspace's uid/gid come from.
type UIDSource string

const (
	UIDFromImage  UIDSource = "image"
	UIDFromIdP    UIDSource = "identity-provider"
	UIDFromCustom UIDSource = "custom"
)

// RunAs sets the user and groups the workload runs as.
type RunAs struct {
	Source UIDSource `json:"source,omitempty"` // default image
	// The user id, for source custom.
	UID *int64 `json:"uid,omitempty"`
	// The group id, for source custom.
	GID *int64 `json:"gid,omitempty"`
	// More group ids, for source custom.
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
}

// Security holds the container's security flags.
type Security struct {
	// Refuses to run as root.
	RunAsNonRoot bool `json:"runAsNonRoot,omitempty"`
	// Mounts the image's file system read-only.
	ReadOnlyRootFilesystem bool `json:"readOnlyRootFilesystem,omitempty"`
	// Lets processes gain privileges (setuid); needs the privilege-escalation privilege.
	AllowPrivilegeEscalation bool `json:"allowPrivilegeEscalation,omitempty"`
}

var (
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	capability = regexp.MustCompile(`^[A-Z][A-Z_]*$`)
)

// Bounds on list fields.
const (
	MaxListItems = 256
	MaxString    = 4096
)

// Validate checks every field of the environment.
func (e *Environment) Validate(v *Invalid) {
	ValidateMeta(&e.Meta, v)
	e.Spec.Validate("spec", v)
}

// Validate checks the spec; field paths start with prefix.
func (s *EnvironmentSpec) Validate(prefix string, v *Invalid) {
	switch {
	case s.Image == "":
		v.Add(prefix+".image", "is required")
	case len(s.Image) > 512 || strings.ContainsAny(s.Image, " \t\n\r"):
		v.Add(prefix+".image", "must be an image reference without spaces, at most 512 characters")
	}
	switch s.ImagePullPolicy {
	case "", PullAlways, PullIfNotPresent, PullNever:
	default:
		v.Add(prefix+".imagePullPolicy", "must be one of Always, IfNotPresent, Never")
	}
	validateTools(prefix+".tools", s.Tools, v)
	validateStrings(prefix+".command", s.Command, v)
	validateStrings(prefix+".args", s.Args, v)
	ValidateEnv(prefix+".env", s.Env, v)
	if s.WorkingDir != "" {
		validateAbsPath(prefix+".workingDir", s.WorkingDir, v)
	}
	s.RunAs.validate(prefix+".runAs", v)
	if len(s.Capabilities) > 64 {
		v.Add(prefix+".capabilities", "must have at most 64 items")
	}
	for i, c := range s.Capabilities {
		if !capability.MatchString(c) || len(c) > 64 {
			v.Add(fieldIndex(prefix+".capabilities", i), "must be a Linux capability name such as NET_ADMIN (got %q)", c)
		}
	}
}

func validateTools(field string, tools []Tool, v *Invalid) {
	if len(tools) > 32 {
		v.Add(field, "must have at most 32 tools")
		return
	}
	names, ports := map[string]bool{}, map[int]bool{}
	for i, t := range tools {
		f := fieldIndex(field, i)
		ValidateName(f+".name", t.Name, v)
		if names[t.Name] {
			v.Add(f+".name", "duplicates another tool's name %q", t.Name)
		}
		names[t.Name] = true
		if !validToolType(t.Type) {
			v.Add(f+".type", "must be one of %s", joinToolTypes())
		}
		if t.Type == "external" {
			if t.URL == "" || len(t.URL) > 2048 {
				v.Add(f+".url", "is required for an external tool, at most 2048 characters")
			}
			if t.Port != 0 {
				v.Add(f+".port", "must be empty for an external tool")
			}
			continue
		}
		if t.Port < 1 || t.Port > 65535 {
			v.Add(f+".port", "must be a port between 1 and 65535")
		} else if ports[t.Port] {
			v.Add(f+".port", "duplicates another tool's port %d", t.Port)
		}
		ports[t.Port] = true
		switch t.Connection {
		case "", ConnExternalURL, ConnLoadBalancer:
			if t.NodePort != 0 {
				v.Add(f+".nodePort", "is only for node-port connections")
			}
		case ConnNodePort:
			if t.NodePort != 0 && (t.NodePort < 30000 || t.NodePort > 32767) {
				v.Add(f+".nodePort", "must be between 30000 and 32767, or 0 for any free port")
			}
		default:
			v.Add(f+".connection", "must be one of external-url, node-port, load-balancer")
		}
	}
}

func validToolType(t ToolType) bool {
	for _, x := range ToolTypes {
		if x == t {
			return true
		}
	}
	return false
}

func joinToolTypes() string {
	s := make([]string, len(ToolTypes))
	for i, t := range ToolTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// ValidateEnv checks a list of environment variables.
func ValidateEnv(field string, env []EnvVar, v *Invalid) {
	if len(env) > MaxListItems {
		v.Add(field, "must have at most %d items", MaxListItems)
		return
	}
	seen := map[string]bool{}
	for i, e := range env {
		f := fieldIndex(field, i)
		if !envName.MatchString(e.Name) || len(e.Name) > 256 {
			v.Add(f+".name", "must be a variable name: letters, digits and '_', not starting with a digit (got %q)", e.Name)
		}
		if seen[e.Name] {
			v.Add(f+".name", "duplicates another variable %q", e.Name)
		}
		seen[e.Name] = true
		if len(e.Value) > MaxString {
			v.Add(f+".value", "must be at most %d characters", MaxString)
		}
		if len(e.Description) > MaxDescription {
			v.Add(f+".description", "must be at most %d characters", MaxDescription)
		}
		if e.Credential != nil {
			if e.Value != "" || e.FromUser {
				v.Add(f+".credential", "cannot be combined with a value or fromUser")
			}
			ValidateName(f+".credential.name", e.Credential.Name, v)
			if !envName.MatchString(e.Credential.Key) {
				v.Add(f+".credential.key", "must name a key of the credential (got %q)", e.Credential.Key)
			}
		}
	}
}

func validateStrings(field string, list []string, v *Invalid) {
	if len(list) > MaxListItems {
		v.Add(field, "must have at most %d items", MaxListItems)
		return
	}
	for i, s := range list {
		if len(s) > MaxString {
			v.Add(fieldIndex(field, i), "must be at most %d characters", MaxString)
		}
		if strings.ContainsRune(s, 0) {
			v.Add(fieldIndex(field, i), "must not contain NUL")
		}
	}
}

func validateAbsPath(field, p string, v *Invalid) {
	if len(p) > 1024 || !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsRune(p, 0) {
		v.Add(field, "must be a clean absolute path (got %q)", p)
	}
}

func (r *RunAs) validate(field string, v *Invalid) {
	switch r.Source {
	case "", UIDFromImage, UIDFromIdP:
		if r.UID != nil || r.GID != nil || len(r.SupplementalGroups) > 0 {
			v.Add(field+".source", "must be custom to set uid, gid or supplementalGroups")
		}
	case UIDFromCustom:
		if r.UID == nil {
			v.Add(field+".uid", "is required when source is custom")
		}
		for name, id := range map[string]*int64{"uid": r.UID, "gid": r.GID} {
			if id != nil && (*id < 0 || *id > 1<<31-1) {
				v.Add(field+"."+name, "must be between 0 and 2147483647")
			}
		}
		if len(r.SupplementalGroups) > 32 {
			v.Add(field+".supplementalGroups", "must have at most 32 items")
		}
		for i, g := range r.SupplementalGroups {
			if g < 0 || g > 1<<31-1 {
				v.Add(fieldIndex(field+".supplementalGroups", i), "must be between 0 and 2147483647")
			}
		}
	default:
		v.Add(field+".source", "must be one of image, identity-provider, custom")
	}
}
