package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// client talks to the server over HTTP, as any API client would, keeping
// enough idle connections for every concurrent caller.
type client struct {
	base    string
	hc      *http.Client
	listBuf bytes.Buffer // listWorkspaces' reply
	// retried counts the requests sent again because the server answered
	// that a concurrent change conflicted (409, "try again"): PostgreSQL
	// aborts serializable transactions that lose a race, the store runs
	// them again up to 10 times, then gives up.
	retried atomic.Int64
}

// conflicted is how the server's 409 says a write lost its races.
var conflicted = []byte("A concurrent change conflicted")

// maxRetries bounds how often do sends a request again.
const maxRetries = 100

func newClient(base string, conns int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns*2, conns*2
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// do sends a request with body as JSON (none when nil) and the token; it
// fails unless the reply has status want. It returns the reply body. A
// request the server says lost its races is sent again, as its message
// asks, and counted (retried).
func (c *client) do(method, path, token string, body any, want int) ([]byte, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	for try := 0; ; try++ {
		got, status, err := c.send(method, path, token, raw, body != nil)
		if err != nil {
			return nil, err
		}
		if status == http.StatusConflict && want != status && bytes.Contains(got, conflicted) && try < maxRetries {
			c.retried.Add(1)
			continue
		}
		if status != want {
			return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, status, want, got)
		}
		return got, nil
	}
}

// send sends one request and reads its reply.
func (c *client) send(method, path, token string, body []byte, hasBody bool) ([]byte, int, error) {
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return raw, res.StatusCode, err
}

func (c *client) login(user, password string) (string, error) {
	raw, err := c.do("POST", "/api/v1/token", "", map[string]any{"username": user, "password": password}, 200)
	if err != nil {
		return "", err
	}
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", err
	}
	if out.AccessToken == "" {
		return "", fmt.Errorf("login %s: no accessToken in %s", user, raw)
	}
	return out.AccessToken, nil
}

// workspaceBody is a create request for a stopped workspace from the
// seeded building blocks: stopped, so that the local runtime starts no
// processes, while the controller still reconciles it.
func workspaceBody(name string) map[string]any {
	return map[string]any{"name": name, "environment": "python-http", "compute": "cpu-small", "desiredPhase": "Stopped"}
}

// createWorkspace creates workspace name in project as token's owner.
func (c *client) createWorkspace(token, project, name string) error {
	_, err := c.do("POST", "/api/v1/projects/"+project+"/workspaces", token, workspaceBody(name), 201)
	return err
}

// listPath is the list request measured.
const listPath = "/api/v1/workspaces?limit=50&sortBy=createdAt&sortOrder=desc"

// listWorkspaces lists the newest 50 workspaces the caller sees: the
// reply's body, read to its end into a buffer the next call reuses (the
// calls are sequential), so that the client's garbage, collected in the
// server's process, is not 100 KiB a request.
func (c *client) listWorkspaces(token string) ([]byte, error) {
	req, err := http.NewRequest("GET", c.base+listPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	c.listBuf.Reset()
	if _, err := c.listBuf.ReadFrom(res.Body); err != nil {
		return nil, err
	}
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: status %d, want 200: %s", listPath, res.StatusCode, c.listBuf.Bytes())
	}
	return c.listBuf.Bytes(), nil
}

// checkList decodes a list reply as a client would (every byte is read and
// checked) and checks that the page is full.
func checkList(raw []byte) error {
	var out struct {
		Items    []struct{} `json:"items"`
		Continue string     `json:"continue"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return err
	}
	if len(out.Items) == 0 || out.Continue == "" {
		return fmt.Errorf("list: not a full page: %.200s", raw)
	}
	return nil
}
