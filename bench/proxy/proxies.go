package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startBare serves a bare httputil.ReverseProxy to target on a free port:
// no authentication, no routing, ReverseProxy's defaults (no BufferPool,
// FlushInterval 0), with pool the buffer pool labspace's proxy copies
// bodies through. Both share one transport setting with labspace: 64
// idle connections per host; the default 2 would make 32 clients churn
// connections to the tool and measure that instead.
func startBare(target string, pool httputil.BufferPool) (addr string, stop func(), err error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport:  t,
		BufferPool: pool,
		ErrorLog:   log.New(io.Discard, "", 0), // clients that go away when wrk stops
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// chp is a running configurable-http-proxy.
type chp struct {
	cmd     *exec.Cmd
	addr    string // http://127.0.0.1:port, the public side
	version string
}

// installCHP installs configurable-http-proxy with npm under dir and
// returns the path of its executable and its version.
func installCHP(ctx context.Context, dir, pkg string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", pkg)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("npm install %s: %v: %s", pkg, err, strings.TrimSpace(string(out)))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "node_modules", "configurable-http-proxy", "package.json"))
	if err != nil {
		return "", "", err
	}
	var meta struct{ Version string }
	_ = json.Unmarshal(raw, &meta)
	return filepath.Join(dir, "node_modules", ".bin", "configurable-http-proxy"), meta.Version, nil
}

// startCHP installs and starts configurable-http-proxy, then adds the
// route toolPrefix -> target through its REST API, as JupyterHub does.
func startCHP(ctx context.Context, dir, pkg, target string) (*chp, error) {
	bin, version, err := installCHP(ctx, dir, pkg)
	if err != nil {
		return nil, err
	}
	port, apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	token := randomHex()
	logf, err := os.Create(filepath.Join(dir, "chp.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--api-ip", "127.0.0.1", "--api-port", strconv.Itoa(apiPort), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "CONFIGPROXY_AUTH_TOKEN="+token)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &chp{cmd: cmd, addr: "http://127.0.0.1:" + strconv.Itoa(port), version: version}
	api := &apiClient{Base: "http://127.0.0.1:" + strconv.Itoa(apiPort), HC: &http.Client{Timeout: 10 * time.Second}}
	if err := addRoute(api, token, target); err != nil {
		c.stop()
		out, _ := os.ReadFile(filepath.Join(dir, "chp.log"))
		return nil, fmt.Errorf("%w; its log: %.500s", err, out)
	}
	return c, nil
}

// addRoute waits for the proxy's API and routes toolPrefix to target.
func addRoute(api *apiClient, token, target string) error {
	body := map[string]any{"target": target}
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("POST", api.Base+"/api/routes"+toolPrefix, strings.NewReader(mustJSON(body)))
		req.Header.Set("Authorization", "token "+token)
		var res *http.Response
		if res, err = api.HC.Do(req); err != nil {
			continue
		}
		res.Body.Close()
		if res.StatusCode == http.StatusCreated {
			return nil
		}
		return fmt.Errorf("configurable-http-proxy: add route: status %d", res.StatusCode)
	}
	return fmt.Errorf("configurable-http-proxy did not answer: %w", err)
}

// stop ends the proxy's process group.
func (c *chp) stop() {
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// freePort returns two free ports on 127.0.0.1.
func freePort() (int, int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports[0], ports[1], nil
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func mustJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(raw)
}

// check fetches url once and fails unless it answers 200 with n bytes.
func check(url, auth string, n int) error {
	req, _ := http.NewRequest("GET", url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	got, err := io.Copy(io.Discard, res.Body)
	if err == nil && (res.StatusCode != 200 || got != int64(n)) {
		err = fmt.Errorf("GET %s: status %d, %d bytes; want 200, %d bytes", url, res.StatusCode, got, n)
	}
	return err
}
