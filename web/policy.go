package web

import (
	"errors"
	"fmt"
	"strings"

	"github.com/labspace/labspace"
)

// The new-workspace page shows the project's policy before anything is
// submitted: its rules in words above the form, and in the form itself
// the blocks it refuses disabled with the reason, a locked field fixed at
// its value, defaults chosen, bounds on the GPUs and a note with the
// scope beside each. The service still decides (a 422 names the rule).

// fieldWords name policy fields for people.
var fieldWords = map[string]string{
	"environment": "Environment", "compute": "Compute resource", "environment.image": "Image",
	"compute.gpuDevices": "GPUs", "compute.cpuRequest": "CPU request", "compute.cpuLimit": "CPU limit",
	"compute.memoryRequest": "Memory request", "compute.memoryLimit": "Memory limit",
	"general.nodePool": "Node pool", "general.preemptible": "Preemptible", "general.autoDeleteSeconds": "Delete after stop (s)",
}

// policyLines says a policy's rules in words, each with its scope.
func policyLines(e *labspace.EffectivePolicy) []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, name := range sortedFields(e.Fields) {
		if words := ruleWords(e.Fields[name]); len(words) > 0 {
			out = append(out, fieldWords[name]+": "+strings.Join(words, "; "))
		}
	}
	for _, im := range e.ImposedDataSources {
		out = append(out, fmt.Sprintf("Data source %s is always mounted (%s)", im.Name, im.From.Words()))
	}
	l := e.Lifecycle
	if l.IdleStopSeconds > 0 {
		out = append(out, fmt.Sprintf("Stops after %s without activity (%s)", labspace.Span(l.IdleStopSeconds), l.From["idleStopSeconds"].Words()))
	}
	if l.MaxRunningSeconds > 0 {
		out = append(out, fmt.Sprintf("Runs at most %s at a time (%s)", labspace.Span(l.MaxRunningSeconds), l.From["maxRunningSeconds"].Words()))
	}
	if l.MaxPreemptibleRunningSeconds > 0 {
		out = append(out, fmt.Sprintf("Preemptible: runs at most %s at a time (%s)", labspace.Span(l.MaxPreemptibleRunningSeconds),
			l.From["maxPreemptibleRunningSeconds"].Words()))
	}
	return out
}

// ruleWords says one field's rule in words, each part with the scope
// whose policy set it.
func ruleWords(r labspace.EffectiveRule) []string {
	var parts []string
	add := func(part, text string) { parts = append(parts, text+" ("+r.From[part].Words()+")") }
	switch {
	case r.Locked():
		add("canEdit", "fixed at "+r.Default)
	case r.Default != "":
		add("default", r.Default+" unless you choose")
	}
	if r.Min != "" {
		add("min", "at least "+r.Min)
	}
	if r.Max != "" {
		add("max", "at most "+r.Max)
	}
	if len(r.Options) > 0 {
		add("options", "one of "+strings.Join(r.Options, ", "))
	}
	if r.Required {
		add("required", "required")
	}
	return parts
}

func sortedFields(m map[string]labspace.EffectiveRule) []string {
	var out []string
	for _, name := range []string{"environment", "environment.image", "compute", "compute.gpuDevices", "compute.cpuRequest",
		"compute.cpuLimit", "compute.memoryRequest", "compute.memoryLimit", "general.nodePool", "general.preemptible",
		"general.autoDeleteSeconds"} {
		if _, ok := m[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// computeRefused is why the policy refuses compute resource c ("" if not).
func computeRefused(e *labspace.EffectivePolicy, c *labspace.ComputeResource) string {
	probe := &labspace.Workspace{}
	probe.Spec.Compute = labspace.ResolvedCompute{From: labspace.AssetRef{Name: c.Name}, Spec: c.Spec}
	return refusal(e, probe, "compute")
}

// environmentRefused is why the policy refuses environment env ("" if not):
// a lock or options on the environment or on its image.
func environmentRefused(e *labspace.EffectivePolicy, env *labspace.Environment) string {
	probe := &labspace.Workspace{}
	probe.Spec.Environment = labspace.ResolvedEnvironment{From: labspace.AssetRef{Name: env.Name}, Spec: env.Spec}
	return refusal(e, probe, "environment")
}

// refusal is what the policy refuses in probe, in words, of the field
// block and its own fields ("compute", "compute.gpuDevices"...).
func refusal(e *labspace.EffectivePolicy, probe *labspace.Workspace, block string) string {
	if e == nil {
		return ""
	}
	var le *labspace.Error
	if !errors.As(e.Apply(probe), &le) {
		return ""
	}
	var why []string
	for _, f := range le.Fields {
		if f.Field == block || strings.HasPrefix(f.Field, block+".") {
			why = append(why, fieldWords[f.Field]+" "+f.Detail)
		}
	}
	return strings.Join(why, "; ")
}

// fieldRule is a field's rule as the form shows it beside the field's
// input: a lock, a default, bounds, required.
type fieldRule struct {
	labspace.EffectiveRule
	// Note says the rule in words with its scopes ("" when there is none).
	Note string
}

// ruleOf is the policy's rule on field name (the zero rule when none).
func ruleOf(e *labspace.EffectivePolicy, name string) fieldRule {
	if e == nil {
		return fieldRule{}
	}
	r, ok := e.Fields[name]
	if !ok {
		return fieldRule{}
	}
	out := fieldRule{EffectiveRule: r}
	if words := ruleWords(r); len(words) > 0 {
		out.Note = "Policy: " + strings.Join(words, "; ")
	}
	return out
}

// FromScratch says which block a workspace made without a template gets
// from the policy's default, for the “The template's” choice ("" if none).
func (r fieldRule) FromScratch() string {
	if r.Default == "" || r.Locked() {
		return ""
	}
	return "Without a template: " + r.Default + ", the default (" + r.From["default"].Words() + ")"
}
