package api

import (
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/labspace/labspace"
)

// The OpenAPI document is generated from the route table and the Go types
// the routes decode and encode, so that it describes what the server does.

var pathParam = regexp.MustCompile(`\{([a-zA-Z]+)\}`)

// tagDocs describes the tags that are not a kind of object (those take
// their type's doc).
var tagDocs = map[string]string{
	"identity": "Signing in and out, the caller's own identity, password and personal access tokens.",
	"audit":    "The audit log: who changed what, and when.",
	"meta":     "This document.",
}

// tagTypes names the type whose doc describes a tag.
var tagTypes = map[string]string{
	"departments": "labspace.Department", "projects": "labspace.Project", "groups": "labspace.Group",
	"access-rules": "labspace.AccessRule", "environments": "labspace.Environment",
	"compute-resources": "labspace.ComputeResource", "data-sources": "labspace.DataSource",
	"credentials": "labspace.Credential", "templates": "labspace.Template", "policies": "labspace.Policy",
	"workspaces": "labspace.Workspace", "users": "labspace.User", "applications": "labspace.Application",
}

// OpenAPI returns the API's OpenAPI 3.1 document.
func (s *Server) OpenAPI() map[string]any {
	g := newSchemaGen()
	// Every body's requirements first: a schema shared by several (Meta)
	// is generated once, requiring what any of them requires.
	for _, rt := range s.routes {
		if rt.in != nil {
			g.requireFrom(rt.in)
		}
	}
	problem := g.ref(reflect.TypeOf(Problem{}), false)
	paths := map[string]any{}
	var tags []string
	seen := map[string]bool{}
	for _, rt := range s.routes {
		if !seen[rt.tag] {
			seen[rt.tag] = true
			tags = append(tags, rt.tag)
		}
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = operation(g, rt, problem)
	}
	sort.Strings(tags)
	tagList := make([]any, len(tags))
	for i, t := range tags {
		d := tagDocs[t]
		if d == "" {
			d = typeDocs[tagTypes[t]]
		}
		tagList[i] = map[string]any{"name": t, "description": d}
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "labspace API", "version": "1",
			"description": "Workspaces for AI research teams. Errors are RFC 9457 problem documents; " +
				"lists take limit and continue; updates take the resourceVersion you read.",
			// The repository grants no license yet: say so rather than invent one.
			"license": map[string]any{"name": "All rights reserved (no license has been chosen yet)",
				"identifier": "LicenseRef-all-rights-reserved"}},
		"servers": []any{map[string]any{"url": "{origin}", "description": "The labspace server (its --public-url).",
			"variables": map[string]any{"origin": map[string]any{"default": "http://127.0.0.1:8080",
				"description": "Where the server is reached; labspace serve listens on 127.0.0.1:8080 by default."}}}},
		"tags":       tagList,
		"paths":      paths,
		"components": map[string]any{"schemas": g.defs, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "A token from signIn (POST /api/v1/token) or a personal access token."}}},
		"security":   []any{map[string]any{"bearer": []any{}}},
	}
}

// operation describes one route.
func operation(g *schemaGen, rt route, problem map[string]any) map[string]any {
	op := map[string]any{"summary": rt.summary, "tags": []string{rt.tag}, "operationId": operationID(rt)}
	if rt.public {
		op["security"] = []any{}
	}
	if params := parameters(rt); params != nil {
		op["parameters"] = params
	}
	if rt.in != nil {
		media := map[string]any{"schema": g.body(rt.in, true)}
		if !reflect.Indirect(reflect.ValueOf(rt.in)).IsZero() {
			media["example"] = rt.in
		}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": media}}
	}
	ok := map[string]any{"description": http.StatusText(rt.status)}
	switch {
	case rt.text:
		ok["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
	case rt.out != nil:
		body := g.body(rt.out, false)
		if _, isMap := rt.out.(map[string]any); isMap {
			body["description"] = "An OpenAPI 3.1 document."
		}
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": body}}
	}
	if singleObject(rt) && rt.method == "GET" {
		ok["headers"] = map[string]any{"ETag": map[string]any{
			"description": "The object's version; send it back in If-Match to update or delete only that version.",
			"schema":      map[string]any{"type": "string"}}}
	}
	responses := map[string]any{itoa(rt.status): ok}
	for _, code := range statuses(rt) {
		responses[itoa(code)] = map[string]any{"description": http.StatusText(code),
			"content": map[string]any{"application/problem+json": map[string]any{"schema": problem}}}
	}
	op["responses"] = responses
	return op
}

const openAPIPath = "/api/v1/openapi.json"

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	if !acceptsJSON(r.Header.Get("Accept")) {
		return labspace.Errorf(labspace.ENOTACCEPTABLE, "The OpenAPI document is served as application/json only.")
	}
	writeJSON(w, 200, s.OpenAPI())
	return nil
}

// acceptsJSON reports whether an Accept header takes application/json
// (no header takes anything).
func acceptsJSON(accept string) bool {
	if accept == "" {
		return true
	}
	for _, r := range strings.Split(accept, ",") {
		mt, params, _ := strings.Cut(strings.TrimSpace(r), ";")
		if strings.ReplaceAll(params, " ", "") == "q=0" {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "*/*", "application/*", "application/json":
			return true
		}
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }

// Routes lists "METHOD path" of every route, for tests.
func (s *Server) Routes() []string {
	out := make([]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = rt.method + " " + rt.path
	}
	return out
}
