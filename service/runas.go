package service

import (
	"context"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// identityRunAs gives a workspace whose environment runs as "the identity
// provider's" user the POSIX identity of its creator, as the provider said
// at their last sign-in: at creation and again at each start. Root (uid or
// gid 0) from a provider is refused: an administrator who wants root says
// so with a custom runAs, a privileged setting.
func identityRunAs(tx store.Tx, w *labspace.Workspace, creator string) error {
	env := &w.Spec.Environment.Spec
	if env.RunAs.Source != labspace.UIDFromIdP {
		return nil
	}
	refuse := func(why string, args ...any) error {
		return unprocessable("environment", "environment %q runs as its user's uid from the identity provider: "+why,
			append([]any{w.Spec.Environment.From.Name}, args...)...)
	}
	rec, err := tx.GetByName(labspace.KindUser, labspace.Global, creator)
	if err != nil {
		return refuse("%s is not a user", creator)
	}
	var u labspace.User
	if err := store.Decode(rec, &u); err != nil {
		return err
	}
	id := u.Status.Identity
	switch {
	case id == nil || id.UID == nil:
		return refuse("%s has none (sign in through single sign-on; the provider must send the claim --oidc-uid-claim names)", creator)
	case *id.UID == 0 || id.GID != nil && *id.GID == 0:
		return refuse("the provider gives %s uid or gid 0 (root), which labspace refuses", creator)
	}
	env.RunAs.UID, env.RunAs.GID = id.UID, id.GID
	if env.RunAs.GID == nil {
		env.RunAs.GID = id.UID
	}
	env.RunAs.SupplementalGroups = nil
	for _, g := range id.SupplementaryGIDs {
		if g != 0 {
			env.RunAs.SupplementalGroups = append(env.RunAs.SupplementalGroups, g)
		}
	}
	return nil
}

// refreshRunAs is identityRunAs at a start, outside the start's write.
func (s *Service) refreshRunAs(ctx context.Context, w *labspace.Workspace) error {
	return s.store.View(ctx, func(tx store.Tx) error { return identityRunAs(tx, w, w.CreatedBy) })
}
