package labspace

import "time"

// Token is a bearer token: a session from sign-in, or a personal access
// token. Only its SHA-256 hash is stored.
type Token struct {
	// The token's id.
	ID   string `json:"id"`
	Hash string `json:"-"`
	// Who the token signs in.
	Subject Subject `json:"subject"`
	Kind    string  `json:"kind"` // session | personal
	// A personal token's name.
	Name string `json:"name,omitempty"`
	// When the token was made.
	CreatedAt time.Time `json:"createdAt"`
	// When the token stops working.
	ExpiresAt time.Time `json:"expiresAt"`
}

// Token kinds.
const (
	TokenSession  = "session"
	TokenPersonal = "personal"
)

// AuditEntry records one change: who, what, which object, when, from where.
type AuditEntry struct {
	// The entry's number, increasing.
	ID int64 `json:"id"`
	// When it happened.
	Time time.Time `json:"time"`
	// Who did it: a user or application name.
	Actor  string `json:"actor"`
	Action string `json:"action"` // create, update, delete, start, stop, revoke, ...
	// The kind of object changed.
	Kind Kind `json:"kind"`
	// The object's id.
	ObjectID string `json:"objectId"`
	// The object's name.
	ObjectName string `json:"objectName"`
	// The object's scope.
	Scope  Scope  `json:"scope"`
	Source string `json:"source"` // the client's address
}
