package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// attack is what the hostile researcher's workload runs (review findings
// S1 and S2): each attempt prints one ATTEMPT line, SUCCEEDED or blocked;
// then the workload becomes an ordinary web tool. It never tries kill(-1):
// as root without a sandbox, that would end every process of the host.
const attack = `
import os, sqlite3, signal
data = os.path.dirname(os.environ["LABSPACE_RUNTIME_DIR"])
victim, victim_pid = os.environ["VICTIM_ID"], int(os.environ["VICTIM_PID"])
mine = os.environ["LABSPACE_WORKSPACE_ID"]

def attempt(name, fn):
    try:
        fn()
        print("ATTEMPT", name, "SUCCEEDED", flush=True)
    except Exception as e:
        print("ATTEMPT", name, "blocked:", type(e).__name__, e, flush=True)

def read(p):
    return lambda: open(p, "rb").read(64)

def write(p):
    def f():
        with open(p, "w") as out:
            out.write("planted by the attacker")
    return f

def rewrite_admin():
    c = sqlite3.connect("file:" + data + "/labspace.db?mode=rw", uri=True)
    c.execute("update objects set secret=(select secret from objects where kind='user' and name='carol') where kind='user' and name='admin'")
    c.commit()

def steal_environments():
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            env = open("/proc/%s/environ" % p, "rb").read().decode(errors="replace")
        except Exception:
            continue
        if ("LABSPACE_WORKSPACE_ID=" + mine) not in env and "LABSPACE_WORKSPACE_ID=" in env:
            found.append(p)
        if "bob-top-secret-value-42" in env:
            found.append("secret")
    if not found:
        raise PermissionError("no other workload's environment is readable")

def kill(pid, sig):
    def f():
        os.kill(pid, sig)
    return f

attempt("home-relative secret.key", read(os.environ["HOME"] + "/../../../secret.key"))
attempt("secret.key", read(data + "/secret.key"))
attempt("labspace.db", read(data + "/labspace.db"))
attempt("rewrite the admin's password hash", rewrite_admin)
attempt("write into the data dir", write(data + "/pwned.txt"))
attempt("write into another home", write(data + "/workspaces/" + victim + "/home/planted.txt"))
attempt("read another workspace's log", read(data + "/workspaces/" + victim + "/log"))
attempt("read other workloads' environments", steal_environments)
def list_home():
    if not os.listdir(os.environ["LABSPACE_USER_HOME"]):
        raise PermissionError("it is empty here")

attempt("read labspace's user's home", list_home)
attempt("kill the other workspace's process", kill(victim_pid, signal.SIGKILL))
attempt("kill its process group", kill(-victim_pid, signal.SIGKILL))
os.execvp("python3", ["python3", "-m", "http.server", os.environ["PORT"], "--bind", "127.0.0.1"])
`

// The hostile researcher of the security review, against `labspace serve`
// on the local runtime: an l2-researcher may not override a command; an
// l1-researcher who writes an environment of her own runs it, and every
// attempt on labspace's data and on another project's workspace fails,
// while that workspace keeps running with its secret.
//
// It runs twice when the test runs as root: labspace as root (a uid per
// workspace) and labspace as an ordinary user (user namespaces).
func TestHostileWorkloadReachesNothing(t *testing.T) {
	requireTools(t, "python3")
	t.Run("labspace as "+strconv.Itoa(os.Geteuid()), func(t *testing.T) { hostile(t, nil) })
	if os.Geteuid() == 0 {
		t.Run("labspace as nobody", func(t *testing.T) { hostile(t, &syscall.Credential{Uid: 65534, Gid: 65534}) })
	}
}

func hostile(t *testing.T, cred *syscall.Credential) {
	// Outside /tmp (which a sandbox replaces with its own): the data dir is
	// reachable by path, and only the sandbox's own hiding keeps it away.
	dataDir, err := os.MkdirTemp("/var/tmp", "labspace-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	if cred != nil {
		if err := os.Chown(dataDir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	s := startServerAs(t, cred, freeAddr(t), dataDir)
	userHome, _ := os.UserHomeDir()
	if cred != nil {
		userHome = "/nonexistent" // nobody's
	}
	want := "isolation=uids"
	if cred != nil || os.Geteuid() != 0 {
		want = "isolation=user-namespaces"
	}
	if !strings.Contains(s.log.String(), want) && os.Getenv("CI") != "" {
		t.Fatalf("labspace did not isolate with %s: %s", want, lastLines(s.log.String(), 5))
	}
	if strings.Contains(s.log.String(), "only administrators may run workspaces") {
		if os.Getenv("CI") != "" {
			t.Fatalf("the local runtime cannot isolate workloads on this host: %s", lastLines(s.log.String(), 5))
		}
		t.Skip("this host allows neither root nor user namespaces to labspace: workloads cannot be isolated: " + lastLines(s.log.String(), 5))
	}
	for _, p := range []string{"alpha", "beta"} {
		s.project(p, map[string]any{"gpus": 0})
	}
	tokens := map[string]string{}
	for user, rule := range map[string][2]string{"alice": {"l1-researcher", "alpha"}, "carol": {"l2-researcher", "alpha"}, "bob": {"l1-researcher", "beta"}} {
		s.must(201, "POST", "/api/v1/users", s.admin, map[string]any{"meta": map[string]any{"name": user}, "password": user + "-password-1"}, nil)
		s.must(201, "POST", "/api/v1/access-rules", s.admin, map[string]any{
			"meta": map[string]any{"scope": map[string]any{"type": "project", "name": rule[1]}},
			"spec": map[string]any{"subject": map[string]any{"type": "user", "name": user}, "role": rule[0]}}, nil)
		var tok struct{ AccessToken string }
		s.must(200, "POST", "/api/v1/token", "", map[string]any{"username": user, "password": user + "-password-1"}, &tok)
		tokens[user] = tok.AccessToken
	}
	in := func(project string) map[string]any {
		return map[string]any{"type": "project", "name": project}
	}
	// Small enough for three workspaces on a 2-core host.
	s.must(201, "POST", "/api/v1/compute-resources", s.admin, map[string]any{"meta": map[string]any{"name": "tiny", "scope": map[string]any{"type": "global"}},
		"spec": map[string]any{"cpuRequest": "100m", "memoryRequest": "128Mi", "memoryLimit": "512Mi"}}, nil)

	// Bob's workspace in beta, with a credential in its environment.
	s.must(201, "POST", "/api/v1/credentials", tokens["bob"], map[string]any{"meta": map[string]any{"name": "s3key", "scope": in("beta")},
		"spec": map[string]any{"type": "access-key", "accessKeyId": "AKIA", "secretAccessKey": "bob-top-secret-value-42"}}, nil)
	s.must(201, "POST", "/api/v1/environments", tokens["bob"], map[string]any{"meta": map[string]any{"name": "bob-http", "scope": in("beta")},
		"spec": map[string]any{"image": "python:3-slim", "command": []string{"python3"},
			"args":  []string{"-m", "http.server", "$(PORT)", "--bind", "127.0.0.1"},
			"tools": []any{map[string]any{"name": "web", "type": "custom", "port": 8000, "stripPrefix": true}},
			"env":   []any{map[string]any{"name": "AWS_SECRET_ACCESS_KEY", "credential": map[string]any{"name": "s3key", "key": "secretAccessKey"}}}}}, nil)
	var bobws workspace
	var raw []byte
	s.must(201, "POST", "/api/v1/projects/beta/workspaces", tokens["bob"],
		map[string]any{"name": "bobws", "environment": "bob-http", "compute": "tiny"}, &bobws)
	s.waitPhase("beta", "bobws", "Running", toolStart)
	raw, err = os.ReadFile(filepath.Join(s.dataDir, "workspaces", bobws.Meta.ID, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ PGID int }
	if err := json.Unmarshal(raw, &st); err != nil || st.PGID == 0 {
		t.Fatalf("bobws state: %v %s", err, raw)
	}

	// S1 as the review ran it: carol's command override is refused.
	code, body := s.call("POST", "/api/v1/projects/alpha/workspaces", tokens["carol"], map[string]any{"name": "pwn",
		"environment": "python-http", "compute": "cpu-small", "command": []string{"/bin/sh", "-c", "cat $HOME/../../../secret.key"}}, nil)
	if code != 403 || !strings.Contains(string(body), `"field":"command"`) {
		t.Errorf("carol's command override: %d %s, want 403 naming command", code, body)
	}

	// Alice may write environments: hers runs the attack.
	s.must(201, "POST", "/api/v1/environments", tokens["alice"], map[string]any{"meta": map[string]any{"name": "evil", "scope": in("alpha")},
		"spec": map[string]any{"image": "python:3-slim", "command": []string{"python3", "-c", attack},
			"tools": []any{map[string]any{"name": "web", "type": "custom", "port": 8000, "stripPrefix": true}}}}, nil)
	s.must(201, "POST", "/api/v1/projects/alpha/workspaces", tokens["alice"], map[string]any{"name": "evil", "environment": "evil",
		"compute": "tiny", "env": map[string]any{"VICTIM_ID": bobws.Meta.ID, "VICTIM_PID": strconv.Itoa(st.PGID), "LABSPACE_USER_HOME": userHome}}, nil)
	s.waitPhase("alpha", "evil", "Running", toolStart)
	_, logs := s.call("GET", "/api/v1/projects/alpha/workspaces/evil/logs", tokens["alice"], nil, nil)
	attempts := regexp.MustCompile(`(?m)^ATTEMPT .*$`).FindAllString(string(logs), -1)
	if len(attempts) != 11 {
		t.Fatalf("the attack made %d attempts, want 11; its log:\n%s", len(attempts), logs)
	}
	for _, a := range attempts {
		t.Log(a)
		if strings.HasSuffix(a, "SUCCEEDED") {
			t.Errorf("%s", a)
		}
	}

	// And from outside: nothing moved.
	s.must(200, "POST", "/api/v1/token", "", map[string]any{"username": "admin", "password": adminPassword}, nil)
	if code, _ := s.call("POST", "/api/v1/token", "", map[string]any{"username": "admin", "password": "carol-password-1"}, nil); code != 401 {
		t.Errorf("carol's password signs in as admin: %d", code)
	}
	for _, p := range []string{filepath.Join(s.dataDir, "pwned.txt"), filepath.Join(s.dataDir, "workspaces", bobws.Meta.ID, "home", "planted.txt")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the attacker wrote %s", p)
		}
	}
	if w := s.waitPhase("beta", "bobws", "Running", converge); w.Status.Phase != "Running" {
		t.Errorf("bobws is %s", w.Status.Phase)
	}
	// A setting the local runtime does not apply is said on the timeline.
	s.must(201, "POST", "/api/v1/environments", s.admin, map[string]any{"meta": map[string]any{"name": "fixed-uid", "scope": in("alpha")},
		"spec": map[string]any{"image": "python:3-slim", "command": []string{"python3"},
			"args":  []string{"-m", "http.server", "$(PORT)", "--bind", "127.0.0.1"},
			"runAs": map[string]any{"source": "custom", "uid": 1234},
			"tools": []any{map[string]any{"name": "web", "type": "custom", "port": 8000, "stripPrefix": true}}}}, nil)
	s.must(201, "POST", "/api/v1/projects/alpha/workspaces", tokens["alice"], map[string]any{"name": "fixed", "environment": "fixed-uid",
		"compute": "tiny"}, nil)
	s.waitPhase("alpha", "fixed", "Running", toolStart)
	var events struct {
		Items []struct{ Type, Reason, Message string }
	}
	s.must(200, "GET", "/api/v1/projects/alpha/workspaces/fixed/events", tokens["alice"], nil, &events)
	warned := false
	for _, e := range events.Items {
		warned = warned || (e.Type == "Warning" && e.Reason == "NotEnforced" && strings.Contains(e.Message, "runAs (custom) is not applied"))
	}
	if !warned {
		t.Errorf("no Warning event for the runAs the local runtime does not apply: %+v", events.Items)
	}

	if fi, err := os.Stat(s.dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	for _, id := range []string{bobws.Meta.ID} {
		fi, err := os.Stat(filepath.Join(s.dataDir, "workspaces", id, "home"))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("home of %s: %v (%v), want 0700", id, fi.Mode().Perm(), err)
		}
	}
}
