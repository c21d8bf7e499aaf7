package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// S12: a data dir made open to others (a packaged or mounted path) is closed
// to 0700, and the database, its WAL and the key are 0600, whatever the
// umask.
func TestDataFilesAreLabspacesAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnvIn(t, dir)
	e.must(200, "GET", "/api/v1/me", e.admin, nil)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	for _, f := range []string{"labspace.db", "labspace.db-wal", "labspace.db-shm", "secret.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// S13: users change their own password; their other sessions and tokens
// end, the one that asked stays.
func TestUsersChangeTheirOwnPassword(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob")
	other := e.login("bob", "bob-password")
	pat := e.must(201, "POST", "/api/v1/tokens", bob, map[string]any{"name": "ci", "expiresInSeconds": 3600, "password": "bob-password"}).str("accessToken")

	e.must(403, "PUT", "/api/v1/me/password", bob, map[string]any{"currentPassword": "not-it", "newPassword": "a-new-password-1"})
	e.must(400, "PUT", "/api/v1/me/password", bob, map[string]any{"currentPassword": "bob-password", "newPassword": "short"})
	e.must(200, "GET", "/api/v1/me", other, nil)
	e.must(204, "PUT", "/api/v1/me/password", bob, map[string]any{"currentPassword": "bob-password", "newPassword": "a-new-password-1"})
	e.must(200, "GET", "/api/v1/me", bob, nil)
	e.must(401, "GET", "/api/v1/me", other, nil)
	e.must(401, "GET", "/api/v1/me", pat, nil)
	e.must(401, "POST", "/api/v1/token", "", map[string]any{"username": "bob", "password": "bob-password"})
	e.login("bob", "a-new-password-1")
}

// S14: reading another project's object by its id says "not found" with the
// id, never the object's name.
func TestNotFoundNamesNothingUnseen(t *testing.T) {
	e := newEnv(t)
	e.project("alpha", "")
	e.project("beta", "")
	alice := e.user("alice")
	e.grant("user", "alice", "l1-researcher", "project/alpha")
	cred := e.must(201, "POST", "/api/v1/credentials", e.admin, obj("s3key-of-beta", "project/beta",
		map[string]any{"type": "access-key", "accessKeyId": "AK", "secretAccessKey": "sk"}))
	id := cred.str("meta.id")
	for _, method := range []string{"GET", "DELETE"} {
		r := e.do(method, "/api/v1/credentials/"+id, alice, nil)
		if r.status != 404 || strings.Contains(string(r.raw), "s3key-of-beta") || !strings.Contains(string(r.raw), id) {
			t.Errorf("%s by id: %d %s", method, r.status, r.raw)
		}
	}
	r := e.do("PUT", "/api/v1/credentials/"+id, alice, map[string]any{"meta": map[string]any{"resourceVersion": 1},
		"spec": map[string]any{"type": "access-key", "accessKeyId": "AK", "secretAccessKey": "sk"}})
	if r.status != 404 || strings.Contains(string(r.raw), "s3key-of-beta") {
		t.Errorf("PUT by id: %d %s", r.status, r.raw)
	}
}

// S15: workspace labels are Kubernetes labels, checked at creation (a CR/LF
// in a value was accepted, and would only have failed at the pod's create).
func TestLabelsAreKubernetesLabels(t *testing.T) {
	e := newEnv(t)
	e.project("alpha", "")
	e.blocks()
	for field, labels := range map[string]map[string]string{
		"labels.a":         {"a": "x\r\nSet-Cookie: y"},
		"labels.long":      {"long": strings.Repeat("v", 64)},
		"labels.bad key!":  {"bad key!": "v"},
		"labels.-dash":     {"-dash": "v"},
		"labels.EX.com/ok": {"EX.com/ok": "v"},
	} {
		b := wsBody("w")
		b["labels"], b["desiredPhase"] = labels, "Stopped"
		r := e.do("POST", "/api/v1/projects/alpha/workspaces", e.admin, b)
		if r.status != 400 || !strings.Contains(strings.Join(r.fieldErrors(), " "), field) {
			t.Errorf("labels %q: %d %s, want 400 naming %s", labels, r.status, r.raw, field)
		}
	}
	b := wsBody("ok")
	b["labels"] = map[string]string{"team": "vision", "example.com/owner": "alice-1", "empty": ""}
	b["annotations"] = map[string]string{"example.com/note": "free text, spaces and all"}
	b["desiredPhase"] = "Stopped"
	e.must(201, "POST", "/api/v1/projects/alpha/workspaces", e.admin, b)
}

// S6 and S7 end to end: sign-ins, failed sign-ins (the first ones, then the
// throttle starting) and token creation are in the audit log with the
// address; past five failures the account answers 429 with Retry-After,
// even to the right password, while other accounts sign in.
func TestSignInsAreAuditedAndThrottled(t *testing.T) {
	e := newEnv(t)
	bob := e.user("bob")
	e.must(201, "POST", "/api/v1/tokens", bob, map[string]any{"name": "laptop", "expiresInSeconds": 3600, "password": "bob-password"})
	for i := 0; i < 5; i++ {
		e.must(401, "POST", "/api/v1/token", "", map[string]any{"username": "bob", "password": "guess-" + strconv.Itoa(i) + "-xxxxxx"})
	}
	e.must(401, "POST", "/api/v1/token", "", map[string]any{"username": "bob", "password": "guess-5-xxxxxxx"})
	r := e.do("POST", "/api/v1/token", "", map[string]any{"username": "bob", "password": "bob-password"})
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("the right password while throttled: %d %q %s, want 429 with Retry-After", r.status, r.header.Get("Retry-After"), r.raw)
	}
	e.user("carol") // signs in meanwhile

	var audit struct {
		Items []struct{ Actor, Action, ObjectName, Source string }
	}
	raw := e.must(200, "GET", "/api/v1/audit?limit=100", e.admin, nil).raw
	if err := json.Unmarshal(raw, &audit); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, a := range audit.Items {
		if a.Actor == "user:bob" {
			count[a.Action]++
			if a.Source != "127.0.0.1" {
				t.Errorf("%s without the source address: %+v", a.Action, a)
			}
		}
	}
	want := map[string]int{"sign-in": 1, "sign-in-failed": 5, "sign-in-throttled": 1, "create-token": 1}
	for action, n := range want {
		if count[action] != n {
			t.Errorf("%d %s entries for bob, want %d (all: %v)", count[action], action, n, count)
		}
	}
}

// A body over the limit is 413, answered even to a client that sends it
// all without waiting (before, 400, or a reset connection); a key given
// twice is refused, naming it (before, the last one won).
func TestBodiesOverTheLimitAndDuplicateKeys(t *testing.T) {
	e := newEnv(t)
	big := `{"name": "` + strings.Repeat("x", 2<<20) + `"}`
	for _, expect := range []bool{false, true} {
		req, _ := http.NewRequest("POST", e.url+"/api/v1/tokens", strings.NewReader(big))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", "application/json")
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("Expect 100-continue %v: %v", expect, err)
			continue
		}
		res.Body.Close()
		if res.StatusCode != 413 {
			t.Errorf("Expect 100-continue %v: %d, want 413", expect, res.StatusCode)
		}
	}
	r := e.do("POST", "/api/v1/projects", e.admin, json.RawMessage(`{"meta": {"name": "a", "name": "b"}, "spec": {"quota": {"gpus": 1}}}`))
	if r.status != 400 || !strings.Contains(strings.Join(r.fieldErrors(), " "), "meta.name") {
		t.Errorf("a duplicate key: %d %s", r.status, r.raw)
	}
	r = e.do("POST", "/api/v1/projects", e.admin, json.RawMessage(`{"meta": {"name": "c", "labels": [{"k": 1, "k": 2}]}}`))
	if r.status != 400 || !strings.Contains(strings.Join(r.fieldErrors(), " "), "meta.labels[0].k") {
		t.Errorf("a duplicate key in an array's object: %d %s", r.status, r.raw)
	}
	e.must(201, "POST", "/api/v1/projects", e.admin, json.RawMessage(`{"meta": {"name": "d"}, "spec": {"quota": {"gpus": 1, "cpu": "2"}}}`))
}

// Every object's meta.scope is checked: a made-up type, a name on the
// global scope and a missing scope are refused (they were stored, and a
// compute resource with no scope could never be used); a project without
// one is global.
func TestScopesAreChecked(t *testing.T) {
	e := newEnv(t)
	for what, scope := range map[string]any{
		"a made-up type":         map[string]any{"type": "bogus"},
		"a named global scope":   map[string]any{"type": "global", "name": "x"},
		"no scope":               nil,
		"a project without name": map[string]any{"type": "project"},
	} {
		for _, path := range []string{"/api/v1/compute-resources", "/api/v1/environments"} {
			meta := map[string]any{"name": "b"}
			if scope != nil {
				meta["scope"] = scope
			}
			spec := map[string]any{"cpuRequest": "1"}
			if path == "/api/v1/environments" {
				spec = map[string]any{"image": "x"}
			}
			r := e.do("POST", path, e.admin, map[string]any{"meta": meta, "spec": spec})
			if r.status != 400 || !strings.Contains(strings.Join(r.fieldErrors(), " "), "meta.scope") {
				t.Errorf("%s on %s: %d %s, want 400 naming meta.scope", what, path, r.status, r.raw)
			}
		}
		if scope != nil {
			r := e.do("POST", "/api/v1/projects", e.admin, map[string]any{"meta": map[string]any{"name": "p", "scope": scope}})
			if r.status != 400 {
				t.Errorf("a project with %s: %d %s", what, r.status, r.raw)
			}
		}
	}
	p := e.must(201, "POST", "/api/v1/projects", e.admin, map[string]any{"meta": map[string]any{"name": "p"}})
	if p.str("meta.scope.type") != "global" {
		t.Errorf("a project without a scope: %s", p.raw)
	}
}

// A researcher who sees a project but may not write its access rules gets
// 403 (visible, not allowed), not "Project not found"; a project out of
// sight stays 404.
func TestForbiddenIsNotNotFound(t *testing.T) {
	e := newEnv(t)
	e.project("pa", "")
	e.project("pb", "")
	alice := e.user("alice")
	e.grant("user", "alice", "l1-researcher", "project/pa")
	rule := func(p string) map[string]any {
		return map[string]any{"meta": map[string]any{"scope": map[string]any{"type": "project", "name": p}},
			"spec": map[string]any{"subject": map[string]any{"type": "user", "name": "alice"}, "role": "viewer"}}
	}
	e.must(403, "POST", "/api/v1/access-rules", alice, rule("pa"))
	e.must(404, "POST", "/api/v1/access-rules", alice, rule("pb"))
}

// A workspace asking for more than its project's whole quota is refused at
// creation (it stayed Pending forever); a preemptible one in a project that
// allows over-quota may still ask.
func TestBeyondTheWholeQuotaIsRefused(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/api/v1/projects", e.admin, obj("small", "global", map[string]any{"quota": map[string]any{"gpus": 0, "overQuota": true}}))
	e.blocks() // one-gpu
	r := e.do("POST", "/api/v1/projects/small/workspaces", e.admin, wsBody("big"))
	if r.status != 422 || !strings.Contains(strings.Join(r.fieldErrors(), " "), "compute") || !strings.Contains(string(r.raw), "whole quota of 0 GPUs") {
		t.Errorf("one GPU in a project of none: %d %s", r.status, r.raw)
	}
	b := wsBody("spare")
	b["preemptible"] = true
	e.must(201, "POST", "/api/v1/projects/small/workspaces", e.admin, b)
}

// autoDeleteSeconds is honoured (it was accepted and ignored): a stopped
// workspace goes that long after it stopped, and one that runs stays.
func TestAutoDeleteAfterStop(t *testing.T) {
	e := newEnv(t)
	e.project("lab", "")
	e.blocks()
	e.must(201, "POST", "/api/v1/templates", e.admin, obj("brief", "global", map[string]any{
		"environment": "notebook", "compute": "one-gpu", "general": map[string]any{"autoDeleteSeconds": 1}}))
	start := time.Now()
	e.must(201, "POST", "/api/v1/projects/lab/workspaces", e.admin, map[string]any{"name": "gone", "template": "brief",
		"env": map[string]any{"WANDB_KEY": "k"}, "desiredPhase": "Stopped"})
	for e.do("GET", "/api/v1/projects/lab/workspaces/gone", e.admin, nil).status != 404 {
		if time.Since(start) > 20*time.Second {
			t.Fatal("a workspace stopped with autoDeleteSeconds 1 is still there after 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("deleted after %v, before its second was up", took)
	}
}
