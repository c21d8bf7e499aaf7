package api

import (
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace"
)

//go:generate go run ../tools/typedoc -o docs_gen.go

// The schemas come from the Go types the routes decode and encode. Their
// descriptions and enums come from the types' doc comments and constants
// (docs_gen.go, generated); two struct tags say what the doc cannot:
// openapi:"readOnly" (set by the server) and openapi:"writeOnly" (a
// secret, never returned); example:"..." gives an example value.

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
	// required holds "pkg.Type.jsonField" of inputs that validation requires.
	required map[string]bool
}

func newSchemaGen() *schemaGen {
	return &schemaGen{defs: map[string]any{}, required: map[string]bool{}}
}

var timeType = reflect.TypeOf(time.Time{})

// typeKey names t as docs_gen.go does: "labspace.Workspace".
func typeKey(t reflect.Type) string {
	pkg := path.Base(t.PkgPath())
	return pkg + "." + t.Name()
}

// fieldEnums narrows a field to some of its type's constants, where the
// type's full set would be wrong (Deleted is only ever desired); nil
// lifts the enum (the audit log also names kinds that are not stored
// objects, such as tokens).
var fieldEnums = map[string][]labspace.Phase{
	"labspace.Workspace.DesiredPhase":       {labspace.PhaseRunning, labspace.PhaseStopped, labspace.PhaseDeleted},
	"labspace.WorkspaceCreate.DesiredPhase": {labspace.PhaseRunning, labspace.PhaseStopped},
	"labspace.WorkspaceStatus.Phase":        labspace.Phases,
	"labspace.Event.FromPhase":              labspace.Phases,
	"labspace.Event.ToPhase":                labspace.Phases,
	"labspace.AuditEntry.Kind":              nil,
}

// ref returns a $ref to the component schema of t, generating it once.
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
		s := map[string]any{"type": "string"}
		if vals := typeEnums[typeKey(t)]; t.PkgPath() != "" && len(vals) > 0 {
			s["enum"] = vals
		}
		return s
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

// jsonName is a field's JSON name ("" when it is not encoded) and its options.
func jsonName(f reflect.StructField) (string, string) {
	tag := f.Tag.Get("json")
	if tag == "-" || (!f.IsExported() && !f.Anonymous) {
		return "", ""
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" && !f.Anonymous {
		name = f.Name
	}
	return name, opts
}

// fields calls fn for each JSON field of t, embedded structs flattened;
// owner is the struct that declares the field.
func fields(t reflect.Type, fn func(owner reflect.Type, f reflect.StructField, name, opts string)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts := jsonName(f)
		if f.Anonymous && name == "" && f.Tag.Get("json") != "-" {
			fields(f.Type, fn)
			continue
		}
		if name != "" {
			fn(t, f, name, opts)
		}
	}
}

// object describes a struct: its JSON fields, embedded structs flattened.
func (g *schemaGen) object(t reflect.Type, input bool) map[string]any {
	props := map[string]any{}
	required := []string{}
	fields(t, func(owner reflect.Type, f reflect.StructField, name, opts string) {
		props[name] = g.field(owner, f, input)
		if input && g.required[typeKey(t)+"."+name] || !input && !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	})
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if d := typeDocs[typeKey(t)]; d != "" {
		s["description"] = d
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// field describes field f declared by owner: its type's schema with the
// field's description, enum, access and example.
func (g *schemaGen) field(owner reflect.Type, f reflect.StructField, input bool) map[string]any {
	s := g.schema(f.Type, input)
	fk := typeKey(owner) + "." + f.Name
	if d := typeDocs[fk]; d != "" {
		s["description"] = d
	} else if _, isRef := s["$ref"]; !isRef && f.Type.PkgPath() != "" && typeDocs[typeKey(f.Type)] != "" {
		// A field of a named type with no doc of its own: the type's doc.
		s["description"] = typeDocs[typeKey(f.Type)]
	}
	if vals, ok := fieldEnums[fk]; ok && vals != nil {
		s["enum"] = vals
	} else if ok {
		delete(s, "enum")
	}
	switch f.Tag.Get("openapi") {
	case "readOnly":
		s["readOnly"] = true
	case "writeOnly":
		s["writeOnly"] = true
	}
	if ex, ok := f.Tag.Lookup("example"); ok {
		s["examples"] = []any{exampleValue(f.Type, ex)}
	}
	return s
}

func exampleValue(t reflect.Type, ex string) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, _ := strconv.ParseInt(ex, 10, 64)
		return n
	case reflect.Float64, reflect.Float32:
		n, _ := strconv.ParseFloat(ex, 64)
		return n
	case reflect.Bool:
		return ex == "true"
	case reflect.Slice:
		return strings.Split(ex, ",")
	}
	return ex
}

// requireFrom records the fields whose empty value the validation of v (a
// body type) refuses: those are what an input must give. A message that
// offers alternatives ("give a template, or ...") requires none of them.
func (g *schemaGen) requireFrom(v any) {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for _, name := range requiredIn[typeKey(t)] {
		g.required[typeKey(t)+"."+name] = true
	}
	z, ok := reflect.New(t).Interface().(interface{ Validate(*labspace.Invalid) })
	if !ok {
		return
	}
	var bad labspace.Invalid
	z.Validate(&bad)
	err, _ := bad.Err().(*labspace.Error)
	if err == nil {
		return
	}
	for _, fe := range err.Fields {
		if !strings.HasPrefix(fe.Detail, "give ") && !defaulted[typeKey(t)+"."+fe.Field] {
			g.requirePath(t, strings.Split(fe.Field, "."))
		}
	}
}

// requirePath marks each field along a JSON path from t as required.
func (g *schemaGen) requirePath(t reflect.Type, path []string) {
	for _, seg := range path {
		var next reflect.Type
		fields(t, func(_ reflect.Type, f reflect.StructField, name, _ string) {
			if name == seg {
				next = f.Type
			}
		})
		if next == nil {
			return
		}
		g.required[typeKey(t)+"."+seg] = true
		for next.Kind() == reflect.Pointer {
			next = next.Elem()
		}
		if next.Kind() != reflect.Struct {
			return
		}
		t = next
	}
}

// requiredIn lists the required fields of the request types that have no
// Validate method: the service checks these fields itself.
var requiredIn = map[string][]string{
	"api.PersonalTokenRequest": {"name", "password"},
	"api.PasswordChange":       {"currentPassword", "newPassword"},
	"api.ApplicationBody":      {"meta", "password"},
}

// defaulted are fields that validation fills when the request leaves
// them empty (from other fields that an empty value also lacks).
var defaulted = map[string]bool{
	"labspace.Project.spec.namespace": true, // from the name
}

// body returns the schema of a request or response body value.
func (g *schemaGen) body(v any, input bool) map[string]any {
	if l, ok := v.(itemSampler); ok {
		item := reflect.TypeOf(l.itemSample())
		for item.Kind() == reflect.Pointer {
			item = item.Elem()
		}
		return map[string]any{"type": "object", "additionalProperties": false, "required": []string{"items"},
			"description": "A page of " + item.Name() + " objects.",
			"properties": map[string]any{
				"items": map[string]any{"type": "array", "items": g.schema(item, false), "description": "This page's objects."},
				"continue": map[string]any{"type": "string",
					"description": "Give it as the continue parameter to read the next page; absent on the last page."},
			}}
	}
	return g.schema(reflect.TypeOf(v), input)
}
