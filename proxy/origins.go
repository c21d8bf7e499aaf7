package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/service"
)

// A tool on a host of its own is a separate origin: its pages cannot read
// or drive labspace's, and labspace's session cookie (host-only) never
// reaches it. The browser gets there through a ticket:
//
//	labspace /connect/{project}/{workspace}/{tool}/  (signed in: checks Connect, mints a ticket)
//	  -> <tool host>/_labspace/redeem?ticket=...     (spends it: sets the tool cookie, host-only)
//	  -> <tool host>/                                (the tool, with the cookie)
//
// The tool cookie opens that one tool and nothing else (service.TokenTool).

// ToolCookie carries a tool token on the tool's own host.
const ToolCookie = "labspace_tool"

// redeemPath is where a tool host spends tickets.
const redeemPath = "/_labspace/redeem"

// ToolURL is where a browser opens tool of w: with a proxy domain,
// labspace's /connect/ link that hands the browser over to the tool's own
// host; otherwise the tool's path on labspace's address. Every link to a
// tool (web pages, the CLI's `ws open`) is built here.
func ToolURL(opts Options, w *labspace.Workspace, tool string) string {
	base := strings.TrimSuffix(opts.PublicURL, "/")
	if opts.Domain != "" {
		return base + "/connect/" + w.Project() + "/" + w.Name + "/" + tool + "/"
	}
	return base + runtime.BasePath(w, tool)
}

// schemeAndPort are labspace's, which tool hosts share.
func schemeAndPort(publicURL string) (string, string) {
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme == "" {
		return "http", ""
	}
	return u.Scheme, u.Port()
}

// toolOrigin is the origin of rt's host.
func (p *Proxy) toolOrigin(rt route) string {
	host := rt.tool + "-" + rt.workspace + "-" + rt.project + "." + p.opts.Domain
	if p.port != "" {
		host += ":" + p.port
	}
	return p.scheme + "://" + host
}

// toolHost returns the label of a tool host ("" for any other host).
func (p *Proxy) toolHost(r *http.Request) string {
	if p.opts.Domain == "" {
		return ""
	}
	host, _, _ := strings.Cut(r.Host, ":")
	label, ok := strings.CutSuffix(host, "."+p.opts.Domain)
	if !ok || strings.Contains(label, ".") {
		return ""
	}
	return label
}

// connect is labspace's side of the hand-over: a signed-in user who may
// connect gets a ticket and is sent to the tool's host.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/connect/"), "/", 4)
	if p.opts.Domain == "" || len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" || r.Method != http.MethodGet {
		p.fail(w, r, http.StatusNotFound, "No such tool address.", nil)
		return
	}
	rt := route{project: parts[0], workspace: parts[1], tool: parts[2]}
	token := bearer(r)
	if token == "" {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return
	}
	a, _, err := p.svc.Authenticate(r.Context(), token)
	if err != nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return
	}
	ctx := service.WithActor(r.Context(), a)
	ws, tool, err := p.svc.Connect(ctx, rt.project, rt.workspace, rt.tool, service.OriginOwn)
	if err == nil {
		var ticket string
		if ticket, err = p.svc.ToolTicket(ctx, ws, tool.Name); err == nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, p.toolOrigin(rt)+redeemPath+"?ticket="+url.QueryEscape(ticket), http.StatusSeeOther)
			return
		}
	}
	p.refuse(w, r, err)
}

// refuse answers a service error as the proxy's problem.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := labspace.ErrorCode(err)
	if code == labspace.EINTERNAL {
		p.log.Error("proxy", "err", err)
		p.fail(w, r, http.StatusInternalServerError, "Internal error.", nil)
		return
	}
	p.fail(w, r, labspace.HTTPStatus(code), err.Error(), nil)
}

// serveToolHost serves a tool on its own host: the ticket's redemption,
// then the tool itself to holders of its cookie (or of a bearer token).
func (p *Proxy) serveToolHost(w http.ResponseWriter, r *http.Request) {
	routes := splits(p.toolHost(r))
	if len(routes) == 0 {
		p.fail(w, r, http.StatusNotFound, "No such tool address.", nil)
		return
	}
	if r.URL.Path == redeemPath {
		p.redeem(w, r, routes)
		return
	}
	var c credential
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		c.token = t
	} else if ck, err := r.Cookie(ToolCookie); err == nil {
		c = credential{token: ck.Value, tool: true}
	} else {
		p.fail(w, r, http.StatusUnauthorized, "Open this tool from labspace.", nil)
		return
	}
	// Names hold '-': several splits of the host may name tools. The one
	// the caller may use wins (for a tool cookie: the one it was made
	// for), so that a workspace named to collide cannot shadow another.
	status, msg := http.StatusNotFound, "Workspace not found."
	for _, rt := range routes {
		if foreign(r, p.scheme) {
			p.fail(w, r, http.StatusForbidden, "A page of another site may not act on a tool.", nil)
			return
		}
		ws, tool, st, m := p.authorized(r, rt, c, service.OriginOwn)
		if st == 0 {
			p.forward(w, r, ws, tool, rt)
			return
		}
		if st != http.StatusNotFound && status == http.StatusNotFound {
			status, msg = st, m
		}
	}
	p.fail(w, r, status, msg, nil)
}

// redeem spends a ticket for the tool of this host and sets its cookie.
func (p *Proxy) redeem(w http.ResponseWriter, r *http.Request, routes []route) {
	raw, tk, err := p.svc.RedeemTicket(r.Context(), r.URL.Query().Get("ticket"))
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	for _, rt := range routes {
		ws, tool, _, status, _ := p.authorize(r, rt, credential{token: raw, tool: true}, service.OriginOwn)
		if status != 0 || ws.ID+"/"+tool.Name != tk.Name {
			continue
		}
		http.SetCookie(w, &http.Cookie{Name: ToolCookie, Value: raw, Path: "/", HttpOnly: true, Secure: p.scheme == "https",
			SameSite: http.SameSiteLaxMode, Expires: tk.ExpiresAt, MaxAge: int(time.Until(tk.ExpiresAt).Seconds())})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p.fail(w, r, http.StatusForbidden, "This link is for another tool; open the tool from labspace.", nil)
}

// foreign reports a request that a page of another origin made in the
// user's browser and that could act: a WebSocket opened from elsewhere,
// or an unsafe method sent cross-origin. Tools get the workspace's tool
// token from the proxy, which makes them skip their own cross-site checks
// (Jupyter's XSRF), so the proxy makes them. Navigations and reads pass.
// The request's own origin is scheme://Host: the tool's host, or
// labspace's for /ws/.
func foreign(r *http.Request, scheme string) bool {
	o := r.Header.Get("Origin")
	own := func() bool { return o == "" || o == scheme+"://"+r.Host }
	if r.Header.Get("Upgrade") != "" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return !own()
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return true
	}
	return !own()
}
