// Package proxy connects users to the tools of their workspaces:
// /ws/{project}/{workspace}/{tool}/... is forwarded (HTTP and WebSocket)
// to the tool once the caller's token or session is checked. labspace's
// own credentials never reach the tool, and a tool's cookies stay under
// its own path.
package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/service"
)

// SessionCookie carries a session token for browsers.
const SessionCookie = "labspace_session"

// Targets says where a workspace's tool listens (the controller).
type Targets interface {
	Target(workspaceID, tool string) (string, bool)
}

// Options configure the proxy.
type Options struct {
	// Domain serves each tool on a host of its own,
	// <tool>-<workspace>-<project>.<Domain>, reached through a ticket
	// (origins.go). Best a domain other than labspace's own.
	Domain string
	// NoPaths turns /ws/ off: tools are then reached on their hosts only.
	NoPaths bool
	// PublicURL is labspace's address; tool hosts take its scheme and port.
	PublicURL string
	// NoActivityTracking stops noting requests and WebSocket frames as
	// activity for idle stop. It exists so that a benchmark (bench/proxy)
	// can measure what tracking costs; production leaves tracking on.
	NoActivityTracking bool
}

// Proxy is the tool proxy.
type Proxy struct {
	svc       *service.Service
	targets   Targets
	log       *slog.Logger
	opts      Options
	scheme    string // labspace's and its tool hosts'
	port      string // of tool hosts ("" for the scheme's own)
	transport http.RoundTripper
	mu        sync.Mutex
	proxies   map[string]toolProxy        // by workspace id and tool prefix: one per tool
	access    *service.AccessCache[grant] // by token and tool
	toolKey   []byte                      // derives workspaces' tool tokens
}

// SetToolKey makes the proxy send each workspace's tool token
// (runtime.ToolToken) to its tools as "Authorization: token <value>".
func (p *Proxy) SetToolKey(key []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.toolKey = key
	p.proxies = map[string]toolProxy{} // they send the old key's tokens
}

// New returns a proxy.
func New(svc *service.Service, targets Targets, opts Options, log *slog.Logger) *Proxy {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 0
	svc.SetToolOrigins(opts.Domain != "")
	p := &Proxy{svc: svc, targets: targets, opts: opts, log: log, transport: t, proxies: map[string]toolProxy{},
		access: service.NewToolAccessCache[grant](svc)}
	p.scheme, p.port = schemeAndPort(opts.PublicURL)
	return p
}

// route is a parsed tool address.
type route struct {
	project, workspace, tool string
	prefix                   string // what the tool's paths start with in the browser
}

// ServeHTTP serves tool hosts (with a domain), /connect/ links, and /ws/.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case p.toolHost(r) != "":
		p.serveToolHost(w, r)
	case strings.HasPrefix(r.URL.Path, "/connect/"):
		p.connect(w, r)
	case p.opts.NoPaths:
		p.fail(w, r, http.StatusNotFound, "Tools are served on addresses of their own here: open them from labspace.", nil)
	default:
		p.servePath(w, r)
	}
}

// servePath serves /ws/{project}/{workspace}/{tool}/ on labspace's own
// origin, to the tool's creator only (service.OriginPath).
func (p *Proxy) servePath(w http.ResponseWriter, r *http.Request) {
	rt, ok := parsePath(r.URL.Path)
	if !ok {
		p.fail(w, r, http.StatusNotFound, "No such tool address.", nil)
		return
	}
	if foreign(r, p.scheme) {
		p.fail(w, r, http.StatusForbidden, "A page of another site may not act on a tool.", nil)
		return
	}
	token := bearer(r)
	if token == "" {
		p.fail(w, r, http.StatusUnauthorized, "Sign in first.", nil)
		return
	}
	ws, tool, status, msg := p.authorized(r, rt, credential{token: token}, service.OriginPath)
	if status != 0 {
		p.fail(w, r, status, msg, nil)
		return
	}
	p.forward(w, r, ws, tool, rt)
}

// forward sends the request on to the tool once the caller was let through.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, ws *labspace.Workspace, tool *labspace.Tool, rt route) {
	target, ok := p.targets.Target(ws.ID, tool.Name)
	if !ok || ws.Status.Phase != labspace.PhaseRunning {
		p.drop(ws.ID)
		p.fail(w, r, http.StatusServiceUnavailable, "Tool "+tool.Name+" of workspace "+ws.Name+" is not running (the workspace is "+string(ws.Status.Phase)+").", ws)
		return
	}
	if tool.StripPrefix && r.URL.Path+"/" == rt.prefix {
		// The tool's root without its slash: the tool's relative links
		// only work under the slash.
		loc := rt.prefix
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	// A tool's uploads, long polls and WebSockets outlast the server's read
	// timeout, which is for labspace's own requests.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	p.reverse(target, rt.prefix, tool.StripPrefix, ws.ID).ServeHTTP(w, r)
}

// stripPrefix removes the tool's base path from an outgoing request.
func stripPrefix(out *http.Request, prefix string) {
	escaped := out.URL.EscapedPath()
	out.URL.Path = "/" + strings.TrimPrefix(out.URL.Path, prefix)
	out.URL.RawPath = ""
	if rest, ok := strings.CutPrefix(escaped, prefix); ok {
		out.URL.RawPath = "/" + rest // keeps escapes such as %2F as sent
	}
}

// parsePath reads the project, workspace and tool of a /ws/ path.
func parsePath(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/ws/")
	if !ok {
		return route{}, false
	}
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return route{}, false
	}
	return route{project: parts[0], workspace: parts[1], tool: parts[2],
		prefix: "/ws/" + parts[0] + "/" + parts[1] + "/" + parts[2] + "/"}, true
}

// splits returns every way to read label as tool-workspace-project.
func splits(label string) []route {
	var dashes []int
	for i := 0; i < len(label); i++ {
		if label[i] == '-' {
			dashes = append(dashes, i)
		}
	}
	var out []route
	for a := 0; a < len(dashes); a++ {
		for b := a + 1; b < len(dashes); b++ {
			i, j := dashes[a], dashes[b]
			rt := route{tool: label[:i], workspace: label[i+1 : j], project: label[j+1:], prefix: "/"}
			if rt.tool != "" && rt.workspace != "" && rt.project != "" {
				out = append(out, rt)
			}
		}
	}
	return out
}

// credential is what a request carries: a labspace token, or on a tool's
// own host its tool cookie.
type credential struct {
	token string
	tool  bool // a tool token (service.AuthenticateTool)
}

// authorize checks the caller's token and asks the service whether it may
// connect to the tool from origin. Statuses: 401, 404 (never 403 across
// projects), 403 with the service's reason.
func (p *Proxy) authorize(r *http.Request, rt route, c credential, origin service.ToolOrigin) (*labspace.Workspace, *labspace.Tool, *labspace.Token, int, string) {
	authenticate := p.svc.Authenticate
	if c.tool {
		authenticate = p.svc.AuthenticateTool
	}
	a, tk, err := authenticate(r.Context(), c.token)
	if err != nil {
		return nil, nil, nil, http.StatusUnauthorized, "The token is invalid, expired or revoked; sign in again."
	}
	ws, tool, err := p.svc.Connect(service.WithActor(r.Context(), a), rt.project, rt.workspace, rt.tool, origin)
	if err == nil && tk.Kind == service.TokenTool && tk.Name != ws.ID+"/"+tool.Name {
		err = labspace.Errorf(labspace.EFORBIDDEN, "This cookie is for another tool; open the tool from labspace.")
	}
	switch code := labspace.ErrorCode(err); code {
	case "":
		return ws, tool, tk, 0, ""
	case labspace.ENOTFOUND, labspace.EFORBIDDEN:
		return nil, nil, nil, labspace.HTTPStatus(code), err.Error()
	default:
		p.log.Error("proxy: connect", "err", err)
		return nil, nil, nil, http.StatusInternalServerError, "Internal error."
	}
}

// authorized is authorize behind a cache of granted access (an
// AccessCache): a request otherwise costs a token look-up, the caller's
// rules and the workspace, most of the proxy's time for small responses.
// Refusals are not cached.
func (p *Proxy) authorized(r *http.Request, rt route, c credential, origin service.ToolOrigin) (*labspace.Workspace, *labspace.Tool, int, string) {
	key := c.token + "\x00" + strconv.FormatBool(c.tool) + strconv.Itoa(int(origin)) + rt.project + "/" + rt.workspace + "/" + rt.tool
	e, gen, ok := p.access.Get(key)
	if ok {
		return e.ws, e.tool, 0, ""
	}
	ws, tool, tk, status, msg := p.authorize(r, rt, c, origin)
	if status != 0 || ws.Status.Phase != labspace.PhaseRunning {
		return ws, tool, status, msg // refusals, and tools not running yet, are looked up again
	}
	p.access.Put(key, grant{ws: ws, tool: tool}, gen, tk.ExpiresAt)
	return ws, tool, 0, ""
}

// grant is a cached decision to let a token through to a tool.
type grant struct {
	ws   *labspace.Workspace
	tool *labspace.Tool
}

// bearer returns the caller's token: the Authorization header, else the session cookie.
func bearer(r *http.Request) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// clean removes labspace's credentials from a request before it leaves.
func clean(r *http.Request) {
	r.Header.Del("Authorization")
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if !strings.HasPrefix(c.Name, "labspace_") {
			r.AddCookie(c)
		}
	}
}

// toolProxy is the reverse proxy of one tool, for the address it has now.
type toolProxy struct {
	target string
	strip  bool
	rp     *httputil.ReverseProxy
}

// drop forgets the reverse proxies of a workspace that is not running:
// each start gives its tools new addresses.
func (p *Proxy) drop(workspaceID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.proxies {
		if strings.HasPrefix(k, workspaceID+" ") {
			delete(p.proxies, k)
		}
	}
}

// reverse returns the (cached) reverse proxy to target: one per tool,
// replaced when the tool's address changes (a new start).
// The reverse proxy works on its own copy of the request (pr.Out): the
// request is cleaned and its path stripped there, not copied once more.
func (p *Proxy) reverse(target, prefix string, strip bool, workspaceID string) *httputil.ReverseProxy {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := workspaceID + " " + prefix
	if tp, ok := p.proxies[key]; ok && tp.target == target && tp.strip == strip {
		return tp.rp
	}
	token := runtime.ToolToken(p.toolKey, workspaceID)
	u, _ := url.Parse(target)
	track := !p.opts.NoActivityTracking
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if track {
				p.svc.Touch(workspaceID, labspace.SignalToolTraffic)
			}
			clean(pr.Out)
			if token != "" {
				pr.Out.Header.Set("Authorization", "token "+token)
			}
			if strip {
				stripPrefix(pr.Out, prefix)
			}
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // tools check Origin against Host (Jupyter's WebSocket)
			pr.SetXForwarded()
		},
		Transport: p.transport,
		// FlushInterval stays 0: ReverseProxy already flushes every write
		// of a streamed response (no Content-Length, or server-sent
		// events: logs, notebooks' long polls). -1 for every response cost
		// a timer and a goroutine that wrote the headers in a packet of
		// their own: 0.83x of the bare proxy on 1 KiB responses.
		BufferPool: copyBuffers, // see bufferPool
		ModifyResponse: func(res *http.Response) error {
			confineCookies(res, prefix)
			if rwc, ok := res.Body.(io.ReadWriteCloser); ok && track && res.StatusCode == http.StatusSwitchingProtocols {
				// A WebSocket: its frames are activity too.
				res.Body = &touching{ReadWriteCloser: rwc, touch: func() { p.svc.Touch(workspaceID, labspace.SignalToolTraffic) }}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Warn("proxy: tool unreachable", "target", target, "err", err)
			p.fail(w, r, http.StatusBadGateway, "The tool did not answer.", nil)
		},
	}
	p.proxies[key] = toolProxy{target: target, strip: strip, rp: rp}
	return rp
}

// confineCookies keeps a tool's cookies under its own path and host: a
// cookie for another path or domain is rewritten, and one named like
// labspace's is dropped.
func confineCookies(res *http.Response, prefix string) {
	set := res.Header.Values("Set-Cookie")
	if len(set) == 0 {
		return
	}
	res.Header.Del("Set-Cookie")
	for _, line := range set {
		c, err := http.ParseSetCookie(line)
		if err != nil || strings.HasPrefix(c.Name, "labspace_") {
			continue
		}
		c.Domain = ""
		if !strings.HasPrefix(c.Path+"/", prefix) {
			c.Path = strings.TrimSuffix(prefix, "/")
		}
		res.Header.Add("Set-Cookie", c.String())
	}
}

// copyBufferSize is ReverseProxy's own buffer size.
const copyBufferSize = 32 << 10

// bufferPool hands out copy buffers. Without a pool ReverseProxy
// allocates a 32 KiB buffer for every response, however small: 18000
// requests/s of 1 KiB then allocate 600 MB/s, and the collector took a
// quarter of the proxy's CPU. It keeps array pointers: putting them in a
// sync.Pool does not allocate, unlike slices. Larger buffers (64 to 256
// KiB) did not clearly speed up 10 MiB bodies, and each stream holds one.
type bufferPool struct{ pool sync.Pool }

var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}

// BufferPool returns the pool the proxy copies bodies through, so that a
// benchmark can give a bare ReverseProxy the same one.
func BufferPool() httputil.BufferPool { return copyBuffers }

func (b *bufferPool) Get() []byte { return b.pool.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(buf []byte) {
	if len(buf) == copyBufferSize {
		b.pool.Put((*[copyBufferSize]byte)(buf))
	}
}

// touching notes activity at every read and write of an upgraded
// connection (the tool's side of a WebSocket).
type touching struct {
	io.ReadWriteCloser
	touch func()
}

func (t *touching) Read(b []byte) (int, error) {
	n, err := t.ReadWriteCloser.Read(b)
	if n > 0 {
		t.touch()
	}
	return n, err
}

func (t *touching) Write(b []byte) (int, error) {
	t.touch()
	return t.ReadWriteCloser.Write(b)
}
