// Package client is a Go client of labspace's REST API. The labspace CLI
// and the tests use it; scripts in Go can too.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labspace/labspace"
)

// Client talks to one labspace server.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a client for the server at baseURL, signed in with token ("" for none).
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Error is a problem document returned by the server.
type Error struct {
	Status int                   `json:"status"`
	Type   string                `json:"type"`
	Title  string                `json:"title"`
	Detail string                `json:"detail"`
	Errors []labspace.FieldError `json:"errors"`
}

func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	for _, f := range e.Errors {
		msg += "\n  " + f.Field + ": " + f.Detail
	}
	return msg
}

// Do sends in (if not nil) as JSON and decodes the reply into out (if not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	res, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(out)
}

// send makes the request and turns a non-2xx reply into an *Error.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode < 300 {
		return res, nil
	}
	defer res.Body.Close()
	e := &Error{Status: res.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if json.Unmarshal(raw, e) != nil || e.Detail == "" {
		e.Detail = fmt.Sprintf("%s %s: %s", method, path, res.Status)
	}
	return nil, e
}

// Token is a new token.
type Token struct {
	AccessToken string    `json:"accessToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
	ID          string    `json:"id"`
}

// Login exchanges a user's password for a token.
func (c *Client) Login(ctx context.Context, username, password string) (*Token, error) {
	var t Token
	err := c.Do(ctx, "POST", "/api/v1/token", map[string]string{"username": username, "password": password}, &t)
	return &t, err
}

// Logout revokes the client's token.
func (c *Client) Logout(ctx context.Context) error {
	return c.Do(ctx, "POST", "/api/v1/logout", nil, nil)
}

// Me describes the signed-in caller.
type Me struct {
	Subject labspace.Subject `json:"subject"`
	Grants  []struct {
		Role  labspace.Role  `json:"role"`
		Scope labspace.Scope `json:"scope"`
	} `json:"grants"`
	// Passwordless: a user of the identity provider without a labspace
	// password (a recent sign-in there confirms instead).
	Passwordless bool `json:"passwordless,omitempty"`
}

// WhoAmI returns the caller.
func (c *Client) WhoAmI(ctx context.Context) (*Me, error) {
	var me Me
	return &me, c.Do(ctx, "GET", "/api/v1/me", nil, &me)
}

// List is a page of objects.
type List[T any] struct {
	Items    []T    `json:"items"`
	Continue string `json:"continue"`
}

// ListOptions filter and page a list.
type ListOptions struct {
	Project, Phase, Creator, Search, SortBy, SortOrder, Scope string
	Limit                                                     int
	// FilterBy are conditions such as "name=@bert" or "phase!=Stopped",
	// all of which must hold (the API's filterBy).
	FilterBy []string
}

func (o ListOptions) query() string {
	v := url.Values{}
	for k, val := range map[string]string{"project": o.Project, "phase": o.Phase, "creator": o.Creator,
		"search": o.Search, "sortBy": o.SortBy, "sortOrder": o.SortOrder, "scope": o.Scope} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if o.Limit > 0 {
		v.Set("limit", fmt.Sprint(o.Limit))
	}
	for _, f := range o.FilterBy {
		v.Add("filterBy", f)
	}
	return v.Encode()
}

// ListAll follows continue tokens and returns every item of path.
func ListAll[T any](ctx context.Context, c *Client, path string, o ListOptions) ([]T, error) {
	var out []T
	q := o.query()
	cont := ""
	for {
		p := path + "?" + q
		if cont != "" {
			p += "&continue=" + url.QueryEscape(cont)
		}
		var page List[T]
		if err := c.Do(ctx, "GET", p, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Continue == "" {
			return out, nil
		}
		cont = page.Continue
	}
}

func wsPath(project, name string) string {
	return "/api/v1/projects/" + url.PathEscape(project) + "/workspaces/" + url.PathEscape(name)
}

// Workspaces lists workspaces (of every visible project when o.Project is "").
func (c *Client) Workspaces(ctx context.Context, o ListOptions) ([]labspace.Workspace, error) {
	return ListAll[labspace.Workspace](ctx, c, "/api/v1/workspaces", o)
}

// Workspace returns one workspace.
func (c *Client) Workspace(ctx context.Context, project, name string) (*labspace.Workspace, error) {
	var w labspace.Workspace
	return &w, c.Do(ctx, "GET", wsPath(project, name), nil, &w)
}

// CreateWorkspace creates a workspace in project.
func (c *Client) CreateWorkspace(ctx context.Context, project string, req *labspace.WorkspaceCreate) (*labspace.Workspace, error) {
	var w labspace.Workspace
	return &w, c.Do(ctx, "POST", "/api/v1/projects/"+url.PathEscape(project)+"/workspaces", req, &w)
}

// SetDesired starts ("start"), stops ("stop") or deletes ("delete") a workspace.
func (c *Client) SetDesired(ctx context.Context, project, name, action string) (*labspace.Workspace, error) {
	var w labspace.Workspace
	if action == "delete" {
		return &w, c.Do(ctx, "DELETE", wsPath(project, name), nil, &w)
	}
	return &w, c.Do(ctx, "POST", wsPath(project, name)+"/"+action, nil, &w)
}

// Events returns a workspace's history.
func (c *Client) Events(ctx context.Context, project, name string) ([]labspace.Event, error) {
	var l List[labspace.Event]
	return l.Items, c.Do(ctx, "GET", wsPath(project, name)+"/events", nil, &l)
}

// Logs streams a workspace's output; with follow it stays open until ctx ends.
func (c *Client) Logs(ctx context.Context, project, name string, follow bool) (io.ReadCloser, error) {
	hc := *c.HTTP
	hc.Timeout = 0
	cc := *c
	cc.HTTP = &hc
	res, err := cc.send(ctx, "GET", wsPath(project, name)+"/logs?follow="+fmt.Sprint(follow), nil)
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

// WaitPhase polls until the workspace reaches phase. It fails at once, with
// the reason, when the workspace fails instead.
func (c *Client) WaitPhase(ctx context.Context, project, name string, phase labspace.Phase, every time.Duration) (*labspace.Workspace, error) {
	var last *labspace.Workspace
	for {
		w, err := c.Workspace(ctx, project, name)
		if err != nil {
			if last != nil && ctx.Err() != nil {
				// The time ran out during a poll: say where the workspace was.
				return last, fmt.Errorf("workspace %s is %s, not %s, after waiting: %w", name, last.Status.Phase, phase, ctx.Err())
			}
			return nil, err
		}
		last = w
		if w.Status.Phase == phase {
			return w, nil
		}
		if w.Status.Phase == labspace.PhaseFailed && phase != labspace.PhaseFailed {
			return w, fmt.Errorf("workspace %s failed: %s: %s", name, w.Status.PhaseReason, w.Status.PhaseMessage)
		}
		select {
		case <-ctx.Done():
			return w, fmt.Errorf("workspace %s is %s, not %s, after waiting: %w", name, w.Status.Phase, phase, ctx.Err())
		case <-time.After(every):
		}
	}
}

// LoginCode exchanges a code from the browser sign-in (/auth/cli) and its
// PKCE verifier for a session token.
func (c *Client) LoginCode(ctx context.Context, code, verifier, redirectURI string) (*Token, error) {
	var t Token
	err := c.Do(ctx, "POST", "/api/v1/token", map[string]string{"code": code, "codeVerifier": verifier, "redirectUri": redirectURI}, &t)
	return &t, err
}

// SecretRotation is an application's new client secret, shown once.
type SecretRotation struct {
	labspace.Application
	ClientSecret string `json:"clientSecret"`
}

// RotateApplicationSecret gives application name a new client secret; the
// old one and the tokens signed in with it stop working at once. password
// confirms the caller.
func (c *Client) RotateApplicationSecret(ctx context.Context, name, password string) (*SecretRotation, error) {
	var out SecretRotation
	return &out, c.Do(ctx, "POST", "/api/v1/applications/"+url.PathEscape(name)+"/secret", map[string]string{"password": password}, &out)
}
