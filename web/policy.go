package web

import (
	"errors"
	"fmt"
	"strings"

	"github.com/labspace/labspace"
)

// The new-workspace page shows the project's policy before anything is
// submitted: its rules in words, and the compute resources it refuses
// shown disabled with the reason.

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
		r := e.Fields[name]
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
		if len(parts) > 0 {
			out = append(out, fieldWords[name]+": "+strings.Join(parts, "; "))
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
	if e == nil {
		return ""
	}
	probe := &labspace.Workspace{}
	probe.Spec.Compute = labspace.ResolvedCompute{From: labspace.AssetRef{Name: c.Name}, Spec: c.Spec}
	var le *labspace.Error
	if !errors.As(e.Apply(probe), &le) {
		return ""
	}
	var why []string
	for _, f := range le.Fields {
		if f.Field == "compute" || strings.HasPrefix(f.Field, "compute.") {
			why = append(why, fieldWords[f.Field]+" "+f.Detail)
		}
	}
	return strings.Join(why, "; ")
}
