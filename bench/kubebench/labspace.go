// Package kubebench holds what the Kubernetes benchmarks (bench/kube and
// bench/kubescale) share: the shipped labspace binary run as a process of
// its own, the test control plane's CPU and memory read from /proc, an
// informer that counts Ready pods, and helpers to run, poll and clean up.
package kubebench

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// Workdir makes a temporary folder for a run and builds the shipped
// binary into it, once for the whole run; remove deletes the folder with
// all the run left in it (data folders, logs, the cluster's files).
func Workdir(name string) (dir, exe string, remove func(), err error) {
	if dir, err = os.MkdirTemp("", name); err != nil {
		return "", "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	benchkit.Progress("building labspace")
	exe = filepath.Join(dir, "labspace")
	cmd := exec.Command("go", "build", "-o", exe, "github.com/labspace/labspace/cmd/labspace")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		remove()
		return "", "", nil, fmt.Errorf("go build ./cmd/labspace: %w", err)
	}
	return dir, exe, remove, nil
}

// LabspaceOptions are what the benchmarks choose differently when starting labspace.
type LabspaceOptions struct {
	Clients   int           // kept connections to the API: one per client
	Timeout   time.Duration // of each API request
	Healthy   time.Duration // how long labspace may take to answer /healthz
	StopGrace time.Duration // from SIGTERM to SIGKILL in Stop
	// AppendLog keeps the log of a run before a restart on the same
	// folder; otherwise each start begins a new log.
	AppendLog bool
}

// Labspace is a `labspace serve` process and a client signed in as admin.
type Labspace struct {
	Cmd    *exec.Cmd
	API    *benchkit.Client
	Log    string // the file its stdout and stderr go to
	exited chan struct{}
	grace  time.Duration
}

// StartLabspace runs the binary as e2e/harness_test.go does: serve on a
// free loopback address with its data folder in dir, the admin's password
// from LABSPACE_ADMIN_PASSWORD. It returns once the admin is signed in; it
// does not wait for the controller.
func StartLabspace(exe, dir, kubeconfig string, o LabspaceOptions) (*Labspace, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &Labspace{Log: filepath.Join(dir, "labspace.log"), exited: make(chan struct{}), grace: o.StopGrace}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if o.AppendLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logf, err := os.OpenFile(p.Log, flags, 0o600)
	if err != nil {
		return nil, err
	}
	p.Cmd = exec.Command(exe, "serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--kubeconfig", kubeconfig)
	p.Cmd.Env = append(os.Environ(), "LABSPACE_ADMIN_PASSWORD="+benchkit.AdminPassword)
	p.Cmd.Stdout, p.Cmd.Stderr = logf, logf
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = p.Cmd.Wait(); logf.Close(); close(p.exited) }()
	p.API = benchkit.NewClient("http://" + addr)
	// As many kept connections as clients (Go keeps 2 by default): the
	// clients should not open a connection per request.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.Clients
	p.API.HC = &http.Client{Timeout: o.Timeout, Transport: tr}
	if err := p.awaitHealthy(o.Healthy); err != nil {
		p.Stop()
		return nil, fmt.Errorf("labspace did not start: %w\n%s", err, p.LogTail())
	}
	if p.API.Token, err = p.API.Login("admin", benchkit.AdminPassword); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Pid is the process's id while it runs, else 0: a restart makes a new one.
func (p *Labspace) Pid() int {
	if p == nil {
		return 0
	}
	select {
	case <-p.exited:
		return 0
	default:
		return p.Cmd.Process.Pid
	}
}

func (p *Labspace) awaitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		res, err := p.API.HC.Get(p.API.Base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
			err = errors.New(res.Status)
		}
		select {
		case <-p.exited:
			return errors.New("it exited")
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// Stop ends labspace with SIGTERM (SIGKILL after the grace), as an
// operator would, and says how long it took to exit.
func (p *Labspace) Stop() (time.Duration, error) {
	select {
	case <-p.exited:
		return 0, nil
	default:
	}
	t0 := time.Now()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(t0), nil
	case <-time.After(p.grace):
		_ = p.Cmd.Process.Kill()
		<-p.exited
		return time.Since(t0), fmt.Errorf("labspace did not stop within %s of SIGTERM", p.grace)
	}
}

// LogTail is the last 3000 bytes of labspace's log, for an error message.
func (p *Labspace) LogTail() string {
	raw, _ := os.ReadFile(p.Log)
	s := strings.TrimSpace(string(raw))
	if len(s) > 3000 {
		s = s[len(s)-3000:]
	}
	return s
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
