// Package api serves labspace's REST API under /api/v1. Handlers are thin:
// decode, call the service, encode. The route table also generates the
// OpenAPI document, so the two cannot drift apart.
package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
)

// Server is the REST API.
type Server struct {
	svc    *service.Service
	log    *slog.Logger
	mux    *http.ServeMux
	routes []route
}

// route is one operation: the handler and what the OpenAPI document says of it.
type route struct {
	method, path string
	summary      string
	tag          string
	public       bool // no token needed
	in           any  // request body type (nil: none); a value that is not empty is the document's example
	out          any  // success body type (nil: none)
	status       int  // success status
	query        []string
	text         bool // the success body is text/plain, streamed
	handle       func(w http.ResponseWriter, r *http.Request) error
	// conditional: the route writes one object and honours If-Match (412
	// when it names no current version); its success body has an ETag.
	conditional bool
}

// New returns the API server.
func New(svc *service.Service, log *slog.Logger) *Server {
	s := &Server{svc: svc, log: log, mux: http.NewServeMux()}
	s.routes = append(s.routes, s.identityRoutes()...)
	s.routes = append(s.routes, s.workspaceRoutes()...)
	for _, k := range kinds {
		s.routes = append(s.routes, s.kindRoutes(k)...)
	}
	s.routes = append(s.routes, route{method: "GET", path: openAPIPath, summary: "This API's OpenAPI 3.1 document",
		tag: "meta", public: true, out: map[string]any{}, status: 200, handle: s.openAPI})
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.wrap(rt))
	}
	// The human reference: the same document, as HTML (not an API operation).
	s.mux.Handle("GET /api/docs", s.docsPage())
	s.mux.HandleFunc("GET /api/docs/reference.css", docsStyle)
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, r, log, labspace.Errorf(labspace.EMETHOD, "%s %s takes %s only.", r.Method, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		writeError(w, r, log, labspace.Errorf(labspace.ENOTFOUND, "No API route %s %s.", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// wrap authenticates the caller (unless the route is public) and turns the
// handler's error into a problem document.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := service.WithSource(r.Context(), clientAddr(r))
		if !rt.public {
			a, tk, err := s.authenticate(ctx, r)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			ctx = context.WithValue(service.WithToken(service.WithActor(ctx, a), tk), tokenKey{}, tk)
		}
		if rt.conditional {
			p, err := service.ParseIfMatch(strings.Join(r.Header.Values("If-Match"), ","))
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			ctx = service.WithPrecondition(ctx, p)
		}
		if err := rt.handle(w, r.WithContext(ctx)); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

type tokenKey struct{}

// allowed lists the methods r's path takes (none: no such path).
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/api/" && pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) authenticate(ctx context.Context, r *http.Request) (*labspace.Actor, *labspace.Token, error) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return nil, nil, labspace.Errorf(labspace.EUNAUTHORIZED, "Send a token: Authorization: Bearer <token> (from POST /api/v1/token).")
	}
	return s.svc.Authenticate(ctx, raw)
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
