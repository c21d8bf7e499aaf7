package labspace

import "sort"

// Credential is a building block holding a secret. The secret values are
// write-only: they are encrypted at rest, and reads show only the type, the
// key names and the registry address.
type Credential struct {
	Meta `json:"meta"`
	Spec CredentialSpec `json:"spec"`
}

func (*Credential) Kind() Kind { return KindCredential }

// CredentialType is the shape of a credential's secret.
type CredentialType string

const (
	CredDockerRegistry   CredentialType = "docker-registry"
	CredAccessKey        CredentialType = "access-key"
	CredUsernamePassword CredentialType = "username-password"
	CredGenericSecret    CredentialType = "generic-secret"
)

// CredentialSpec: Type and Registry are readable; Keys is filled by the
// server; the rest is accepted on create and update and never returned.
// An update that leaves a value out keeps the stored one (while the type
// stays the same), so the description and readable fields change without
// sending the secret again; a generic secret's data, when sent, replaces
// all of it.
type CredentialSpec struct {
	// The shape of the secret.
	Type     CredentialType `json:"type" example:"docker-registry"`
	Registry string         `json:"registry,omitempty"`                // docker-registry: the registry's address
	Keys     []string       `json:"keys,omitempty" openapi:"readOnly"` // read-only: the names of the secret's keys

	// The user name (docker-registry, username-password); never returned.
	Username string `json:"username,omitempty" openapi:"writeOnly"`
	// The password (docker-registry, username-password); never returned.
	Password string `json:"password,omitempty" openapi:"writeOnly"`
	// The access key id (access-key); never returned.
	AccessKeyID string `json:"accessKeyId,omitempty" openapi:"writeOnly"`
	// The secret access key (access-key); never returned.
	SecretAccessKey string `json:"secretAccessKey,omitempty" openapi:"writeOnly"`
	// The secret's keys and values (generic-secret); never returned.
	Data map[string]string `json:"data,omitempty" openapi:"writeOnly"`
}

// Validate checks the credential and that the secret fits its type.
func (c *Credential) Validate(v *Invalid) {
	ValidateMeta(&c.Meta, v)
	s := &c.Spec
	need := func(field, val string) {
		if val == "" {
			v.Add("spec."+field, "is required for a %s credential", s.Type)
		} else if len(val) > MaxString {
			v.Add("spec."+field, "must be at most %d characters", MaxString)
		}
	}
	forbid := func(field string, set bool) {
		if set {
			v.Add("spec."+field, "is not part of a %s credential", s.Type)
		}
	}
	switch s.Type {
	case CredDockerRegistry:
		need("registry", s.Registry)
		need("username", s.Username)
		need("password", s.Password)
	case CredAccessKey:
		need("accessKeyId", s.AccessKeyID)
		need("secretAccessKey", s.SecretAccessKey)
	case CredUsernamePassword:
		need("username", s.Username)
		need("password", s.Password)
	case CredGenericSecret:
		if len(s.Data) == 0 || len(s.Data) > 64 {
			v.Add("spec.data", "must have between 1 and 64 keys")
		}
		for k, val := range s.Data {
			if !envName.MatchString(k) || len(k) > 253 {
				v.Add("spec.data."+k, "key must be letters, digits and '_', not starting with a digit")
			}
			if len(val) > MaxString {
				v.Add("spec.data."+k, "must be at most %d characters", MaxString)
			}
		}
	default:
		v.Add("spec.type", "must be one of docker-registry, access-key, username-password, generic-secret")
		return
	}
	forbid("registry", s.Type != CredDockerRegistry && s.Registry != "")
	forbid("username", (s.Type == CredAccessKey || s.Type == CredGenericSecret) && s.Username != "")
	forbid("password", (s.Type == CredAccessKey || s.Type == CredGenericSecret) && s.Password != "")
	forbid("accessKeyId", s.Type != CredAccessKey && s.AccessKeyID != "")
	forbid("secretAccessKey", s.Type != CredAccessKey && s.SecretAccessKey != "")
	forbid("data", s.Type != CredGenericSecret && len(s.Data) > 0)
}

// Secret returns the secret values as key/value pairs.
func (s *CredentialSpec) Secret() map[string]string {
	switch s.Type {
	case CredAccessKey:
		return map[string]string{"accessKeyId": s.AccessKeyID, "secretAccessKey": s.SecretAccessKey}
	case CredGenericSecret:
		return s.Data
	}
	return map[string]string{"username": s.Username, "password": s.Password}
}

// Redact moves the secret out of the spec, leaving the key names.
func (s *CredentialSpec) Redact() {
	keys := make([]string, 0, 4)
	for k := range s.Secret() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.Keys = keys
	s.Username, s.Password, s.AccessKeyID, s.SecretAccessKey, s.Data = "", "", "", "", nil
}
