package labspace

import (
	"sort"
	"strconv"
	"strings"
)

// Policy is what administrators allow in a scope (global, a department, a
// project) for the workspaces under it: a default, rules and a lock per
// field, data sources every workspace mounts, and privileges granted to
// everyone who may create workspaces there. One per scope, named
// PolicyName. Inner scopes narrow outer ones, never widen them: the
// effective policy of a project is the strictest of its chain (Merge).
type Policy struct {
	Meta `json:"meta"`
	Spec PolicySpec `json:"spec"`
}

func (*Policy) Kind() Kind { return KindPolicy }

// PolicyName is the one name a policy takes: the workload it is about.
const PolicyName = "workspaces"

// PolicySpec holds a policy's rules, by field (PolicyFields). Values are
// strings, as Kubernetes writes quantities: "2", "500m", "8Gi", "true".
type PolicySpec struct {
	// Rules for workspace fields, by field name (e.g. compute.gpuDevices).
	Fields map[string]FieldRule `json:"fields,omitempty"`
	// ImposedDataSources are data sources (by name, visible in the scope)
	// that every workspace in the scope mounts.
	ImposedDataSources []string `json:"imposedDataSources,omitempty"`
	// Allow grants privileges (Privileges) in the scope to everyone who
	// may create workspaces there; only those who hold them may grant them.
	Allow []Privilege `json:"allow,omitempty"`
	// Lifecycle frees what nobody uses (lifecycle.go).
	Lifecycle LifecycleRules `json:"lifecycle"`
}

// FieldRule is a policy's say on one field.
type FieldRule struct {
	// Default is the value the field takes when the workspace leaves it empty.
	Default string `json:"default,omitempty"`
	// Min and Max bound numbers and quantities.
	Min string `json:"min,omitempty"`
	// The largest value allowed.
	Max string `json:"max,omitempty"`
	// Options are the values allowed (strings).
	Options []string `json:"options,omitempty"`
	// Required refuses a workspace that leaves the field empty.
	Required bool `json:"required,omitempty"`
	// CanEdit false locks the field to its default.
	CanEdit *bool `json:"canEdit,omitempty"`
}

// Locked reports whether the rule fixes the field at its default.
func (r FieldRule) Locked() bool { return r.CanEdit != nil && !*r.CanEdit }

// FieldType says how a policy field's values read.
type FieldType string

const (
	FieldText     FieldType = "text"           // options, required
	FieldInteger  FieldType = "integer"        // min, max
	FieldCPU      FieldType = "cpu"            // cores: "2", "500m"
	FieldMemory   FieldType = "memory"         // bytes: "8Gi"
	FieldBoolean  FieldType = "boolean"        // "true", "false"
	FieldBlockRef FieldType = "building-block" // a name, as a workspace names it
)

// PolicyFields are the fields a policy may rule, with their types: the
// workspace's own settings and those of the blocks it uses.
var PolicyFields = map[string]FieldType{
	"environment":               FieldBlockRef,
	"compute":                   FieldBlockRef,
	"environment.image":         FieldText,
	"compute.gpuDevices":        FieldInteger,
	"compute.cpuRequest":        FieldCPU,
	"compute.cpuLimit":          FieldCPU,
	"compute.memoryRequest":     FieldMemory,
	"compute.memoryLimit":       FieldMemory,
	"general.nodePool":          FieldText,
	"general.preemptible":       FieldBoolean,
	"general.autoDeleteSeconds": FieldInteger,
}

// Number reads a value of a numeric field type (cores in millicores,
// memory in bytes); ok is false when it does not read.
func (t FieldType) Number(s string) (int64, bool) {
	switch t {
	case FieldInteger:
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= 0
	case FieldCPU:
		return MilliCPU(s)
	case FieldMemory:
		return MemoryBytes(s)
	}
	return 0, false
}

// Numeric reports whether min and max apply.
func (t FieldType) Numeric() bool { return t == FieldInteger || t == FieldCPU || t == FieldMemory }

// Validate checks the policy's own fields.
func (p *Policy) Validate(v *Invalid) {
	ValidateMeta(&p.Meta, v)
	if p.Name != PolicyName {
		v.Add("meta.name", "must be %q: one policy per scope, for workspaces", PolicyName)
	}
	if len(p.Spec.Fields) > len(PolicyFields) {
		v.Add("spec.fields", "has more fields than there are")
	}
	for _, name := range sortedKeys(p.Spec.Fields) {
		r, f := p.Spec.Fields[name], "spec.fields."+name
		t, ok := PolicyFields[name]
		if !ok {
			v.Add(f, "is not a field policies rule; one of %s", strings.Join(sortedKeys(PolicyFields), ", "))
			continue
		}
		r.validate(f, t, v)
	}
	if len(p.Spec.ImposedDataSources) > MaxListItems {
		v.Add("spec.imposedDataSources", "must have at most %d entries", MaxListItems)
	}
	for i, n := range p.Spec.ImposedDataSources {
		ValidateName("spec.imposedDataSources["+strconv.Itoa(i)+"]", n, v)
	}
	for i, pr := range p.Spec.Allow {
		if !isPrivilege(pr) {
			v.Add("spec.allow["+strconv.Itoa(i)+"]", "is not a privilege; one of %s", privilegeNames())
		}
	}
	p.Spec.Lifecycle.Validate("spec.lifecycle", v)
}

func (r FieldRule) validate(f string, t FieldType, v *Invalid) {
	if len(r.Options) > MaxListItems {
		v.Add(f+".options", "must have at most %d entries", MaxListItems)
	}
	for _, s := range append([]string{r.Default, r.Min, r.Max}, r.Options...) {
		if len(s) > 256 {
			v.Add(f, "values must be at most 256 characters")
			return
		}
	}
	if !t.Numeric() && (r.Min != "" || r.Max != "") {
		v.Add(f, "min and max apply to numbers and quantities only")
	}
	if t.Numeric() || t == FieldBoolean {
		if len(r.Options) > 0 {
			v.Add(f+".options", "options apply to text fields only; use min and max")
		}
	}
	check := func(name, val string) (int64, bool) {
		if val == "" {
			return 0, false
		}
		switch {
		case t.Numeric():
			n, ok := t.Number(val)
			if !ok {
				v.Add(f+"."+name, "%q is not a valid %s value", val, t)
			}
			return n, ok
		case t == FieldBoolean && val != "true" && val != "false":
			v.Add(f+"."+name, "must be true or false")
		}
		return 0, false
	}
	lo, hasLo := check("min", r.Min)
	hi, hasHi := check("max", r.Max)
	def, hasDef := check("default", r.Default)
	if hasLo && hasHi && lo > hi {
		v.Add(f, "min %s is above max %s", r.Min, r.Max)
	}
	if hasDef && (hasLo && def < lo || hasHi && def > hi) {
		v.Add(f+".default", "%s is outside min and max", r.Default)
	}
	if r.Default != "" && len(r.Options) > 0 && !contains(r.Options, r.Default) {
		v.Add(f+".default", "%q is not one of the options", r.Default)
	}
	if r.Locked() && r.Default == "" {
		v.Add(f+".canEdit", "a locked field needs a default to be locked to")
	}
	if t == FieldInteger && f == "spec.fields.compute.gpuDevices" && r.Default != "" {
		// 0 GPUs is a request like any other: there is no empty value to fill.
		v.Add(f+".default", "the number of GPUs comes from the compute resource; bound it with min and max")
	}
}

func isPrivilege(p Privilege) bool {
	for _, q := range Privileges {
		if p == q {
			return true
		}
	}
	return false
}

func privilegeNames() string {
	out := make([]string, len(Privileges))
	for i, p := range Privileges {
		out[i] = string(p)
	}
	return strings.Join(out, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
