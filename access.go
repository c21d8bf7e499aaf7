package labspace

import (
	"sort"
	"strconv"
)

// Role is a named set of permissions, given to a subject over a scope.
type Role string

const (
	RoleSystemAdministrator     Role = "system-administrator"
	RoleDepartmentAdministrator Role = "department-administrator"
	RoleEditor                  Role = "editor"
	RoleResearchManager         Role = "research-manager"
	RoleViewer                  Role = "viewer"
	RoleL1Researcher            Role = "l1-researcher"
	RoleL2Researcher            Role = "l2-researcher"
)

// Roles lists the roles in the order docs/access.md shows them.
var Roles = []Role{RoleSystemAdministrator, RoleDepartmentAdministrator, RoleEditor,
	RoleResearchManager, RoleViewer, RoleL1Researcher, RoleL2Researcher}

// Verb is what a permission allows.
type Verb string

const (
	VerbRead   Verb = "read"
	VerbCreate Verb = "create"
	VerbUpdate Verb = "update" // includes starting and stopping a workspace
	VerbDelete Verb = "delete"
	// VerbConnect is using a workspace's tools: it runs code there, with
	// its credentials, so reading is not enough. Others than the creator
	// also need the workspace shared with them (Workspace.Sharing).
	VerbConnect Verb = "connect"
)

// Verbs in matrix order.
var Verbs = []Verb{VerbRead, VerbCreate, VerbUpdate, VerbDelete, VerbConnect}

// Resource is what a permission is about. Asset kinds and workspaces use their Kind.
type Resource string

const (
	ResWorkspaces  Resource = "workspaces"
	ResAssets      Resource = "assets" // environments, compute resources, data sources, credentials, templates
	ResProjects    Resource = "projects"
	ResDepartments Resource = "departments"
	ResAccessRules Resource = "access-rules"
	ResIdentities  Resource = "users-groups-applications"
	ResAudit       Resource = "audit"
	ResPolicies    Resource = "policies"
)

// Resources in matrix order.
var Resources = []Resource{ResWorkspaces, ResAssets, ResProjects, ResDepartments, ResAccessRules, ResIdentities, ResAudit, ResPolicies}

// ResourceOf maps a kind to the resource its permissions are checked on.
func ResourceOf(k Kind) Resource {
	switch k {
	case KindWorkspace:
		return ResWorkspaces
	case KindProject:
		return ResProjects
	case KindDepartment:
		return ResDepartments
	case KindAccessRule:
		return ResAccessRules
	case KindUser, KindGroup, KindApplication:
		return ResIdentities
	case KindPolicy:
		return ResPolicies
	}
	return ResAssets
}

type perms map[Resource]string // letters of "rcudx" (x: connect)

// rolePermissions is the permission matrix; docs/access.md is generated from
// it (a test keeps the two equal).
var rolePermissions = map[Role]perms{
	RoleSystemAdministrator: {ResWorkspaces: "rcudx", ResAssets: "rcud", ResProjects: "rcud",
		ResDepartments: "rcud", ResAccessRules: "rcud", ResIdentities: "rcud", ResAudit: "r", ResPolicies: "rcud"},
	RoleDepartmentAdministrator: {ResWorkspaces: "rcudx", ResAssets: "rcud", ResProjects: "rcud",
		ResDepartments: "ru", ResAccessRules: "rcud", ResIdentities: "r", ResPolicies: "rcud"},
	RoleEditor: {ResWorkspaces: "r", ResAssets: "rcud", ResProjects: "rcud",
		ResDepartments: "rcud", ResAccessRules: "rcud", ResIdentities: "r", ResPolicies: "r"},
	RoleResearchManager: {ResWorkspaces: "rux", ResAssets: "rcud", ResProjects: "r",
		ResDepartments: "r", ResAccessRules: "r", ResPolicies: "r"},
	RoleViewer:       {ResWorkspaces: "r", ResAssets: "r", ResProjects: "r", ResDepartments: "r", ResAccessRules: "r", ResPolicies: "r"},
	RoleL1Researcher: {ResWorkspaces: "rcudx", ResAssets: "rcud", ResProjects: "r", ResDepartments: "r", ResPolicies: "r"},
	RoleL2Researcher: {ResWorkspaces: "rcudx", ResAssets: "r", ResProjects: "r", ResDepartments: "r", ResPolicies: "r"},
}

var verbLetter = map[Verb]byte{VerbRead: 'r', VerbCreate: 'c', VerbUpdate: 'u', VerbDelete: 'd', VerbConnect: 'x'}

// Allows reports whether role r grants verb on res.
func (r Role) Allows(res Resource, verb Verb) bool {
	p := rolePermissions[r][res]
	for i := 0; i < len(p); i++ {
		if p[i] == verbLetter[verb] {
			return true
		}
	}
	return false
}

// Covers reports whether every permission of other is also one of r's.
func (r Role) Covers(other Role) bool {
	for _, res := range Resources {
		for _, v := range Verbs {
			if other.Allows(res, v) && !r.Allows(res, v) {
				return false
			}
		}
	}
	return true
}

func roleNames() []string {
	out := make([]string, len(Roles))
	for i, r := range Roles {
		out[i] = string(r)
	}
	return out
}

// Grant is one role held over one scope, from an access rule.
type Grant struct {
	Role  Role
	Scope Scope
}

// Actor is who makes a request: a user or an application, with the grants
// its access rules (its own and its groups') give it. Departments maps each
// project the actor's grants reach to its department ("" when none).
type Actor struct {
	Subject     Subject
	Grants      []Grant
	Departments map[string]string
	// DepartmentProjects lists the projects of each department a grant names.
	DepartmentProjects map[string][]string
	// Passwordless: a user of the identity provider without a password.
	Passwordless bool
}

// Chain returns s and the scopes above it, most specific first.
func (a *Actor) Chain(s Scope) []Scope {
	switch s.Type {
	case ScopeProject:
		if d := a.Departments[s.Name]; d != "" {
			return []Scope{s, DepartmentScope(d), Global}
		}
		return []Scope{s, Global}
	case ScopeDepartment:
		return []Scope{s, Global}
	}
	return []Scope{Global}
}

// Can reports whether the actor may apply verb to res at scope s: a grant
// at s or above it allows it.
func (a *Actor) Can(verb Verb, res Resource, s Scope) bool {
	for _, sc := range a.Chain(s) {
		for _, g := range a.Grants {
			if g.Scope == sc && g.Role.Allows(res, verb) {
				return true
			}
		}
	}
	return false
}

// CanSee reports whether the actor may read res at scope s. Besides grants at
// s or above, an asset is visible from below: a project member sees the
// global and departmental building blocks that the project may use.
func (a *Actor) CanSee(res Resource, s Scope) bool {
	if a.Can(VerbRead, res, s) {
		return true
	}
	if res != ResAssets {
		return false
	}
	for _, g := range a.Grants {
		if !g.Role.Allows(res, VerbRead) {
			continue
		}
		for _, up := range a.Chain(g.Scope) {
			if up == s {
				return true
			}
		}
	}
	return false
}

// Visible returns the scopes where the actor may read res, or nil with
// all=true when it may read it everywhere. Lists filter on this in SQL.
func (a *Actor) Visible(res Resource) (scopes []Scope, all bool) {
	seen := map[Scope]bool{}
	add := func(s Scope) {
		if !seen[s] {
			seen[s] = true
			scopes = append(scopes, s)
		}
	}
	for _, g := range a.Grants {
		if !g.Role.Allows(res, VerbRead) {
			continue
		}
		if g.Scope.Type == ScopeGlobal {
			return nil, true
		}
		add(g.Scope)
		if g.Scope.Type == ScopeDepartment {
			for _, p := range a.DepartmentProjects[g.Scope.Name] {
				add(ProjectScope(p))
			}
		}
		if res == ResAssets {
			for _, up := range a.Chain(g.Scope) {
				add(up)
			}
		}
	}
	sort.Slice(scopes, func(i, j int) bool { return scopes[i].String() < scopes[j].String() })
	return scopes, false
}

// IsSystemAdministrator reports whether the actor holds that role globally.
func (a *Actor) IsSystemAdministrator() bool {
	for _, g := range a.Grants {
		if g.Role == RoleSystemAdministrator && g.Scope.Type == ScopeGlobal {
			return true
		}
	}
	return false
}

// PermissionMatrix renders the matrix as a Markdown table (docs/access.md).
func PermissionMatrix() string {
	out := "| role |"
	sep := "|---|"
	for _, res := range Resources {
		out += " " + string(res) + " |"
		sep += "---|"
	}
	out += "\n" + sep + "\n"
	for _, r := range Roles {
		out += "| " + string(r) + " |"
		for _, res := range Resources {
			p := rolePermissions[r][res]
			if p == "" {
				p = "-"
			}
			out += " " + p + " |"
		}
		out += "\n"
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
