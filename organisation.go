package labspace

import (
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// User is a person who signs in. Its password is write-only: the store keeps
// a bcrypt hash beside the object, never in it.
type User struct {
	Meta   `json:"meta"`
	Spec   UserSpec   `json:"spec"`
	Status UserStatus `json:"status" openapi:"readOnly"`
}

// UserStatus is what labspace learnt of a user, never set by a request.
type UserStatus struct {
	// Identity is the user's identity at the single sign-on provider,
	// as of the last sign-in; nil for a local user.
	Identity *ExternalIdentity `json:"identity,omitempty"`
}

// ExternalIdentity is what an OpenID provider said of a person at sign-in.
type ExternalIdentity struct {
	// The provider's issuer URL.
	Issuer string `json:"issuer"`
	// The person's id at the provider.
	Subject string `json:"subject"`
	// Groups are the provider's groups: access rules naming a group of
	// that name apply to the user, as for a labspace group.
	Groups []string `json:"groups,omitempty"`
	// UID, GID and SupplementaryGIDs are the POSIX identity workloads of
	// environments with runAs source identity-provider run as.
	UID *int64 `json:"uid,omitempty"`
	// The primary group id.
	GID *int64 `json:"gid,omitempty"`
	// More group ids.
	SupplementaryGIDs []int64 `json:"supplementaryGids,omitempty"`
	// When the person last signed in.
	LastSignIn time.Time `json:"lastSignIn"`
}

// SubjectKey is how a user's record is found from its identity.
func (e *ExternalIdentity) SubjectKey() string { return "oidc:" + e.Issuer + "#" + e.Subject }

// UserSpec is what an administrator sets on a user.
type UserSpec struct {
	// The user's e-mail address.
	Email string `json:"email,omitempty" example:"ada@example.org"`
	// The user's name for people.
	DisplayName string `json:"displayName,omitempty" example:"Ada Lovelace"`
	// A disabled user cannot sign in.
	Disabled bool `json:"disabled,omitempty"`
}

func (*User) Kind() Kind { return KindUser }

// Validate checks a user's fields.
func (u *User) Validate(v *Invalid) {
	ValidateMeta(&u.Meta, v)
	if u.Spec.Email != "" {
		if a, err := mail.ParseAddress(u.Spec.Email); err != nil || a.Address != u.Spec.Email {
			v.Add("spec.email", "must be a plain e-mail address")
		}
	}
	if len(u.Spec.DisplayName) > 256 {
		v.Add("spec.displayName", "must be at most 256 characters")
	}
}

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 8

// ValidatePassword checks a new password.
func ValidatePassword(field, p string, v *Invalid) {
	switch {
	case len(p) < MinPasswordLength:
		v.Add(field, "must be at least %d characters", MinPasswordLength)
	case len(p) > 72:
		v.Add(field, "must be at most 72 bytes") // bcrypt's limit
	}
}

// Group is a named set of users; access rules may name a group as subject.
type Group struct {
	Meta `json:"meta"`
	Spec GroupSpec `json:"spec"`
}

// GroupSpec lists a group's members by user name.
type GroupSpec struct {
	// The members' user names.
	Members []string `json:"members" example:"ada,grace"`
}

func (*Group) Kind() Kind { return KindGroup }

// Validate checks a group's fields.
func (g *Group) Validate(v *Invalid) {
	ValidateMeta(&g.Meta, v)
	if len(g.Spec.Members) > 10000 {
		v.Add("spec.members", "must have at most 10000 members")
	}
	for i, m := range g.Spec.Members {
		ValidateName(fieldIndex("spec.members", i), m, v)
	}
}

// Application is a service account: scripts sign in with its client id and
// secret. The secret is shown once, at creation, and stored hashed.
type Application struct {
	Meta `json:"meta"`
	Spec ApplicationSpec `json:"spec"`
}

// ApplicationSpec holds the application's public client id.
type ApplicationSpec struct {
	// The id the application signs in with, set by the server.
	ClientID string `json:"clientId" openapi:"readOnly"`
}

func (*Application) Kind() Kind { return KindApplication }

// Department groups projects; a department administrator manages them all.
type Department struct {
	Meta `json:"meta"`
	Spec DepartmentSpec `json:"spec"`
}

// DepartmentSpec holds the department's quota, the sum its projects may share.
type DepartmentSpec struct {
	Quota Quota `json:"quota"`
}

func (*Department) Kind() Kind { return KindDepartment }

// Validate checks a department's fields.
func (d *Department) Validate(v *Invalid) {
	ValidateMeta(&d.Meta, v)
	d.Spec.Quota.Validate("spec.quota", v)
}

// Project is where workspaces live. It maps to one Kubernetes namespace.
// Its meta.scope is its department, or global when it has none.
type Project struct {
	Meta `json:"meta"`
	Spec ProjectSpec `json:"spec"`
}

// ProjectSpec holds a project's namespace and quota.
type ProjectSpec struct {
	// Namespace defaults to "labspace-<name>".
	Namespace string `json:"namespace,omitempty"`
	Quota     Quota  `json:"quota"`
	// Webhook receives a JSON notice when a workspace of the project fails,
	// is preempted, is stopped by a policy's rule or is about to be.
	Webhook string `json:"webhook,omitempty"`
}

func (*Project) Kind() Kind { return KindProject }

// Validate checks a project's fields and fills the default namespace.
func (p *Project) Validate(v *Invalid) {
	ValidateMeta(&p.Meta, v)
	if p.Scope.Type == ScopeProject {
		v.Add("meta.scope.type", "a project belongs to a department or to the global scope")
	}
	if p.Spec.Namespace == "" && p.Name != "" {
		p.Spec.Namespace = DefaultNamespace(p.Name)
	}
	ValidateName("spec.namespace", p.Spec.Namespace, v)
	if SystemNamespace(p.Spec.Namespace) {
		v.Add("spec.namespace", "%q belongs to the cluster itself (default, kube-*); choose another", p.Spec.Namespace)
	}
	p.Spec.Quota.Validate("spec.quota", v)
	if w := p.Spec.Webhook; w != "" {
		u, err := url.Parse(w)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(w) > 2048 {
			v.Add("spec.webhook", "must be an http or https URL without credentials, at most 2048 characters")
		}
	}
}

// Quota is what a project (or department) deserves. Workspaces that are not
// preemptible are admitted only within it; over-quota lets preemptible
// workspaces use idle capacity beyond it.
type Quota struct {
	// GPUs deserved (fractions allowed).
	GPUs   float64 `json:"gpus" example:"4"`
	CPU    string  `json:"cpu,omitempty" example:"64"`       // cores, e.g. "64"; empty: unlimited
	Memory string  `json:"memory,omitempty" example:"512Gi"` // e.g. "512Gi"; empty: unlimited
	// Lets preemptible workspaces use idle capacity beyond the quota.
	OverQuota bool `json:"overQuota"`
}

// Validate checks the quota's quantities.
func (q *Quota) Validate(field string, v *Invalid) {
	if q.GPUs < 0 || q.GPUs > MaxGPUs*1000 {
		v.Add(field+".gpus", "must be between 0 and %d", MaxGPUs*1000)
	}
	validateCPU(field+".cpu", q.CPU, v)
	validateMemory(field+".memory", q.Memory, v)
}

// SubjectType is who an access rule is for.
type SubjectType string

const (
	SubjectUser        SubjectType = "user"
	SubjectGroup       SubjectType = "group"
	SubjectApplication SubjectType = "application"
)

// Subject names a user, group or application.
type Subject struct {
	// User, group or application.
	Type SubjectType `json:"type" example:"user"`
	// The subject's name.
	Name string `json:"name" example:"ada"`
}

func (s Subject) String() string { return string(s.Type) + ":" + s.Name }

// AccessRule gives a subject a role over a scope (meta.scope). Its name is
// derived from subject and role, so the same rule cannot be given twice.
type AccessRule struct {
	Meta `json:"meta"`
	Spec AccessRuleSpec `json:"spec"`
}

// AccessRuleSpec is the subject and the role it gets.
type AccessRuleSpec struct {
	// Who gets the role.
	Subject Subject `json:"subject"`
	// The role given over the rule's scope (meta.scope).
	Role Role `json:"role" example:"l1-researcher"`
}

func (*AccessRule) Kind() Kind { return KindAccessRule }

// Validate checks the rule and sets its derived name.
func (r *AccessRule) Validate(v *Invalid) {
	switch r.Spec.Subject.Type {
	case SubjectUser, SubjectGroup, SubjectApplication:
	default:
		v.Add("spec.subject.type", "must be one of user, group, application")
	}
	ValidateName("spec.subject.name", r.Spec.Subject.Name, v)
	if _, ok := rolePermissions[r.Spec.Role]; !ok {
		v.Add("spec.role", "must be one of %s", strings.Join(roleNames(), ", "))
	}
	r.Scope.Validate("meta.scope", v) // rules have no name of their own: no ValidateMeta
	r.Name = string(r.Spec.Subject.Type) + "." + r.Spec.Subject.Name + "." + string(r.Spec.Role)
}

func fieldIndex(field string, i int) string {
	return field + "[" + itoa(i) + "]"
}

// Validate checks an application's fields.
func (p *Application) Validate(v *Invalid) { ValidateMeta(&p.Meta, v) }
