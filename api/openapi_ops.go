package api

import (
	"net/http"
	"strings"

	"github.com/labspace/labspace"
)

// Operation ids, parameters and statuses of each route, derived from the
// route so that a new route gets them without a second list to keep.

// operationIDOverrides names the routes whose derived id reads badly.
var operationIDOverrides = map[string]string{
	"POST /api/v1/token":       "signIn",
	"POST /api/v1/logout":      "signOut",
	"PUT /api/v1/me/password":  "changePassword",
	"GET /api/v1/openapi.json": "getOpenAPIDocument",
	"GET /api/v1/audit":        "listAuditEntries",
}

// operationID derives a verbNoun id from the method and path: GET of a
// collection lists (listProjects), POST to it creates (createProject), a
// path ending in a parameter is one object (getProject, updateProject,
// deleteProject), a POST to a word after an object is that action
// (startWorkspace, keepWorkspaceRunning), and other words after an object
// are its parts (getProjectUsage, updateWorkspaceSharing, listWorkspaceEvents).
func operationID(rt route) string {
	if id, ok := operationIDOverrides[rt.method+" "+rt.path]; ok {
		return id
	}
	segs := strings.Split(strings.TrimPrefix(rt.path, "/api/v1/"), "/")
	last := segs[len(segs)-1]
	isParam := func(s string) bool { return strings.HasPrefix(s, "{") }
	if isParam(last) {
		noun := pascal(singular(segs[len(segs)-2]))
		return map[string]string{"GET": "get", "PUT": "update", "DELETE": "delete", "POST": "post"}[rt.method] + noun
	}
	owner := ""
	if len(segs) >= 2 {
		// The object or singleton the word hangs from: projects/{project}/usage, me/password.
		prev := segs[len(segs)-2]
		if isParam(prev) && len(segs) >= 3 {
			owner = pascal(singular(segs[len(segs)-3]))
		} else if !isParam(prev) {
			owner = pascal(prev)
		}
	}
	_, isList := rt.out.(itemSampler)
	switch {
	case rt.method == "GET" && isList && rt.status == http.StatusOK:
		return "list" + owner + pascal(last)
	case rt.method == "POST" && rt.status == http.StatusCreated:
		return "create" + pascal(singular(last))
	case rt.method == "POST" && owner != "":
		// The action's first word is the verb, the rest follows the noun:
		// keep-running -> keepWorkspaceRunning, rotate-secret -> rotateApplicationSecret.
		verb, rest, _ := strings.Cut(last, "-")
		return verb + owner + pascal(rest)
	case rt.method == "POST":
		return camel(last)
	case rt.method == "PUT":
		return "update" + owner + pascal(last)
	}
	return strings.ToLower(rt.method) + owner + pascal(last)
}

func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies"):
		return strings.TrimSuffix(s, "ies") + "y"
	case strings.HasSuffix(s, "s"):
		return strings.TrimSuffix(s, "s")
	}
	return s
}

// pascal turns "access-rules" into "AccessRules".
func pascal(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '.' || r == '_' }) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

func camel(s string) string {
	p := pascal(s)
	return strings.ToLower(p[:1]) + p[1:]
}

// singleObject reports whether the route addresses one stored object,
// which has an ETag (a token is revoked, not versioned). The routes that
// take If-Match say so themselves (route.conditional).
func singleObject(rt route) bool { return strings.HasSuffix(rt.path, "}") && rt.tag != "identity" }

// statuses lists the error statuses rt can answer.
func statuses(rt route) []int {
	var out []int
	hasParams := strings.Contains(rt.path, "{")
	if rt.in != nil || contains(rt.query, "limit") {
		out = append(out, 400) // a bad body or list parameter (a bad name in a path is just not found)
	}
	if !rt.public || rt.path == "/api/v1/token" {
		out = append(out, 401) // no token, or wrong credentials
	}
	if !rt.public && !selfRoutes[rt.method+" "+rt.path] {
		out = append(out, 403)
	}
	if hasParams || rt.status == http.StatusCreated && rt.tag != "identity" {
		out = append(out, 404) // the object, or one a new object names (its project)
	}
	if conflicts(rt) {
		out = append(out, 409)
	}
	if rt.conditional {
		out = append(out, 412) // a stale If-Match
	}
	if rt.in != nil {
		out = append(out, 413)
	}
	if rt.in != nil || strings.HasSuffix(rt.path, "/start") {
		out = append(out, 422) // a start is admitted against the project's quota
	}
	if rt.path == openAPIPath {
		out = append(out, 406) // an Accept header that takes no JSON
	}
	if rt.path == "/api/v1/token" {
		out = append(out, 429) // repeated failed sign-ins, with Retry-After
	}
	return append(out, 500)
}

// selfRoutes are about the caller's own session: no role is needed.
var selfRoutes = map[string]bool{"GET /api/v1/me": true, "POST /api/v1/logout": true, "GET /api/v1/tokens": true}

// conflicts reports whether rt writes something that may collide: a
// duplicate name, a stale resourceVersion, an object in use, a workspace
// being deleted.
func conflicts(rt route) bool {
	switch {
	case rt.method == "GET" || rt.public || rt.tag == "identity":
		return false // the caller's own tokens and password collide with nothing
	case strings.HasSuffix(rt.path, "/keep-running"):
		return false // it only counts as activity
	}
	return true
}

// queryParams describes each query parameter a route may take.
var queryParams = map[string]map[string]any{
	"limit": {"description": "How many objects a page holds, 1 to 1000 (default 50).",
		"schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
	"continue": {"description": "The continue token of the previous page, to read the next one.",
		"schema": map[string]any{"type": "string"}},
	"offset": {"description": "How many objects to skip before the page, instead of a continue token.",
		"schema": map[string]any{"type": "integer", "minimum": 0}},
	"sortBy": {"description": "The field to sort on; activeAt (workspaces) puts running ones idle the longest first.",
		"schema": map[string]any{"type": "string", "enum": []string{"name", "createdAt", "updatedAt", "phase", "activeAt"}}},
	"sortOrder": {"description": "asc (the default) or desc.",
		"schema": map[string]any{"type": "string", "enum": []string{"asc", "desc"}, "default": "asc"}},
	"search": {"description": "Only objects whose name contains this text (at most 63 characters).",
		"schema": map[string]any{"type": "string", "maxLength": 63}},
	"filterBy": {"description": "Filters of the form field==value (name, phase, creator, environment), several separated by commas.",
		"schema": map[string]any{"type": "string"}, "example": "phase==Running"},
	"scope": {"description": "Only objects of this scope: global, department/<name> or project/<name>.",
		"schema": map[string]any{"type": "string"}, "example": "project/vision"},
	"creator": {"description": "Only objects created by this user or application.",
		"schema": map[string]any{"type": "string"}},
	"project": {"description": "Only workspaces of this project.",
		"schema": map[string]any{"type": "string"}},
	"phase": {"description": "Only workspaces in this phase.",
		"schema": map[string]any{"type": "string", "enum": labspace.Phases}},
	"follow": {"description": "true keeps the response open and streams new output as it comes.",
		"schema": map[string]any{"type": "boolean", "default": false}},
	"actor": {"description": "Only entries of this actor (a user or application name).",
		"schema": map[string]any{"type": "string"}},
	"objectId": {"description": "Only entries about the object with this id.",
		"schema": map[string]any{"type": "string"}},
}

// pathParams describes each path parameter.
var pathParams = map[string]string{
	"name":    "The object's name.",
	"id":      "The object's id.",
	"project": "The project's name.",
}

// parameters lists rt's path, query and header parameters.
func parameters(rt route) []any {
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
			"description": pathParams[m[1]], "schema": map[string]any{"type": "string"}})
	}
	query := rt.query
	if _, isList := rt.out.(itemSampler); isList && contains(query, "limit") {
		// Every paged list takes an offset and filters besides the cursor.
		for _, q := range []string{"offset", "filterBy"} {
			if !contains(query, q) {
				query = append(query[:len(query):len(query)], q)
			}
		}
	}
	for _, q := range query {
		p := map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}}
		for k, v := range queryParams[q] {
			p[k] = v
		}
		params = append(params, p)
	}
	if rt.conditional {
		params = append(params, map[string]any{"name": "If-Match", "in": "header",
			"description": "The ETag of the object as you read it: if it has changed since, the request fails with 412.",
			"schema":      map[string]any{"type": "string"}})
	}
	return params
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
