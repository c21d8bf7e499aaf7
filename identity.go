package labspace

import "time"

// Token is a bearer token: a session from sign-in, or a personal access
// token. Only its SHA-256 hash is stored.
type Token struct {
	ID        string    `json:"id"`
	Hash      string    `json:"-"`
	Subject   Subject   `json:"subject"`
	Kind      string    `json:"kind"` // session | personal
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Token kinds.
const (
	TokenSession  = "session"
	TokenPersonal = "personal"
)

// AuditEntry records one change: who, what, which object, when, from where.
type AuditEntry struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"` // create, update, delete, start, stop, revoke, ...
	Kind       Kind      `json:"kind"`
	ObjectID   string    `json:"objectId"`
	ObjectName string    `json:"objectName"`
	Scope      Scope     `json:"scope"`
	Source     string    `json:"source"` // the client's address
}
