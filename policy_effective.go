package labspace

import (
	"fmt"
	"strconv"
	"strings"
)

// EffectivePolicy is what applies to the workspaces of one scope: the
// strictest of the policies of the scope and the scopes above it.
type EffectivePolicy struct {
	// The project's scope.
	Scope Scope `json:"scope"`
	// The strictest rule of each field.
	Fields map[string]EffectiveRule `json:"fields"`
	// ImposedDataSources are mounted by every workspace, with the scope
	// whose policy imposes each.
	ImposedDataSources []Imposed `json:"imposedDataSources"`
	// Allow are the privileges granted there, with the scope granting each.
	Allow []Granted `json:"allow"`
	// Lifecycle are the idle and running-time rules.
	Lifecycle EffectiveLifecycle `json:"lifecycle"`
}

// EffectiveRule is a field's merged rule; From names, for each of default,
// min, max, options, required and canEdit, the scope whose policy set it.
type EffectiveRule struct {
	FieldRule
	// The field's type.
	Type FieldType `json:"type"`
	// The scope each part of the rule comes from, by part (default, min, max...).
	From map[string]Scope `json:"from"`
}

// Imposed is a data source a policy imposes.
type Imposed struct {
	// The data source's name.
	Name string `json:"name"`
	// The scope whose policy imposes it.
	From Scope `json:"from"`
}

// Granted is a privilege a policy grants.
type Granted struct {
	// The privilege.
	Privilege Privilege `json:"privilege"`
	// The scope whose policy grants it.
	From Scope `json:"from"`
}

// Merge combines the policies of a chain, outermost first, into what
// applies at scope: the highest min, the lowest max, the options every
// policy allows, required if any requires, locked by the outermost lock.
// An inner default that breaks an outer rule is dropped.
func Merge(scope Scope, chain []*Policy) *EffectivePolicy {
	e := &EffectivePolicy{Scope: scope, Fields: map[string]EffectiveRule{}, ImposedDataSources: []Imposed{}, Allow: []Granted{},
		Lifecycle: EffectiveLifecycle{From: map[string]Scope{}}}
	for _, p := range chain {
		e.Lifecycle.narrow(p.Spec.Lifecycle, p.Scope)
		for _, name := range sortedKeys(p.Spec.Fields) {
			e.narrow(name, p.Spec.Fields[name], p.Scope)
		}
		for _, n := range p.Spec.ImposedDataSources {
			e.ImposedDataSources = append(e.ImposedDataSources, Imposed{Name: n, From: p.Scope})
		}
		for _, pr := range p.Spec.Allow {
			e.Allow = append(e.Allow, Granted{Privilege: pr, From: p.Scope})
		}
	}
	return e
}

func (e *EffectivePolicy) narrow(name string, r FieldRule, from Scope) {
	t, ok := PolicyFields[name]
	if !ok {
		return
	}
	cur, seen := e.Fields[name]
	if !seen {
		cur = EffectiveRule{Type: t, From: map[string]Scope{}}
	}
	if r.Min != "" {
		if n, ok := t.Number(r.Min); ok {
			if old, had := t.Number(cur.Min); !had || n > old {
				cur.Min, cur.From["min"] = r.Min, from
			}
		}
	}
	if r.Max != "" {
		if n, ok := t.Number(r.Max); ok {
			if old, had := t.Number(cur.Max); !had || n < old {
				cur.Max, cur.From["max"] = r.Max, from
			}
		}
	}
	if len(r.Options) > 0 {
		if cur.Options == nil {
			cur.Options = append([]string(nil), r.Options...)
		} else {
			var kept []string
			for _, o := range cur.Options {
				if contains(r.Options, o) {
					kept = append(kept, o)
				}
			}
			cur.Options = append([]string{}, kept...)
		}
		cur.From["options"] = from
	}
	if r.Required && !cur.Required {
		cur.Required, cur.From["required"] = true, from
	}
	if r.Default != "" && !cur.Locked() && cur.allows(r.Default) {
		cur.Default, cur.From["default"] = r.Default, from
	}
	if r.Locked() && !cur.Locked() && cur.Default != "" {
		f := false
		cur.CanEdit, cur.From["canEdit"] = &f, from
	}
	e.Fields[name] = cur
}

// allows reports whether value keeps the rule's bounds and options.
func (r EffectiveRule) allows(value string) bool { return r.broken(value) == "" }

// broken says which part of the rule value breaks ("min", "max",
// "options"), or "".
func (r EffectiveRule) broken(value string) string {
	if r.Type.Numeric() && value != "" {
		n, ok := r.Type.Number(value)
		if lo, has := r.Type.Number(r.Min); ok && has && n < lo {
			return "min"
		}
		if hi, has := r.Type.Number(r.Max); ok && has && n > hi {
			return "max"
		}
	}
	if len(r.Options) > 0 && value != "" && !contains(r.Options, value) {
		return "options"
	}
	return ""
}

// Has reports whether the policy grants privilege p.
func (e *EffectivePolicy) Has(p Privilege) bool {
	for _, g := range e.Allow {
		if g.Privilege == p {
			return true
		}
	}
	return false
}

// DefaultRequest fills what a workspace request leaves empty that the
// policy has a default for: the building blocks (when no template names
// them), node pool and preemptible.
func (e *EffectivePolicy) DefaultRequest(req *WorkspaceCreate) {
	def := func(name string) string { return e.Fields[name].Default }
	if req.Template == "" && req.Environment == "" {
		req.Environment = def("environment")
	}
	if req.Template == "" && req.Compute == "" {
		req.Compute = def("compute")
	}
	if req.NodePool == "" {
		req.NodePool = def("general.nodePool")
	}
	if d := def("general.preemptible"); req.Preemptible == nil && d != "" {
		b := d == "true"
		req.Preemptible = &b
	}
}

// Impose adds the imposed data sources a list of uses lacks.
func (e *EffectivePolicy) Impose(uses []DataSourceUse) []DataSourceUse {
	for _, im := range e.ImposedDataSources {
		used := false
		for _, u := range uses {
			used = used || u.Name == im.Name
		}
		if !used {
			uses = append(uses, DataSourceUse{Name: im.Name})
		}
	}
	return uses
}

// Apply fills the resolved workspace's empty fields with the defaults,
// then returns what breaks a rule: each field with the rule and the scope
// whose policy set it, for a 422.
func (e *EffectivePolicy) Apply(w *Workspace) error {
	var v Invalid
	for _, name := range sortedKeys(e.Fields) {
		r := e.Fields[name]
		val := policyValue(w, name)
		if val == "" && r.Default != "" && setPolicyValue(w, name, r.Default) {
			val = r.Default
		}
		switch part := r.broken(val); {
		case r.Locked() && val != r.Default:
			v.Add(name, "is locked to %s by the %s policy", r.Default, r.From["canEdit"].Words())
		case r.Required && val == "":
			v.Add(name, "is required by the %s policy", r.From["required"].Words())
		case part == "min":
			v.Add(name, "is %s, below the minimum of %s set by the %s policy", val, r.Min, r.From["min"].Words())
		case part == "max":
			v.Add(name, "is %s, above the maximum of %s set by the %s policy", val, r.Max, r.From["max"].Words())
		case part == "options":
			v.Add(name, "is %q; the %s policy allows only %s", val, r.From["options"].Words(), strings.Join(r.Options, ", "))
		}
	}
	for _, im := range e.ImposedDataSources {
		mounted := false
		for _, d := range w.Spec.DataSources {
			mounted = mounted || d.From.Name == im.Name
		}
		if !mounted {
			v.Add("dataSources", "must include data source %s, imposed by the %s policy", im.Name, im.From.Words())
		}
	}
	return v.ErrCode(EUNPROCESSABLE)
}

// policyValue reads a policy field of a resolved workspace ("" when empty).
func policyValue(w *Workspace, name string) string {
	c, g := &w.Spec.Compute.Spec, &w.Spec.General
	switch name {
	case "environment":
		return w.Spec.Environment.From.Name
	case "compute":
		return w.Spec.Compute.From.Name
	case "environment.image":
		return w.Spec.Environment.Spec.Image
	case "compute.gpuDevices":
		return strconv.Itoa(c.GPUDevices)
	case "compute.cpuRequest":
		return c.CPURequest
	case "compute.cpuLimit":
		return c.CPULimit
	case "compute.memoryRequest":
		return c.MemoryRequest
	case "compute.memoryLimit":
		return c.MemoryLimit
	case "general.nodePool":
		return g.NodePool
	case "general.preemptible":
		return strconv.FormatBool(g.Preemptible)
	case "general.autoDeleteSeconds":
		if g.AutoDeleteSeconds == 0 {
			return ""
		}
		return strconv.FormatInt(g.AutoDeleteSeconds, 10)
	}
	panic(fmt.Sprintf("policyValue: unknown field %q", name))
}

// setPolicyValue fills an empty field with a default; false for fields
// that are never empty once resolved (blocks, image, GPUs, preemptible).
func setPolicyValue(w *Workspace, name, val string) bool {
	c, g := &w.Spec.Compute.Spec, &w.Spec.General
	switch name {
	case "compute.cpuRequest":
		c.CPURequest = val
	case "compute.cpuLimit":
		c.CPULimit = val
	case "compute.memoryRequest":
		c.MemoryRequest = val
	case "compute.memoryLimit":
		c.MemoryLimit = val
	case "general.nodePool":
		g.NodePool = val
	case "general.autoDeleteSeconds":
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return false
		}
		g.AutoDeleteSeconds = n
	default:
		return false
	}
	return true
}
