package sso_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace/sso"
	"github.com/labspace/labspace/sso/ssotest"
	"golang.org/x/oauth2"
)

const callback = "http://127.0.0.1:9/auth/sso/callback" // never requested: the tests take the code from the URL

func rpFor(t *testing.T, p *ssotest.Provider, c sso.Config) *sso.RP {
	t.Helper()
	c.Issuer, c.ClientID, c.ClientSecret, c.RedirectURL = p.Issuer, p.ClientID, p.ClientSecret, callback
	rp, err := sso.New(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// signIn runs the flow as a browser would; edit may change the provider's
// URL (a tampered request) and answer the callback's query.
func signIn(t *testing.T, ctx context.Context, p *ssotest.Provider, rp *sso.RP, user string, edit func(authURL string) string) (sso.Attempt, string, string) {
	t.Helper()
	a, to := rp.Start("/next", time.Now())
	if edit != nil {
		to = edit(to)
	}
	back, err := p.Login(ctx, nil, to, user, user+"-password")
	if err != nil {
		t.Fatal(err)
	}
	return a, back.Query().Get("state"), back.Query().Get("code")
}

func TestSignInReadsTheClaims(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(ssotest.User{Username: "Rita.Levi", Email: "rita@example.org", Password: "Rita.Levi-password", Groups: []string{"vision", "gpu-users"},
		UID: 20001, GID: 20000, ExtraGroups: []int{30001, 30002}})
	rp := rpFor(t, p, sso.Config{UIDClaim: "uid_number", GIDClaim: "gid_number", GroupIDsClaim: "supplementary_gids"})
	a, state, code := signIn(t, t.Context(), p, rp, "Rita.Levi", nil)
	in, err := rp.Finish(t.Context(), a, state, code, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if in.Issuer != p.Issuer || in.Subject != "sub-Rita.Levi" || in.Username != "Rita.Levi" || in.Email != "rita@example.org" || !in.EmailVerified ||
		strings.Join(in.Groups, ",") != "vision,gpu-users" || in.UID == nil || *in.UID != 20001 || in.GID == nil || *in.GID != 20000 ||
		len(in.SupplementaryGIDs) != 2 || in.SupplementaryGIDs[1] != 30002 {
		t.Errorf("sign-in read as %+v (uid %v gid %v)", in, in.UID, in.GID)
	}
	// The code is spent: the same answer again is refused.
	if _, err := rp.Finish(t.Context(), a, state, code, time.Now()); err == nil {
		t.Error("a code was accepted twice")
	}
}

// Each tampering is refused with the reason: another sign-in's state, a
// nonce the provider was given instead of labspace's, an ID token altered
// on its way, a provider clock running ahead, an expired token.
func TestTamperedSignInsAreRefused(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(ssotest.User{Username: "rita", Password: "rita-password", Groups: []string{"vision"}})
	rp := rpFor(t, p, sso.Config{})
	finish := func(ctx context.Context, a sso.Attempt, state, code string) error {
		_, err := rp.Finish(ctx, a, state, code, time.Now())
		return err
	}
	refused := func(what string, err error, words string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), words) {
			t.Errorf("%s: %v, want a refusal saying %q", what, err, words)
		}
	}
	a, _, code := signIn(t, t.Context(), p, rp, "rita", nil)
	refused("another state", finish(t.Context(), a, "forged-state", code), "(state)")
	other, _ := rp.Start("/", time.Now())
	a, state, code := signIn(t, t.Context(), p, rp, "rita", nil)
	refused("another attempt's cookie", finish(t.Context(), other, state, code), "(state)")

	a, state, code = signIn(t, t.Context(), p, rp, "rita", func(u string) string {
		return strings.Replace(u, "nonce=", "nonce=attacker", 1)
	})
	refused("a nonce not labspace's", finish(t.Context(), a, state, code), "(nonce)")

	a, state, code = signIn(t, t.Context(), p, rp, "rita", nil)
	tamper := context.WithValue(t.Context(), oauth2.HTTPClient, &http.Client{Transport: idTokenTamperer{}})
	refused("an altered ID token", finish(tamper, a, state, code), "ID token is not valid")

	p.SetClockSkew(10 * time.Minute)
	a, state, code = signIn(t, t.Context(), p, rp, "rita", nil)
	refused("a provider 10 min ahead", finish(t.Context(), a, state, code), "in the future")
	p.SetClockSkew(time.Minute) // within the 2 minutes allowed
	a, state, code = signIn(t, t.Context(), p, rp, "rita", nil)
	if err := finish(t.Context(), a, state, code); err != nil {
		t.Errorf("a provider 1 min ahead: %v", err)
	}
	p.SetClockSkew(-2 * time.Hour)
	a, state, code = signIn(t, t.Context(), p, rp, "rita", nil)
	refused("a provider 2 h behind (expired)", finish(t.Context(), a, state, code), "expired")
	p.SetClockSkew(0)

	a, state, code = signIn(t, t.Context(), p, rp, "rita", nil)
	refused("an attempt over 10 minutes old", func() error {
		_, err := rp.Finish(t.Context(), a, state, code, time.Now().Add(11*time.Minute))
		return err
	}(), "too long")
}

// idTokenTamperer changes the user name in the token endpoint's ID token,
// keeping the signature: what a party between labspace and the provider
// would do.
type idTokenTamperer struct{}

func (idTokenTamperer) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/token") {
		return res, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		if idt, ok := m["id_token"].(string); ok {
			parts := strings.Split(idt, ".")
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			payload = bytes.Replace(payload, []byte(`"rita"`), []byte(`"root"`), 1)
			parts[1] = base64.RawURLEncoding.EncodeToString(payload)
			m["id_token"] = strings.Join(parts, ".")
			body, _ = json.Marshal(m)
		}
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Del("Content-Length")
	return res, nil
}

// A POSIX id claim that is not one is refused rather than guessed at.
func TestBadPOSIXClaimsAreRefused(t *testing.T) {
	p := ssotest.Start(t, callback)
	p.SetUser(ssotest.User{Username: "rita", Password: "rita-password", UID: 20001})
	rp := rpFor(t, p, sso.Config{UIDClaim: "preferred_username"}) // a string that is no number
	a, state, code := signIn(t, t.Context(), p, rp, "rita", nil)
	if _, err := rp.Finish(t.Context(), a, state, code, time.Now()); err == nil || !strings.Contains(err.Error(), "not a POSIX id") {
		t.Errorf("a user name as the uid: %v", err)
	}
}
