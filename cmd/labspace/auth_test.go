package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labspace/labspace/client"
)

// readConfig returns the saved config file, failing if there is none.
func (e *env) readConfig() config {
	e.t.Helper()
	raw, err := os.ReadFile(e.cfgPath)
	if err != nil {
		e.t.Fatalf("config file: %v", err)
	}
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		e.t.Fatalf("config file %s: %v", raw, err)
	}
	return c
}

// noConfig fails unless no config file was written.
func (e *env) noConfig() {
	e.t.Helper()
	if _, err := os.Stat(e.cfgPath); !errors.Is(err, os.ErrNotExist) {
		e.t.Fatalf("a config file exists (%v)", err)
	}
}

// checkConfigMode fails unless the config file is readable by its owner
// only, in a folder only its owner can enter.
func (e *env) checkConfigMode() {
	e.t.Helper()
	st, err := os.Stat(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		e.t.Errorf("config file mode %o, want 600", m)
	}
	dir, err := os.Stat(filepath.Dir(e.cfgPath))
	if err != nil {
		e.t.Fatal(err)
	}
	if m := dir.Mode().Perm(); m&0o077 != 0 {
		e.t.Errorf("config folder mode %o: others can enter it", m)
	}
}

// personalToken creates a personal access token of the admin's.
func (e *env) personalToken(name string, seconds int) client.Token {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	var tk client.Token
	if err := e.admin.Do(ctx, "POST", "/api/v1/tokens", map[string]any{"name": name, "expiresInSeconds": seconds, "password": adminPassword}, &tk); err != nil {
		e.t.Fatalf("create token: %v", err)
	}
	return tk
}

func TestLoginWithPassword(t *testing.T) {
	e := newEnv(t)
	e.fails(exitError, []string{"not signed in", "labspace login"}, "whoami")

	// A wrong password: exit 1, the server's message, nothing saved.
	e.failsIn("not-the-password\n", exitError, []string{"Wrong user name or password"},
		"login", e.url, "--username", "admin", "--password-stdin")
	e.noConfig()

	r := e.cliIn(adminPassword+"\n", "login", e.url+"/", "--username", "admin", "--password-stdin")
	if r.code != exitOK || r.stdout != "Signed in to "+e.url+" as admin.\n" {
		t.Fatalf("login:\n%s", r)
	}
	if r.stderr != "" {
		t.Errorf("--password-stdin prompted:\n%s", r)
	}
	e.checkConfigMode()
	cfg := e.readConfig()
	if cfg.Server != e.url || cfg.Token == "" {
		t.Fatalf("saved config %+v, want server %s and a token", cfg, e.url)
	}
	if strings.Contains(cfg.Token, adminPassword) {
		t.Error("the config file holds the password")
	}

	rows := table(t, e.ok("whoami"), "USER", "SERVER", "ROLE", "SCOPE")
	if len(rows) != 1 || rows[0]["USER"] != "admin" || rows[0]["SERVER"] != e.url ||
		rows[0]["ROLE"] != "system-administrator" || rows[0]["SCOPE"] != "global" {
		t.Errorf("whoami rows: %v", rows)
	}
	var me struct {
		Subject struct{ Type, Name string }
		Grants  []struct {
			Role  string
			Scope struct{ Type string }
		}
	}
	decodeJSON(t, e.ok("whoami", "-o", "json"), &me)
	if me.Subject.Type != "user" || me.Subject.Name != "admin" || len(me.Grants) != 1 || me.Grants[0].Role != "system-administrator" {
		t.Errorf("whoami -o json: %+v", me)
	}
	var meYAML map[string]any
	decodeYAML(t, e.ok("whoami", "-o", "yaml"), &meYAML)
	if meYAML["subject"].(map[string]any)["name"] != "admin" {
		t.Errorf("whoami -o yaml: %v", meYAML)
	}

	// Failing to sign in again leaves the saved sign-in as it was.
	e.failsIn("still-wrong\n", exitError, []string{"Wrong user name or password"},
		"login", e.url, "--username", "admin", "--password-stdin")
	if got := e.readConfig(); got != cfg {
		t.Errorf("a failed login changed the config: %+v, was %+v", got, cfg)
	}
	e.ok("whoami")
}

// Without --username, login asks for both on the terminal (standard error)
// and reads the answers from standard input.
func TestLoginPrompts(t *testing.T) {
	e := newEnv(t)
	r := e.cliIn("admin\n"+adminPassword+"\n", "login", e.url)
	if r.code != exitOK || !strings.Contains(r.stderr, "Username: ") || !strings.Contains(r.stderr, "Password: ") {
		t.Fatalf("login with prompts:\n%s", r)
	}
	if strings.Contains(r.stdout+r.stderr, adminPassword) {
		t.Errorf("the password was echoed:\n%s", r)
	}
	e.ok("whoami")
}

func TestLoginWithToken(t *testing.T) {
	e := newEnv(t)
	pat := e.personalToken("laptop", 3600)
	r := e.ok("login", e.url, "--token", pat.AccessToken)
	if r.stdout != "Signed in to "+e.url+" as admin.\n" {
		t.Errorf("login --token:\n%s", r)
	}
	e.checkConfigMode()
	cfg := e.readConfig()
	if cfg.Token != pat.AccessToken || cfg.Server != e.url {
		t.Fatalf("saved config %+v", cfg)
	}
	e.ok("whoami")

	// A token the server does not know: exit 1, the saved sign-in kept.
	e.fails(exitError, []string{"sign in again"}, "login", e.url, "--token", "not-a-token")
	if got := e.readConfig(); got != cfg {
		t.Errorf("a failed login changed the config: %+v, was %+v", got, cfg)
	}
	e.ok("whoami")
}

func TestLogoutRevokesToken(t *testing.T) {
	e := newEnv(t)
	e.login()
	cfg := e.readConfig()
	if r := e.ok("logout"); r.stdout != "Signed out.\n" {
		t.Errorf("logout:\n%s", r)
	}
	after := e.readConfig()
	if after.Token != "" || after.Server != e.url {
		t.Errorf("config after logout: %+v", after)
	}
	e.checkConfigMode()
	e.fails(exitError, []string{"not signed in", "labspace login"}, "whoami")
	e.fails(exitError, []string{"not signed in", "labspace login"}, "ws", "list")
	e.fails(exitError, []string{"not signed in"}, "logout")

	// The token is revoked on the server, not just forgotten: a copy of
	// it no longer works.
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	var apiErr *client.Error
	if _, err := client.New(e.url, cfg.Token).WhoAmI(ctx); !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("the logged-out token still works: %v", err)
	}
	if err := (&config{Server: e.url, Token: cfg.Token}).save(); err != nil {
		t.Fatal(err)
	}
	e.fails(exitError, []string{"revoked", "sign in again"}, "whoami")
	e.fails(exitError, []string{"sign in again"}, "environment", "list")
	// Logging out with a dead token still forgets it.
	e.ok("logout")
	if got := e.readConfig(); got.Token != "" {
		t.Errorf("the dead token is still saved: %+v", got)
	}
}

func TestExpiredToken(t *testing.T) {
	e := newEnv(t)
	pat := e.personalToken("short-lived", 1)
	if err := (&config{Server: e.url, Token: pat.AccessToken}).save(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(pat.ExpiresAt) + 100*time.Millisecond)
	e.fails(exitError, []string{"expired", "sign in again"}, "whoami")
	e.fails(exitError, []string{"expired"}, "ws", "list")
	e.fails(exitError, []string{"expired"}, "login", e.url, "--token", pat.AccessToken)
}
