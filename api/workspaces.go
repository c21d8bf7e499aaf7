package api

import (
	"net/http"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
)

func (s *Server) workspaceRoutes() []route {
	const base = "/api/v1/projects/{project}/workspaces"
	const one = base + "/{name}"
	ws := &labspace.Workspace{}
	desired := func(to labspace.Phase) func(http.ResponseWriter, *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.svc.SetDesiredPhase(r.Context(), r.PathValue("project"), r.PathValue("name"), to)
			return reply(w, 202, out, err)
		}
	}
	listAll := s.listJSON(labspace.KindWorkspace)
	return []route{
		{method: "GET", path: "/api/v1/workspaces", summary: "List the workspaces of every project the caller can see",
			tag: "workspaces", out: List[labspace.Object]{Items: []labspace.Object{ws}}, status: 200,
			query: []string{"limit", "continue", "offset", "sortBy", "sortOrder", "search", "project", "phase", "creator", "filterBy"}, handle: listAll},
		{method: "GET", path: base, summary: "List a project's workspaces", tag: "workspaces",
			out: List[labspace.Object]{Items: []labspace.Object{ws}}, status: 200,
			query: []string{"limit", "continue", "offset", "sortBy", "sortOrder", "search", "phase", "creator", "filterBy"},
			handle: func(w http.ResponseWriter, r *http.Request) error {
				// A project the caller cannot see is not there, as when it is read.
				if _, err := s.svc.Get(r.Context(), labspace.KindProject, r.PathValue("project")); err != nil {
					return err
				}
				q := r.URL.Query()
				q.Set("project", r.PathValue("project"))
				r.URL.RawQuery = q.Encode()
				return listAll(w, r)
			}},
		{method: "GET", path: "/api/v1/projects/{project}/policy", summary: "The policy in force for a project's workspaces: " +
			"the strictest of its own, its department's and the global policy, each rule with the scope it comes from",
			tag: "policies", out: &labspace.EffectivePolicy{}, status: 200,
			handle: func(w http.ResponseWriter, r *http.Request) error {
				out, err := s.svc.EffectivePolicy(r.Context(), r.PathValue("project"))
				return reply(w, 200, out, err)
			}},
		{method: "GET", path: "/api/v1/projects/{project}/usage", summary: "A project's quota beside what its admitted " +
			"workspaces hold, and its GPUs allocated and used over the last 6 hours (one point per utilisation sample)",
			tag: "projects", out: &service.ProjectUsage{}, status: 200,
			handle: func(w http.ResponseWriter, r *http.Request) error {
				out, err := s.svc.ProjectUsage(r.Context(), r.PathValue("project"))
				return reply(w, 200, out, err)
			}},
		{method: "POST", path: base, summary: "Create a workspace from a template or building blocks, started unless desiredPhase is Stopped",
			tag: "workspaces", in: labspace.WorkspaceCreate{Name: "exp1", Environment: "jupyter-lab", Compute: "one-gpu",
				DataSources: []labspace.DataSourceUse{{Name: "imagenet", MountPath: "/data"}}}, out: ws, status: 201,
			handle: func(w http.ResponseWriter, r *http.Request) error {
				var req labspace.WorkspaceCreate
				if err := decode(r, &req); err != nil {
					return err
				}
				out, err := s.svc.CreateWorkspace(r.Context(), r.PathValue("project"), &req)
				return reply(w, 201, out, err)
			}},
		{method: "GET", path: one, summary: "Get a workspace", tag: "workspaces", out: ws, status: 200,
			handle: func(w http.ResponseWriter, r *http.Request) error {
				out, err := s.svc.GetWorkspace(r.Context(), r.PathValue("project"), r.PathValue("name"))
				return reply(w, 200, out, err)
			}},
		{method: "POST", path: one + "/start", summary: "Ask for the workspace to run", tag: "workspaces", out: ws, status: 202,
			conditional: true, handle: desired(labspace.PhaseRunning)},
		{method: "POST", path: one + "/keep-running", summary: "Count as activity: a running workspace that a policy would stop " +
			"for being idle runs on (its maximum running time still holds)", tag: "workspaces", out: ws, status: 200,
			handle: func(w http.ResponseWriter, r *http.Request) error {
				out, err := s.svc.KeepRunning(r.Context(), r.PathValue("project"), r.PathValue("name"))
				return reply(w, 200, out, err)
			}},
		{method: "POST", path: one + "/stop", summary: "Ask for the workspace to stop (keeps its storage)", tag: "workspaces",
			out: ws, status: 202, conditional: true, handle: desired(labspace.PhaseStopped)},
		{method: "DELETE", path: one, summary: "Ask for the workspace to be deleted", tag: "workspaces", out: ws, status: 202,
			conditional: true, handle: desired(labspace.PhaseDeleted)},
		{method: "PUT", path: one + "/sharing", summary: "Set who besides its creator may connect to the workspace's tools (the creator only; needs tools on hosts of their own)",
			tag: "workspaces", in: labspace.Sharing{Users: []string{"grace"}}, out: ws, status: 200, conditional: true,
			handle: func(w http.ResponseWriter, r *http.Request) error {
				var req labspace.Sharing
				if err := decode(r, &req); err != nil {
					return err
				}
				out, err := s.svc.ShareWorkspace(r.Context(), r.PathValue("project"), r.PathValue("name"), req)
				return reply(w, 200, out, err)
			}},
		{method: "GET", path: one + "/logs", summary: "The workspace's output; follow=true keeps streaming", tag: "workspaces",
			text: true, status: 200, query: []string{"follow"}, handle: s.logs},
		{method: "GET", path: one + "/events", summary: "The workspace's history, oldest first", tag: "workspaces",
			out: List[labspace.Event]{}, status: 200, handle: func(w http.ResponseWriter, r *http.Request) error {
				items, err := s.svc.WorkspaceEvents(r.Context(), r.PathValue("project"), r.PathValue("name"))
				return reply(w, 200, List[labspace.Event]{Items: items}, err)
			}},
	}
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) error {
	follow := r.URL.Query().Get("follow") == "true"
	rc, err := s.svc.WorkspaceLogs(r.Context(), r.PathValue("project"), r.PathValue("name"), follow)
	if err != nil {
		return err
	}
	defer rc.Close()
	if follow {
		// A stream may outlast the server's read timeout (S8).
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			return nil // the body has started: the stream just ends
		}
	}
}
