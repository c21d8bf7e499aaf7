package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// S9 on a real full disk (a small tmpfs as the data volume): /healthz says
// so, and the administrator still signs in and stops a workspace, with the
// room labspace set aside; once space is back, /healthz is ok again.
func TestFullDiskLeavesTheAdministratorInCharge(t *testing.T) {
	requireTools(t, "python3")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test mounts a tmpfs: CI runs it as root")
		}
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=40m,mode=0700"); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, freeAddr(t), dir)
	t.Cleanup(func() { s.kill(); _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	s.project("lab", map[string]any{"gpus": 0})
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
		map[string]any{"name": "web", "environment": "python-http", "compute": "cpu-small"}, nil)
	s.waitPhase("lab", "web", "Running", toolStart)

	// Fill the volume to the last byte.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for n := 1 << 19; n > 0; n /= 2 {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	f.Close()

	if res, err := http.Get("http://" + s.addr + "/healthz"); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz on a full disk: %v %v, want 503", err, res)
	} else {
		res.Body.Close()
	}
	var tok struct{ AccessToken string }
	s.must(200, "POST", "/api/v1/token", "", map[string]any{"username": "admin", "password": adminPassword}, &tok)
	s.must(202, "POST", "/api/v1/projects/lab/workspaces/web/stop", tok.AccessToken, nil, nil)
	s.waitPhase("lab", "web", "Stopped", converge)

	os.Remove(filler)
	if res, err := http.Get("http://" + s.addr + "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("/healthz once space is back: %v %v, want 200", err, res)
	} else {
		res.Body.Close()
	}
}
