package labspace

import (
	"regexp"
	"time"
)

// Kind names a type of stored object.
type Kind string

const (
	KindUser            Kind = "user"
	KindGroup           Kind = "group"
	KindApplication     Kind = "application"
	KindDepartment      Kind = "department"
	KindProject         Kind = "project"
	KindAccessRule      Kind = "access-rule"
	KindEnvironment     Kind = "environment"
	KindComputeResource Kind = "compute-resource"
	KindDataSource      Kind = "data-source"
	KindCredential      Kind = "credential"
	KindTemplate        Kind = "template"
	KindWorkspace       Kind = "workspace"
	KindPolicy          Kind = "policy"
)

// AssetKinds are the building blocks a workspace is made from.
var AssetKinds = []Kind{KindEnvironment, KindComputeResource, KindDataSource, KindCredential, KindTemplate}

// IsAsset reports whether k is a building block.
func (k Kind) IsAsset() bool {
	for _, a := range AssetKinds {
		if a == k {
			return true
		}
	}
	return false
}

// ScopeType is where an object lives: everywhere, in a department, or in a project.
type ScopeType string

const (
	ScopeGlobal     ScopeType = "global"
	ScopeDepartment ScopeType = "department"
	ScopeProject    ScopeType = "project"
)

// Scope locates an object. Departments and projects are named by their
// (immutable) names. A project's scope is its department, or global.
type Scope struct {
	// Where the object lives: global, department or project.
	Type ScopeType `json:"type" example:"project"`
	// The department's or project's name; empty for the global scope.
	Name string `json:"name,omitempty" example:"vision"`
}

// Global is the scope above all others.
var Global = Scope{Type: ScopeGlobal}

// ProjectScope is the scope of project p.
func ProjectScope(p string) Scope { return Scope{Type: ScopeProject, Name: p} }

// DepartmentScope is the scope of department d.
func DepartmentScope(d string) Scope { return Scope{Type: ScopeDepartment, Name: d} }

func (s Scope) String() string {
	if s.Type == ScopeGlobal {
		return "global"
	}
	return string(s.Type) + "/" + s.Name
}

// Words names the scope for people: "global", "department vision",
// "project cv".
func (s Scope) Words() string {
	if s.Type == ScopeGlobal {
		return "global"
	}
	return string(s.Type) + " " + s.Name
}

// Validate checks the scope's shape (not that its department or project exists).
func (s Scope) Validate(field string, v *Invalid) {
	switch s.Type {
	case ScopeGlobal:
		if s.Name != "" {
			v.Add(field+".name", "must be empty for the global scope")
		}
	case ScopeDepartment, ScopeProject:
		ValidateName(field+".name", s.Name, v)
	default:
		v.Add(field+".type", "must be one of global, department, project")
	}
}

// Meta is carried by every stored object.
type Meta struct {
	// Unique id, set by the server.
	ID string `json:"id" openapi:"readOnly" example:"01JD4Q8M6XQ5V0A9R2T7C3E1KZ"`
	// DNS-1123 label, unique among the objects of its kind and scope; it cannot change.
	// An access rule's is derived from its subject and role (what is sent is replaced).
	Name string `json:"name" example:"vision"`
	// Free text for people, at most 1024 characters.
	Description string `json:"description,omitempty"`
	Scope       Scope  `json:"scope"`
	// Increases with every change; send the one you read with an update, a stale one is refused with 409.
	ResourceVersion int64 `json:"resourceVersion" example:"3"`
	// When the object was created.
	CreatedAt time.Time `json:"createdAt" openapi:"readOnly"`
	// When the object last changed.
	UpdatedAt time.Time `json:"updatedAt" openapi:"readOnly"`
	// The user or application that created the object.
	CreatedBy string `json:"createdBy" openapi:"readOnly"`
}

// Object is anything stored: it has a Meta and a Kind.
type Object interface {
	GetMeta() *Meta
	Kind() Kind
}

// GetMeta returns m; embedding Meta gives an object half of Object.
func (m *Meta) GetMeta() *Meta { return m }

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// MaxDescription bounds free text.
const MaxDescription = 1024

// ValidateName checks a DNS-1123 label: lowercase letters, digits and '-',
// starting and ending with a letter or digit, at most 63 characters. Names
// become Kubernetes names, so they are rejected rather than mangled.
func ValidateName(field, name string, v *Invalid) {
	switch {
	case name == "":
		v.Add(field, "is required")
	case len(name) > 63:
		v.Add(field, "must be at most 63 characters (got %d)", len(name))
	case !dnsLabel.MatchString(name):
		v.Add(field, "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit (got %q)", name)
	}
}

// ValidateMeta checks the user-settable part of meta.
func ValidateMeta(m *Meta, v *Invalid) {
	ValidateName("meta.name", m.Name, v)
	m.Scope.Validate("meta.scope", v)
	if len(m.Description) > MaxDescription {
		v.Add("meta.description", "must be at most %d characters", MaxDescription)
	}
}

// New returns an empty object of kind k, or nil for an unknown kind.
func New(k Kind) Object {
	switch k {
	case KindUser:
		return &User{}
	case KindGroup:
		return &Group{}
	case KindApplication:
		return &Application{}
	case KindDepartment:
		return &Department{}
	case KindProject:
		return &Project{}
	case KindAccessRule:
		return &AccessRule{}
	case KindEnvironment:
		return &Environment{}
	case KindComputeResource:
		return &ComputeResource{}
	case KindDataSource:
		return &DataSource{}
	case KindCredential:
		return &Credential{}
	case KindTemplate:
		return &Template{}
	case KindWorkspace:
		return &Workspace{}
	case KindPolicy:
		return &Policy{}
	}
	return nil
}

// Validator is an object that checks its own fields.
type Validator interface {
	Object
	Validate(v *Invalid)
}
