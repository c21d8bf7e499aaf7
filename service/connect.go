package service

import (
	"context"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/store"
)

// ToolOrigin is where a tool is served from, which decides who may use it.
type ToolOrigin int

const (
	// OriginPath: /ws/... on labspace's own origin. A tool page there runs
	// with labspace's authority in the browser of whoever opens it, so it
	// answers its creator only (a tool can attack nobody but its author).
	OriginPath ToolOrigin = iota
	// OriginOwn: a host name of the tool's own under the proxy domain,
	// where labspace's session never goes; shared workspaces are usable.
	OriginOwn
)

// Token kinds of tool connections: a ticket lives a minute and is spent
// once, on the tool's host, for a tool token that opens that tool only.
const (
	TokenTicket = "ticket"
	TokenTool   = "tool"
	ticketTTL   = time.Minute
)

// SetToolOrigins says whether tools are served on origins of their own;
// without them workspaces cannot be shared.
func (s *Service) SetToolOrigins(own bool) { s.ownOrigins.Store(own) }

// Connect decides whether the caller may use a tool of a workspace:
// it runs code there with the workspace's credentials. ENOTFOUND when the
// workspace or tool is not there for the caller, EFORBIDDEN with the reason
// otherwise.
func (s *Service) Connect(ctx context.Context, project, name, tool string, origin ToolOrigin) (*labspace.Workspace, *labspace.Tool, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, nil, err
	}
	w, err := s.GetWorkspace(ctx, project, name)
	if err != nil {
		return nil, nil, err
	}
	var t *labspace.Tool
	for i := range w.Spec.Environment.Spec.Tools {
		if w.Spec.Environment.Spec.Tools[i].Name == tool {
			t = &w.Spec.Environment.Spec.Tools[i]
		}
	}
	if t == nil {
		return nil, nil, labspace.Errorf(labspace.ENOTFOUND, "Workspace %s has no tool %s.", name, tool)
	}
	if !a.Can(labspace.VerbConnect, labspace.ResWorkspaces, w.Scope) {
		return nil, nil, labspace.Errorf(labspace.EFORBIDDEN, "Your role does not allow connecting to tools in project %q: a tool runs code in the workspace.", project)
	}
	creator := a.Subject.Type == labspace.SubjectUser && a.Subject.Name == w.CreatedBy
	switch {
	case creator:
		return w, t, nil
	case origin == OriginPath:
		return nil, nil, labspace.Errorf(labspace.EFORBIDDEN, "Tool %s of %s answers its creator %s only: tools on labspace's own address are never shared.", tool, name, w.CreatedBy)
	case t.Private:
		return nil, nil, labspace.Errorf(labspace.EFORBIDDEN, "Tool %s is private to %s.", tool, w.CreatedBy)
	case a.Subject.Type == labspace.SubjectUser && w.Sharing.SharedWith(a.Subject.Name):
		return w, t, nil
	}
	return nil, nil, labspace.Errorf(labspace.EFORBIDDEN, "%s has not shared workspace %s with you.", w.CreatedBy, name)
}

// ShareWorkspace sets who besides its creator may connect to a
// workspace's tools. Only the creator shares, and only where tools have
// origins of their own.
func (s *Service) ShareWorkspace(ctx context.Context, project, name string, sh labspace.Sharing) (*labspace.Workspace, error) {
	defer s.workspacesChanged()
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var v labspace.Invalid
	sh.Validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if sh.Users == nil {
		sh.Users = []string{}
	}
	return s.changeWorkspace(ctx, a, project, name, "share", func(w *labspace.Workspace) (*labspace.Event, error) {
		if a.Subject.Type != labspace.SubjectUser || a.Subject.Name != w.CreatedBy {
			return nil, labspace.Errorf(labspace.EFORBIDDEN, "Only %s, who created %s, may share it.", w.CreatedBy, name)
		}
		if (sh.Project || len(sh.Users) > 0) && !s.ownOrigins.Load() {
			return nil, unprocessable("project", "sharing needs tools on addresses of their own: an administrator starts labspace with --proxy-domain")
		}
		w.Sharing = sh
		return nil, nil
	})
}

// ToolTicket returns a ticket for the caller to open tool on its own
// origin, once Connect allowed it there.
func (s *Service) ToolTicket(ctx context.Context, w *labspace.Workspace, tool string) (string, error) {
	a, err := actor(ctx)
	if err != nil {
		return "", err
	}
	raw, _, err := s.issue(ctx, a.Subject, TokenTicket, w.ID+"/"+tool, ticketTTL, nil)
	return raw, err
}

// RedeemTicket spends a ticket, once, and returns a tool token for the
// same subject that opens the same tool only.
func (s *Service) RedeemTicket(ctx context.Context, ticket string) (string, *labspace.Token, error) {
	var tk *labspace.Token
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		tk, err = tx.TokenByHash(secret.HashToken(ticket))
		if err != nil || tk.Kind != TokenTicket || !s.now().Before(tk.ExpiresAt) {
			return labspace.Errorf(labspace.EUNAUTHORIZED, "This link to the tool has expired or was used; open the tool again from labspace.")
		}
		if err := tx.DeleteToken(tk.Subject, tk.ID); err != nil {
			return err
		}
		// Every connection makes a tool token: those of the subject that
		// expired go now, so that they do not pile up.
		mine, err := tx.ListTokens(tk.Subject)
		if err != nil {
			return err
		}
		for _, old := range mine {
			if (old.Kind == TokenTool || old.Kind == TokenTicket) && !s.now().Before(old.ExpiresAt) {
				if err := tx.DeleteToken(old.Subject, old.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return s.issue(ctx, tk.Subject, TokenTool, tk.Name, s.sessionTTL, nil)
}

// AuthenticateTool is Authenticate for a tool's own origin: only tool
// tokens, each of which opens the tool its Name ("<workspace id>/<tool>")
// says; the caller checks that.
func (s *Service) AuthenticateTool(ctx context.Context, raw string) (*labspace.Actor, *labspace.Token, error) {
	a, tk, err := s.authenticateAny(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	if tk.Kind != TokenTool {
		return nil, nil, labspace.Errorf(labspace.EUNAUTHORIZED, "Open the tool from labspace.")
	}
	return a, tk, nil
}
