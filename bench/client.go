package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// client talks to the server over HTTP, as any API client would, keeping
// enough idle connections for every concurrent caller.
type client struct {
	base    string
	hc      *http.Client
	listBuf bytes.Buffer // listWorkspaces' reply
}

func newClient(base string, conns int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns*2, conns*2
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// do sends a request with body as JSON (none when nil) and the token; it
// fails unless the reply has status want. It returns the reply body.
func (c *client) do(method, path, token string, body any, want int) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, raw)
	}
	return raw, nil
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
