package proxy

import (
	"encoding/json"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labspace/labspace"
)

// When the proxy cannot serve a tool, a browser that opened the tool's
// address gets a page with a way forward (start the workspace on its page,
// sign in, back to labspace); API clients and scripts keep the problem
// document. The choice follows Accept, as content negotiation does.

// fail answers status and detail; ws, when the caller may see it, gives
// the page a link to the workspace.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, status int, detail string, ws *labspace.Workspace) {
	if !wantsHTML(r) {
		problem(w, status, detail)
		return
	}
	v := failurePage{Title: http.StatusText(status), Detail: detail, Home: p.labspaceURL("/")}
	switch {
	case ws != nil:
		v.Title = ws.Name + " is " + strings.ToLower(string(ws.Status.Phase))
		v.Workspace = ws.Name
		v.Page = p.labspaceURL("/projects/" + url.PathEscape(ws.Project()) + "/workspaces/" + url.PathEscape(ws.Name))
		v.Start = ws.Status.Phase == labspace.PhaseStopped || ws.Status.Phase == labspace.PhaseFailed
	case status == http.StatusUnauthorized:
		v.SignIn = p.labspaceURL("/login")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page is labspace's, even on a tool's host: nothing of the tool runs in it.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = failureHTML.Execute(w, v)
}

// wantsHTML reports a request that prefers a page: a browser's navigation
// asks for text/html before any JSON.
func wantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		t, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch t {
		case "text/html", "application/xhtml+xml":
			return true
		case "application/json", "application/problem+json":
			return false
		}
	}
	return false
}

// labspaceURL is path on labspace's own origin (tool hosts are others).
func (p *Proxy) labspaceURL(path string) string {
	return strings.TrimSuffix(p.opts.PublicURL, "/") + path
}

type failurePage struct {
	Title, Detail   string
	Workspace, Page string
	Start           bool
	SignIn, Home    string
}

var failureHTML = template.Must(template.New("failure").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · labspace</title>
<style>body{font:16px/1.5 system-ui,sans-serif;color:#1d2330;background:#f6f7f9;margin:0}
main{max-width:36rem;margin:4rem auto;padding:1.5rem 2rem;background:#fff;border:1px solid #d9dde4;border-radius:8px}
h1{font-size:1.4rem;margin-top:0}a{color:#1d4ed8}ul{padding-left:1.2rem}</style></head>
<body><main>
<h1>{{.Title}}</h1>
<p id="detail">{{.Detail}}</p>
<ul id="next">
{{if .Page}}<li><a href="{{.Page}}">{{if .Start}}Start {{.Workspace}} on its page{{else}}Open {{.Workspace}}'s page{{end}}</a></li>{{end}}
{{if .SignIn}}<li><a href="{{.SignIn}}">Sign in to labspace</a></li>{{end}}
<li><a href="{{.Home}}">Back to labspace</a></li>
</ul>
</main></body></html>
`))

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status),
		"status": status, "detail": detail})
}
