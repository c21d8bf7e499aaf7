package api_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/api"
	"github.com/labspace/labspace/internal/typedoc"
)

func newDocServer() *api.Server {
	return api.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestDocsGenFresh fails when docs_gen.go is not what go generate writes
// from today's doc comments.
func TestDocsGenFresh(t *testing.T) {
	want, err := typedoc.Generate("api", typedoc.APIPackages("."))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("docs_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("api/docs_gen.go is stale: run go generate ./api/")
	}
}

// TestOpenAPIDescribed fails for a schema, a field or a parameter without
// a description: write it as a doc comment on the Go type or field.
func TestOpenAPIDescribed(t *testing.T) {
	doc := newDocServer().OpenAPI()
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var missing []string
	for name, s := range schemas {
		s := s.(map[string]any)
		if s["description"] == nil {
			missing = append(missing, name)
		}
		for field, p := range s["properties"].(map[string]any) {
			if p := p.(map[string]any); p["description"] == nil && p["$ref"] == nil {
				missing = append(missing, name+"."+field)
			}
		}
	}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			params, _ := op.(map[string]any)["parameters"].([]any)
			for _, p := range params {
				p := p.(map[string]any)
				if p["description"] == nil || p["description"] == "" || p["schema"] == nil {
					missing = append(missing, fmt.Sprintf("%s %s parameter %s (queryParams or pathParams in api/openapi_ops.go)",
						strings.ToUpper(method), path, p["name"]))
				}
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d schemas or fields have no description (add a doc comment to the Go type or field, then go generate ./api/):\n%s",
			len(missing), strings.Join(missing, "\n"))
	}
}

var opIDShape = regexp.MustCompile(`^[a-z]+[A-Za-z]*$`)

// TestOperationIDs checks that every operation has a unique verbNoun id.
func TestOperationIDs(t *testing.T) {
	doc := newDocServer().OpenAPI()
	seen := map[string]string{}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			id, _ := op.(map[string]any)["operationId"].(string)
			where := strings.ToUpper(method) + " " + path
			if !opIDShape.MatchString(id) {
				t.Errorf("%s: operationId %q is not verbNoun", where, id)
			}
			if other, dup := seen[id]; dup {
				t.Errorf("operationId %q names %s and %s", id, other, where)
			}
			seen[id] = where
		}
	}
	for id, want := range map[string]string{
		"listProjects": "GET /api/v1/projects", "createWorkspace": "POST /api/v1/projects/{project}/workspaces",
		"getWorkspace": "GET /api/v1/projects/{project}/workspaces/{name}", "startWorkspace": "POST /api/v1/projects/{project}/workspaces/{name}/start",
		"stopWorkspace": "POST /api/v1/projects/{project}/workspaces/{name}/stop", "deleteWorkspace": "DELETE /api/v1/projects/{project}/workspaces/{name}",
		"updateAccessRule": "PUT /api/v1/access-rules/{id}", "listWorkspaces": "GET /api/v1/workspaces",
		"keepWorkspaceRunning":  "POST /api/v1/projects/{project}/workspaces/{name}/keep-running",
		"listProjectWorkspaces": "GET /api/v1/projects/{project}/workspaces", "getProjectUsage": "GET /api/v1/projects/{project}/usage",
	} {
		if seen[id] != want {
			t.Errorf("operationId %s names %q, want %s", id, seen[id], want)
		}
	}
}

// TestOpenAPIAnnotations spot-checks what the document derives from the
// Go types: required inputs from validation, access from tags, enums
// from constants.
func TestOpenAPIAnnotations(t *testing.T) {
	doc := newDocServer().OpenAPI()
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	prop := func(schema, field string) map[string]any {
		p, _ := schemas[schema].(map[string]any)["properties"].(map[string]any)[field].(map[string]any)
		return p
	}
	required := func(schema, field string) bool {
		r, _ := schemas[schema].(map[string]any)["required"].([]string)
		for _, f := range r {
			if f == field {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		schema, field string
		want          bool
	}{
		{"WorkspaceCreateInput", "name", true},
		{"WorkspaceCreateInput", "template", false}, // a template, or an environment and a compute resource
		{"CredentialSpecInput", "type", true},
		{"DataSourceSpecInput", "mountPath", true},
		{"ProjectSpecInput", "namespace", false}, // filled from the name
		{"MetaInput", "name", true},
		{"MetaInput", "id", false},
		{"PasswordChangeInput", "newPassword", true},
	} {
		if got := required(c.schema, c.field); got != c.want {
			t.Errorf("%s.%s required = %v, want %v", c.schema, c.field, got, c.want)
		}
	}
	for _, c := range []struct{ schema, field, key string }{
		{"CredentialSpecInput", "password", "writeOnly"}, {"CredentialSpec", "secretAccessKey", "writeOnly"},
		{"UserBodyInput", "password", "writeOnly"}, {"TokenRequestInput", "clientSecret", "writeOnly"},
		{"Meta", "id", "readOnly"}, {"Meta", "createdAt", "readOnly"}, {"Workspace", "status", "readOnly"},
		{"CredentialSpec", "keys", "readOnly"},
	} {
		if prop(c.schema, c.field)[c.key] != true {
			t.Errorf("%s.%s is not %s", c.schema, c.field, c.key)
		}
	}
	if prop("Meta", "resourceVersion")["readOnly"] != nil {
		t.Error("resourceVersion is sent back with updates: not read-only")
	}
	enum := func(schema, field string) string { return fmt.Sprint(prop(schema, field)["enum"]) }
	for _, c := range []struct{ schema, field, want string }{
		{"WorkspaceStatus", "phase", fmt.Sprint(labspace.Phases)},
		{"Workspace", "desiredPhase", "[Running Stopped Deleted]"},
		{"AccessRuleSpec", "role", fmt.Sprint(labspace.Roles)},
		{"Scope", "type", "[global department project]"},
		{"CredentialSpec", "type", "[docker-registry access-key username-password generic-secret]"},
		{"Tool", "type", fmt.Sprint(labspace.ToolTypes)},
	} {
		if got := enum(c.schema, c.field); got != c.want {
			t.Errorf("%s.%s enum = %s, want %s", c.schema, c.field, got, c.want)
		}
	}
}
