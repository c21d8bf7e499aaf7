// Package service holds labspace's business rules: validation, access
// checks, reference resolution, lifecycle intent and audit. The HTTP API, the
// web UI and the CLI all go through it; none of them reach the store.
//
// Every method takes the caller from the context (WithActor). A caller who
// may not see an object gets ENOTFOUND, never EFORBIDDEN, so that objects in
// other projects cannot be discovered.
package service

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/store"
	"golang.org/x/crypto/bcrypt"
)

// Lifecycle is told when a workspace's desired phase changes; the controller
// that drives workspaces to it implements this (the next layer down).
type Lifecycle interface {
	Notify(workspaceID string)
}

type nopLifecycle struct{}

func (nopLifecycle) Notify(string) {}

// LogSource serves a workspace's output (the runtime).
type LogSource interface {
	Logs(ctx context.Context, w *labspace.Workspace, follow bool) (io.ReadCloser, error)
}

// Options configure a Service.
type Options struct {
	Store store.Store
	Box   *secret.Box
	// Lifecycle defaults to one that does nothing; SetLifecycle sets it
	// later, since the controller itself needs the service.
	Lifecycle Lifecycle
	// Logs serves workspace output; nil: no logs.
	Logs LogSource
	// Now defaults to time.Now; tests inject a clock.
	Now func() time.Time
	// SessionTTL is how long a sign-in token lasts (default 12h).
	SessionTTL time.Duration
	// BcryptCost defaults to bcrypt.DefaultCost.
	BcryptCost int
	Logger     *slog.Logger
	// WebhooksToPrivate lets project webhooks reach loopback and private
	// networks (never link-local ones).
	WebhooksToPrivate bool
	// SMTP, when its Addr is set, also mails each notice to the
	// workspace's creator (when the user has an e-mail address).
	SMTP SMTP
	// SSO, when set, lets people sign in through an OpenID provider (sso.go).
	SSO *SSO
}

// SMTP is the mail server notices go through.
type SMTP struct {
	Addr               string // host:port
	From               string
	Username, Password string // PLAIN authentication, when set (over TLS, or to localhost)
}

// Service is the one place business rules live.
type Service struct {
	store      store.Store
	box        *secret.Box
	lifecycle  Lifecycle
	capacity   capacitySource
	logs       LogSource
	now        func() time.Time
	sessionTTL time.Duration
	bcryptCost int
	log        *slog.Logger
	// accessGen moves whenever a change may alter access (a token revoked;
	// a rule, user, group, application, project or workspace created,
	// changed or deleted), so that caches of access decisions (the actor
	// cache here, the tool proxy's) know to drop them.
	accessGen atomic.Uint64
	// toolGen moves with accessGen and whenever workspaces change: the
	// proxy's cache of granted tool access follows it.
	toolGen atomic.Uint64
	actors  *AccessCache[cachedActor] // by token hash
	// unisolated is why workloads cannot be isolated here (RestrictWorkloads).
	unisolated atomic.Pointer[string]
	// ownOrigins is set when tools are served on origins of their own.
	ownOrigins atomic.Bool
	dummyHash  []byte // a hash at bcryptCost, compared when the user is unknown
	throttle   throttle
	sso        *SSO
	activity   activity // idle.go
	uses       useLog   // utilisation.go
	policies   sync.Map // project -> cachedPolicy
	notes      *notifier
}

// AccessGeneration changes whenever access may have been taken away on
// this server. A cached access decision is valid while it stays the same.
func (s *Service) AccessGeneration() uint64 { return s.accessGen.Load() }

// accessChanged is called after a change that may alter who may do what
// (a rule, a user, a group, an application, a project, a token): every
// cached decision goes.
func (s *Service) accessChanged() { s.accessGen.Add(1); s.toolGen.Add(1) }

// workspacesChanged is called after a change of workspaces (stopped,
// deleted, shared): decisions about their tools go, callers' grants stay
// (under load, workspace writes emptied the actor cache many times a second).
func (s *Service) workspacesChanged() { s.toolGen.Add(1) }

// changed is accessChanged for a change of an object of kind k; building
// blocks alter no access (workspaces keep resolved copies of them).
func (s *Service) changed(k labspace.Kind) {
	if labspace.ResourceOf(k) != labspace.ResAssets {
		s.accessChanged()
	}
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, box: o.Box, lifecycle: o.Lifecycle, logs: o.Logs, now: o.Now, sessionTTL: o.SessionTTL,
		bcryptCost: o.BcryptCost, log: o.Logger, sso: o.SSO}
	if s.lifecycle == nil {
		s.lifecycle = nopLifecycle{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sessionTTL == 0 {
		s.sessionTTL = 12 * time.Hour
	}
	if s.bcryptCost == 0 {
		s.bcryptCost = 10
	}
	// Unknown users cost what known ones do: no enumeration by timing.
	s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("labspace-dummy-password"), s.bcryptCost)
	if s.log == nil {
		s.log = slog.Default()
	}
	s.notes = newNotifier(o.WebhooksToPrivate, o.SMTP)
	go s.notes.run(s.log.Warn)
	s.actors = NewAccessCache[cachedActor](s)
	return s
}

// SetLifecycle connects the controller and the runtime's logs. Call it
// before serving requests.
func (s *Service) SetLifecycle(l Lifecycle, logs LogSource) { s.lifecycle, s.logs = l, logs }

type ctxKey int

const (
	actorKey ctxKey = iota
	sourceKey
)

// WithActor returns a context carrying the caller.
func WithActor(ctx context.Context, a *labspace.Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

type tokenKey struct{}

// WithToken records the token the caller came with: a recent sign-in
// through the identity provider confirms what a password would.
func WithToken(ctx context.Context, tk *labspace.Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, tk)
}

func tokenFrom(ctx context.Context) *labspace.Token {
	tk, _ := ctx.Value(tokenKey{}).(*labspace.Token)
	return tk
}

// ActorFrom returns the caller, or nil.
func ActorFrom(ctx context.Context) *labspace.Actor {
	a, _ := ctx.Value(actorKey).(*labspace.Actor)
	return a
}

// WithSource records the client's address for the audit log.
func WithSource(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, sourceKey, addr)
}

func actor(ctx context.Context) (*labspace.Actor, error) {
	a := ActorFrom(ctx)
	if a == nil {
		return nil, labspace.Errorf(labspace.EUNAUTHORIZED, "Sign in first.")
	}
	return a, nil
}

// audit appends an entry for a change made in tx.
func (s *Service) audit(ctx context.Context, tx store.Tx, action string, m *labspace.Meta, kind labspace.Kind) error {
	who := "system"
	if a := ActorFrom(ctx); a != nil {
		who = a.Subject.String()
	}
	return s.auditBy(ctx, tx, who, action, m, kind)
}

// auditBy is audit for a caller named who (one signing in has no actor yet).
func (s *Service) auditBy(ctx context.Context, tx store.Tx, who, action string, m *labspace.Meta, kind labspace.Kind) error {
	src, _ := ctx.Value(sourceKey).(string)
	return tx.AddAudit(&labspace.AuditEntry{Time: s.now().UTC(), Actor: who, Action: action, Kind: kind,
		ObjectID: m.ID, ObjectName: m.Name, Scope: m.Scope, Source: src})
}

// stamp fills the server-owned meta of a new object.
func (s *Service) stamp(m *labspace.Meta, a *labspace.Actor) {
	now := s.now().UTC()
	m.ID = uuid.NewString()
	m.CreatedAt, m.UpdatedAt = now, now
	m.CreatedBy = a.Subject.Name
	m.ResourceVersion = 1
}

// Audit lists the audit log, newest first. System administrators only.
func (s *Service) Audit(ctx context.Context, q store.AuditQuery) ([]labspace.AuditEntry, string, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, "", err
	}
	if !a.Can(labspace.VerbRead, labspace.ResAudit, labspace.Global) {
		return nil, "", labspace.Errorf(labspace.EFORBIDDEN, "Only system administrators may read the audit log.")
	}
	var out []labspace.AuditEntry
	var next string
	err = s.store.View(ctx, func(tx store.Tx) error {
		out, next, err = tx.ListAudit(q)
		return err
	})
	return out, next, err
}
