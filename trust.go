package labspace

import (
	"sort"
	"strings"
)

// Privilege is a setting that crosses the trust boundary between a
// workload and the host or cluster it runs on: whoever sets it decides what
// runs, or with which powers, on behalf of everyone who shares the machine.
// Setting one needs the privilege at the object's scope; only
// administrators hold them by default (docs/access.md).
type Privilege string

const (
	// PrivCommand: command or args given at workspace creation, replacing
	// the vetted ones of the environment and template.
	PrivCommand Privilege = "override-command"
	// PrivHostPath: a host-path data source mounts a folder of the node.
	PrivHostPath Privilege = "host-path"
	// PrivCustomUID: runAs source custom picks the uid (0 included).
	PrivCustomUID Privilege = "custom-uid"
	// PrivCapabilities: Linux capabilities added to the container.
	PrivCapabilities Privilege = "add-capabilities"
	// PrivEscalation: allowPrivilegeEscalation lets setuid programs gain powers.
	PrivEscalation Privilege = "privilege-escalation"
	// PrivNamespace: a project's Kubernetes namespace other than its
	// default, or a change of it.
	PrivNamespace Privilege = "project-namespace"
)

// Privileges lists every privilege, in docs order.
var Privileges = []Privilege{PrivCommand, PrivHostPath, PrivCustomUID, PrivCapabilities, PrivEscalation, PrivNamespace}

// privilegedRoles hold every privilege at their scope and below. The
// policies of a scope will be able to grant single ones to other roles.
var privilegedRoles = map[Role]bool{RoleSystemAdministrator: true, RoleDepartmentAdministrator: true}

// HoldsPrivileges reports whether r holds the privileges.
func (r Role) HoldsPrivileges() bool { return privilegedRoles[r] }

// PrivilegeUse is a field that needs a privilege.
type PrivilegeUse struct {
	Field     string
	Privilege Privilege
}

// MayUse reports whether the actor holds p at scope s (a grant of a
// privileged role at s or above it).
func (a *Actor) MayUse(p Privilege, s Scope) bool {
	for _, sc := range a.Chain(s) {
		for _, g := range a.Grants {
			if g.Scope == sc && g.Role.HoldsPrivileges() {
				return true
			}
		}
	}
	return false
}

// CheckPrivileges returns EFORBIDDEN naming each field of uses that the
// actor may not set at s, or nil.
func (a *Actor) CheckPrivileges(uses []PrivilegeUse, s Scope) error {
	var fields []FieldError
	var names []string
	for _, u := range uses {
		if a.MayUse(u.Privilege, s) {
			continue
		}
		fields = append(fields, FieldError{Field: u.Field,
			Detail: "needs the " + string(u.Privilege) + " permission in " + s.String() + ", which your roles do not give"})
		names = append(names, string(u.Privilege))
	}
	if len(fields) == 0 {
		return nil
	}
	sort.Strings(names)
	return &Error{Code: EFORBIDDEN, Fields: fields,
		Message: "Your role does not allow privileged settings (" + strings.Join(dedup(names), ", ") + "); ask an administrator."}
}

func dedup(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// PrivilegeUses lists the fields of an environment spec (under prefix)
// that need a privilege.
func (s *EnvironmentSpec) PrivilegeUses(prefix string) []PrivilegeUse {
	var out []PrivilegeUse
	if s.RunAs.Source == UIDFromCustom {
		out = append(out, PrivilegeUse{prefix + ".runAs", PrivCustomUID})
	}
	if len(s.Capabilities) > 0 {
		out = append(out, PrivilegeUse{prefix + ".capabilities", PrivCapabilities})
	}
	if s.Security.AllowPrivilegeEscalation {
		out = append(out, PrivilegeUse{prefix + ".security.allowPrivilegeEscalation", PrivEscalation})
	}
	return out
}

// PrivilegeUses lists the fields of a data source spec that need a privilege.
func (s *DataSourceSpec) PrivilegeUses(prefix string) []PrivilegeUse {
	if s.Type == DataHostPath || s.HostPath != nil {
		return []PrivilegeUse{{prefix + ".hostPath", PrivHostPath}}
	}
	return nil
}

// PrivilegeUses lists the fields of a workspace request that need a privilege.
func (c *WorkspaceCreate) PrivilegeUses() []PrivilegeUse {
	var out []PrivilegeUse
	if c.Command != nil {
		out = append(out, PrivilegeUse{"command", PrivCommand})
	}
	if c.Args != nil {
		out = append(out, PrivilegeUse{"args", PrivCommand})
	}
	return out
}

// DefaultNamespace is the namespace a project gets when it names none.
func DefaultNamespace(project string) string {
	ns := "labspace-" + project
	if len(ns) > 63 {
		return project
	}
	return ns
}

// SystemNamespace reports whether ns belongs to the cluster itself, where
// no project may live.
func SystemNamespace(ns string) bool {
	return ns == "default" || strings.HasPrefix(ns, "kube-")
}

// WithinDepartment adds a field error (under field) for each part of q
// that exceeds the department's quota d: a project never deserves more
// than its department. A department's unset part (CPU or memory empty,
// GPUs 0) sets no bound: departments made before quotas had none.
func (q *Quota) WithinDepartment(field string, d Quota, v *Invalid) {
	if d.GPUs > 0 && q.GPUs > d.GPUs {
		v.Add(field+".gpus", "must be at most the department's %g", d.GPUs)
	}
	for _, c := range []struct {
		name, inner, outer string
		parse              func(string) (int64, bool)
	}{{"cpu", q.CPU, d.CPU, MilliCPU}, {"memory", q.Memory, d.Memory, MemoryBytes}} {
		if c.outer == "" {
			continue
		}
		in, _ := c.parse(c.inner)
		out, _ := c.parse(c.outer)
		if c.inner == "" || in > out {
			v.Add(field+"."+c.name, "must be at most the department's %s", c.outer)
		}
	}
}
