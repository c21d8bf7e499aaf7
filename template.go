package labspace

import (
	"regexp"
	"strings"
)

// Template is a building block: a named bundle of environment, compute
// resource, data sources and general settings to start workspaces from.
type Template struct {
	Meta `json:"meta"`
	Spec TemplateSpec `json:"spec"`
}

func (*Template) Kind() Kind { return KindTemplate }

// TemplateSpec references building blocks by name or id, with overrides.
// Env values left empty with fromUser are for the workspace's creator.
type TemplateSpec struct {
	// The environment, by name or id.
	Environment string `json:"environment"`
	// The compute resource, by name or id.
	Compute string `json:"compute"`
	// The data sources to mount.
	DataSources []DataSourceUse `json:"dataSources,omitempty"`
	// Replaces the environment's command.
	Command []string `json:"command,omitempty"`
	// Replaces the environment's arguments.
	Args []string `json:"args,omitempty"`
	// Environment variables, added to the environment's.
	Env []EnvVar `json:"env,omitempty"`
	// Labels, annotations, node pool and preemptibility.
	General GeneralSettings `json:"general"`
}

// DataSourceUse names a data source and, optionally, another mount path.
type DataSourceUse struct {
	// The data source, by name or id.
	Name string `json:"name"`
	// Overrides the data source's mount path.
	MountPath string `json:"mountPath,omitempty"`
}

// GeneralSettings apply to the workload itself.
type GeneralSettings struct {
	// Labels for the workspace's Kubernetes objects.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations for the workspace's Kubernetes objects.
	Annotations map[string]string `json:"annotations,omitempty"`
	// AutoDeleteSeconds deletes a workspace this long after it stops (0: never).
	AutoDeleteSeconds int64 `json:"autoDeleteSeconds,omitempty"`
	// The workspace may run beyond the project's quota and be preempted.
	Preemptible bool `json:"preemptible,omitempty"`
	// The node pool to run on.
	NodePool string `json:"nodePool,omitempty"`
}

// Validate checks the template's own fields (references are resolved by the service).
func (t *Template) Validate(v *Invalid) {
	ValidateMeta(&t.Meta, v)
	validateRef("spec.environment", t.Spec.Environment, true, v)
	validateRef("spec.compute", t.Spec.Compute, true, v)
	validateUses("spec.dataSources", t.Spec.DataSources, v)
	validateStrings("spec.command", t.Spec.Command, v)
	validateStrings("spec.args", t.Spec.Args, v)
	ValidateEnv("spec.env", t.Spec.Env, v)
	t.Spec.General.validate("spec.general", v)
}

func (g *GeneralSettings) validate(p string, v *Invalid) {
	validateLabels(p+".labels", g.Labels, true, v)
	validateLabels(p+".annotations", g.Annotations, false, v)
	if g.AutoDeleteSeconds < 0 || g.AutoDeleteSeconds > 10*365*24*3600 {
		v.Add(p+".autoDeleteSeconds", "must be between 0 and ten years")
	}
	if g.NodePool != "" {
		ValidateName(p+".nodePool", g.NodePool, v)
	}
}

// labelName is a Kubernetes label name, and a label value when not empty.
var labelName = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// validateLabels checks keys as Kubernetes label keys ([prefix/]name) and,
// for labels, values as label values (63 characters of [-A-Za-z0-9_.]):
// they become the pod's, and a value Kubernetes refuses would only fail
// at start (S15).
func validateLabels(field string, m map[string]string, labels bool, v *Invalid) {
	if len(m) > 64 {
		v.Add(field, "must have at most 64 entries")
	}
	for k, val := range m {
		prefix, name, hasPrefix := strings.Cut(k, "/")
		if !hasPrefix {
			prefix, name = "", k
		}
		if len(name) > 63 || !labelName.MatchString(name) || (hasPrefix && (len(prefix) > 253 || !dnsSubdomain.MatchString(prefix))) {
			v.Add(field+"."+k, "must be a label key such as example.com/team: a name of at most 63 letters, digits, '-', '_' or '.', after an optional DNS prefix and '/'")
			continue
		}
		switch {
		case labels && (len(val) > 63 || (val != "" && !labelName.MatchString(val))):
			v.Add(field+"."+k, "must be a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
		case len(val) > MaxString:
			v.Add(field+"."+k, "must be at most %d characters", MaxString)
		}
	}
}

var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// validateRef checks a reference to a building block: a name or an id.
func validateRef(field, ref string, required bool, v *Invalid) {
	if ref == "" {
		if required {
			v.Add(field, "is required")
		}
		return
	}
	if len(ref) > 63 || !dnsLabel.MatchString(ref) {
		v.Add(field, "must name a building block by name or id (got %q)", ref)
	}
}

func validateUses(field string, uses []DataSourceUse, v *Invalid) {
	if len(uses) > 32 {
		v.Add(field, "must have at most 32 items")
	}
	for i, u := range uses {
		validateRef(fieldIndex(field, i)+".name", u.Name, true, v)
		if u.MountPath != "" {
			validateAbsPath(fieldIndex(field, i)+".mountPath", u.MountPath, v)
		}
	}
}
