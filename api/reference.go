package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
)

// The API reference at /api/docs is the OpenAPI document rendered on the
// server as one HTML page: no script, nothing fetched from elsewhere.

//go:embed reference.html
var referenceHTML string

//go:embed reference.css
var referenceCSS []byte

var referenceTmpl = template.Must(template.New("reference").Parse(referenceHTML))

type refDoc struct {
	Title, Version, Description string
	Tags                        []refTag
	Schemas                     []refSchema
}

type refTag struct {
	Name, Description string
	Ops               []refOp
}

type refOp struct {
	ID, Method, Path, Summary string
	Public                    bool
	Params                    []refField
	Body                      *refType
	Example                   string // of the request body, as JSON
	Responses                 []refResponse
}

type refResponse struct {
	Status, Description string
	Type                *refType
	Headers             []string
}

type refSchema struct {
	Name, Description string
	Fields            []refField
}

type refField struct {
	Name, In, Description         string
	Type                          refType
	Required, ReadOnly, WriteOnly bool
	Enum                          []string
}

// refType is a schema's type in words, linking the schema it names.
type refType struct{ Prefix, Name, Link, Suffix string }

const schemaPrefix = "#/components/schemas/"

// typeOf describes schema s in words.
func typeOf(s map[string]any) refType {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, schemaPrefix)
		return refType{Name: name, Link: "#schema-" + name}
	}
	if alts, ok := s["anyOf"].([]any); ok && len(alts) == 2 {
		t := typeOf(alts[0].(map[string]any))
		t.Suffix += " or null"
		return t
	}
	typ := s["type"]
	if l, ok := typ.([]string); ok {
		typ = l[0]
	}
	switch typ {
	case "array":
		t := typeOf(s["items"].(map[string]any))
		t.Prefix = "array of " + t.Prefix
		return t
	case "object":
		if props, ok := s["properties"].(map[string]any); ok {
			if items, ok := props["items"].(map[string]any); ok && props["continue"] != nil {
				t := typeOf(items["items"].(map[string]any))
				t.Prefix = "page of " + t.Prefix
				return t
			}
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			t := typeOf(ap)
			t.Prefix = "map of " + t.Prefix
			return t
		}
	}
	name, _ := typ.(string)
	if f, ok := s["format"].(string); ok {
		name += " (" + f + ")"
	}
	return refType{Name: name}
}

// enumOf lists a schema's enum ([]string or a slice of string types).
func enumOf(s map[string]any) []string {
	v := reflect.ValueOf(s["enum"])
	if v.Kind() != reflect.Slice {
		return nil
	}
	out := make([]string, v.Len())
	for i := range out {
		out[i] = v.Index(i).String()
	}
	return out
}

// reference builds the page's view of the document.
func reference(doc map[string]any) refDoc {
	info := doc["info"].(map[string]any)
	out := refDoc{Title: info["title"].(string), Version: info["version"].(string), Description: info["description"].(string)}
	byTag := map[string]*refTag{}
	for _, t := range doc["tags"].([]any) {
		t := t.(map[string]any)
		out.Tags = append(out.Tags, refTag{Name: t["name"].(string), Description: t["description"].(string)})
	}
	for i := range out.Tags {
		byTag[out.Tags[i].Name] = &out.Tags[i]
	}
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			o := refOperation(strings.ToUpper(method), path, op.(map[string]any))
			tag := byTag[op.(map[string]any)["tags"].([]string)[0]]
			tag.Ops = append(tag.Ops, o)
		}
	}
	for i := range out.Tags {
		ops := out.Tags[i].Ops
		sort.Slice(ops, func(a, b int) bool {
			if ops[a].Path != ops[b].Path {
				return ops[a].Path < ops[b].Path
			}
			return methodOrder(ops[a].Method) < methodOrder(ops[b].Method)
		})
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, s := range schemas {
		out.Schemas = append(out.Schemas, refSchemaOf(name, s.(map[string]any)))
	}
	sort.Slice(out.Schemas, func(a, b int) bool { return out.Schemas[a].Name < out.Schemas[b].Name })
	return out
}

func methodOrder(m string) int { return strings.Index("GET POST PUT DELETE", m) }

func refOperation(method, path string, op map[string]any) refOp {
	o := refOp{ID: op["operationId"].(string), Method: method, Path: path, Summary: op["summary"].(string)}
	if sec, ok := op["security"].([]any); ok && len(sec) == 0 {
		o.Public = true
	}
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		p := p.(map[string]any)
		sch := p["schema"].(map[string]any)
		req, _ := p["required"].(bool)
		d, _ := p["description"].(string)
		o.Params = append(o.Params, refField{Name: p["name"].(string), In: p["in"].(string), Description: d,
			Type: typeOf(sch), Required: req, Enum: enumOf(sch)})
	}
	if rb, ok := op["requestBody"].(map[string]any); ok {
		media := rb["content"].(map[string]any)["application/json"].(map[string]any)
		t := typeOf(media["schema"].(map[string]any))
		o.Body = &t
		if ex, ok := media["example"]; ok {
			raw, _ := json.MarshalIndent(ex, "", "  ")
			o.Example = string(raw)
		}
	}
	responses := op["responses"].(map[string]any)
	for _, c := range slices.Sorted(maps.Keys(responses)) {
		r := responses[c].(map[string]any)
		resp := refResponse{Status: c, Description: r["description"].(string)}
		for ct, media := range mapOf(r["content"]) {
			t := typeOf(media.(map[string]any)["schema"].(map[string]any))
			t.Suffix += " (" + ct + ")"
			resp.Type = &t
		}
		for h := range mapOf(r["headers"]) {
			resp.Headers = append(resp.Headers, h)
		}
		o.Responses = append(o.Responses, resp)
	}
	return o
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func refSchemaOf(name string, s map[string]any) refSchema {
	d, _ := s["description"].(string)
	out := refSchema{Name: name, Description: d}
	required := map[string]bool{}
	if r, ok := s["required"].([]string); ok {
		for _, f := range r {
			required[f] = true
		}
	}
	props := mapOf(s["properties"])
	for _, n := range slices.Sorted(maps.Keys(props)) {
		p := props[n].(map[string]any)
		f := refField{Name: n, Type: typeOf(p), Required: required[n], Enum: enumOf(p)}
		f.Description, _ = p["description"].(string)
		f.ReadOnly, _ = p["readOnly"].(bool)
		f.WriteOnly, _ = p["writeOnly"].(bool)
		out.Fields = append(out.Fields, f)
	}
	return out
}

// docsStyle serves the reference's stylesheet.
func docsStyle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(referenceCSS)
}

// docsPage serves the reference, rendered once.
func (s *Server) docsPage() http.HandlerFunc {
	var once sync.Once
	var page []byte
	var err error
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			var b bytes.Buffer
			err = referenceTmpl.Execute(&b, reference(s.OpenAPI()))
			page = b.Bytes()
		})
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		_, _ = w.Write(page)
	}
}
