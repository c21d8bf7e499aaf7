package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

// pollEvery is how often labspace's API is asked how many workspaces run:
// it has no watch, so the answer is up to this late, and each ask is
// labspace CPU time counted in its round.
const pollEvery = 50 * time.Millisecond

// buildLabspace builds the shipped binary into dir, once for every round.
func buildLabspace(dir string) (string, error) {
	exe := filepath.Join(dir, "labspace")
	cmd := exec.Command("go", "build", "-o", exe, "github.com/labspace/labspace/cmd/labspace")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/labspace: %w", err)
	}
	return exe, nil
}

// labspaceRound starts `labspace serve` on the cluster with a fresh data
// folder, creates a new project's building blocks, and times n workspaces
// created through the API by clients goroutines until the API reports
// every one Running. Then it stops labspace and deletes the project's
// namespace, pods first, as the floor's rounds do.
func labspaceRound(ctx context.Context, c *kubetest.Cluster, exe, dir string, round, n, clients int) (sample, error) {
	p, err := startLabspace(exe, filepath.Join(dir, "labspace-"+strconv.Itoa(round)), c.Kubeconfig, clients)
	if err != nil {
		return sample{}, err
	}
	defer p.stop()
	project := "bench-" + strconv.Itoa(round)
	err = p.api.CreateToolBlocks(benchkit.ToolBlocks{Project: project, Compute: "tiny", Environment: "tool", Tool: "web",
		Command: []string{"serve"}})
	if err != nil {
		return sample{}, err
	}
	quiet(c)
	s, err := measure(c.Pids(), p.cmd.Process.Pid, func() error {
		t0 := time.Now()
		err := parallel(n, clients, func(i int) error {
			return p.api.Do("POST", "/api/v1/projects/"+project+"/workspaces", map[string]any{"name": "w" + strconv.Itoa(i),
				"environment": "tool", "compute": "tiny"}, 201, nil)
		})
		if err != nil {
			return err
		}
		benchkit.Progress("all %d created in %s", n, time.Since(t0).Round(time.Millisecond))
		return p.awaitRunning(project, n)
	})
	if err != nil {
		return s, fmt.Errorf("%w\nlabspace's log ends:\n%s", err, p.logTail())
	}
	// Stopped first: it would start again the pods the clean-up deletes.
	if err := p.stop(); err != nil {
		return s, err
	}
	return s, dropNamespace(ctx, c, labspace.DefaultNamespace(project))
}

// labspaceProc is a `labspace serve` process and a client signed in as admin.
type labspaceProc struct {
	cmd    *exec.Cmd
	api    *benchkit.Client
	log    string
	exited chan struct{}
}

// startLabspace runs the binary as e2e/harness_test.go does: serve on a
// free loopback address with a data folder in dir, the admin's password
// from LABSPACE_ADMIN_PASSWORD; it returns once the admin is signed in.
func startLabspace(exe, dir, kubeconfig string, clients int) (*labspaceProc, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &labspaceProc{log: filepath.Join(dir, "labspace.log"), exited: make(chan struct{})}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(exe, "serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--kubeconfig", kubeconfig)
	p.cmd.Env = append(os.Environ(), "LABSPACE_ADMIN_PASSWORD="+benchkit.AdminPassword)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.exited) }()
	p.api = benchkit.NewClient("http://" + addr)
	// As many kept connections as clients (Go keeps 2 by default): the
	// clients should not open a connection per request.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients
	p.api.HC = &http.Client{Timeout: time.Minute, Transport: tr}
	if err := p.awaitHealthy(30 * time.Second); err != nil {
		p.stop()
		return nil, fmt.Errorf("labspace did not start: %w\n%s", err, p.logTail())
	}
	if p.api.Token, err = p.api.Login("admin", benchkit.AdminPassword); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *labspaceProc) awaitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		res, err := p.api.HC.Get(p.api.Base + "/healthz")
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

// awaitRunning asks labspace every pollEvery until n workspaces of project
// are Running, saying every second how many are.
func (p *labspaceProc) awaitRunning(project string, n int) error {
	deadline := time.Now().Add(5 * time.Minute)
	said := time.Now()
	for {
		running, err := p.countRunning(project)
		if err != nil || running == n {
			return err
		}
		if time.Since(said) >= time.Second {
			benchkit.Progress("%d workspaces Running", running)
			said = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workspaces Running after 5m", running, n)
		}
		time.Sleep(pollEvery)
	}
}

// countRunning lists project's Running workspaces, 1000 (the most) a page.
func (p *labspaceProc) countRunning(project string) (int, error) {
	count, next := 0, ""
	for {
		var page struct {
			Items    []struct{} `json:"items"`
			Continue string     `json:"continue"`
		}
		path := "/api/v1/projects/" + project + "/workspaces?limit=1000&phase=Running"
		if next != "" {
			path += "&continue=" + url.QueryEscape(next)
		}
		if err := p.api.Do("GET", path, nil, 200, &page); err != nil {
			return 0, err
		}
		count += len(page.Items)
		if page.Continue == "" {
			return count, nil
		}
		next = page.Continue
	}
}

// stop ends labspace with SIGTERM (SIGKILL after 20s), as an operator would.
func (p *labspaceProc) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("labspace did not stop within 20s of SIGTERM")
	}
}

func (p *labspaceProc) logTail() string {
	raw, _ := os.ReadFile(p.log)
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
