// Package store defines how labspace keeps its state: a small transactional
// interface over records, implemented on SQLite and PostgreSQL by sqlstore.
// The storetest package holds the contract suite every implementation passes.
//
// The store knows nothing of permissions or validation: the service layer
// decides, the store keeps.
package store

import (
	"context"
	"encoding/json"
	"reflect"
	"time"

	"github.com/labspace/labspace"
)

// Record is one stored object: indexed columns plus the object as JSON.
type Record struct {
	Kind      labspace.Kind
	ID        string
	Name      string
	Scope     labspace.Scope
	RV        int64
	CreatedAt time.Time
	UpdatedAt time.Time
	CreatedBy string
	Phase     string // workspaces: the observed phase, for filters
	// ActiveAt: a running workspace's last recorded activity (or its
	// start), for sorting by idle time; zero for anything else.
	ActiveAt time.Time
	Subject  string // access rules: "user:alice", for look-ups
	Data     []byte // the object as JSON; read-only (a store may hand out memory it does not copy)
	Format   string // the shape Data was written in: DocFormat(Kind) when Encode wrote it, else ""
	Secret   []byte // never returned by the API: password hash, sealed credential
}

// ListQuery filters, sorts and pages a list. Zero values mean "any".
type ListQuery struct {
	// Scopes restricts to objects in these scopes; nil means any scope and an
	// empty non-nil slice means none.
	Scopes    []labspace.Scope
	Names     []string
	Phase     string
	CreatedBy string
	Search    string // substring of the name
	Subjects  []string
	SortBy    string // name (default), createdAt, updatedAt, phase, activeAt (longest idle first; not running last)
	Desc      bool
	Limit     int // default 50, at most 1000
	Continue  string
	// Filters are conditions on fields, all of which must hold (the API's
	// filterBy).
	Filters []Filter
	// Offset skips that many matches before the page (not with Continue).
	Offset int
}

// Filter is one condition of a list: Field Op Value, such as name =@ "bert".
type Filter struct {
	Field string // one of FilterFields
	Op    FilterOp
	Value string
}

// FilterFields are the fields a Filter names: the name, the creator (a
// user or application name), a workspace's observed phase and the name of
// the environment it was made from.
var FilterFields = []string{"name", "creator", "phase", "environment"}

// FilterOp compares a field with a value. Equality is exact; the others
// ignore the case of ASCII letters.
type FilterOp string

// The operators, as Run:ai's API spells them.
const (
	OpEqual       FilterOp = "=="
	OpNotEqual    FilterOp = "!="
	OpContains    FilterOp = "=@"
	OpNotContains FilterOp = "!@"
	OpPrefix      FilterOp = "=^"
	OpSuffix      FilterOp = "=$"
)

// FilterOps are the operators, longest match first where it matters.
var FilterOps = []FilterOp{OpEqual, OpNotEqual, OpContains, OpNotContains, OpPrefix, OpSuffix}

// AuditQuery pages the audit log, newest first.
type AuditQuery struct {
	Actor    string
	ObjectID string
	Limit    int
	Continue string
}

// Tx is what can be done inside one transaction.
type Tx interface {
	// Insert stores a new record with RV 1. Returns ECONFLICT when the kind
	// already has that name in that scope, or the id exists.
	Insert(r *Record) error
	// Get returns ENOTFOUND if no record of kind has id.
	Get(kind labspace.Kind, id string) (*Record, error)
	// GetByName returns ENOTFOUND if no record of kind has name in scope.
	GetByName(kind labspace.Kind, scope labspace.Scope, name string) (*Record, error)
	// Update replaces the record when r.RV is the stored one, and increments
	// r.RV. Returns ENOTFOUND if gone, ECONFLICT if r.RV is stale.
	Update(r *Record) error
	// Delete removes the record, its references and its events. ENOTFOUND if gone.
	Delete(kind labspace.Kind, id string) error
	// List returns a page and the token of the next one ("" at the end).
	// Returns EINVALID for a bad continue token or sort field, a filter of
	// an unknown field or operator, or an offset with a continue token.
	List(kind labspace.Kind, q ListQuery) ([]*Record, string, error)
	// CountByPhase counts the records of kind in each phase (those without
	// a phase under "").
	CountByPhase(kind labspace.Kind) (map[string]int, error)

	// SetRefs replaces the ids that from uses (a workspace's or template's blocks).
	SetRefs(from string, to []string) error
	// Referrers returns the records that use id.
	Referrers(id string) ([]*Record, error)

	AddEvent(e *labspace.Event) error
	Events(workspaceID string) ([]labspace.Event, error)

	AddAudit(e *labspace.AuditEntry) error
	ListAudit(q AuditQuery) ([]labspace.AuditEntry, string, error)

	// InsertToken stores a token; ECONFLICT if its hash exists.
	InsertToken(t *labspace.Token) error
	// TokenByHash returns ENOTFOUND for an unknown hash (expired ones are returned).
	TokenByHash(hash string) (*labspace.Token, error)
	ListTokens(subject labspace.Subject) ([]labspace.Token, error)
	// DeleteToken returns ENOTFOUND when subject has no token id.
	DeleteToken(subject labspace.Subject, id string) error
	DeleteTokensOf(subject labspace.Subject) error
}

// Store runs transactions.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction, committed when fn returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// Decode unmarshals a record into obj and sets obj's meta from the record's
// columns, which are authoritative.
func Decode(r *Record, obj labspace.Object) error {
	// Emptied first: decoding into an object used before (a transaction
	// run again after it lost a race) must keep nothing the document
	// leaves out, such as an admission the lost try gave.
	if v := reflect.ValueOf(obj); v.Kind() == reflect.Pointer && !v.IsNil() {
		v.Elem().SetZero()
	}
	if err := json.Unmarshal(r.Data, obj); err != nil {
		return err
	}
	m := obj.GetMeta()
	m.ID, m.Name, m.Scope, m.ResourceVersion = r.ID, r.Name, r.Scope, r.RV
	m.CreatedAt, m.UpdatedAt, m.CreatedBy = r.CreatedAt, r.UpdatedAt, r.CreatedBy
	return nil
}

// Encode builds a record from obj; phase, subject and secret are left to
// the caller. Data is json.Marshal of obj, stamped with its Format.
func Encode(obj labspace.Object) (*Record, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	m := obj.GetMeta()
	return &Record{Kind: obj.Kind(), ID: m.ID, Name: m.Name, Scope: m.Scope, RV: m.ResourceVersion,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, CreatedBy: m.CreatedBy, Data: data, Format: docFormat(obj.Kind(), data)}, nil
}
