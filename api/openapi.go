package api

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The OpenAPI document is generated from the route table and the Go types
// the routes decode and encode, so that it describes what the server does.

// itemSampler lets the generator see the concrete type behind List[labspace.Object].
type itemSampler interface{ itemSample() any }

func (l List[T]) itemSample() any {
	if len(l.Items) == 0 {
		var zero T
		return zero
	}
	return l.Items[0]
}

type schemaGen struct {
	defs map[string]any
}

var timeType = reflect.TypeOf(time.Time{})

// ref returns a $ref to the component schema of t, generating it once.
// Inputs get no required fields: the service reports what is missing.
func (g *schemaGen) ref(t reflect.Type, input bool) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := t.Name()
	if input {
		name += "Input"
	}
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = true // placeholder against recursion
		g.defs[name] = g.object(t, input)
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func (g *schemaGen) schema(t reflect.Type, input bool) map[string]any {
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return map[string]any{"anyOf": []any{g.schema(t.Elem(), input), map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64, reflect.Float32:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem(), input)}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem(), input)}
	case reflect.Struct:
		return g.ref(t, input)
	}
	return map[string]any{}
}

// object describes a struct: its JSON fields, embedded structs flattened.
func (g *schemaGen) object(t reflect.Type, input bool) map[string]any {
	props := map[string]any{}
	required := []string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type, input)
			if !input && !strings.Contains(opts, "omitempty") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// body returns the schema of a request or response body value.
func (g *schemaGen) body(v any, input bool) map[string]any {
	if l, ok := v.(itemSampler); ok {
		return map[string]any{"type": "object", "additionalProperties": false, "required": []string{"items"},
			"properties": map[string]any{
				"items":    map[string]any{"type": "array", "items": g.schema(reflect.TypeOf(l.itemSample()), false)},
				"continue": map[string]any{"type": "string"},
			}}
	}
	if _, ok := v.(map[string]any); ok {
		return map[string]any{"type": "object"}
	}
	return g.schema(reflect.TypeOf(v), input)
}

var pathParam = regexp.MustCompile(`\{([a-zA-Z]+)\}`)

// OpenAPI returns the API's OpenAPI 3.1 document.
func (s *Server) OpenAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	problem := g.ref(reflect.TypeOf(Problem{}), false)
	paths := map[string]any{}
	for _, rt := range s.routes {
		op := map[string]any{"summary": rt.summary, "tags": []string{rt.tag},
			"operationId": strings.ToLower(rt.method) + strings.ReplaceAll(pathParam.ReplaceAllString(rt.path, "by-$1"), "/", "_")}
		if rt.public {
			op["security"] = []any{}
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.in != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.body(rt.in, true)}}}
		}
		ok := map[string]any{"description": http.StatusText(rt.status)}
		switch {
		case rt.text:
			ok["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.out != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.body(rt.out, false)}}
		}
		responses := map[string]any{itoa(rt.status): ok}
		codes := []int{400, 401, 403, 404, 409, 422, 500}
		if rt.path == "/api/v1/token" {
			codes = append(codes, 429) // repeated failed sign-ins, with Retry-After
		}
		if rt.in != nil {
			codes = append(codes, 413) // a body over 1 MiB
		}
		for _, code := range codes {
			responses[itoa(code)] = map[string]any{"description": http.StatusText(code),
				"content": map[string]any{"application/problem+json": map[string]any{"schema": problem}}}
		}
		op["responses"] = responses
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "labspace API", "version": "1",
			"description": "Workspaces for AI research teams. Errors are RFC 9457 problem documents; " +
				"lists take limit and continue; updates take the resourceVersion you read."},
		"paths":      paths,
		"components": map[string]any{"schemas": g.defs, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
		"security":   []any{map[string]any{"bearer": []any{}}},
	}
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, 200, s.OpenAPI())
	return nil
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
