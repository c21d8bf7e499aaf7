package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/sso"
)

// SSO is single sign-on through an OpenID provider (docs/operations.md).
type SSO struct {
	sso.Config
	// Only hides the password form (still at /login?local=1).
	Only bool
	// AdminEmails and AdminGroups make system administrators (service.SSO).
	AdminEmails, AdminGroups []string
}

// serviceSSO is the service's part of cfg, nil without single sign-on.
func serviceSSO(cfg *SSO) *service.SSO {
	if cfg == nil || cfg.Issuer == "" {
		return nil
	}
	emails := make([]string, len(cfg.AdminEmails))
	for i, e := range cfg.AdminEmails {
		emails[i] = strings.ToLower(strings.TrimSpace(e))
	}
	return &service.SSO{AdminEmails: emails, AdminGroups: cfg.AdminGroups}
}

// openSSO reads the provider's discovery document and gives the configured
// groups their role; nil without single sign-on.
func openSSO(ctx context.Context, cfg *SSO, publicURL string, svc *service.Service) (*sso.RP, error) {
	if cfg == nil || cfg.Issuer == "" {
		return nil, nil
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("--oidc-issuer needs --oidc-client-id")
	}
	c := cfg.Config
	c.RedirectURL = strings.TrimSuffix(publicURL, "/") + sso.CallbackPath
	rp, err := sso.New(ctx, c)
	if err != nil {
		return nil, err
	}
	return rp, svc.EnsureSSOAdminGroups(ctx)
}
