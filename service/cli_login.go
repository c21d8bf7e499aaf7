package service

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/store"
)

// The command line signs in through the browser (RFC 8252): it listens on
// a loopback port, opens labspace's page in the browser with a PKCE
// challenge, the signed-in user confirms, and labspace redirects to the
// loopback port with a one-use code that only the holder of the
// challenge's verifier can turn into a session token.

// TokenCLICode is a one-use code for the command line, valid two minutes.
const TokenCLICode = "cli-code"

const cliCodeTTL = 2 * time.Minute

// MintCLICode makes a code for the caller, bound to an S256 PKCE
// challenge and the loopback redirect URI it goes to.
func (s *Service) MintCLICode(ctx context.Context, challenge, redirectURI string) (string, error) {
	a, err := actor(ctx)
	if err != nil {
		return "", err
	}
	if a.Subject.Type != labspace.SubjectUser {
		return "", labspace.Errorf(labspace.EFORBIDDEN, "Only people sign the command line in.")
	}
	if len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return "", labspace.FieldErr("code_challenge", "must be an S256 PKCE challenge (43 base64url characters)")
	}
	raw, _, err := s.issue(ctx, a.Subject, TokenCLICode, challenge+" "+redirectURI, cliCodeTTL, nil)
	return raw, err
}

// RedeemCLICode turns a code into a session token when verifier matches
// its challenge and redirectURI is the one it was made for; a code works
// once.
func (s *Service) RedeemCLICode(ctx context.Context, code, verifier, redirectURI string) (string, *labspace.Token, error) {
	refused := labspace.Errorf(labspace.EUNAUTHORIZED, "The sign-in code is wrong, expired or used; run labspace login again.")
	var tk *labspace.Token
	ok := false
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		if tk, err = tx.TokenByHash(secret.HashToken(code)); err != nil || tk.Kind != TokenCLICode {
			tk = nil
			return nil
		}
		// Gone at the first try, right or wrong: a verifier cannot be guessed.
		sum := sha256.Sum256([]byte(verifier))
		ok = s.now().Before(tk.ExpiresAt) && constantEqual(tk.Name, base64.RawURLEncoding.EncodeToString(sum[:])+" "+redirectURI)
		return tx.DeleteToken(tk.Subject, tk.ID)
	})
	if err != nil {
		return "", nil, err
	}
	if !ok {
		return "", nil, refused
	}
	return s.issue(ctx, tk.Subject, labspace.TokenSession, "command line", s.sessionTTL, func(tx store.Tx, _ *labspace.Token) error {
		return s.auditBy(ctx, tx, tk.Subject.String(), "sign-in-cli", &labspace.Meta{Name: tk.Subject.Name, Scope: labspace.Global}, labspace.KindUser)
	})
}
